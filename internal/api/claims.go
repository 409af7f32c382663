package api

import (
	"net/http"
	"time"

	"github.com/cmexhub/cmex"
)

// claimJSON is what a physician is told of one of her claims: what she
// typed, when, and its state as she sees it (Claim.Seen: a refused claim
// is pending to her). The candidates and an operator's reason are never
// part of it.
type claimJSON struct {
	ID        cmex.ClaimID       `json:"id"`
	State     cmex.ClaimState    `json:"state"`
	Evidence  cmex.ClaimEvidence `json:"evidence"`
	CreatedAt time.Time          `json:"createdAt"`
	Message   string             `json:"message"`
}

// linkJSON is the account's link to its registry person.
type linkJSON struct {
	PersonID cmex.PersonID `json:"personId"`
	Via      string        `json:"via"`
	LinkedAt time.Time     `json:"linkedAt"`
}

func seen(c *cmex.Claim) claimJSON {
	return claimJSON{ID: c.ID, State: c.Seen(), Evidence: c.Evidence, CreatedAt: c.CreatedAt, Message: cmex.ClaimAnswer(c)}
}

// listClaims answers the account's link, if any, and its claims, newest
// first.
func (h *Handler) listClaims(w http.ResponseWriter, r *http.Request, a *cmex.Account) {
	out := struct {
		Link   *linkJSON   `json:"link"`
		Claims []claimJSON `json:"claims"`
	}{Claims: []claimJSON{}}
	l, err := h.Claims.AccountLink(r.Context(), a.ID)
	switch cmex.ErrorCode(err) {
	case "":
		out.Link = &linkJSON{PersonID: l.PersonID, Via: l.Via, LinkedAt: l.LinkedAt}
	case cmex.ENOTFOUND:
	default:
		h.fail(w, r, err)
		return
	}
	cs, err := h.Claims.AccountClaims(r.Context(), a.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, c := range cs {
		if c.State != cmex.ClaimWithdrawn {
			out.Claims = append(out.Claims, seen(c))
		}
	}
	h.json(w, http.StatusOK, out)
}

// claim takes the account's claim of its registry person, as the
// portal's form does: 202 with state linked when it named exactly one
// person, and otherwise 202 with state pending, alike whatever made it
// wait; limited as sign-ins are (429 with Retry-After).
func (h *Handler) claim(w http.ResponseWriter, r *http.Request, a *cmex.Account) {
	var e cmex.ClaimEvidence
	if err := h.decode(w, r, &e); err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.Claims.ClaimPerson(r.Context(), a.ID, e)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusAccepted, seen(c))
}
