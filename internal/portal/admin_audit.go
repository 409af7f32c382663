package portal

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// The audit log, newest first, searchable by actor, action (exact, or a
// family ending in "."), subject and days; a page at a time.

// timeLayouts are the instants the audit log's search takes beside
// days: a time of day in UTC to the minute or the second, or RFC 3339
// with its offset.
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05", time.RFC3339}

// timeField reads the field name as a day (as dateField does: a range
// includes its last day) or an instant (a range ends before it); zero
// when empty or wrong, with a problem beside it.
func timeField(v *view, name string, end bool) time.Time {
	val := v.Fields[name]
	if len(val) > len("2006-01-02") {
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, val); err == nil {
				return t.UTC()
			}
		}
		v.FieldErrors[name] = "Enter a day as YYYY-MM-DD, or a time in UTC as YYYY-MM-DDTHH:MM."
		return time.Time{}
	}
	t := dateField(v, name, end)
	if v.FieldErrors[name] != "" {
		v.FieldErrors[name] = "Enter a day as YYYY-MM-DD, or a time in UTC as YYYY-MM-DDTHH:MM."
	}
	return t
}

// auditPage is how many entries a page of the audit log shows.
const auditPage = 100

func (h *Handler) adminAudit(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil {
		return
	}
	v := newView(s, "Audit log")
	q := r.URL.Query()
	for _, k := range []string{"actor", "action", "subject", "since", "until"} {
		v.Fields[k] = strings.TrimSpace(q.Get(k))
		if len(v.Fields[k]) > 300 {
			v.FieldErrors[k] = "At most 300 characters."
		}
	}
	f := cmex.AuditFilter{Actor: v.Fields["actor"], Action: v.Fields["action"], Subject: v.Fields["subject"], Newest: true, Limit: auditPage + 1}
	f.Since, f.Until = timeField(&v, "since", false), timeField(&v, "until", true)
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		v.FieldErrors["until"] = "The last day is before the first."
	}
	if b := q.Get("before"); b != "" {
		id, err := strconv.ParseInt(b, 10, 64)
		if err != nil || id <= 0 {
			v.Error = "That page of the audit log does not exist; here is the newest."
		} else {
			f.BeforeID = id
		}
	}
	if len(v.FieldErrors) > 0 {
		h.render(w, r, http.StatusBadRequest, "admin_audit", v)
		return
	}
	es, err := h.Operator.Audit.AuditLog(r.Context(), f)
	if err != nil {
		h.adminFail(w, r, s, "audit log", err)
		return
	}
	if len(es) > auditPage {
		es = es[:auditPage]
		// Built of escaped values (url.Values.Encode): a URL as it is.
		v.Admin.Older = template.URL("/admin/audit?" + query("actor", v.Fields["actor"], "action", v.Fields["action"], "subject", v.Fields["subject"],
			"since", v.Fields["since"], "until", v.Fields["until"], "before", strconv.FormatInt(es[len(es)-1].ID, 10)))
	}
	v.Admin.Entries = es
	h.render(w, r, http.StatusOK, "admin_audit", v)
}
