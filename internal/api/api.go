// Package api is cmex's JSON API under /api/v1/: learner records and their
// status, and learner matching, for systems that would rather speak JSON
// than PARS XML. The same rules judge both. Callers authenticate as a
// provider's web-service user (HTTP Basic) or with an API key (Bearer).
// openapi.json describes it and is served at /api/v1/openapi.json.
package api

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

//go:embed openapi.json
var openAPI []byte

// DefaultMaxBody is the largest request body the API reads.
const DefaultMaxBody = 1 << 20

// Handler serves the JSON API.
type Handler struct {
	Users    cmex.UserService
	APIKeys  cmex.APIKeyService
	Learners cmex.LearnerService
	Persons  cmex.PersonService
	// The CME Gateway: its societies, physicians' accounts, and the
	// service that binds them and builds transcripts.
	Societies   cmex.SocietyService
	Accounts    cmex.GatewayService
	Transcripts cmex.TranscriptService
	// Plans answers where a learner stands in her credential roles.
	Plans cmex.PlanService
	// Deliveries are the providers' destinations and outbox.
	Deliveries cmex.DeliveryService
	// Audit is the audit log operators read.
	Audit cmex.AuditService
	// Claims links a physician's account to her registry person.
	Claims cmex.ClaimService
	// XAPIOutcomes says what became of xAPI completion statements.
	XAPIOutcomes cmex.XAPIProfileService
	// Credentials issues learner records as verifiable credentials and
	// verifies credentials.
	Credentials cmex.CredentialService
	// OnReject, when set, is told the code of each refusal: the PARS code
	// of each broken rule, or the error code (for /metrics).
	OnReject func(code string)
	Now      func() time.Time
	Logger   *slog.Logger
	MaxBody  int64
}

// auth is who may call an operation.
type auth int

const (
	authProvider auth = iota // a provider's web-service user or API key
	authAccount              // a physician's gateway account (HTTP Basic)
	authOperator             // an operator's API key
	authPublic               // anyone
)

// caller is who a request acts as, once authenticated.
type caller struct {
	principal *cmex.Principal // provider and operator operations
	account   *cmex.Account   // account operations
}

// actor names the caller in the audit log.
func (c *caller) actor() string {
	switch {
	case c.account != nil:
		return "account:" + c.account.Username
	case c.principal != nil:
		return "api:" + cmex.PrincipalActor(*c.principal)
	}
	return "anonymous"
}

// route is one operation of the API.
type route struct {
	method, pattern string
	auth            auth
	handle          func(*Handler, http.ResponseWriter, *http.Request, *caller)
}

// asProvider adapts an operation on a provider's records.
func asProvider(f func(*Handler, http.ResponseWriter, *http.Request, *cmex.Principal)) func(*Handler, http.ResponseWriter, *http.Request, *caller) {
	return func(h *Handler, w http.ResponseWriter, r *http.Request, c *caller) { f(h, w, r, c.principal) }
}

// asAccount adapts an operation on a gateway account.
func asAccount(f func(*Handler, http.ResponseWriter, *http.Request, *cmex.Account)) func(*Handler, http.ResponseWriter, *http.Request, *caller) {
	return func(h *Handler, w http.ResponseWriter, r *http.Request, c *caller) { f(h, w, r, c.account) }
}

// routes are every operation the API serves; openapi.json describes the
// same list (a test holds them together).
var routes = []route{
	{"POST", "/api/v1/learners/match", authProvider, asProvider((*Handler).match)},
	{"POST", "/api/v1/learner-records", authProvider, asProvider((*Handler).addRecords)},
	{"GET", "/api/v1/learner-records", authProvider, asProvider((*Handler).findRecords)},
	{"GET", "/api/v1/learner-records/{creditId}", authProvider, asProvider((*Handler).getRecord)},
	{"DELETE", "/api/v1/learner-records/{creditId}", authProvider, asProvider((*Handler).deleteRecord)},
	{"GET", "/api/v1/learner-records/{creditId}/credential", authProvider, asProvider((*Handler).recordCredential)},
	{"POST", "/api/v1/verify", authPublic, (*Handler).verify},

	{"GET", "/api/v1/societies", authPublic, (*Handler).listSocieties},
	{"POST", "/api/v1/societies", authOperator, (*Handler).addSociety},
	{"POST", "/api/v1/accounts", authPublic, (*Handler).createAccount},
	{"GET", "/api/v1/account", authAccount, asAccount((*Handler).getAccount)},
	{"GET", "/api/v1/account/bindings", authAccount, asAccount((*Handler).listBindings)},
	{"POST", "/api/v1/account/bindings", authAccount, asAccount((*Handler).bind)},
	{"DELETE", "/api/v1/account/bindings/{society}", authAccount, asAccount((*Handler).unbind)},
	{"GET", "/api/v1/account/self-credits", authAccount, asAccount((*Handler).listSelfCredits)},
	{"POST", "/api/v1/account/self-credits", authAccount, asAccount((*Handler).addSelfCredit)},
	{"DELETE", "/api/v1/account/self-credits/{id}", authAccount, asAccount((*Handler).deleteSelfCredit)},
	{"GET", "/api/v1/account/transcript", authAccount, asAccount((*Handler).transcript)},
	{"GET", "/api/v1/account/credentials", authAccount, asAccount((*Handler).accountCredentials)},
	{"GET", "/api/v1/account/credentials/{recordId}", authAccount, asAccount((*Handler).accountCredential)},
	{"GET", "/api/v1/account/claims", authAccount, asAccount((*Handler).listClaims)},
	{"POST", "/api/v1/account/claims", authAccount, asAccount((*Handler).claim)},
	{"GET", "/api/v1/learners/{id}/progress", authOperator, (*Handler).progress},
	{"GET", "/api/v1/audit", authOperator, (*Handler).audit},

	{"GET", "/api/v1/destinations", authProvider, asProvider((*Handler).listDestinations)},
	{"POST", "/api/v1/destinations", authProvider, asProvider((*Handler).addDestination)},
	{"GET", "/api/v1/deliveries", authProvider, asProvider((*Handler).listDeliveries)},
	{"GET", "/api/v1/deliveries/{id}", authProvider, asProvider((*Handler).getDelivery)},
	{"POST", "/api/v1/deliveries/{id}/retry", authProvider, asProvider((*Handler).retryDelivery)},
	{"POST", "/api/v1/deliveries/{id}/cancel", authProvider, asProvider((*Handler).cancelDelivery)},

	{"GET", "/api/v1/xapi/outcomes", authProvider, asProvider((*Handler).listXAPIOutcomes)},
	{"GET", "/api/v1/xapi/outcomes/{statementId}", authProvider, asProvider((*Handler).getXAPIOutcome)},
}

// Register declares the API's routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	for _, rt := range routes {
		mux.HandleFunc(rt.method+" "+rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			c, err := h.caller(r, rt.auth)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			r = r.WithContext(cmex.WithActor(r.Context(), c.actor()))
			rt.handle(h, w, r, c)
		})
	}
}

// caller authenticates a request as the operation requires.
func (h *Handler) caller(r *http.Request, a auth) (*caller, error) {
	switch a {
	case authPublic:
		return &caller{}, nil
	case authAccount:
		user, password, ok := r.BasicAuth()
		if !ok {
			return nil, cmex.Errorf(cmex.EUNAUTHORIZED, "sign in with your gateway account (HTTP Basic)")
		}
		acc, err := h.Accounts.AuthenticateAccount(r.Context(), user, password)
		if err != nil {
			return nil, err
		}
		return &caller{account: acc}, nil
	}
	p, err := h.authenticate(r)
	if err != nil {
		return nil, err
	}
	if (a == authOperator) != (p.Organization.Kind == cmex.OrgOperator) {
		if a == authOperator {
			return nil, cmex.Errorf(cmex.EFORBIDDEN, "only an operator's API key may do this")
		}
		return nil, cmex.Errorf(cmex.EFORBIDDEN, "an operator's key does not act for a provider")
	}
	return &caller{principal: p}, nil
}

// authenticate accepts "Authorization: Bearer <API key>" or HTTP Basic with
// a web-service user; Cmex-Provider-Id picks the provider when one username
// exists under several.
func (h *Handler) authenticate(r *http.Request) (*cmex.Principal, error) {
	auth := r.Header.Get("Authorization")
	if token, ok := strings.CutPrefix(auth, "Bearer "); ok {
		return h.APIKeys.AuthenticateAPIKey(r.Context(), strings.TrimSpace(token))
	}
	user, password, ok := r.BasicAuth()
	if !ok {
		return nil, cmex.Errorf(cmex.EUNAUTHORIZED, "send an API key (Authorization: Bearer cmex_…) or a web-service user (HTTP Basic)")
	}
	var provider cmex.ProviderID
	if v := r.Header.Get("Cmex-Provider-Id"); v != "" {
		id, err := cmex.ParseProviderID(v)
		if err != nil {
			return nil, cmex.Errorf(cmex.EUNAUTHORIZED, "Cmex-Provider-Id: %v", err)
		}
		provider = id
	}
	return h.Users.Authenticate(r.Context(), provider, user, password)
}

// errorBody is every error the API returns.
type errorBody struct {
	Error struct {
		Code     string        `json:"code"`
		Message  string        `json:"message"`
		Problems cmex.Problems `json:"problems,omitempty"`
	} `json:"error"`
}

var statusOf = map[string]int{
	cmex.EINVALID: http.StatusUnprocessableEntity, cmex.ENOTFOUND: http.StatusNotFound,
	cmex.ECONFLICT: http.StatusConflict, cmex.EUNAUTHORIZED: http.StatusUnauthorized,
	cmex.ETOOLARGE: http.StatusRequestEntityTooLarge, cmex.EFORBIDDEN: http.StatusForbidden,
	cmex.EUNAVAILABLE: http.StatusBadGateway, cmex.ETOOMANY: http.StatusTooManyRequests,
	cmex.EBUSY: http.StatusServiceUnavailable,
}

// fail answers with err: its safe message for a cmex error, a generic one
// (and a log line) for anything else.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := cmex.ErrorCode(err)
	status, ok := statusOf[code]
	if code == cmex.EINVALID && len(cmex.ErrorProblems(err)) == 0 {
		status = http.StatusBadRequest // a request that could not be read, not a rule's refusal
	}
	if !ok {
		status = http.StatusInternalServerError
		h.Logger.ErrorContext(r.Context(), "api: internal error", "err", err)
	} else if cmex.Unreachable(err) {
		h.Logger.WarnContext(r.Context(), "api: temporary failure", "err", err)
	}
	if code == cmex.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Basic realm="cmex", charset="UTF-8"`)
	}
	if secs := cmex.RetryAfter(err); secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	var body errorBody
	body.Error.Code, body.Error.Message, body.Error.Problems = code, cmex.ErrorMessage(err), cmex.ErrorProblems(err)
	if h.OnReject != nil {
		if errs := body.Error.Problems.Errors(); len(errs) > 0 {
			for _, p := range errs {
				if p.Code == "" {
					h.OnReject(code) // a problem of no PARS rule (a refused destination URL)
				} else {
					h.OnReject(string(p.Code))
				}
			}
		} else {
			h.OnReject(code)
		}
	}
	h.json(w, status, body)
}

func (h *Handler) json(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads a size-limited JSON body into v, refusing unknown fields
// and trailing data.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return cmex.Errorf(cmex.EINVALID, "send the body as Content-Type: application/json")
	}
	max := h.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return cmex.Errorf(cmex.ETOOLARGE, "the body is larger than %d bytes", max)
		}
		return cmex.Errorf(cmex.EINVALID, "the body is not the JSON expected: %s", jsonError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return cmex.Errorf(cmex.EINVALID, "the body holds more than one JSON value")
	}
	return nil
}

// jsonError is a decoding error as a client may read it.
func jsonError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("%s must be %s", te.Field, te.Type)
	case errors.Is(err, io.EOF):
		return "the body is empty"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// matchRequest is the JSON of PARS's LearnerMatchRequest.
type matchRequest struct {
	FirstName         string         `json:"firstName"`
	LastName          string         `json:"lastName"`
	BirthMonth        int            `json:"birthMonth,omitempty"`
	BirthDay          int            `json:"birthDay,omitempty"`
	BoardIDs          []cmex.BoardID `json:"boardIds,omitempty"`
	LicenseID         string         `json:"licenseId,omitempty"`
	StateName         string         `json:"stateName,omitempty"`
	NPI               string         `json:"npi,omitempty"`
	OCIID             string         `json:"ociId,omitempty"` // cmex's: an Ontario physician's OCI ID
	MedicalSchoolName string         `json:"medicalSchoolName,omitempty"`
}

func (h *Handler) match(w http.ResponseWriter, r *http.Request, _ *cmex.Principal) {
	var req matchRequest
	if err := h.decode(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	q := cmex.MatchQuery{GivenName: req.FirstName, FamilyName: req.LastName, BirthMonth: time.Month(req.BirthMonth), BirthDay: req.BirthDay,
		BoardIDs: req.BoardIDs, LicenseState: req.StateName, LicenseNumber: req.LicenseID, NPI: req.NPI, OCIID: req.OCIID, MedicalSchool: req.MedicalSchoolName}
	var ps cmex.Problems
	if q.GivenName == "" {
		ps.Add(cmex.RuleMissingFirstName, cmex.Args{})
	}
	if q.FamilyName == "" {
		ps.Add(cmex.RuleMissingLastName, cmex.Args{})
	}
	if q.BirthMonth < 0 || q.BirthMonth > 12 || q.BirthDay < 0 || q.BirthDay > 31 {
		ps.Add(cmex.RuleInvalidBirthDate, cmex.Args{})
	}
	for i := range q.BoardIDs {
		b, ok := cmex.Boards.Lookup(q.BoardIDs[i].Board)
		if !ok {
			ps.Add(cmex.RuleUnknownMOCBoard, cmex.Args{})
		}
		q.BoardIDs[i].Board = b
	}
	if q.BirthMonth == 0 && q.BirthDay == 0 && len(q.BoardIDs) == 0 && q.LicenseNumber == "" && q.LicenseState == "" && q.NPI == "" && q.OCIID == "" && q.MedicalSchool == "" {
		ps.Add(cmex.RuleNoLearnerMatch, cmex.Args{})
	}
	if len(ps) > 0 {
		h.fail(w, r, cmex.Rejected(ps))
		return
	}
	persons, err := h.Persons.MatchPersons(r.Context(), q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusOK, map[string]int{"matchedLearnerCount": len(persons)})
}

// recordsBody is the answer of every learner-record operation.
type recordsBody struct {
	Records  []*recordJSON `json:"records"`
	Warnings cmex.Problems `json:"warnings,omitempty"`
}

// recordJSON is a learner record with, when asked for, its history.
type recordJSON struct {
	*cmex.LearnerRecord
	History []*cmex.StatusChange `json:"history,omitempty"`
}

func wrap(rs []*cmex.LearnerRecord) []*recordJSON {
	out := make([]*recordJSON, len(rs))
	for i, r := range rs {
		out[i] = &recordJSON{LearnerRecord: r}
	}
	return out
}

func (h *Handler) save(w http.ResponseWriter, r *http.Request, p *cmex.Principal, rep *cmex.LearnerReport, status int) {
	recs, warnings, err := h.Learners.SaveLearnerReport(r.Context(), cmex.LearnerChange{Report: rep, By: *p, Source: "api"})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, status, recordsBody{Records: wrap(recs), Warnings: warnings})
}

func (h *Handler) addRecords(w http.ResponseWriter, r *http.Request, p *cmex.Principal) {
	var rep cmex.LearnerReport
	if err := h.decode(w, r, &rep); err != nil {
		h.fail(w, r, err)
		return
	}
	switch strings.ToLower(rep.Action) {
	case "", cmex.LearnerAdd:
		rep.Action = cmex.LearnerAdd
	default:
		h.fail(w, r, cmex.Errorf(cmex.EINVALID, "POST adds records; delete one with DELETE /api/v1/learner-records/{creditId}"))
		return
	}
	h.save(w, r, p, &rep, http.StatusCreated)
}

func (h *Handler) deleteRecord(w http.ResponseWriter, r *http.Request, p *cmex.Principal) {
	rep := &cmex.LearnerReport{Action: cmex.LearnerDelete, Credits: []cmex.CreditCertificate{{CreditID: cmex.CreditID(r.PathValue("creditId"))}}}
	h.save(w, r, p, rep, http.StatusOK)
}

func (h *Handler) getRecord(w http.ResponseWriter, r *http.Request, p *cmex.Principal) {
	recs, err := h.Learners.FindLearnerRecords(r.Context(), cmex.LearnerRecordFilter{ProviderID: p.Organization.ProviderID, CreditID: cmex.CreditID(r.PathValue("creditId"))})
	if err == nil && len(recs) == 0 {
		err = cmex.Errorf(cmex.ENOTFOUND, "no learner record with CreditID %s", r.PathValue("creditId"))
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := wrap(recs)
	for _, rec := range out {
		if rec.History, err = h.Learners.LearnerRecordHistory(r.Context(), p.Organization.ProviderID, rec.ID); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	h.json(w, http.StatusOK, recordsBody{Records: out})
}

// findRecords answers GET /api/v1/learner-records?activityId=&uniqueId=&
// completionDate=[&birthMonth=&birthDay=], as PARS's status query by learner.
func (h *Handler) findRecords(w http.ResponseWriter, r *http.Request, p *cmex.Principal) {
	q := r.URL.Query()
	f := cmex.LearnerRecordFilter{ProviderID: p.Organization.ProviderID, UniqueID: q.Get("uniqueId")}
	var ps []string
	if id, err := strconv.ParseInt(q.Get("activityId"), 10, 64); err == nil && id > 0 {
		f.ActivityID = cmex.ActivityID(id)
	} else {
		ps = append(ps, "activityId (an ACCME Activity ID)")
	}
	if d, _, err := cmex.ParseDate(q.Get("completionDate")); err == nil {
		f.CompletionDate = d
	} else {
		ps = append(ps, "completionDate (YYYY-MM-DD)")
	}
	if f.UniqueID == "" {
		ps = append(ps, "uniqueId")
	}
	if v := q.Get("birthDay"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 31 {
			ps = append(ps, "birthDay (1-31)")
		}
		f.BirthDay = n
	}
	if v := q.Get("birthMonth"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 12 {
			ps = append(ps, "birthMonth (1-12)")
		}
		f.BirthMonth = time.Month(n)
	}
	if len(ps) > 0 {
		h.fail(w, r, cmex.Errorf(cmex.EINVALID, "give %s", strings.Join(ps, ", ")))
		return
	}
	recs, err := h.Learners.FindLearnerRecords(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusOK, recordsBody{Records: wrap(recs)})
}

// Routes lists the operations served, as "METHOD /path", for tests and
// documentation.
func Routes() []string {
	out := []string{"GET /api/v1/openapi.json"}
	for _, r := range routes {
		out = append(out, r.method+" "+r.pattern)
	}
	return out
}
