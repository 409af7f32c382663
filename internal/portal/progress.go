package portal

import (
	"net/http"

	"github.com/cmexhub/cmex"
)

// progress shows a physician where she stands in each credential role and
// learning plan: the registry persons her account reaches (through the
// society memberships it is bound to), their roles, each plan's cycle and
// the units granted and requested against those required.
func (h *Handler) progress(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil {
		return
	}
	v := view{Title: "Your progress", User: &s.User, Today: h.today(), Progress: []cmex.RoleProgress{}}
	persons, err := h.Accounts.AccountPersons(r.Context(), s.User.Account.ID)
	if err == nil {
		for _, p := range persons {
			var roles []cmex.RoleProgress
			if roles, err = cmex.ProgressOf(r.Context(), h.Plans, p, "", v.Today); err != nil {
				break
			}
			v.Progress = append(v.Progress, roles...)
		}
	}
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: progress", "account", s.User.Account.ID, "err", err)
		v.Error = "Your progress could not be worked out just now; please try again."
		h.render(w, r, http.StatusServiceUnavailable, "progress", v)
		return
	}
	h.render(w, r, http.StatusOK, "progress", v)
}
