// Package portal serves cmex's web portal at /: server-rendered pages
// (html/template, templates and static files embedded, no build step,
// usable without JavaScript) for physicians and for the staff of providers
// and societies. It owns sign-in and sessions: a session cookie holds a
// random token, of which the store keeps only a hash; every form is
// protected against cross-origin posts. Failed sign-ins are limited by the
// login guard the server wraps Portal in (cmex.LoginGuard), as on every
// other surface.
package portal

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// pages are the parsed templates, one set per page, each with the layout.
var pages = func() map[string]*template.Template {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		out[base] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", n))
	}
	return out
}()

// funcs are the helpers templates use.
var funcs = template.FuncMap{
	// when shows an instant as a day and a time in UTC.
	"when": func(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") },
	"join": strings.Join,
	// statusWords says what a learner record's status means.
	"statusWords": func(s cmex.LearnerStatus) string { return statusWords[s] },
	// daysLeft is how many days remain until end, counting today.
	"daysLeft": func(today, end cmex.Date) int {
		if end.IsZero() || end.Before(today) {
			return 0
		}
		utc := func(d cmex.Date) time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }
		return int(utc(end).Sub(utc(today)).Hours()/24) + 1
	},
	// hasCredential reports whether a transcript's record has a
	// credential (view.CredentialLinks).
	"hasCredential": func(links map[cmex.LearnerRecordID]string, id cmex.LearnerRecordID) bool {
		_, ok := links[id]
		return ok && id > 0
	},
	// percent is 100·part/whole, at most 100.
	"percent": func(part, whole cmex.Points) int {
		if whole <= 0 {
			return 100
		}
		return int(min(100, 100*int64(part)/int64(whole)))
	},
}

// SessionCookie is the name of the portal's session cookie over plain
// HTTP; SecureSessionCookie its name over TLS. The __Host- prefix makes
// browsers keep it only when it is Secure, for the whole host (Path=/)
// and for this host alone (no Domain), so that neither a page served over
// plain HTTP nor a sibling subdomain can plant a session of its own
// choosing. Each is read only where it is set.
const (
	SessionCookie       = "cmex_session"
	SecureSessionCookie = "__Host-cmex_session"
)

// sessionCookieName is the session cookie's name for r.
func sessionCookieName(r *http.Request) string {
	if overTLS(r) {
		return SecureSessionCookie
	}
	return SessionCookie
}

// DefaultSessionTTL is how long a session lasts from sign-in.
const DefaultSessionTTL = 12 * time.Hour

// Handler serves the portal.
type Handler struct {
	Portal cmex.PortalService
	// Transcripts gathers a physician's credits from every source.
	Transcripts cmex.TranscriptService
	// Accounts finds the registry persons a physician's account reaches;
	// Plans their roles, plans and credits, for her progress.
	Accounts cmex.GatewayService
	Plans    cmex.PlanService
	// Societies lists the societies a physician may bind her account to.
	Societies cmex.SocietyService
	// Organizations, Activities, Learners and Deliveries serve the
	// providers' pages.
	Organizations cmex.OrganizationService
	Activities    cmex.ActivityService
	Learners      cmex.LearnerService
	Deliveries    cmex.DeliveryService
	// XAPIOutcomes are what became of the providers' xAPI completion
	// statements; nil hides the page.
	XAPIOutcomes cmex.XAPIProfileService
	// Operator serves the operator's console (admin.go).
	Operator Operator
	Logger   *slog.Logger
	// Claims links physicians' accounts to their registry persons (claims,
	// invitations, operators' decisions); Persons shows the registry
	// records a claim is compared with.
	Claims  cmex.ClaimService
	Persons cmex.PersonService
	// SessionTTL is how long a session lasts; DefaultSessionTTL if zero.
	SessionTTL time.Duration
	// Now is the clock of the portal's dates; time.Now if nil.
	Now func() time.Time
	// PublicURL is the address (https://cme.example.org) printed
	// transcripts send readers to, to verify them. Without it they carry
	// the path /verify/CODE only, unless HostURL: then the address the
	// request named (its Host header), which only a sandbox should
	// believe, since any client may send any Host.
	PublicURL string
	HostURL   bool
	// SocietyFiles reads the members and credits files society admins
	// upload.
	SocietyFiles cmex.SocietyFiles
	// Credentials issues physicians' records as verifiable credentials
	// and verifies any (credentials.go); nil hides them.
	Credentials cmex.CredentialService
	// CredentialLinkKey keys the HMAC of the short links (and QR codes)
	// that open the verification of a record's credential; without one
	// there are none. Derived from the server key, so that every replica
	// makes and accepts the same links.
	CredentialLinkKey []byte
}

// Register adds the portal's routes to mux, every one behind protection
// against cross-origin form posts.
func (h *Handler) Register(mux *http.ServeMux) {
	csrf := http.NewCrossOriginProtection()
	route := func(pattern string, f http.HandlerFunc) { mux.Handle(pattern, csrf.Handler(h.withSession(f))) }
	route("GET /{$}", h.home)
	route("GET /signin", h.signInForm)
	route("POST /signin", h.signIn)
	route("POST /signout", h.signOut)
	route("GET /transcript", h.transcript)
	route("GET /transcript.pdf", h.transcriptPDF)
	route("GET /verify/{code}", h.verify)
	route("GET /verify", h.verifyCredentialForm)
	route("POST /verify", h.verifyCredential)
	route("GET /verify/credential/{id}/{token}", h.verifyLink)
	route("GET /verify/credential/{id}/{token}/credential.json", h.linkCredential)
	route("GET /verify/credential/{id}/{token}/qr.png", h.linkQR)
	route("GET /transcript/credentials.json", h.transcriptCredentials)
	route("GET /transcript/credentials/{file}", h.recordCredential)
	route("GET /provider/activities", h.providerActivities)
	route("GET /provider/submissions", h.providerSubmissions)
	route("GET /provider/deliveries", h.providerDeliveries)
	route("GET /provider/xapi", h.providerXAPIRefusals)
	route("POST /provider/deliveries/{id}/retry", h.retryDelivery)
	route("GET /progress", h.progress)
	route("GET /societies", h.societies)
	route("POST /societies/bind", h.bind)
	route("POST /societies/unbind", h.unbind)
	route("GET /self-credits", h.selfCredits)
	route("POST /self-credits", h.addSelfCredit)
	route("POST /self-credits/{id}/delete", h.deleteSelfCredit)
	route("GET /self-credits/{id}/certificate", h.certificate)
	h.registerAdmin(route)
	h.registerSociety(route)
	h.registerClaims(route)
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err)
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
}

func (h *Handler) ttl() time.Duration {
	if h.SessionTTL > 0 {
		return h.SessionTTL
	}
	return DefaultSessionTTL
}

// today is the portal's current date, in UTC.
func (h *Handler) today() cmex.Date {
	if h.Now != nil {
		return cmex.DateOf(h.Now().UTC())
	}
	return cmex.DateOf(time.Now().UTC())
}

// view is what every page template is given.
type view struct {
	Title string
	// XAPIRefusals are the provider's refused xAPI completion statements.
	XAPIRefusals []*cmex.XAPIOutcome
	User         *cmex.PortalUser
	// Error is the page's problem, shown at its top.
	Error string
	// Username is what was typed in the sign-in form.
	Username string
	// Fields are what was typed in a form, by field name; FieldErrors the
	// problems with them, shown next to each.
	Fields, FieldErrors map[string]string
	// Transcript is a physician's transcript as filtered; Boards the boards
	// of the whole transcript, for its filter.
	Transcript *cmex.Transcript
	Boards     []string
	// Chart draws the transcript's credits per year.
	Chart *chart
	// Progress is where a physician stands in each role and plan; Today the
	// date it was judged on.
	Progress []cmex.RoleProgress
	Today    cmex.Date
	// Bindings are the societies a physician's account is bound to;
	// Societies those she may bind to; Notice what was just done.
	Bindings  []*cmex.Binding
	Societies []*cmex.Society
	Notice    string
	// SelfCredits are the credits a physician entered herself.
	SelfCredits []*cmex.SelfCredit
	// Verification is a printed transcript's; Matches whether the ledger
	// still holds its credits, Now how many it holds, Unreached the
	// societies of which it holds nothing, Remote those whose last answer
	// it was compared with (not asked again).
	Verification *cmex.TranscriptVerification
	Matches      bool
	Now          int
	Unreached    []string
	Remote       []cmex.TranscriptSource
	// Provider is the provider a staff member works for; Activities,
	// Records and Deliveries its pages' rows; CanRetry whether the user
	// may send a delivery again.
	Provider   *cmex.Organization
	Activities []*cmex.Activity
	Records    []*cmex.LearnerRecord
	Deliveries []*cmex.Delivery
	CanRetry   bool
	// Admin is what the operator's console shows.
	Admin *adminView
	// Society is what a society admin's pages show.
	Society *societyView
	// Claims is the data of the pages that link accounts to registry
	// persons (claims.go).
	Claims *claimsView
	// Credential is what the credential verification pages show;
	// CredentialLinks the short links of the transcript's records that
	// have a credential, by record id ("" where there are no short links),
	// and Base this cmex's address before them.
	Credential      *credentialView
	CredentialLinks map[cmex.LearnerRecordID]string
	Base            string
}

// render writes page with status; a template failure is logged and
// answered 500 without its detail.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	var b bytes.Buffer
	if err := pages[page].Execute(&b, v); err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: render", "page", page, "err", err)
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// setPageHeaders keeps pages out of caches and frames, and lets them load
// only cmex's own styles and images.
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

type sessionKey struct{}

// withSession looks the request's session up once, and keeps it in the
// request's context, with its user as the actor of any change the request
// makes (for the audit log).
func (h *Handler) withSession(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s := h.lookupSession(r); s != nil {
			ctx := context.WithValue(r.Context(), sessionKey{}, s)
			r = r.WithContext(cmex.WithActor(ctx, "portal:"+s.User.Username()))
		}
		f(w, r)
	}
}

// session returns the request's live session, or nil.
func (h *Handler) session(r *http.Request) *cmex.Session {
	s, _ := r.Context().Value(sessionKey{}).(*cmex.Session)
	return s
}

func (h *Handler) lookupSession(r *http.Request) *cmex.Session {
	c, err := r.Cookie(sessionCookieName(r))
	if err != nil || c.Value == "" {
		return nil
	}
	s, err := h.Portal.Session(r.Context(), c.Value)
	if err != nil {
		if cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
			h.Logger.ErrorContext(r.Context(), "portal: session", "err", err)
		}
		return nil
	}
	return s
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	s := h.session(r)
	if s == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "home", view{Title: "Your cmex", User: &s.User})
}

// signedIn returns the session of a user holding one of roles, having
// answered the request itself otherwise: the sign-in page for nobody, a
// refusal for another role.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request, roles ...cmex.PortalRole) *cmex.Session {
	s := h.session(r)
	if s == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return nil
	}
	for _, role := range roles {
		if s.User.Role == role {
			return s
		}
	}
	h.render(w, r, http.StatusForbidden, "forbidden", view{Title: "Not for this account", User: &s.User})
	return nil
}

func (h *Handler) signInForm(w http.ResponseWriter, r *http.Request) {
	if s := h.session(r); s != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "signin", view{Title: "Sign in"})
}

// maxForm bounds a sign-in form's body.
const maxForm = 16 << 10

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.render(w, r, http.StatusBadRequest, "signin", view{Title: "Sign in", Error: "The form could not be read; please try again."})
		return
	}
	username := strings.TrimSpace(r.PostForm.Get("username"))
	password := r.PostForm.Get("password")
	v := view{Title: "Sign in", Username: username}
	if username == "" || password == "" {
		v.Error = "Enter your username and your password."
		h.render(w, r, http.StatusBadRequest, "signin", v)
		return
	}
	s, err := h.Portal.SignIn(r.Context(), username, password, h.ttl())
	if cmex.ErrorCode(err) == cmex.ETOOMANY {
		v.Error = cmex.ErrorMessage(err)
		w.Header().Set("Retry-After", strconv.Itoa(cmex.RetryAfter(err)))
		h.render(w, r, http.StatusTooManyRequests, "signin", v)
		return
	}
	if cmex.ErrorCode(err) == cmex.EBUSY {
		v.Error = cmex.ErrorMessage(err)
		w.Header().Set("Retry-After", strconv.Itoa(cmex.RetryAfter(err)))
		h.render(w, r, http.StatusServiceUnavailable, "signin", v)
		return
	}
	if cmex.ErrorCode(err) == cmex.EUNAUTHORIZED {
		v.Error = "That username and password do not match an account."
		h.render(w, r, http.StatusUnauthorized, "signin", v)
		return
	}
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: sign in", "err", err)
		v.Error = "Signing in failed on our side; please try again."
		h.render(w, r, http.StatusServiceUnavailable, "signin", v)
		return
	}
	http.SetCookie(w, sessionCookie(r, s.Token, int(s.ExpiresAt.Sub(s.CreatedAt).Seconds())))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookieName(r)); err == nil && c.Value != "" {
		if err := h.Portal.SignOut(r.Context(), c.Value); err != nil {
			h.Logger.ErrorContext(r.Context(), "portal: sign out", "err", err)
		}
	}
	http.SetCookie(w, sessionCookie(r, "", -1))
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// sessionCookie is the session cookie: not readable by scripts, not sent
// with cross-site subrequests or posts, only over TLS (and then named
// with the __Host- prefix) when the request came over TLS (here or at a
// proxy in front), and kept for maxAge seconds (a negative maxAge deletes
// it). Max-Age rather than Expires: a browser whose clock is wrong keeps
// it as long.
func sessionCookie(r *http.Request, token string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: sessionCookieName(r), Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: overTLS(r),
	}
}

// overTLS reports whether the browser reached cmex over TLS: directly, or
// through a proxy that says so (X-Forwarded-Proto, which the server
// removes from anyone but a trusted proxy; the first value is the
// client-facing proxy's). Believing a false header only makes the cookie
// stricter (a browser on plain HTTP keeps no Secure cookie), so it is
// safe to.
func overTLS(r *http.Request) bool {
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return r.TLS != nil || strings.EqualFold(strings.TrimSpace(proto), "https")
}
