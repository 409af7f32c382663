package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/cmexhub/cmex"
)

// audit answers GET /api/v1/audit: the audit log, oldest first, to an
// operator's key.
func (h *Handler) audit(w http.ResponseWriter, r *http.Request, _ *caller) {
	q := r.URL.Query()
	f := cmex.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Subject: q.Get("subject")}
	var bad []string
	for _, t := range []struct {
		name string
		into *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				bad = append(bad, t.name+" (RFC 3339)")
			}
			*t.into = at
		}
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			bad = append(bad, "after (an entry id)")
		}
		f.AfterID = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			bad = append(bad, "limit (1-1000)")
		}
		f.Limit = n
	}
	if len(bad) > 0 {
		h.fail(w, r, cmex.Errorf(cmex.EINVALID, "bad query parameters: %v", bad))
		return
	}
	entries, err := h.Audit.AuditLog(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if entries == nil {
		entries = []*cmex.AuditEntry{}
	}
	h.json(w, http.StatusOK, map[string]any{"entries": entries})
}
