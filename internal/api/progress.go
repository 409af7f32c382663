package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/cmexhub/cmex"
)

// progressBody is where a learner stands: the tree GetRoleData answers at
// Activity depth, for every role instance (or those of ?role=).
type progressBody struct {
	Person *cmex.Person        `json:"person"`
	Date   cmex.Date           `json:"date"`
	Roles  []cmex.RoleProgress `json:"roleInstances"`
}

func (h *Handler) progress(w http.ResponseWriter, r *http.Request, _ *caller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.fail(w, r, cmex.Errorf(cmex.ENOTFOUND, "no learner %s", r.PathValue("id")))
		return
	}
	p, err := h.Persons.Person(r.Context(), cmex.PersonID(id))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	today := cmex.DateOf(now())
	roles, err := cmex.ProgressOf(r.Context(), h.Plans, p.ID, r.URL.Query().Get("role"), today)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusOK, progressBody{Person: p, Date: today, Roles: roles})
}
