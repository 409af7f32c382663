// Package xapi is cmex's xAPI 2.0.0 learning record store (answering 1.0.3
// clients too) at /xapi/: the Statement resource (with attachments), the
// State, Activity Profile and Agent Profile documents, the Activities and
// Agents resources, and About. It authenticates a provider's web-service
// users and API keys with HTTP Basic, validates statements by the spec's
// rules, and keeps them through a cmex.XAPIService, one provider seeing
// only its own.
package xapi

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// Handler serves the learning record store.
type Handler struct {
	Users   cmex.UserService
	APIKeys cmex.APIKeyService
	Store   cmex.XAPIService
	Logger  *slog.Logger
	// Now is the clock of stored timestamps; NewID makes statement ids.
	Now   func() time.Time
	NewID func() string
	// MaxBody bounds a request's body (default 16 MiB).
	MaxBody int64
}

// Versions are the xAPI versions this store answers.
var Versions = []string{"1.0.3", "2.0.0"}

// Register adds the store's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /xapi/about", h.about)
	for _, rt := range []struct {
		pattern string
		fn      func(*request) error
	}{
		{"PUT /xapi/statements", h.putStatement},
		{"POST /xapi/statements", h.postStatements},
		{"GET /xapi/statements", h.getStatements},
		{"GET /xapi/activities/state", h.getDoc(kindState)},
		{"PUT /xapi/activities/state", h.putDoc(kindState, false)},
		{"POST /xapi/activities/state", h.putDoc(kindState, true)},
		{"DELETE /xapi/activities/state", h.deleteDoc(kindState)},
		{"GET /xapi/activities/profile", h.getDoc(kindActivity)},
		{"PUT /xapi/activities/profile", h.putDoc(kindActivity, false)},
		{"POST /xapi/activities/profile", h.putDoc(kindActivity, true)},
		{"DELETE /xapi/activities/profile", h.deleteDoc(kindActivity)},
		{"GET /xapi/agents/profile", h.getDoc(kindAgent)},
		{"PUT /xapi/agents/profile", h.putDoc(kindAgent, false)},
		{"POST /xapi/agents/profile", h.putDoc(kindAgent, true)},
		{"DELETE /xapi/agents/profile", h.deleteDoc(kindAgent)},
		{"GET /xapi/activities", h.getActivity},
		{"GET /xapi/agents", h.getAgents},
	} {
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && r.URL.Query().Has("method") {
				h.alternate(w, r, mux)
				return
			}
			h.serve(w, r, rt.fn)
		})
	}
}

// request is one authenticated request.
type request struct {
	w         http.ResponseWriter
	r         *http.Request
	principal *cmex.Principal
	version   string // the version answered: 1.0.3 or 2.0.0
	query     map[string]string
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

func (h *Handler) newID() string {
	if h.NewID != nil {
		return h.NewID()
	}
	return NewUUID()
}

// NewUUID returns a random (version 4) UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// badRequest is a 400 with msg.
func badRequest(format string, args ...any) error {
	return cmex.Errorf(cmex.EINVALID, format, args...)
}

func (h *Handler) about(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Experience-API-Version", answerVersion(r.Header.Get("X-Experience-API-Version")))
	writeJSON(w, http.StatusOK, map[string]any{"version": Versions, "extensions": map[string]any{}})
}

// answerVersion is the version a response declares: 1.0.3 to a 1.0 client.
func answerVersion(v string) string {
	if strings.HasPrefix(v, "1.0") {
		return "1.0.3"
	}
	return "2.0.0"
}

// preHeaderVersion is the version a request without an
// X-Experience-API-Version header is taken for, and its refusal declares:
// the header came with 0.95, so only a 0.9 client sends none (xAPI 1.0.3
// Communication 3.3, where a request of a version before 1.0.0 is refused
// unless routed to an implementation of it). Declaring 1.0.3 or 2.0.0
// instead would claim for the refusal a version the client never named,
// and a store answering both cannot tell which one it would have meant;
// ADL's suites for both versions accept a 400 that declares 0.9.
const preHeaderVersion = "0.9"

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, fn func(*request) error) {
	v := r.Header.Get("X-Experience-API-Version")
	w.Header().Set("X-Experience-API-Version", answerVersion(v))
	req := &request{w: w, r: r, version: answerVersion(v)}
	err := func() error {
		if v == "" {
			w.Header().Set("X-Experience-API-Version", preHeaderVersion)
			return badRequest("the X-Experience-API-Version header is required: this store answers xAPI 1.0.x and 2.0.0, and a request without the header is an xAPI 0.9 one, which it does not")
		}
		if !versionRe.MatchString(v) {
			return badRequest("X-Experience-API-Version %q is not a version this store answers (1.0.x, 2.0.0)", v)
		}
		p, err := h.authenticate(r)
		if err != nil {
			return err
		}
		if p.Organization.Kind != cmex.OrgProvider {
			return cmex.Errorf(cmex.EFORBIDDEN, "only a provider keeps statements")
		}
		req.principal = p
		r = r.WithContext(cmex.WithActor(r.Context(), p.User.Username))
		req.r = r
		req.query = map[string]string{}
		for k, vs := range r.URL.Query() {
			if len(vs) > 1 {
				return badRequest("parameter %s is given more than once", k)
			}
			req.query[k] = vs[0]
		}
		return fn(req)
	}()
	if err != nil {
		h.fail(w, r, err)
	}
}

// authenticate takes HTTP Basic: a web-service user and its password, or
// an API key as the password (any username), or a Bearer API key.
func (h *Handler) authenticate(r *http.Request) (*cmex.Principal, error) {
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return h.APIKeys.AuthenticateAPIKey(r.Context(), strings.TrimSpace(token))
	}
	user, password, ok := r.BasicAuth()
	if !ok {
		return nil, cmex.Errorf(cmex.EUNAUTHORIZED, "sign in with a web-service user or an API key (HTTP Basic)")
	}
	if strings.HasPrefix(password, "cmex_") {
		return h.APIKeys.AuthenticateAPIKey(r.Context(), password)
	}
	return h.Users.Authenticate(r.Context(), "", user, password)
}

var statusOf = map[string]int{
	cmex.EINVALID: http.StatusBadRequest, cmex.ENOTFOUND: http.StatusNotFound, cmex.ECONFLICT: http.StatusConflict,
	cmex.EUNAUTHORIZED: http.StatusUnauthorized, cmex.EFORBIDDEN: http.StatusForbidden,
	cmex.ETOOLARGE: http.StatusRequestEntityTooLarge, cmex.EBUSY: http.StatusServiceUnavailable,
	cmex.EUNAVAILABLE: http.StatusServiceUnavailable,
}

// preconditionFailed marks a conflict that an If-Match or If-None-Match
// header asked for: 412, not 409.
type preconditionFailed struct{ error }

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := cmex.ErrorCode(err)
	status, ok := statusOf[code]
	var pf preconditionFailed
	if errors.As(err, &pf) {
		status, ok = http.StatusPreconditionFailed, true
	}
	msg := cmex.ErrorMessage(err)
	if !ok {
		status = http.StatusInternalServerError
		if h.Logger != nil {
			h.Logger.ErrorContext(r.Context(), "xapi: internal error", "err", err)
		}
	}
	if code == cmex.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Basic realm="cmex xapi", charset="UTF-8"`)
	}
	if secs := cmex.RetryAfter(err); secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// body reads the request's body, size-limited.
func (h *Handler) body(req *request) ([]byte, error) {
	limit := h.MaxBody
	if limit <= 0 {
		limit = 16 << 20
	}
	b, err := io.ReadAll(http.MaxBytesReader(req.w, req.r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, cmex.Errorf(cmex.ETOOLARGE, "the body is larger than %d bytes", limit)
	} else if err != nil {
		return nil, badRequest("the body could not be read")
	}
	return b, nil
}

// allowOnly refuses parameters outside allowed.
func (req *request) allowOnly(allowed ...string) error {
	for k := range req.query {
		found := false
		for _, a := range allowed {
			found = found || a == k
		}
		if !found {
			return badRequest("parameter %s is not allowed here", k)
		}
	}
	return nil
}

func (req *request) boolParam(name string) (bool, error) {
	switch req.query[name] {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, badRequest("%s must be true or false", name)
}

// agentParam decodes and validates an agent (or group) parameter.
func agentParam(s string) (map[string]any, error) {
	x, err := decodeJSON([]byte(s))
	if err != nil {
		return nil, badRequest("agent is not JSON")
	}
	var v validator
	v.actor("agent", x)
	if v.err != nil {
		return nil, badRequest("%v", v.err)
	}
	m := x.(map[string]any)
	if AgentKey(m) == "" {
		return nil, badRequest("agent must be identified")
	}
	return m, nil
}

// timeParam parses a since or until parameter.
func timeParam(s string) (time.Time, error) {
	if !isTimestamp(s) {
		return time.Time{}, badRequest("%q is not an ISO 8601 timestamp", s)
	}
	t, _ := ParseTime(s)
	return t, nil
}

// formatTime is how this store writes timestamps: UTC, milliseconds.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func encodeToken(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return badRequest("more is not a token this store gave")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badRequest("more is not a token this store gave")
	}
	return nil
}

// alternateHeaders are the form parameters of the Alternate Request
// Syntax that are headers.
var alternateHeaders = []string{"Authorization", "X-Experience-API-Version", "Content-Type", "Content-Length", "If-Match", "If-None-Match"}

// alternate serves the Alternate Request Syntax (xAPI 1.0.3 Communication
// 1.3): a POST with ?method=M and a form holding the headers, the
// parameters and the content, rewritten as the request it stands for.
func (h *Handler) alternate(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	fail := func(format string, args ...any) {
		w.Header().Set("X-Experience-API-Version", answerVersion(r.Header.Get("X-Experience-API-Version")))
		h.fail(w, r, badRequest(format, args...))
	}
	q := r.URL.Query()
	method := q.Get("method")
	if len(q) != 1 || len(q["method"]) != 1 {
		fail("the Alternate Request Syntax takes no parameter but method")
		return
	}
	switch method {
	case http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete:
	default:
		fail("method must be GET, PUT, POST or DELETE")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		fail("the Alternate Request Syntax sends a form (application/x-www-form-urlencoded)")
		return
	}
	limit := h.MaxBody
	if limit <= 0 {
		limit = 16 << 20
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		fail("the body could not be read")
		return
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		fail("the body is not a form")
		return
	}
	r2 := r.Clone(r.Context())
	r2.Method = method
	r2.Header.Del("Content-Type")
	for _, k := range alternateHeaders {
		if v, ok := form[k]; ok {
			r2.Header.Set(k, v[0])
			delete(form, k)
		}
	}
	if strings.HasPrefix(r2.Header.Get("X-Experience-API-Version"), "2.") {
		fail("xAPI 2.0 has no Alternate Request Syntax")
		return
	}
	content := form.Get("content")
	delete(form, "content")
	if content != "" && r2.Header.Get("Content-Type") == "" {
		r2.Header.Set("Content-Type", "application/json")
	}
	r2.Body = io.NopCloser(strings.NewReader(content))
	r2.ContentLength = int64(len(content))
	r2.URL.RawQuery = form.Encode()
	r2.RequestURI = r2.URL.RequestURI()
	mux.ServeHTTP(w, r2)
}
