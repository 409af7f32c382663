package portal

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/cmexhub/cmex"
)

// The provider's pages: its activities, the learner records it submitted
// with where each stands, and the deliveries of those records to every
// destination. Provider staff see only their own provider.

// statusWords says in plain words what a learner record's status means.
var statusWords = map[cmex.LearnerStatus]string{
	cmex.StatusAccepted:  "Accepted: cmex holds it; AMA credit counts at once.",
	cmex.StatusSubmitted: "Submitted: sent to the board, awaiting its answer.",
	cmex.StatusApproved:  "Approved: the board accepted the MOC points.",
	cmex.StatusRejected:  "Rejected: the board refused it.",
	cmex.StatusDeleted:   "Deleted.",
}

// provider returns the session and the provider of a provider staff
// member, having answered the request otherwise.
func (h *Handler) provider(w http.ResponseWriter, r *http.Request) (*cmex.Session, *cmex.Organization) {
	s := h.signedIn(w, r, cmex.RoleProviderStaff, cmex.RoleProviderAdmin)
	if s == nil {
		return nil, nil
	}
	orgs, err := h.Organizations.ListOrganizations(r.Context())
	if err == nil {
		for _, o := range orgs {
			if o.ID == s.User.Staff.Organization {
				return s, o
			}
		}
		err = cmex.Errorf(cmex.ENOTFOUND, "provider %d", s.User.Staff.Organization)
	}
	h.Logger.ErrorContext(r.Context(), "portal: staff's provider", "err", err)
	h.render(w, r, http.StatusServiceUnavailable, "notfound", view{Title: "Your provider could not be found", User: &s.User})
	return nil, nil
}

func (h *Handler) providerActivities(w http.ResponseWriter, r *http.Request) {
	s, org := h.provider(w, r)
	if s == nil {
		return
	}
	v := view{Title: "Activities", User: &s.User, Provider: org}
	acts, err := h.Activities.FindActivities(r.Context(), cmex.ActivityFilter{ProviderID: org.ProviderID, Limit: 500})
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: activities", "err", err)
		v.Error = "The activities could not be listed just now; please try again."
		h.render(w, r, http.StatusServiceUnavailable, "provider_activities", v)
		return
	}
	v.Activities = acts
	h.render(w, r, http.StatusOK, "provider_activities", v)
}

// providerSubmissions searches the provider's learner records, newest
// first: by CreditID, ACCME Activity ID, completion dates and learner
// (any of her identifiers).
func (h *Handler) providerSubmissions(w http.ResponseWriter, r *http.Request) {
	s, org := h.provider(w, r)
	if s == nil {
		return
	}
	v := view{Title: "Submissions", User: &s.User, Provider: org, Fields: map[string]string{}, FieldErrors: map[string]string{}}
	q := r.URL.Query()
	f := cmex.LearnerRecordFilter{ProviderID: org.ProviderID, Newest: true, Limit: 200}
	for _, k := range []string{"credit", "activity", "from", "to", "learner"} {
		v.Fields[k] = strings.TrimSpace(q.Get(k))
	}
	f.CreditID, f.UniqueID = cmex.CreditID(v.Fields["credit"]), v.Fields["learner"]
	if a := v.Fields["activity"]; a != "" {
		id, err := cmex.ParseActivityID(a)
		if err != nil {
			v.FieldErrors["activity"] = "An ACCME Activity ID has nine digits."
		}
		f.ActivityID = id
	}
	for _, d := range []struct {
		name string
		dst  *cmex.Date
	}{{"from", &f.From}, {"to", &f.To}} {
		if val := v.Fields[d.name]; val != "" {
			date, _, err := cmex.ParseDate(val)
			if err != nil {
				v.FieldErrors[d.name] = "Enter a date as YYYY-MM-DD."
			}
			*d.dst = date
		}
	}
	if len(v.FieldErrors) > 0 {
		h.render(w, r, http.StatusBadRequest, "provider_submissions", v)
		return
	}
	recs, err := h.Learners.FindLearnerRecords(r.Context(), f)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: submissions", "err", err)
		v.Error = "The submissions could not be searched just now; please try again."
		h.render(w, r, http.StatusServiceUnavailable, "provider_submissions", v)
		return
	}
	v.Records = recs
	h.render(w, r, http.StatusOK, "provider_submissions", v)
}

func (h *Handler) providerDeliveries(w http.ResponseWriter, r *http.Request) {
	s, org := h.provider(w, r)
	if s == nil {
		return
	}
	v := view{Title: "Deliveries", User: &s.User, Provider: org, CanRetry: s.User.Role == cmex.RoleProviderAdmin}
	if r.URL.Query().Get("done") == "retried" {
		v.Notice = "The delivery will be sent again shortly."
	}
	ds, err := h.Deliveries.ListDeliveries(r.Context(), cmex.DeliveryFilter{OrganizationID: org.ID, Limit: 200})
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: deliveries", "err", err)
		v.Error = "The deliveries could not be listed just now; please try again."
		h.render(w, r, http.StatusServiceUnavailable, "provider_deliveries", v)
		return
	}
	v.Deliveries = ds
	h.render(w, r, http.StatusOK, "provider_deliveries", v)
}

// retryDelivery sends a delivery again: provider admins only.
func (h *Handler) retryDelivery(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RoleProviderAdmin)
	if s == nil {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil {
		err = h.Deliveries.RetryDelivery(r.Context(), s.User.Staff.Organization, cmex.DeliveryID(id))
	}
	if err != nil {
		code := cmex.ErrorCode(err)
		if code != cmex.ENOTFOUND && code != cmex.ECONFLICT && code != cmex.EINVALID && code != "" {
			h.Logger.ErrorContext(r.Context(), "portal: retry delivery", "err", err)
		}
		msg := "That delivery cannot be sent again."
		if code == cmex.ECONFLICT || code == cmex.EINVALID {
			msg = cmex.ErrorMessage(err)
		}
		h.render(w, r, http.StatusConflict, "notfound", view{Title: msg, User: &s.User})
		return
	}
	http.Redirect(w, r, "/provider/deliveries?done=retried", http.StatusSeeOther)
}

// providerXAPIRefusals lists the provider's xAPI completion statements the
// rules refused, newest first, with the PARS codes: the learning record
// store accepted them as statements, so its answer could not say so.
func (h *Handler) providerXAPIRefusals(w http.ResponseWriter, r *http.Request) {
	s, org := h.provider(w, r)
	if s == nil {
		return
	}
	v := view{Title: "xAPI refusals", User: &s.User, Provider: org}
	if h.XAPIOutcomes == nil {
		h.render(w, r, http.StatusOK, "provider_xapi", v)
		return
	}
	list, err := h.XAPIOutcomes.XAPIOutcomes(r.Context(), org.ID, cmex.OutcomeRejected, 200)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: xapi refusals", "err", err)
		v.Error = "The refusals could not be listed just now; please try again."
		h.render(w, r, http.StatusServiceUnavailable, "provider_xapi", v)
		return
	}
	v.XAPIRefusals = list
	h.render(w, r, http.StatusOK, "provider_xapi", v)
}
