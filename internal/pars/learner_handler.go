package pars

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

var (
	submitLearnerEnvelope = envelope{"SubmitMessage", NSLearnerService,
		[]string{"Data", "Password", "ProviderId", "ReportingYear", "User"}}
	statusByLearnerEnvelope = envelope{"LearnerStatusSearchByLearner", NSLearnerService,
		[]string{"ActivityId", "BirthDay", "BirthMonth", "CompletionDate", "Password", "ProviderId", "UniqueId", "User"}}
	statusByCreditEnvelope = envelope{"LearnerStatusSearchByCreditId", NSLearnerService,
		[]string{"CreditId", "Password", "ProviderId", "User"}}
	learnerMatchEnvelope = envelope{"LearnerMatchRequest", NSLearnerService,
		[]string{"BirthDay", "BirthMonth", "BoardIds", "FirstName", "LastName", "LicenseId", "MedicalSchoolName", "Npi", "Password", "StateName", "User"}}
)

// learnerResponse is a ResponseMessage of the learner service.
func learnerResponse(data string, ps cmex.Problems, status string) response {
	return response{root: "ResponseMessage", ns: NSLearnerService, data: data, hasErrors: true, emptyList: true,
		errors: errorMessages(ps), status: status}
}

// statusRejection is the ResponseMessage of a status query that could not
// run: no data, the problems, Rejected.
func statusRejection(ps cmex.Problems) response {
	r := learnerResponse("", ps, "Rejected")
	r.dataNil = true
	return r
}

// problemsFor keeps the warnings only in Permissive mode: a strict answer
// is shaped exactly as PARS's.
func (h *Handler) problemsFor(ps cmex.Problems) cmex.Problems {
	if h.Mode == Strict {
		return ps.Errors()
	}
	return ps
}

func (h *Handler) saveLearner(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	reject := func(f *failure, data string) {
		h.write(w, f.status, learnerResponse(data, cmex.Problems{f.problem}, "Rejected"))
	}
	body, warnings, f := h.readBody(w, r)
	if f != nil {
		reject(f, "")
		return
	}
	m, envWarnings, f := readEnvelope(body, submitLearnerEnvelope, h.Mode)
	if f != nil {
		reject(f, "")
		return
	}
	warnings = append(warnings, envWarnings...)
	var dataText string // echoed as sent
	if n := m["Data"]; n != nil {
		dataText = n.text
	}
	principal, f, err := h.authenticate(ctx, w.Header(), m, "SubmitMessage")
	if err != nil {
		h.internalLearner(w, ctx, err)
		return
	}
	if f != nil {
		reject(f, dataText)
		return
	}
	d, f := h.learnerData(m, &warnings)
	if f != nil {
		reject(f, dataText)
		return
	}
	recs, ruleWarnings, err := h.Learners.SaveLearnerReport(ctx, cmex.LearnerChange{
		Report: d.report, Problems: d.problems, By: *principal, Source: "pars",
	})
	switch cmex.ErrorCode(err) {
	case "":
	case cmex.EINVALID:
		ps := h.problemsFor(append(warnings, cmex.ErrorProblems(err)...))
		h.Logger.InfoContext(ctx, "learner record rejected", "provider", principal.Organization.ProviderID,
			"user", principal.User.Username, "activity", d.report.ActivityID, "codes", ps.Codes())
		h.write(w, http.StatusOK, learnerResponse(dataText, ps, "Rejected"))
		return
	default:
		h.internalLearner(w, ctx, err)
		return
	}
	ids := make([]cmex.LearnerRecordID, len(recs))
	for i, rec := range recs {
		ids[i] = rec.ID
	}
	h.Logger.InfoContext(ctx, "learner records saved", "provider", principal.Organization.ProviderID,
		"user", principal.User.Username, "action", d.report.Action, "activity", d.report.ActivityID, "records", ids)
	var ps cmex.Problems
	if h.Mode == Permissive {
		ps = append(warnings, ruleWarnings...)
	}
	h.write(w, http.StatusOK, learnerResponse(dataText, ps, "Accepted"))
}

// learnerData decodes the document in Data: escaped text, or in Permissive
// mode the elements themselves.
func (h *Handler) learnerData(m members, warnings *cmex.Problems) (*decodedLearner, *failure) {
	n := m["Data"]
	if n == nil {
		return nil, fail(http.StatusOK, cmex.RuleLearnerGeneral, cmex.Args{}).detail(" SubmitMessage has no Data.")
	}
	if len(n.children) > 0 {
		if h.Mode == Strict || len(n.children) > 1 {
			return nil, fail(http.StatusOK, cmex.RuleLearnerGeneral, cmex.Args{}).detail(
				" Data must hold the learner document as escaped text (&lt;accme:ACCMELearnerReports …&gt;), not as XML elements.")
		}
		warnings.Warn(cmex.RuleLearnerGeneral, cmex.Args{})
		(*warnings)[len(*warnings)-1].Message += " Data held the document as XML elements; PARS requires it escaped as text."
		return decodeLearnerTree(n.children[0], h.Mode)
	}
	return decodeLearnerData(n.text, h.Mode, n.line-1)
}

// statusFailure answers a status query that cannot be run.
func (h *Handler) statusFailure(w http.ResponseWriter, f *failure) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(f.status)
	_, _ = w.Write(encodeArray([]response{statusRejection(cmex.Problems{f.problem})}))
}

// statusQuery reads a status envelope and authenticates it.
func (h *Handler) statusQuery(w http.ResponseWriter, r *http.Request, e envelope) (members, *cmex.Principal, bool) {
	body, _, f := h.readBody(w, r)
	if f != nil {
		h.statusFailure(w, f)
		return nil, nil, false
	}
	m, _, f := readEnvelope(body, e, h.Mode)
	if f != nil {
		h.statusFailure(w, f)
		return nil, nil, false
	}
	principal, f, err := h.authenticate(r.Context(), w.Header(), m, e.root)
	if err != nil {
		h.internalLearner(w, r.Context(), err)
		return nil, nil, false
	}
	if f != nil {
		h.statusFailure(w, f)
		return nil, nil, false
	}
	return m, principal, true
}

func (h *Handler) statusByLearner(w http.ResponseWriter, r *http.Request) {
	m, principal, ok := h.statusQuery(w, r, statusByLearnerEnvelope)
	if !ok {
		return
	}
	f := cmex.LearnerRecordFilter{ProviderID: principal.Organization.ProviderID}
	var ps cmex.Problems
	need := func(name string, missing cmex.Rule) (string, bool) {
		v, _ := m.text(name)
		if v == "" {
			p := missing.Problem(cmex.Args{})
			p.Message += " (" + name + ")"
			ps = append(ps, p)
			return "", false
		}
		return v, true
	}
	if v, ok := need("ActivityId", cmex.RuleMissingLearnerActivity); ok {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			ps.Add(cmex.RuleLearnerActivityUnknown, cmex.Args{})
		}
		f.ActivityID = cmex.ActivityID(id)
	}
	month, monthOK := need("BirthMonth", cmex.RuleMissingBirthDate)
	day, dayOK := need("BirthDay", cmex.RuleMissingBirthDate)
	if monthOK && dayOK {
		mo, err1 := strconv.Atoi(month)
		d, err2 := strconv.Atoi(day)
		// 2000 is a leap year: 29 February is a birthday.
		if err1 != nil || err2 != nil || mo < 1 || mo > 12 || d < 1 || d > 31 ||
			time.Date(2000, time.Month(mo), d, 0, 0, 0, 0, time.UTC).Day() != d {
			ps.Add(cmex.RuleInvalidBirthDate, cmex.Args{})
		}
		f.BirthMonth, f.BirthDay = time.Month(mo), d
	}
	if v, ok := need("CompletionDate", cmex.RuleMissingCompletionDate); ok {
		d, _, err := cmex.ParseDate(v)
		if err != nil {
			ps.Add(cmex.RuleInvalidCompletionDate, cmex.Args{})
		}
		f.CompletionDate = d
	}
	if v, ok := need("UniqueId", cmex.RuleMissingDiplomateID); ok {
		f.UniqueID = v
	}
	if len(ps) > 0 {
		h.writeStatus(w, []response{statusRejection(ps)})
		return
	}
	h.findStatus(w, r.Context(), f, cmex.RuleLearnerRecordNotFound)
}

func (h *Handler) statusByCredit(w http.ResponseWriter, r *http.Request) {
	m, principal, ok := h.statusQuery(w, r, statusByCreditEnvelope)
	if !ok {
		return
	}
	id, _ := m.text("CreditId")
	switch {
	case id == "":
		h.writeStatus(w, []response{statusRejection(cmex.Problems{cmex.RuleMissingCreditID.Problem(cmex.Args{})})})
		return
	case len(id) > cmex.MaxCreditID:
		p := cmex.RuleLearnerGeneral.Problem(cmex.Args{})
		p.Message += " CreditId is longer than 300 characters."
		h.writeStatus(w, []response{statusRejection(cmex.Problems{p})})
		return
	}
	h.findStatus(w, r.Context(), cmex.LearnerRecordFilter{ProviderID: principal.Organization.ProviderID, CreditID: cmex.CreditID(id)}, cmex.RuleDeleteUnknownCreditID)
}

// findStatus answers a status query with one ResponseMessage per record.
func (h *Handler) findStatus(w http.ResponseWriter, ctx context.Context, f cmex.LearnerRecordFilter, notFound cmex.Rule) {
	recs, err := h.Learners.FindLearnerRecords(ctx, f)
	if err != nil {
		h.internalLearner(w, ctx, err)
		return
	}
	if len(recs) == 0 {
		h.writeStatus(w, guessStatusNotFound(notFound))
		return
	}
	out := make([]response, 0, len(recs))
	for _, rec := range recs {
		var ps cmex.Problems
		if rec.Status == cmex.StatusRejected && rec.StatusCode != "" {
			ps = cmex.Problems{{Code: cmex.RuleCode(rec.StatusCode), Message: rec.StatusReason}}
		}
		out = append(out, learnerResponse(guessStatusData(rec), ps, guessStatusCode(rec)))
	}
	h.writeStatus(w, out)
}

func (h *Handler) writeStatus(w http.ResponseWriter, rs []response) {
	h.counted(rs...)
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(encodeArray(rs))
}

func (h *Handler) learnerMatch(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	failWith := func(status int, ps cmex.Problems) {
		h.counted(response{errors: errorMessages(ps.Errors())})
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(guessMatchFailure(ps))
	}
	body, _, f := h.readBody(w, r)
	if f != nil {
		failWith(f.status, cmex.Problems{f.problem})
		return
	}
	m, _, f := readEnvelope(body, learnerMatchEnvelope, h.Mode)
	if f != nil {
		failWith(f.status, cmex.Problems{f.problem})
		return
	}
	// LearnerMatchRequest carries no ProviderId: the user and password alone
	// say who asks.
	user, _ := m.text("User")
	password := ""
	if n := m["Password"]; n != nil {
		password = n.text
	}
	if user == "" || password == "" {
		failWith(http.StatusOK, cmex.Problems{cmex.RuleAccessDenied.Problem(cmex.Args{})})
		return
	}
	if _, err := h.Users.Authenticate(ctx, "", user, password); err != nil {
		if code := cmex.ErrorCode(err); (code == cmex.ETOOMANY || code == cmex.EBUSY) && !cmex.Unreachable(err) {
			setRetryAfter(w.Header(), err)
			p := cmex.RuleAccessDenied.Problem(cmex.Args{})
			p.Message += " (" + cmex.ErrorMessage(err) + ")"
			status := http.StatusTooManyRequests
			if code == cmex.EBUSY {
				status = http.StatusServiceUnavailable
			}
			failWith(status, cmex.Problems{p})
			return
		}
		if cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
			p := cmex.RuleLearnerGeneral.Problem(cmex.Args{})
			failWith(h.failureStatus(w.Header(), ctx, &p, err), cmex.Problems{p})
			return
		}
		failWith(http.StatusOK, cmex.Problems{cmex.RuleAccessDenied.Problem(cmex.Args{})})
		return
	}
	q, ps := matchQuery(m)
	if len(ps) > 0 {
		failWith(http.StatusOK, ps)
		return
	}
	persons, err := h.Persons.MatchPersons(ctx, q)
	if err != nil {
		p := cmex.RuleLearnerGeneral.Problem(cmex.Args{})
		failWith(h.failureStatus(w.Header(), ctx, &p, err), cmex.Problems{p})
		return
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<LearnerMatchResponse xmlns="` + NSLearnerService + `" xmlns:i="` + NSInstance + `">`)
	fmt.Fprintf(&b, "<MatchedLearnerCount>%d</MatchedLearnerCount></LearnerMatchResponse>\n", len(persons))
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// matchQuery reads a LearnerMatchRequest: FirstName, LastName and at least
// one of the starred fields are required (seed 003).
func matchQuery(m members) (cmex.MatchQuery, cmex.Problems) {
	var q cmex.MatchQuery
	var ps cmex.Problems
	q.GivenName, _ = m.text("FirstName")
	q.FamilyName, _ = m.text("LastName")
	if q.GivenName == "" {
		ps.Add(cmex.RuleMissingFirstName, cmex.Args{})
	}
	if q.FamilyName == "" {
		ps.Add(cmex.RuleMissingLastName, cmex.Args{})
	}
	starred := false
	for _, f := range []struct {
		name string
		max  int
		dst  *int
	}{{"BirthDay", 31, &q.BirthDay}, {"BirthMonth", 12, nil}} {
		v, _ := m.text(f.name)
		if v == "" {
			continue
		}
		starred = true
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > f.max {
			ps.Add(cmex.RuleInvalidBirthDate, cmex.Args{})
			continue
		}
		if f.dst != nil {
			*f.dst = n
		} else {
			q.BirthMonth = time.Month(n)
		}
	}
	if b := m["BoardIds"]; b != nil {
		for _, c := range b.children {
			if c.name.Local != "BoardId" {
				continue
			}
			var id cmex.BoardID
			for _, g := range c.children {
				switch g.name.Local {
				case "Board":
					id.Board = g.value()
				case "LearnerId":
					id.ID = g.value()
				}
			}
			board, ok := cmex.Boards.Lookup(id.Board)
			if !ok {
				ps.Add(cmex.RuleUnknownMOCBoard, cmex.Args{})
				continue
			}
			id.Board, starred = board, true
			q.BoardIDs = append(q.BoardIDs, id)
		}
	}
	if v, _ := m.text("LicenseId"); v != "" {
		q.LicenseNumber, starred = v, true
	}
	if v, _ := m.text("MedicalSchoolName"); v != "" {
		q.MedicalSchool, starred = v, true
	}
	if v, _ := m.text("Npi"); v != "" {
		if len(v) != 10 || strings.Trim(v, "0123456789") != "" {
			ps.Add(cmex.RuleLearnerIDType, cmex.Args{})
		}
		q.NPI, starred = v, true
	}
	if v, _ := m.text("StateName"); v != "" {
		state, ok := cmex.USStates.Lookup(v)
		if !ok {
			ps.Add(cmex.RuleUnknownLicensingBoard, cmex.Args{})
		}
		q.LicenseState, starred = state, true
	}
	if !starred && len(ps) == 0 {
		p := cmex.RuleNoLearnerMatch.Problem(cmex.Args{})
		p.Message += " (give at least one of BirthDay, BirthMonth, BoardIds, LicenseId, MedicalSchoolName, Npi, StateName)"
		ps = append(ps, p)
	}
	return q, ps
}

// internalLearner logs an unexpected error and answers with the learner
// service's general error (503 when it is temporary, see failureStatus).
func (h *Handler) internalLearner(w http.ResponseWriter, ctx context.Context, err error) {
	p := cmex.RuleLearnerGeneral.Problem(cmex.Args{})
	status := h.failureStatus(w.Header(), ctx, &p, err)
	h.write(w, status, learnerResponse("", cmex.Problems{p}, "Rejected"))
}
