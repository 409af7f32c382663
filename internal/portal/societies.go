package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cmexhub/cmex"
)

// societies lists the societies a physician's account is bound to, with a
// button to unbind each, and a form to bind one more: the society's own
// username and password, sent once to the society (customer_binding) and
// never kept.
func (h *Handler) societies(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil {
		return
	}
	v := view{Title: "Your societies", User: &s.User, Fields: map[string]string{}, FieldErrors: map[string]string{}}
	switch r.URL.Query().Get("done") {
	case "bound":
		v.Notice = "Your society account is bound: its credits are on your transcript."
	case "unbound":
		v.Notice = "The society is unbound: its credits are no longer on your transcript."
	}
	h.renderSocieties(w, r, http.StatusOK, s, v)
}

// renderSocieties fills v with the account's bindings and the societies
// it may bind to, and renders the page.
func (h *Handler) renderSocieties(w http.ResponseWriter, r *http.Request, status int, s *cmex.Session, v view) {
	bs, err := h.Accounts.Bindings(r.Context(), s.User.Account.ID)
	if err == nil {
		v.Societies, err = h.Societies.ListSocieties(r.Context(), cmex.SocietyFilter{})
	}
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: societies", "err", err)
		v.Error = "Your societies could not be listed just now; please try again."
		status = http.StatusServiceUnavailable
	}
	v.Bindings = bs
	h.render(w, r, status, "societies", v)
}

func (h *Handler) bind(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil {
		return
	}
	v, ok := h.societiesForm(w, r, s)
	if !ok {
		return
	}
	society := strings.TrimSpace(r.PostForm.Get("society"))
	username := strings.TrimSpace(r.PostForm.Get("username"))
	password := r.PostForm.Get("password") // sent to the society, never shown or kept
	v.Fields["society"], v.Fields["username"] = society, username
	if society == "" {
		v.FieldErrors["society"] = "Choose a society."
	}
	if username == "" {
		v.FieldErrors["username"] = "Enter your username at the society."
	}
	if password == "" {
		v.FieldErrors["password"] = "Enter your password at the society."
	}
	if len(v.FieldErrors) > 0 {
		h.renderSocieties(w, r, http.StatusBadRequest, s, v)
		return
	}
	_, err := h.Transcripts.Bind(r.Context(), s.User.Account.ID, society, username, password)
	switch cmex.ErrorCode(err) {
	case "":
		http.Redirect(w, r, "/societies?done=bound", http.StatusSeeOther)
		return
	case cmex.EUNAUTHORIZED:
		v.FieldErrors["password"] = "The society refused this login: " + cmex.ErrorMessage(err)
	case cmex.ENOTFOUND:
		v.FieldErrors["society"] = cmex.ErrorMessage(err)
	case cmex.ECONFLICT, cmex.EUNAVAILABLE, cmex.EINVALID:
		v.Error = cmex.ErrorMessage(err)
	case cmex.ETOOMANY, cmex.EBUSY:
		v.Error = cmex.ErrorMessage(err)
		w.Header().Set("Retry-After", strconv.Itoa(cmex.RetryAfter(err)))
		status := http.StatusTooManyRequests
		if cmex.ErrorCode(err) == cmex.EBUSY {
			status = http.StatusServiceUnavailable
		}
		h.renderSocieties(w, r, status, s, v)
		return
	default:
		h.Logger.ErrorContext(r.Context(), "portal: bind", "society", society, "err", err)
		v.Error = "Binding failed on our side; please try again."
	}
	h.renderSocieties(w, r, http.StatusBadRequest, s, v)
}

func (h *Handler) unbind(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil {
		return
	}
	v, ok := h.societiesForm(w, r, s)
	if !ok {
		return
	}
	so, err := h.Societies.SocietyByCode(r.Context(), r.PostForm.Get("society"))
	if err == nil {
		err = h.Accounts.DeleteBinding(r.Context(), s.User.Account.ID, so.ID)
	}
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		v.Error = "Your account is not bound to that society."
		h.renderSocieties(w, r, http.StatusNotFound, s, v)
		return
	}
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: unbind", "err", err)
		v.Error = "Unbinding failed on our side; please try again."
		h.renderSocieties(w, r, http.StatusServiceUnavailable, s, v)
		return
	}
	http.Redirect(w, r, "/societies?"+url.Values{"done": {"unbound"}}.Encode(), http.StatusSeeOther)
}

// societiesForm reads a form posted to the societies page and returns the
// page's view; false when the form could not be read, the page being
// answered then.
func (h *Handler) societiesForm(w http.ResponseWriter, r *http.Request, s *cmex.Session) (view, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	v := view{Title: "Your societies", User: &s.User, Fields: map[string]string{}, FieldErrors: map[string]string{}}
	if err := r.ParseForm(); err != nil {
		v.Error = "The form could not be read; please try again."
		h.renderSocieties(w, r, http.StatusBadRequest, s, v)
		return v, false
	}
	return v, true
}
