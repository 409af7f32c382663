package cmex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The completion profile: which xAPI statements a provider's learning
// environment sends are completions for the ledger, and how each becomes
// a LearnerReport. A provider configures one (a JSON file, loaded with
// cmex xapi profile load); without one, DefaultXAPIProfile applies.

// Verbs that count as a completion when a profile names none.
const (
	XAPIVerbCmi5Passed    = "https://w3id.org/xapi/adl/verbs/passed"
	XAPIVerbCmi5Completed = "https://w3id.org/xapi/adl/verbs/completed"
	XAPIVerbADLCompleted  = "http://adlnet.gov/expapi/verbs/completed"
)

// XAPIProfile is a provider's completion profile.
type XAPIProfile struct {
	// Verbs are the verb IRIs of completions.
	Verbs []string `json:"verbs,omitempty"`
	// Activity says how the object's activity IRI names an ACCME activity.
	Activity XAPIActivityRule `json:"activity"`
	// Credits says where a completion's credits are.
	Credits XAPICreditsRule `json:"credits"`
	// Learner says how the actor names the learner for the registry.
	Learner XAPILearnerRule `json:"learner"`
	// CreditIDDomain is the domain of the CreditIDs made for credits
	// that carry none: ccid:<domain>:<statement id>-<n>.
	CreditIDDomain string `json:"creditIdDomain,omitempty"`
}

// XAPIActivityRule maps an activity IRI to an ACCME Activity ID: the
// extension (on the activity's definition, then the context) when the
// statement carries it, else the table.
type XAPIActivityRule struct {
	Extension string `json:"extension,omitempty"`
	// Table maps activity IRIs to ACCME Activity IDs.
	Table map[string]string `json:"table,omitempty"`
}

// XAPICreditsRule finds the credits: the result extension, else the
// defaults of the activity (by ACCME Activity ID).
type XAPICreditsRule struct {
	Extension string                         `json:"extension,omitempty"`
	Defaults  map[string][]CreditCertificate `json:"defaults,omitempty"`
}

// XAPILearnerRule maps the actor to a learner identity: the context
// extension when the statement carries it, else the table, keyed by the
// actor's identifier as XAPIAgentKey spells it ("mbox:mailto:…",
// "account:<homePage>|<name>").
type XAPILearnerRule struct {
	Extension string                     `json:"extension,omitempty"`
	Table     map[string]LearnerIdentity `json:"table,omitempty"`
}

// DefaultXAPIProfile is the profile of a provider that configured none.
func DefaultXAPIProfile() *XAPIProfile {
	p := &XAPIProfile{}
	p.setDefaults()
	return p
}

func (p *XAPIProfile) setDefaults() {
	if len(p.Verbs) == 0 {
		p.Verbs = []string{XAPIVerbCmi5Passed, XAPIVerbCmi5Completed, XAPIVerbADLCompleted}
	}
	if p.Activity.Extension == "" {
		p.Activity.Extension = GuessXAPIActivityExtension
	}
	if p.Credits.Extension == "" {
		p.Credits.Extension = GuessXAPICreditsExtension
	}
	if p.Learner.Extension == "" {
		p.Learner.Extension = GuessXAPILearnerExtension
	}
	if p.CreditIDDomain == "" {
		p.CreditIDDomain = GuessXAPICreditIDDomain
	}
}

// ParseXAPIProfile reads a profile file. Every problem names the line it
// is on; missing fields take their defaults.
func ParseXAPIProfile(data []byte) (*XAPIProfile, Problems) {
	var p XAPIProfile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, Problems{jsonProblem(data, err)}
	}
	if dec.More() {
		return nil, Problems{{Message: "the profile is one JSON object; more follows it", Line: lineAt(data, dec.InputOffset()), Severity: SeverityError}}
	}
	var ps Problems
	bad := func(needle, format string, args ...any) {
		ps = append(ps, Problem{Message: fmt.Sprintf(format, args...), Line: lineOfString(data, needle), Severity: SeverityError})
	}
	for _, v := range p.Verbs {
		if !isIRI(v) {
			bad(v, "verb %q is not an IRI", v)
		}
	}
	for _, ext := range []string{p.Activity.Extension, p.Credits.Extension, p.Learner.Extension} {
		if ext != "" && !isIRI(ext) {
			bad(ext, "extension %q is not an IRI", ext)
		}
	}
	for iri, id := range p.Activity.Table {
		if !isIRI(iri) {
			bad(iri, "activity %q is not an IRI", iri)
		}
		if _, err := ParseActivityID(id); err != nil {
			bad(id, "activity %q: %q is not an ACCME Activity ID (nine digits)", iri, id)
		}
	}
	for id, cs := range p.Credits.Defaults {
		if _, err := ParseActivityID(id); err != nil {
			bad(id, "default credits: %q is not an ACCME Activity ID (nine digits)", id)
		}
		for _, c := range cs {
			if strings.TrimSpace(c.Certification) == "" || c.Points == nil {
				bad(id, "default credits of %s: each has a certification and points", id)
				break
			}
		}
	}
	for key := range p.Learner.Table {
		if !strings.HasPrefix(key, "mbox:") && !strings.HasPrefix(key, "account:") && !strings.HasPrefix(key, "mbox_sha1sum:") && !strings.HasPrefix(key, "openid:") {
			bad(key, "learner %q: a key is mbox:…, mbox_sha1sum:…, openid:… or account:<homePage>|<name>", key)
		}
	}
	if strings.Contains(p.CreditIDDomain, ":") {
		bad(p.CreditIDDomain, "creditIdDomain %q has a colon", p.CreditIDDomain)
	}
	if ps.HasErrors() {
		return nil, ps
	}
	p.setDefaults()
	return &p, nil
}

func jsonProblem(data []byte, err error) Problem {
	p := Problem{Message: "the profile is not valid JSON: " + strings.TrimPrefix(err.Error(), "json: "), Severity: SeverityError}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		p.Line = lineAt(data, syn.Offset)
	case errors.As(err, &typ):
		p.Line = lineAt(data, typ.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		p.Message = fmt.Sprintf("unknown field %q", name)
		p.Line = lineOfString(data, name)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		p.Message = "the profile is empty or cut short"
		p.Line = lineAt(data, int64(len(data)))
	default:
		var perr *Error
		if errors.As(err, &perr) {
			p.Message = perr.Message
		}
	}
	return p
}

// lineAt is the 1-based line of byte offset off.
func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte("\n"))
}

// lineOfString is the line of the first JSON string s in data, or 0.
func lineOfString(data []byte, s string) int {
	q, _ := json.Marshal(s)
	i := bytes.Index(data, q)
	if i < 0 {
		return 0
	}
	return lineAt(data, int64(i))
}

func isIRI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && !strings.ContainsAny(s, " \t\n")
}

// Counts reports whether a statement with this verb is a completion.
func (p *XAPIProfile) Counts(verb string) bool {
	for _, v := range p.Verbs {
		if v == verb {
			return true
		}
	}
	return false
}

// XAPIAgentKey is an agent's one inverse functional identifier as a
// profile's learner table keys it.
func XAPIAgentKey(m map[string]any) string {
	switch {
	case m["mbox"] != nil:
		return fmt.Sprint("mbox:", m["mbox"])
	case m["mbox_sha1sum"] != nil:
		return fmt.Sprint("mbox_sha1sum:", strings.ToLower(fmt.Sprint(m["mbox_sha1sum"])))
	case m["openid"] != nil:
		return fmt.Sprint("openid:", m["openid"])
	case m["account"] != nil:
		a, _ := m["account"].(map[string]any)
		return fmt.Sprint("account:", a["homePage"], "|", a["name"])
	}
	return ""
}

// Report turns a stored statement into the learner report its completion
// makes. counts is false when the statement is no completion (its verb is
// not the profile's, or a passed/completed result says it failed); the
// report then is nil. Problems are what the profile could not map; the
// report carries what it could, for the rule catalogue to judge too.
// offered, if not nil, gives the credits an activity offers, the defaults
// of last resort.
func (p *XAPIProfile) Report(statement []byte, offered func(ActivityID) []CreditCertificate) (rep *LearnerReport, counts bool, ps Problems) {
	var st struct {
		ID        string              `json:"id"`
		Actor     map[string]any      `json:"actor"`
		Verb      struct{ ID string } `json:"verb"`
		Timestamp string              `json:"timestamp"`
		Object    struct {
			ObjectType string `json:"objectType"`
			ID         string `json:"id"`
			Definition struct {
				Name       map[string]string          `json:"name"`
				Extensions map[string]json.RawMessage `json:"extensions"`
			} `json:"definition"`
		} `json:"object"`
		Result *struct {
			Success    *bool                      `json:"success"`
			Extensions map[string]json.RawMessage `json:"extensions"`
		} `json:"result"`
		Context *struct {
			Extensions map[string]json.RawMessage `json:"extensions"`
		} `json:"context"`
	}
	if err := json.Unmarshal(statement, &st); err != nil {
		return nil, false, nil
	}
	if !p.Counts(st.Verb.ID) || (st.Object.ObjectType != "" && st.Object.ObjectType != "Activity") {
		return nil, false, nil
	}
	if st.Result != nil && st.Result.Success != nil && !*st.Result.Success {
		return nil, false, nil
	}
	problem := func(field, format string, args ...any) {
		// 998, the general learner error, as the rules word a problem
		// the catalogue has no code of its own for.
		pr := RuleLearnerGeneral.At(field).Problem(Args{})
		pr.Message += " " + fmt.Sprintf(format, args...)
		ps = append(ps, pr)
	}
	var ctxExt map[string]json.RawMessage
	if st.Context != nil {
		ctxExt = st.Context.Extensions
	}
	rep = &LearnerReport{Action: LearnerAdd, Status: "Completed"}
	for _, n := range st.Object.Definition.Name {
		rep.ActivityTitle = n
		break
	}

	// The activity.
	raw, ok := st.Object.Definition.Extensions[p.Activity.Extension]
	if !ok {
		raw, ok = ctxExt[p.Activity.Extension]
	}
	var actID string
	if ok {
		actID = strings.Trim(strings.TrimSpace(string(raw)), `"`)
	} else {
		actID = p.Activity.Table[st.Object.ID]
	}
	if actID == "" {
		problem("object.id", "activity %s names no ACCME Activity ID (extension %s or the profile's table)", st.Object.ID, p.Activity.Extension)
	} else if id, err := ParseActivityID(actID); err != nil {
		problem("object.id", "activity %s: %q is not an ACCME Activity ID", st.Object.ID, actID)
	} else {
		rep.ActivityID = id
	}

	// When.
	if ts, err := time.Parse(time.RFC3339Nano, st.Timestamp); err == nil {
		rep.CompletionDate = DateOf(ts.UTC())
	} else {
		problem("timestamp", "the statement's timestamp %q is not a date", st.Timestamp)
	}

	// The credits.
	var credits []CreditCertificate
	var resExt map[string]json.RawMessage
	if st.Result != nil {
		resExt = st.Result.Extensions
	}
	if raw, ok := resExt[p.Credits.Extension]; ok {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&credits); err != nil {
			problem("result.extensions", "extension %s is an array of {certification, points, unit, creditId}: %v", p.Credits.Extension, err)
		}
	} else if rep.ActivityID != 0 {
		credits = append(credits, p.Credits.Defaults[strconv.FormatInt(int64(rep.ActivityID), 10)]...)
		if len(credits) == 0 && offered != nil {
			credits = offered(rep.ActivityID)
		}
	}
	if len(credits) == 0 && len(ps) == 0 {
		problem("result.extensions", "no credits: neither extension %s nor default credits for the activity (the profile's, or those the activity offers)", p.Credits.Extension)
	}
	for i := range credits {
		if credits[i].CreditID == "" {
			credits[i].CreditID = CreditID(fmt.Sprintf("ccid:%s:%s-%d", p.CreditIDDomain, strings.ToLower(st.ID), i+1))
		}
	}
	rep.Credits = credits

	// The learner.
	if raw, ok := ctxExt[p.Learner.Extension]; ok {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rep.Learner); err != nil {
			problem("context.extensions", "extension %s is a learner {givenName, familyName, birthDate, uniqueIds}: %v", p.Learner.Extension, err)
		}
	} else if id, ok := p.Learner.Table[XAPIAgentKey(st.Actor)]; ok {
		rep.Learner = id
	} else {
		problem("actor", "the actor %s is not in the profile's learner table and the statement has no extension %s", XAPIAgentKey(st.Actor), p.Learner.Extension)
	}
	if rep.Learner.GivenName == "" && rep.Learner.FamilyName == "" {
		if name, _ := st.Actor["name"].(string); name != "" {
			given, family, _ := strings.Cut(strings.TrimSpace(name), " ")
			rep.Learner.GivenName, rep.Learner.FamilyName = given, family
		}
	}
	return rep, true, ps
}

// Outcomes of a statement for the ledger, besides those of an import.
const (
	// OutcomeVoided: the statement's records were deleted by a voiding
	// statement.
	OutcomeVoided = "voided"
)

// XAPIOutcome is what became of a completion statement: its learner
// report and records, or the problems for which the rules refused it.
type XAPIOutcome struct {
	Organization OrganizationID `json:"-"`
	StatementID  string         `json:"statementId"`
	// Outcome is OutcomeAccepted, OutcomeRejected or OutcomeVoided.
	Outcome   string         `json:"outcome"`
	Report    *LearnerReport `json:"report,omitempty"`
	CreditIDs []CreditID     `json:"creditIds,omitempty"`
	Problems  Problems       `json:"problems,omitempty"`
	At        time.Time      `json:"at"`
}

// XAPIProfileService keeps the providers' completion profiles and what
// became of their completion statements.
type XAPIProfileService interface {
	// PutXAPIProfile stores the provider's profile, replacing any.
	PutXAPIProfile(ctx context.Context, org OrganizationID, p *XAPIProfile) error
	// XAPIProfile returns the provider's profile, or DefaultXAPIProfile.
	XAPIProfile(ctx context.Context, org OrganizationID) (*XAPIProfile, error)
	// PutXAPIOutcome records (or replaces) a statement's outcome.
	PutXAPIOutcome(ctx context.Context, o *XAPIOutcome) error
	// XAPIOutcome returns a statement's outcome, or ENOTFOUND.
	XAPIOutcome(ctx context.Context, org OrganizationID, statementID string) (*XAPIOutcome, error)
	// XAPIOutcomes returns the provider's outcomes (of one kind, unless
	// outcome is ""), newest first, at most limit.
	XAPIOutcomes(ctx context.Context, org OrganizationID, outcome string, limit int) ([]*XAPIOutcome, error)
}
