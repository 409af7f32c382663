package api

import (
	"net/http"
	"strconv"

	"github.com/cmexhub/cmex"
)

// What became of a provider's xAPI completion statements: the learner
// records each made, or the PARS codes the rules refused it for (the
// learning record store at /xapi/ accepts every valid statement, so a
// refusal cannot be its answer).

func (h *Handler) listXAPIOutcomes(w http.ResponseWriter, r *http.Request, p *cmex.Principal) {
	q := r.URL.Query()
	outcome := q.Get("outcome")
	switch outcome {
	case "", cmex.OutcomeAccepted, cmex.OutcomeRejected, cmex.OutcomeVoided:
	default:
		h.fail(w, r, cmex.Errorf(cmex.EINVALID, "bad query parameters: [outcome (accepted, rejected or voided)]"))
		return
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			h.fail(w, r, cmex.Errorf(cmex.EINVALID, "bad query parameters: [limit (1-500)]"))
			return
		}
		limit = n
	}
	list, err := h.XAPIOutcomes.XAPIOutcomes(r.Context(), p.Organization.ID, outcome, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if list == nil {
		list = []*cmex.XAPIOutcome{}
	}
	h.json(w, http.StatusOK, map[string]any{"outcomes": list})
}

func (h *Handler) getXAPIOutcome(w http.ResponseWriter, r *http.Request, p *cmex.Principal) {
	o, err := h.XAPIOutcomes.XAPIOutcome(r.Context(), p.Organization.ID, r.PathValue("statementId"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusOK, o)
}
