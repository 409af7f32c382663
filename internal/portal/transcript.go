package portal

import (
	"net/http"
	"strings"

	"github.com/cmexhub/cmex"
)

// transcript shows a physician her credits from every source, filtered by
// the query: from and to (dates), type (CME or MOC) and board.
func (h *Handler) transcript(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil {
		return
	}
	v := view{Title: "Your transcript", User: &s.User, Fields: map[string]string{}, FieldErrors: map[string]string{}}
	q := r.URL.Query()
	var f cmex.TranscriptFilter
	for _, field := range []struct {
		name string
		dst  *cmex.Date
	}{{"from", &f.From}, {"to", &f.To}} {
		val := strings.TrimSpace(q.Get(field.name))
		v.Fields[field.name] = val
		if val == "" {
			continue
		}
		d, _, err := cmex.ParseDate(val)
		if err != nil {
			v.FieldErrors[field.name] = "Enter a date as YYYY-MM-DD, such as 2026-01-31."
			continue
		}
		*field.dst = d
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		v.FieldErrors["to"] = "The end of the range comes before its start."
	}
	switch t := strings.ToUpper(strings.TrimSpace(q.Get("type"))); t {
	case "", cmex.DetailCME, cmex.DetailMOC:
		f.Type, v.Fields["type"] = t, t
	default:
		v.FieldErrors["type"] = "Choose CME, MOC or all credits."
	}
	f.Board, v.Fields["board"] = strings.TrimSpace(q.Get("board")), strings.TrimSpace(q.Get("board"))

	t, err := h.Transcripts.Transcript(r.Context(), s.User.Account.ID)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: transcript", "account", s.User.Account.ID, "err", err)
		v.Error = "Your transcript could not be gathered just now; please try again."
		h.render(w, r, http.StatusServiceUnavailable, "transcript", v)
		return
	}
	v.Boards = t.Boards()
	status := http.StatusOK
	if len(v.FieldErrors) > 0 {
		status = http.StatusBadRequest
		f = cmex.TranscriptFilter{} // the whole transcript, with the problems shown
	}
	v.Transcript = t.Filter(f)
	v.CredentialLinks, v.Base = h.credentialLinks(r.Context(), v.Transcript), h.baseURL(r)
	v.Chart = yearChart(v.Transcript.Credits)
	h.render(w, r, status, "transcript", v)
}
