package portal

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// Societies: every society the gateway knows, how each remote one has
// answered (its last answer, the share of its recent calls that failed,
// how fast it answers), and adding a remote one, its URLs checked as a
// destination's are (through the policy-checked SocietyService).

// societyRow is a society with how it has answered.
type societyRow struct {
	*cmex.Society
	Stats *cmex.SocietyCallStats
	// Last is the last call, LastAge how long ago; Failed of Recent
	// recent calls failed (FailurePercent); Median and Slowest are the
	// answered calls' durations, of Timed calls.
	Last                           *cmex.SocietyCall
	LastAge, LastTook              string
	Failed, Recent, FailurePercent int
	Median, Slowest                string
	Timed                          int
}

// millis writes a duration as milliseconds.
func millis(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

func (h *Handler) adminSocieties(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil {
		return
	}
	v := newView(s, "Societies")
	if r.URL.Query().Get("done") == "added" {
		v.Notice = "The society is added. Physicians can bind their accounts to it now; its answers will show here."
	}
	h.renderAdminSocieties(w, r, http.StatusOK, s, v)
}

func (h *Handler) renderAdminSocieties(w http.ResponseWriter, r *http.Request, status int, s *cmex.Session, v view) {
	list, err := h.Societies.ListSocieties(r.Context(), cmex.SocietyFilter{})
	if err != nil {
		h.adminFail(w, r, s, "societies", err)
		return
	}
	stats, err := h.Operator.Calls.SocietyCallStats(r.Context())
	if err != nil {
		h.adminFail(w, r, s, "society call stats", err)
		return
	}
	now := h.now()
	for _, so := range list {
		row := societyRow{Society: so, Stats: stats[so.ID]}
		if st := row.Stats; st != nil {
			row.Last = st.Last()
			if row.Last != nil {
				row.LastAge, row.LastTook = age(now, row.Last.At), millis(row.Last.Duration)
			}
			row.Failed, row.Recent, row.FailurePercent = st.RecentFailures(), len(st.Recent), st.RecentFailurePercent()
			med, slow, n := st.Latency()
			if n > 0 {
				row.Median, row.Slowest, row.Timed = millis(med), millis(slow), n
			}
		}
		v.Admin.Societies = append(v.Admin.Societies, row)
	}
	h.render(w, r, status, "admin_societies", v)
}

// serviceURL reports whether s is an absolute http(s) URL with a host and
// no credentials in it.
func serviceURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// adminAddSociety adds a remote society: its code, name, and the URLs of
// its customer_binding and ceu_order services.
func (h *Handler) adminAddSociety(w http.ResponseWriter, r *http.Request) {
	s := h.operator(w, r)
	if s == nil || !h.adminForm(w, r, s) {
		return
	}
	v := newView(s, "Societies")
	for _, k := range []string{"code", "name", "bindingUrl", "orderUrl"} {
		v.Fields[k] = strings.TrimSpace(r.PostForm.Get(k))
	}
	so := &cmex.Society{Kind: cmex.SocietyRemote, Code: cmex.NormalizeSocietyCode(v.Fields["code"]), Name: v.Fields["name"],
		BindingURL: v.Fields["bindingUrl"], OrderURL: v.Fields["orderUrl"]}
	if !cmex.SocietyCodePattern.MatchString(so.Code) {
		v.FieldErrors["code"] = "A code is 1 to 32 letters, digits, - or _, starting with a letter or digit (ACR)."
	}
	if so.Name == "" || len(so.Name) > 255 {
		v.FieldErrors["name"] = "Enter the society's name (at most 255 characters)."
	}
	for k, what := range map[string]string{"bindingUrl": "customer_binding", "orderUrl": "ceu_order"} {
		if !serviceURL(v.Fields[k]) {
			v.FieldErrors[k] = "Enter the address of the society's " + what + " service: an https:// (or http://) URL without a user or password in it."
		}
	}
	if len(v.FieldErrors) > 0 {
		h.renderAdminSocieties(w, r, http.StatusBadRequest, s, v)
		return
	}
	err := h.Societies.CreateSociety(r.Context(), so)
	switch cmex.ErrorCode(err) {
	case "":
		http.Redirect(w, r, "/admin/societies?done=added", http.StatusSeeOther)
		return
	case cmex.ECONFLICT:
		v.FieldErrors["code"] = "A society with this code exists already."
		h.renderAdminSocieties(w, r, http.StatusConflict, s, v)
		return
	case cmex.EINVALID:
		// The policy's refusals name their field; the store's own do not.
		for _, p := range cmex.ErrorProblems(err) {
			if _, ok := v.Fields[p.Field]; ok {
				v.FieldErrors[p.Field] = "Refused: " + p.Message
			}
		}
		if len(v.FieldErrors) == 0 {
			v.Error = cmex.ErrorMessage(err)
		}
		h.renderAdminSocieties(w, r, http.StatusBadRequest, s, v)
		return
	}
	h.adminFail(w, r, s, "add society", err)
}
