package portal

import (
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// The operator's console (/admin/…), for cmex admins only: providers with
// their web-service users and API keys, every destination's outbox, the
// audit log, the plan sets, and the remote societies. Every other role is
// refused each page and action with the same "Not for this account" page.

// Operator is what the operator's console needs beyond the services the
// other pages use. Handler.Societies must be the one that checks remote
// societies' URLs (cmex.TargetPolicy.Societies): the console adds them
// through it.
type Operator struct {
	Users   cmex.UserService
	APIKeys cmex.APIKeyService
	Audit   cmex.AuditService
	// Calls tells how remote societies answer the gateway.
	Calls cmex.SocietyCallService
	// ReadPlans reads a plan file: its plans, or every problem of it
	// with its line (and no plans); err is for a file that could not be
	// read at all.
	ReadPlans func(r io.Reader) (*cmex.Plans, []cmex.PlanProblem, error)
}

// adminView is what the console's pages show.
type adminView struct {
	// Providers and one provider's users and keys; Secret a password or
	// token just made, shown this once.
	Orgs   []providerRow
	Org    *cmex.Organization
	Users  []*cmex.WebServiceUser
	Keys   []*cmex.APIKey
	Secret *shownSecret
	// The outbox: every destination's backlog; Destinations the filter's
	// choices, Deliveries what it selects (Matching of them in all,
	// Shown listed), CanRetry and CanCancel whether the bulk actions
	// apply to its state.
	Backlogs     []backlogRow
	Destinations []*cmex.DestinationBacklog
	Deliveries   []*cmex.Delivery
	Matching     int
	States       []cmex.DeliveryState
	MaxBulk      int
	CanRetry     bool
	CanCancel    bool
	// The audit log, and the address of its older page ("" when none).
	Entries []*cmex.AuditEntry
	Older   template.URL
	// Plan sets, newest (in force) first; Problems a rejected file's;
	// Checked a file that passed a check, not loaded.
	Sets     []*cmex.PlanSet
	Problems []cmex.PlanProblem
	Checked  *cmex.Plans
	// Societies with how each remote one answers, judged by their last
	// RecentCalls calls.
	Societies   []societyRow
	RecentCalls int
}

// shownSecret is a secret shown once: a new user's or rotated password,
// or an API key's token.
type shownSecret struct {
	What, Name, Value string
}

// registerAdmin adds the console's routes.
func (h *Handler) registerAdmin(route func(string, http.HandlerFunc)) {
	route("GET /admin/providers", h.adminProviders)
	route("POST /admin/providers", h.adminAddProvider)
	route("GET /admin/providers/{provider}", h.adminProvider)
	route("POST /admin/providers/{provider}/users", h.adminAddUser)
	route("POST /admin/providers/{provider}/users/rotate", h.adminRotateUser)
	route("POST /admin/providers/{provider}/users/disable", h.adminDisableUser)
	route("POST /admin/providers/{provider}/users/enable", h.adminEnableUser)
	route("POST /admin/providers/{provider}/keys", h.adminAddKey)
	route("POST /admin/providers/{provider}/keys/rotate", h.adminRotateKey)
	route("POST /admin/providers/{provider}/keys/disable", h.adminDisableKey)
	route("POST /admin/providers/{provider}/keys/enable", h.adminEnableKey)
	route("GET /admin/outbox", h.adminOutbox)
	route("GET /admin/deliveries", h.adminDeliveries)
	route("POST /admin/deliveries/retry", h.adminRetryDeliveries)
	route("POST /admin/deliveries/cancel", h.adminCancelDeliveries)
	route("GET /admin/audit", h.adminAudit)
	route("GET /admin/plans", h.adminPlans)
	route("POST /admin/plans", h.adminUploadPlans)
	route("GET /admin/societies", h.adminSocieties)
	route("POST /admin/societies", h.adminAddSociety)
}

// operator returns the session of a cmex admin, having answered the
// request otherwise (and for her too, when the server did not give the
// console what it needs).
func (h *Handler) operator(w http.ResponseWriter, r *http.Request) *cmex.Session {
	s := h.signedIn(w, r, cmex.RoleAdmin)
	if s != nil && (h.Operator.Users == nil || h.Operator.APIKeys == nil || h.Operator.Audit == nil || h.Operator.Calls == nil || h.Operator.ReadPlans == nil) {
		h.Logger.ErrorContext(r.Context(), "portal: the operator's console is not wired (Handler.Operator)")
		h.render(w, r, http.StatusServiceUnavailable, "notfound", view{Title: "The operator's console is not set up on this server", User: &s.User})
		return nil
	}
	return s
}

// adminForm reads a posted form of the console, bounded; it answers the
// request itself and reports false when the form cannot be read.
func (h *Handler) adminForm(w http.ResponseWriter, r *http.Request, s *cmex.Session) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.render(w, r, http.StatusBadRequest, "notfound", view{Title: "The form could not be read; please try again.", User: &s.User})
		return false
	}
	return true
}

// adminFail answers a failure of the store on the console's page: logged,
// and shown without its detail.
func (h *Handler) adminFail(w http.ResponseWriter, r *http.Request, s *cmex.Session, what string, err error) {
	h.Logger.ErrorContext(r.Context(), "portal: "+what, "err", err)
	h.render(w, r, http.StatusServiceUnavailable, "notfound", view{Title: "That could not be done just now; please try again.", User: &s.User})
}

// newView is a console page's view.
func newView(s *cmex.Session, title string) view {
	return view{Title: title, User: &s.User, Fields: map[string]string{}, FieldErrors: map[string]string{},
		Admin: &adminView{States: deliveryStates, MaxBulk: cmex.MaxBulkDeliveries, RecentCalls: cmex.RecentSocietyCalls}}
}

// age says how long ago t was, in the two largest units.
func age(now, t time.Time) string {
	d := now.Sub(t)
	if d < time.Minute {
		return "under a minute"
	}
	parts := []struct {
		n    int64
		unit string
	}{{int64(d / (24 * time.Hour)), "d"}, {int64(d/time.Hour) % 24, "h"}, {int64(d/time.Minute) % 60, "min"}}
	var out []string
	for _, p := range parts {
		if p.n > 0 || len(out) > 0 {
			out = append(out, strconv.FormatInt(p.n, 10)+" "+p.unit)
		}
		if len(out) == 2 {
			break
		}
	}
	return strings.Join(out, " ")
}

// query builds a query string of the non-empty values, in the order
// given (name, value, name, value…).
func query(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v.Encode()
}

// now is the console's clock.
func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}
