package cmex

import (
	"fmt"
	"sort"
	"strings"
)

// RuleCode is a code of the rule catalogue. The catalogue uses the ACCME PARS
// codes (Appendix A for activities, Appendix B for learner records) because
// they are the most complete vocabulary in the field; other protocols map
// them to their own shapes. Codes are strings of three characters: "476".
type RuleCode string

// Severity says whether a problem rejects a record.
type Severity int

const (
	SeverityError   Severity = iota // the record is rejected
	SeverityWarning                 // the record is accepted; the sender is told
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, so that problems kept
// as JSON (an xAPI statement's refusal) read back as they were written.
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = SeverityError
	case "warning":
		*s = SeverityWarning
	default:
		return fmt.Errorf("severity %q is neither error nor warning", b)
	}
	return nil
}

// Rule is an entry of the catalogue: a code, the field path it concerns and
// its message. Messages may hold placeholders filled from Args: {entry} (the
// record's own identifier), {element} (the element name), {value} (the
// offending value) and {detail}.
type Rule struct {
	Code    RuleCode
	Field   string
	Message string
}

// Args fill the placeholders of a rule's message.
type Args struct {
	Entry   string // the record's identifier, e.g. the Provider Activity ID
	Element string // the element the problem is about
	Value   string // the offending value
	Detail  string // free text, e.g. a parser's message
}

// Problem is one broken rule in one record.
type Problem struct {
	Code     RuleCode `json:"code"`
	Field    string   `json:"field,omitempty"`
	Message  string   `json:"message"`
	Severity Severity `json:"severity"`
	// Line is the line of the source document the problem was found on, when
	// the decoder knows it; 0 otherwise.
	Line int `json:"line,omitempty"`
}

func (p Problem) String() string {
	return fmt.Sprintf("%s %s", p.Code, p.Message)
}

// Problem returns the problem of r with its placeholders filled from a.
func (r Rule) Problem(a Args) Problem {
	return Problem{Code: r.Code, Field: r.Field, Message: fill(r.Message, a), Severity: SeverityError}
}

// At returns r with its field path replaced, for rules that apply to several
// fields (the generic 456 and 457) or to one item of a list.
func (r Rule) At(field string) Rule {
	r.Field = field
	return r
}

func fill(msg string, a Args) string {
	if !strings.Contains(msg, "{") {
		return msg
	}
	if a.Entry == "" {
		// A problem about no record in particular (an envelope member, a
		// search criterion) has no entry to quote.
		msg = strings.Replace(msg, "entry: {entry}, - ", "", 1)
		msg = strings.Replace(msg, "entry: {entry}, ", "", 1)
	}
	return strings.NewReplacer(
		"{entry}", a.Entry,
		"{element}", a.Element,
		"{value}", a.Value,
		"{detail}", a.Detail,
	).Replace(msg)
}

// Problems is the list of everything wrong with a record. Rules add to it;
// they never stop at the first problem.
type Problems []Problem

// Add appends the problem of rule r with args a.
func (ps *Problems) Add(r Rule, a Args) {
	*ps = append(*ps, r.Problem(a))
}

// Warn appends the problem of rule r as a warning.
func (ps *Problems) Warn(r Rule, a Args) {
	p := r.Problem(a)
	p.Severity = SeverityWarning
	*ps = append(*ps, p)
}

// HasErrors reports whether any problem rejects the record.
func (ps Problems) HasErrors() bool {
	for _, p := range ps {
		if p.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Errors returns the problems of severity error.
func (ps Problems) Errors() Problems { return ps.filter(SeverityError) }

// Warnings returns the problems of severity warning.
func (ps Problems) Warnings() Problems { return ps.filter(SeverityWarning) }

func (ps Problems) filter(s Severity) Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// Has reports whether a problem with code c is present.
func (ps Problems) Has(c RuleCode) bool {
	for _, p := range ps {
		if p.Code == c {
			return true
		}
	}
	return false
}

// Codes returns the distinct codes present, sorted; handy in tests and logs.
func (ps Problems) Codes() []RuleCode {
	seen := map[RuleCode]bool{}
	var out []RuleCode
	for _, p := range ps {
		if !seen[p.Code] {
			seen[p.Code] = true
			out = append(out, p.Code)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Dedup drops problems that repeat an earlier one exactly, keeping order.
func (ps Problems) Dedup() Problems {
	type key struct {
		c    RuleCode
		f, m string
		s    Severity
	}
	seen := map[key]bool{}
	out := ps[:0:0]
	for _, p := range ps {
		k := key{p.Code, p.Field, p.Message, p.Severity}
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}

// LookupRule returns the catalogue entry for code c.
func LookupRule(c RuleCode) (Rule, bool) {
	r, ok := catalogue[c]
	return r, ok
}

// Catalogue returns every rule, sorted by code.
func Catalogue() []Rule {
	out := make([]Rule, 0, len(catalogue))
	for _, r := range catalogue {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

var catalogue = map[RuleCode]Rule{}

func rule(code RuleCode, field, message string) Rule {
	if _, dup := catalogue[code]; dup {
		panic("cmex: duplicate rule " + string(code))
	}
	r := Rule{Code: code, Field: field, Message: message}
	catalogue[code] = r
	return r
}
