package portal

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/cmexhub/cmex"
)

// Requirement plans: the plan set in force and every one loaded before
// it, and a plan file's upload, checked first: every problem is shown
// with its line and field, and nothing replaces the set in force unless
// the file has none and the operator asked to load it.

// maxPlanFile bounds an uploaded plan file (the plan file reader's own
// bound is 1 MiB) with the form around it.
const maxPlanFile = 1<<20 + 64<<10

// planHistory is how many past plan sets the page lists.
const planHistory = 50

func (h *Handler) adminPlans(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil {
		return
	}
	v := newView(s, "Plans")
	if r.URL.Query().Get("done") == "loaded" {
		v.Notice = "The plan file is loaded: it is the plan set in force. Progress and GetRoleData are measured against it from now on."
	}
	h.renderPlans(w, r, http.StatusOK, s, v)
}

func (h *Handler) renderPlans(w http.ResponseWriter, r *http.Request, status int, s *cmex.Session, v view) {
	sets, err := h.Plans.PlanSets(r.Context(), planHistory)
	if err != nil {
		h.adminFail(w, r, s, "plan sets", err)
		return
	}
	v.Admin.Sets = sets
	h.render(w, r, status, "admin_plans", v)
}

// adminUploadPlans checks an uploaded plan file (op=check) or checks and
// loads it (op=load).
func (h *Handler) adminUploadPlans(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil {
		return
	}
	v := newView(s, "Plans")
	r.Body = http.MaxBytesReader(w, r.Body, maxPlanFile)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			v.FieldErrors["file"] = "The plan file is larger than 1 MiB."
		} else {
			v.Error = "The form could not be read; please try again."
		}
		h.renderPlans(w, r, http.StatusBadRequest, s, v)
		return
	}
	defer r.MultipartForm.RemoveAll()
	op := r.PostForm.Get("op")
	if op != "check" && op != "load" {
		v.Error = "Choose Check or Check and load."
		h.renderPlans(w, r, http.StatusBadRequest, s, v)
		return
	}
	file, _, err := r.FormFile("file")
	if err != nil {
		v.FieldErrors["file"] = "Choose a plan file (YAML or JSON)."
		h.renderPlans(w, r, http.StatusBadRequest, s, v)
		return
	}
	defer file.Close()
	plans, problems, err := h.Operator.ReadPlans(file)
	switch {
	case err != nil:
		v.FieldErrors["file"] = "The plan file could not be read; please choose it again."
		h.renderPlans(w, r, http.StatusBadRequest, s, v)
		return
	case len(problems) > 0:
		v.FieldErrors["file"] = fmt.Sprintf("The plan file has %d problem%s; nothing was loaded.", len(problems), plural(len(problems)))
		// By line, as an editor walks the file; the file's own first.
		slices.SortStableFunc(problems, func(a, b cmex.PlanProblem) int { return cmp.Compare(a.Line, b.Line) })
		v.Admin.Problems = problems
		h.renderPlans(w, r, http.StatusBadRequest, s, v)
		return
	}
	if op == "check" {
		v.Admin.Checked = plans
		v.Notice = "The plan file has no problems. It is not loaded: choose it again and press Check and load to put it in force."
		h.renderPlans(w, r, http.StatusOK, s, v)
		return
	}
	if err := h.Plans.LoadPlans(r.Context(), plans); err != nil {
		if cmex.ErrorCode(err) == cmex.EINVALID {
			v.FieldErrors["file"] = cmex.ErrorMessage(err)
			h.renderPlans(w, r, http.StatusBadRequest, s, v)
			return
		}
		h.adminFail(w, r, s, "load plans", err)
		return
	}
	http.Redirect(w, r, "/admin/plans?done=loaded", http.StatusSeeOther)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
