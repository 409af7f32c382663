package portal

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/cmexhub/cmex"
)

// The audit log, newest first, searchable by actor, action (exact, or a
// family ending in "."), subject and days; a page at a time.

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
	f.Since, f.Until = dateField(&v, "since", false), dateField(&v, "until", true)
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
