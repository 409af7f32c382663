package pars

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/cmexhub/cmex"
)

// DefaultMaxBody is the largest request body the handler reads: 10 MiB,
// far above one activity (a few KiB) and small enough that a flood of large
// bodies cannot exhaust memory.
const DefaultMaxBody = 10 << 20

// Handler serves the PARS activity, learner and learner match services.
type Handler struct {
	Users      cmex.UserService
	Activities cmex.ActivityService
	Learners   cmex.LearnerService
	Persons    cmex.PersonService
	Logger     *slog.Logger
	Mode       Mode
	// MaxBody is the largest request body accepted; 0 means DefaultMaxBody.
	MaxBody int64
	// OnReject, when set, is told the code of each error an answer
	// carries (for /metrics).
	OnReject func(code string)
}

// counted reports rs's error codes (not its warnings) to OnReject.
func (h *Handler) counted(rs ...response) {
	if h.OnReject == nil {
		return
	}
	for _, r := range rs {
		for _, e := range r.errors {
			if !strings.HasPrefix(e.Message, "Warning:") {
				h.OnReject(e.Code)
			}
		}
	}
}

// Register declares the handler's routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathSaveActivity, h.saveActivity)
	mux.HandleFunc("POST "+PathGetActivity, h.getActivity)
	mux.HandleFunc("POST "+PathSaveLearnerActivity, h.saveLearner)
	mux.HandleFunc("POST "+PathLearnerStatusByLearner, h.statusByLearner)
	mux.HandleFunc("POST "+PathLearnerStatusByCredit, h.statusByCredit)
	mux.HandleFunc("POST "+PathLearnerMatch, h.learnerMatch)
}

func (h *Handler) maxBody() int64 {
	if h.MaxBody > 0 {
		return h.MaxBody
	}
	return DefaultMaxBody
}

// readBody reads the size-limited body and checks its content type.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, cmex.Problems, *failure) {
	var warnings cmex.Problems
	if f := h.checkContentType(r, &warnings); f != nil {
		return nil, nil, f
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody()))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, nil, fail(http.StatusRequestEntityTooLarge, cmex.RuleDataUnreadable,
				cmex.Args{Detail: fmt.Sprintf(" The request body is larger than the limit of %d bytes.", h.maxBody())})
		}
		return nil, nil, fail(http.StatusBadRequest, cmex.RuleDataUnreadable, cmex.Args{Detail: " The request body could not be read."})
	}
	return body, warnings, nil
}

// checkContentType enforces PARS's "application/xml; charset=utf-8" in
// Strict mode (text/xml is accepted too); Permissive mode warns.
func (h *Handler) checkContentType(r *http.Request, warnings *cmex.Problems) *failure {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	ok := err == nil && (mt == "application/xml" || mt == "text/xml")
	if cs, has := params["charset"]; ok && has && !strings.EqualFold(cs, "utf-8") {
		ok = false
	}
	if ok {
		return nil
	}
	detail := fmt.Sprintf("Content-Type must be application/xml; charset=utf-8, not %q", r.Header.Get("Content-Type"))
	if h.Mode == Strict {
		return xmlError(http.StatusUnsupportedMediaType, "%s", detail)
	}
	warnings.Warn(cmex.RuleXMLError, cmex.Args{Detail: detail})
	return nil
}

// authenticate checks the envelope's ProviderId, User and Password. A
// refusal by the login guard sets Retry-After in header.
func (h *Handler) authenticate(ctx context.Context, header http.Header, m members, root string) (*cmex.Principal, *failure, error) {
	denied := func(why string) *failure {
		p := cmex.RuleAccessDenied.Problem(cmex.Args{})
		if why != "" {
			p.Message += " (" + why + ")"
		}
		return &failure{status: http.StatusOK, problem: p}
	}
	for _, name := range []string{"Password", "ProviderId", "User"} {
		if v, ok := m.text(name); !ok || v == "" {
			return nil, denied(fmt.Sprintf("%s has no %s", root, name)), nil
		}
	}
	providerText, _ := m.text("ProviderId")
	provider, err := cmex.ParseProviderID(providerText)
	if err != nil {
		return nil, denied(""), nil
	}
	user, _ := m.text("User")
	password := m["Password"].text // as sent: spaces may belong to a password
	p, err := h.Users.Authenticate(ctx, provider, user, password)
	if cmex.Unreachable(err) {
		// Not a refusal of these credentials: the general error says so.
		return nil, nil, err
	}
	switch cmex.ErrorCode(err) {
	case "":
		return p, nil, nil
	case cmex.EUNAUTHORIZED:
		return nil, denied(""), nil
	case cmex.ETOOMANY:
		f := denied(cmex.ErrorMessage(err))
		f.status = http.StatusTooManyRequests
		setRetryAfter(header, err)
		return nil, f, nil
	case cmex.EBUSY:
		f := denied(cmex.ErrorMessage(err))
		f.status = http.StatusServiceUnavailable
		setRetryAfter(header, err)
		return nil, f, nil
	default:
		return nil, nil, err
	}
}

func (h *Handler) saveActivity(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	reject := func(f *failure, data string) {
		h.write(w, f.status, response{root: "ResponseMessage", data: data, hasErrors: true,
			errors: errorMessages(cmex.Problems{f.problem}), status: "Rejected"})
	}
	body, warnings, f := h.readBody(w, r)
	if f != nil {
		reject(f, "")
		return
	}
	m, envWarnings, f := readEnvelope(body, submitActivityEnvelope, h.Mode)
	if f != nil {
		reject(f, "")
		return
	}
	warnings = append(warnings, envWarnings...)
	var dataText string // echoed as sent in a rejection
	if n := m["Data"]; n != nil {
		dataText = n.text
	}

	principal, f, err := h.authenticate(ctx, w.Header(), m, "SubmitMessage")
	if err != nil {
		h.internal(w, ctx, "ResponseMessage", cmex.RuleGeneral.Problem(cmex.Args{}), err)
		return
	}
	if f != nil {
		reject(f, dataText)
		return
	}

	year, f := h.reportingYear(m, &warnings)
	if f != nil {
		reject(f, dataText)
		return
	}

	d, f := h.activityData(m, &warnings)
	if f != nil {
		reject(f, dataText)
		return
	}

	ch := cmex.ActivityChange{
		Action: d.action, Activity: d.activity, Close: d.close, ReportingYear: year,
		Problems: d.problems, By: *principal,
	}
	saved, ruleWarnings, err := h.Activities.SaveActivity(ctx, ch)
	switch cmex.ErrorCode(err) {
	case "":
	case cmex.EINVALID:
		ps := append(warnings, cmex.ErrorProblems(err)...)
		if h.Mode == Strict {
			ps = ps.Errors()
		}
		h.Logger.InfoContext(ctx, "activity rejected", "provider", principal.Organization.ProviderID,
			"user", principal.User.Username, "entry", d.activity.Entry(), "codes", ps.Codes())
		h.write(w, http.StatusOK, response{root: "ResponseMessage", data: dataText, hasErrors: true, errors: errorMessages(ps), status: "Rejected"})
		return
	default:
		// PARS has codes of its own for a save that failed on its side.
		rule := cmex.RuleGeneral
		switch action, _ := cmex.ParseActivityAction(d.action); action {
		case cmex.ActionAdd:
			rule = cmex.RuleAddFailed
		case cmex.ActionUpdate:
			rule = cmex.RuleUpdateFailed
		}
		h.internal(w, ctx, "ResponseMessage", rule.Problem(cmex.Args{Entry: d.activity.Entry()}), err)
		return
	}

	action, _ := cmex.ParseActivityAction(d.action)
	h.Logger.InfoContext(ctx, "activity saved", "provider", principal.Organization.ProviderID,
		"user", principal.User.Username, "action", action, "activity", saved.ID, "revision", saved.Revision)
	resp := response{root: "ResponseMessage", hasErrors: true, status: "Accepted",
		data: encodeActivities([]*cmex.Activity{saved}, encodeOptions{
			providerName: principal.Organization.Name, action: string(action), close: saved.Closed})}
	if h.Mode == Permissive {
		resp.errors = errorMessages(append(warnings, ruleWarnings...))
	}
	h.write(w, http.StatusOK, resp)
}

// reportingYear reads the envelope's ReportingYear: four digits, required
// in Strict mode (452).
func (h *Handler) reportingYear(m members, warnings *cmex.Problems) (int, *failure) {
	s, ok := m.text("ReportingYear")
	if !ok || s == "" {
		if h.Mode == Strict {
			return 0, fail(http.StatusOK, cmex.RuleInvalidReportYear, cmex.Args{})
		}
		warnings.Warn(cmex.RuleInvalidReportYear, cmex.Args{})
		return 0, nil
	}
	y, err := strconv.Atoi(s)
	if err != nil || len(s) != 4 || y < 1900 {
		return 0, fail(http.StatusOK, cmex.RuleInvalidReportYear, cmex.Args{})
	}
	return y, nil
}

// activityData decodes the document in Data: escaped text, as PARS
// requires, or, in Permissive mode only, the elements themselves.
func (h *Handler) activityData(m members, warnings *cmex.Problems) (*decodedActivity, *failure) {
	n := m["Data"]
	if n == nil {
		return nil, fail(http.StatusOK, cmex.RuleDataUnreadable, cmex.Args{Detail: " SubmitMessage has no Data."})
	}
	if len(n.children) > 0 {
		if h.Mode == Strict || len(n.children) > 1 {
			return nil, fail(http.StatusOK, cmex.RuleDataUnreadable, cmex.Args{
				Detail: " Data must hold the activity document as escaped text (&lt;accme:ACCMEActivities …&gt;), not as XML elements."})
		}
		warnings.Warn(cmex.RuleDataUnreadable, cmex.Args{Detail: " Data held the document as XML elements; PARS requires it escaped as text."})
		return decodeActivityTree(n.children[0], h.Mode)
	}
	// The escaped text starts on the line of <Data>, so its line 1 is that line.
	return decodeActivityData(n.text, h.Mode, n.line-1)
}

func (h *Handler) getActivity(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	failWith := func(f *failure, warnings cmex.Problems) {
		ps := append(warnings, f.problem)
		if h.Mode == Strict {
			ps = ps.Errors()
		}
		h.write(w, f.status, guessSearchFailure(ps))
	}
	body, warnings, f := h.readBody(w, r)
	if f != nil {
		failWith(f, nil)
		return
	}
	m, envWarnings, f := readEnvelope(body, searchCriteriaEnvelope, h.Mode)
	if f != nil {
		failWith(f, nil)
		return
	}
	warnings = append(warnings, envWarnings...)
	principal, f, err := h.authenticate(ctx, w.Header(), m, "SearchCriteria")
	if err != nil {
		h.internal(w, ctx, "SearchResult", cmex.RuleGeneral.Problem(cmex.Args{}), err)
		return
	}
	if f != nil {
		failWith(f, nil)
		return
	}
	filter, f := h.searchFilter(m, &warnings)
	if f != nil {
		failWith(f, warnings)
		return
	}
	filter.ProviderID = principal.Organization.ProviderID
	acts, err := h.Activities.FindActivities(ctx, filter)
	if err != nil {
		h.internal(w, ctx, "SearchResult", cmex.RuleGeneral.Problem(cmex.Args{}), err)
		return
	}
	if len(acts) == 0 {
		h.write(w, http.StatusOK, guessSearchEmpty())
		return
	}
	resp := guessSearchResult(acts, principal.Organization.Name)
	if h.Mode == Permissive && len(warnings) > 0 {
		resp.hasErrors, resp.errors = true, errorMessages(warnings)
	}
	h.write(w, http.StatusOK, resp)
}

// searchFilter reads the criteria of a SearchCriteria envelope.
func (h *Handler) searchFilter(m members, warnings *cmex.Problems) (cmex.ActivityFilter, *failure) {
	var f cmex.ActivityFilter
	invalid := func(element, value string) *failure {
		return fail(http.StatusOK, cmex.RuleInvalidValue, cmex.Args{Element: element, Value: value})
	}
	switch v, ok := m.text("SchemaVersion"); {
	case ok && v == "3":
	case !ok && h.Mode == Permissive:
		warnings.Warn(cmex.RuleMissingField, cmex.Args{Element: "SearchCriteria", Detail: "SchemaVersion (3 was assumed)"})
	case !ok:
		return f, fail(http.StatusOK, cmex.RuleMissingField, cmex.Args{Element: "SearchCriteria",
			Detail: "SchemaVersion (send 3; PARS answers other versions in the legacy format, which cmex does not serve)"})
	default:
		return f, invalid("SchemaVersion", v+" (cmex serves SchemaVersion 3 only)")
	}
	any := false
	if v, ok := m.text("ActivityID"); ok && v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return f, invalid("ActivityID", v)
		}
		f.ID, any = cmex.ActivityID(id), true
	}
	if v, ok := m.text("ActivityStartDate"); ok && v != "" {
		d, _, err := cmex.ParseDate(v)
		if err != nil {
			return f, invalid("ActivityStartDate", v)
		}
		f.StartDate, any = d, true
	}
	if v, ok := m.text("ActivityTypeName"); ok && v != "" {
		t, known := cmex.ActivityTypes.Lookup(v)
		if !known {
			return f, fail(http.StatusOK, cmex.RuleInvalidActivityType, cmex.Args{Value: v})
		}
		f.Type, any = t, true
	}
	if v, ok := m.text("ProviderActivityId"); ok && v != "" {
		f.ProviderActivityID, any = v, true
	}
	if !any {
		return f, fail(http.StatusOK, cmex.RuleMissingField, cmex.Args{Element: "SearchCriteria",
			Detail: "at least one of ActivityID, ActivityStartDate, ActivityTypeName, ProviderActivityId"})
	}
	return f, nil
}

// internal logs an unexpected error once, with the request's context, and
// answers with problem p (PARS's general error unless the caller knows
// better); the error's text stays in the log.
func (h *Handler) internal(w http.ResponseWriter, ctx context.Context, root string, p cmex.Problem, err error) {
	status := h.failureStatus(w.Header(), ctx, &p, err)
	ps := cmex.Problems{p}
	if root == "SearchResult" {
		h.write(w, status, guessSearchFailure(ps))
		return
	}
	h.write(w, status, response{root: root, dataNil: true, hasErrors: true, errors: errorMessages(ps), status: "Rejected"})
}

// failureStatus logs an unexpected error and returns the HTTP status to
// answer it with: 503, with Retry-After and the reason added to p, when
// the server is busy or its database cannot be reached for now (the
// request may succeed if sent again), else 500.
func (h *Handler) failureStatus(header http.Header, ctx context.Context, p *cmex.Problem, err error) int {
	if cmex.ErrorCode(err) != cmex.EBUSY {
		h.Logger.ErrorContext(ctx, "pars: internal error", "err", err)
		return http.StatusInternalServerError
	}
	h.Logger.WarnContext(ctx, "pars: temporary failure", "err", err)
	setRetryAfter(header, err)
	p.Message += " (" + cmex.ErrorMessage(err) + ")"
	return http.StatusServiceUnavailable
}

// setRetryAfter tells a client refused by the login guard when to try again.
func setRetryAfter(header http.Header, err error) {
	if secs := cmex.RetryAfter(err); secs > 0 {
		header.Set("Retry-After", strconv.Itoa(secs))
	}
}

func (h *Handler) write(w http.ResponseWriter, status int, resp response) {
	h.counted(resp)
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(resp.encode())
}
