package portal

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// The outbox across every provider: each destination's backlog, the
// deliveries a filter selects with the remote's answer, and retrying or
// cancelling all of them at once.

// backlogRow is a destination's backlog, with the age of its oldest
// pending delivery in words.
type backlogRow struct {
	*cmex.DestinationBacklog
	Age string
}

func (h *Handler) adminOutbox(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil {
		return
	}
	v := newView(s, "Outbox")
	bs, err := h.Deliveries.DestinationBacklogs(r.Context())
	if err != nil {
		h.adminFail(w, r, s, "destination backlogs", err)
		return
	}
	now := h.now()
	for _, b := range bs {
		row := backlogRow{DestinationBacklog: b}
		if !b.OldestPending.IsZero() {
			row.Age = age(now, b.OldestPending)
		}
		v.Admin.Backlogs = append(v.Admin.Backlogs, row)
	}
	h.render(w, r, http.StatusOK, "admin_outbox", v)
}

// deliveryStates are the states the filter offers.
var deliveryStates = []cmex.DeliveryState{cmex.DeliveryPending, cmex.DeliveryRejected, cmex.DeliveryCancelled, cmex.DeliveryDelivered}

// maxListed is how many deliveries the filter's page lists.
const maxListed = 200

// deliveryFilter reads the filter's fields (destination, state, since,
// until: dates, until included) from q into v, with a problem beside each
// field that is wrong.
func (h *Handler) deliveryFilter(r *http.Request, q url.Values, v *view, dests []*cmex.DestinationBacklog) cmex.DeliveryFilter {
	var f cmex.DeliveryFilter
	for _, k := range []string{"destination", "state", "since", "until"} {
		v.Fields[k] = strings.TrimSpace(q.Get(k))
	}
	if d := v.Fields["destination"]; d != "" {
		id, err := strconv.ParseInt(d, 10, 64)
		known := false
		for _, b := range dests {
			known = known || err == nil && b.DestinationID == cmex.DestinationID(id)
		}
		if !known {
			v.FieldErrors["destination"] = "Choose one of the destinations listed."
		}
		f.DestinationID = cmex.DestinationID(id)
	}
	if st := v.Fields["state"]; st != "" {
		ok := false
		for _, x := range deliveryStates {
			ok = ok || string(x) == st
		}
		if !ok {
			v.FieldErrors["state"] = "Choose pending, rejected, cancelled or delivered."
		}
		f.State = cmex.DeliveryState(st)
	}
	f.Since = dateField(v, "since", false)
	f.Until = dateField(v, "until", true)
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		v.FieldErrors["until"] = "The last day is before the first."
	}
	return f
}

// dateField reads the date field name (YYYY-MM-DD, UTC) as the start of
// its day, or of the next day when end is set, so that a range includes
// its last day; zero when empty or wrong (with a problem beside it).
func dateField(v *view, name string, end bool) time.Time {
	val := v.Fields[name]
	if val == "" {
		return time.Time{}
	}
	d, _, err := cmex.ParseDate(val)
	if err != nil {
		v.FieldErrors[name] = "Enter a date as YYYY-MM-DD."
		return time.Time{}
	}
	t := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t
}

// deliveryNotices say what a bulk action did.
func deliveryNotice(q url.Values) string {
	n := q.Get("n")
	if _, err := strconv.Atoi(n); err != nil {
		return ""
	}
	more := ""
	if q.Get("more") == "1" {
		more = " More matched than one action takes (" + strconv.Itoa(cmex.MaxBulkDeliveries) + "): act again for the rest."
	}
	switch q.Get("done") {
	case "retried":
		return n + " deliveries will be sent again shortly; they are pending now." + more
	case "cancelled":
		return n + " deliveries are cancelled." + more
	}
	return ""
}

func (h *Handler) adminDeliveries(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil {
		return
	}
	v := newView(s, "Deliveries")
	v.Notice = deliveryNotice(r.URL.Query())
	h.renderDeliveries(w, r, s, r.URL.Query(), v)
}

// renderDeliveries answers the filter's page for the filter in q; a
// filter with problems is answered 400, listing nothing.
func (h *Handler) renderDeliveries(w http.ResponseWriter, r *http.Request, s *cmex.Session, q url.Values, v view) {
	dests, err := h.Deliveries.DestinationBacklogs(r.Context())
	if err != nil {
		h.adminFail(w, r, s, "destinations", err)
		return
	}
	v.Admin.Destinations = dests
	f := h.deliveryFilter(r, q, &v, dests)
	if len(v.FieldErrors) > 0 {
		h.render(w, r, http.StatusBadRequest, "admin_deliveries", v)
		return
	}
	n, err := h.Deliveries.CountDeliveries(r.Context(), f)
	if err != nil {
		h.adminFail(w, r, s, "count deliveries", err)
		return
	}
	f.Limit = maxListed
	list, err := h.Deliveries.ListDeliveries(r.Context(), f)
	if err != nil {
		h.adminFail(w, r, s, "deliveries", err)
		return
	}
	v.Admin.Deliveries, v.Admin.Matching = list, n
	v.Admin.CanRetry = n > 0 && f.State != "" && f.State != cmex.DeliveryDelivered
	v.Admin.CanCancel = n > 0 && f.State == cmex.DeliveryPending
	h.render(w, r, http.StatusOK, "admin_deliveries", v)
}

func (h *Handler) adminRetryDeliveries(w http.ResponseWriter, r *http.Request) {
	h.adminBulk(w, r, "retried", h.Deliveries.RetryDeliveries)
}

func (h *Handler) adminCancelDeliveries(w http.ResponseWriter, r *http.Request) {
	h.adminBulk(w, r, "cancelled", h.Deliveries.CancelDeliveries)
}

// adminBulk retries or cancels every delivery the posted filter selects;
// it needs a state, so that a bulk action says what it acts on. A filter
// with problems is shown again with them, and changes nothing.
func (h *Handler) adminBulk(w http.ResponseWriter, r *http.Request, done string, act func(context.Context, cmex.DeliveryFilter) (*cmex.BulkResult, error)) {
	s := h.operator(w, r)
	if s == nil || !h.adminForm(w, r, s) {
		return
	}
	v := newView(s, "Deliveries")
	dests, err := h.Deliveries.DestinationBacklogs(r.Context())
	if err != nil {
		h.adminFail(w, r, s, "destinations", err)
		return
	}
	f := h.deliveryFilter(r, r.PostForm, &v, dests)
	switch {
	case f.State == "" && v.FieldErrors["state"] == "":
		v.FieldErrors["state"] = "Choose the state of the deliveries to act on."
	case done == "retried" && f.State == cmex.DeliveryDelivered:
		v.FieldErrors["state"] = "A delivered delivery is not sent again."
	case done == "cancelled" && f.State != cmex.DeliveryPending && v.FieldErrors["state"] == "":
		v.FieldErrors["state"] = "Only pending deliveries can be cancelled."
	}
	if len(v.FieldErrors) > 0 {
		v.Admin.Destinations = dests
		h.render(w, r, http.StatusBadRequest, "admin_deliveries", v)
		return
	}
	res, err := act(r.Context(), f)
	if err != nil {
		if cmex.ErrorCode(err) == cmex.EINVALID {
			v.Admin.Destinations, v.Error = dests, cmex.ErrorMessage(err)
			h.render(w, r, http.StatusBadRequest, "admin_deliveries", v)
			return
		}
		h.adminFail(w, r, s, "bulk "+done, err)
		return
	}
	more := ""
	if res.More {
		more = "1"
	}
	http.Redirect(w, r, "/admin/deliveries?"+query("destination", v.Fields["destination"], "state", v.Fields["state"], "since", v.Fields["since"],
		"until", v.Fields["until"], "done", done, "n", strconv.Itoa(res.Changed), "more", more), http.StatusSeeOther)
}
