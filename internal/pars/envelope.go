package pars

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/cmexhub/cmex"
)

// envelope describes a WCF data contract: its root element and members.
// WCF's DataContractSerializer expects members in ordinal (alphabetical)
// order and silently skips one out of order; PARS documents the rule as a
// MUST (specs/pars.md 1.3).
type envelope struct {
	root    string
	ns      string
	members []string // in the order WCF requires
}

var (
	submitActivityEnvelope = envelope{"SubmitMessage", NSService,
		[]string{"Data", "Password", "ProviderId", "ReportingYear", "User"}}
	searchCriteriaEnvelope = envelope{"SearchCriteria", NSService,
		[]string{"ActivityID", "ActivityStartDate", "ActivityTypeName", "Password", "ProviderActivityId", "ProviderId", "SchemaVersion", "User"}}
)

// failure is a request the service cannot process at all: a malformed
// envelope or document. It becomes a Rejected response with one error.
type failure struct {
	status  int
	problem cmex.Problem
}

func fail(status int, r cmex.Rule, a cmex.Args) *failure {
	return &failure{status: status, problem: r.Problem(a)}
}

func xmlError(status int, format string, args ...any) *failure {
	return fail(status, cmex.RuleXMLError, cmex.Args{Detail: fmt.Sprintf(format, args...)})
}

// members is a decoded envelope: member name → element (nil members, sent
// with i:nil="true", are left out).
type members map[string]*node

func (m members) text(name string) (string, bool) {
	n, ok := m[name]
	if !ok {
		return "", false
	}
	return n.value(), true
}

// readEnvelope parses body as envelope e. In Strict mode a wrong namespace
// or member order is a failure; in Permissive mode each is a warning.
// Unknown members are ignored, as WCF ignores them; Permissive mode says so.
func readEnvelope(body []byte, e envelope, mode Mode) (members, cmex.Problems, *failure) {
	root, err := parseTreeFast(body, defaultLimits)
	if err != nil {
		f := xmlError(http.StatusBadRequest, "%s", errText(err))
		f.problem.Line = syntaxLine(err, 0)
		return nil, nil, f
	}
	if root.name.Local != e.root {
		return nil, nil, xmlError(http.StatusBadRequest, "expected a %s element, found %s", e.root, root.name.Local)
	}
	var warnings cmex.Problems
	deviate := func(format string, args ...any) *failure {
		msg := fmt.Sprintf(format, args...)
		if mode == Strict {
			return xmlError(http.StatusBadRequest, "%s", msg)
		}
		warnings.Warn(cmex.RuleXMLError, cmex.Args{Detail: msg})
		return nil
	}
	if root.name.Space != e.ns {
		if f := deviate("%s must be in namespace %s, not %q", e.root, e.ns, root.name.Space); f != nil {
			return nil, nil, f
		}
	}
	order := map[string]int{}
	for i, m := range e.members {
		order[m] = i
	}
	got := members{}
	seen := map[string]bool{}
	last, lastName := -1, ""
	for _, c := range root.children {
		i, known := order[c.name.Local]
		if !known {
			if mode == Permissive {
				warnings.Warn(cmex.RuleXMLError, cmex.Args{Detail: fmt.Sprintf("%s has no member %s; it was ignored (members: %s)", e.root, c.name.Local, strings.Join(e.members, ", "))})
			}
			continue
		}
		if c.name.Space != root.name.Space {
			if f := deviate("%s must be in the namespace of %s", c.name.Local, e.root); f != nil {
				return nil, nil, f
			}
		}
		if seen[c.name.Local] {
			return nil, nil, xmlError(http.StatusBadRequest, "%s appears twice in %s", c.name.Local, e.root)
		}
		seen[c.name.Local] = true
		if i < last {
			if f := deviate("%s comes after %s, but the members of %s must be in alphabetical order: %s",
				c.name.Local, lastName, e.root, strings.Join(e.members, ", ")); f != nil {
				return nil, nil, f
			}
		} else {
			last, lastName = i, c.name.Local
		}
		if !c.isNil() {
			got[c.name.Local] = c
		}
	}
	return got, warnings, nil
}

// syntaxLine is the line of a parser error, or 0.
func syntaxLine(err error, offset int) int {
	if se, ok := errors.AsType[*xml.SyntaxError](err); ok {
		return se.Line + offset
	}
	return 0
}

// errText is a parser error as a client may read it.
func errText(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "xml: ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// errorMessage is a PARS ErrorMessage.
type errorMessage struct {
	Code    string
	Message string
}

// response is a ResponseMessage or SearchResult body.
type response struct {
	root      string // ResponseMessage | SearchResult
	ns        string // the data contract namespace; "" is the activity service's
	data      string
	dataNil   bool
	errors    []errorMessage
	hasErrors bool   // write the ErrorMessages member at all
	emptyList bool   // with no errors, write <ErrorMessages/> (learner services) rather than i:nil (activity service)
	status    string // "" leaves StatusCode out
}

// encode writes the response as PARS does: the XML declaration, the data
// contract namespace as default, i: for instance attributes, members in
// alphabetical order.
func (r response) encode() []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	ns := r.ns
	if ns == "" {
		ns = NSService
	}
	b.WriteString("<" + r.root + ` xmlns="` + ns + `" xmlns:i="` + NSInstance + `">`)
	r.members(&b)
	b.WriteString("</" + r.root + ">\n")
	return b.Bytes()
}

// encodeArray writes an ArrayOfResponseMessage of the learner services.
func encodeArray(rs []response) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<ArrayOfResponseMessage xmlns="` + NSLearnerService + `" xmlns:i="` + NSInstance + `">`)
	for _, r := range rs {
		b.WriteString("<ResponseMessage>")
		r.members(&b)
		b.WriteString("</ResponseMessage>")
	}
	b.WriteString("</ArrayOfResponseMessage>\n")
	return b.Bytes()
}

// members writes Data, ErrorMessages and StatusCode, in that order.
func (r response) members(b *bytes.Buffer) {
	if r.dataNil {
		b.WriteString(`<Data i:nil="true"/>`)
	} else {
		b.WriteString("<Data>")
		escapeText(b, r.data)
		b.WriteString("</Data>")
	}
	if r.hasErrors {
		writeErrors(b, r.errors, r.emptyList)
	}
	if r.status != "" {
		b.WriteString("<StatusCode>" + r.status + "</StatusCode>")
	}
}

// writeErrors writes an ErrorMessages member: i:nil or an empty element
// when there are none, as emptyList says.
func writeErrors(b *bytes.Buffer, errs []errorMessage, emptyList bool) {
	switch {
	case len(errs) == 0 && emptyList:
		b.WriteString("<ErrorMessages/>")
	case len(errs) == 0:
		b.WriteString(`<ErrorMessages i:nil="true"/>`)
	default:
		b.WriteString("<ErrorMessages>")
		for _, e := range errs {
			b.WriteString("<ErrorMessage><Code>")
			escapeText(b, e.Code)
			b.WriteString("</Code><Message>")
			escapeText(b, e.Message)
			b.WriteString("</Message></ErrorMessage>")
		}
		b.WriteString("</ErrorMessages>")
	}
}

// escapeText escapes s as WCF does for a string member (&amp; &lt; &gt;
// &quot;, and &#xD; for carriage returns), and replaces characters XML
// cannot carry with U+FFFD.
func escapeText(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			if !isXMLChar(r) {
				r = utf8.RuneError
			}
			b.WriteRune(r)
		}
	}
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// errorMessages maps problems to PARS ErrorMessages. Warnings, which PARS
// never sends, are marked as such in their message.
func errorMessages(ps cmex.Problems) []errorMessage {
	out := make([]errorMessage, 0, len(ps))
	for _, p := range ps {
		msg := p.Message
		if p.Severity == cmex.SeverityWarning {
			msg = "Warning: " + msg
		}
		out = append(out, errorMessage{Code: string(p.Code), Message: msg})
	}
	return out
}
