package pars

import (
	"github.com/cmexhub/cmex"
)

// ValidateDocument checks a PARS document offline, as cmex validate does:
// a SaveActivity or SaveLearnerActivity SubmitMessage, or a bare
// ACCMEActivities or ACCMELearnerReports document. It applies every rule
// that needs no registry (the envelope, the document's form, the data
// rules) and returns the problems with the line each was found on.
// Credentials are not checked.
func ValidateDocument(body []byte, mode Mode, today cmex.Date) cmex.Problems {
	root, err := parseTreeFast(body, defaultLimits)
	if err != nil {
		p := cmex.RuleXMLError.Problem(cmex.Args{Detail: errText(err)})
		p.Line = syntaxLine(err, 0)
		return cmex.Problems{p}
	}
	if root.name.Space == NSLearnerService || root.name.Space == NSLearnerReports {
		return validateLearner(body, root, mode, today)
	}
	var d *decodedActivity
	var f *failure
	var ps cmex.Problems
	year, yearLine := 0, 0
	var provider cmex.ProviderID // known only from an envelope
	switch {
	case root.name.Local == submitActivityEnvelope.root:
		h := &Handler{Mode: mode}
		m, warnings, ef := readEnvelope(body, submitActivityEnvelope, mode)
		if ef != nil {
			return cmex.Problems{atLine(ef.problem, root.line)}
		}
		ps = append(ps, warnings...)
		y, yf := h.reportingYear(m, &ps)
		if yf != nil {
			ps = append(ps, atLine(yf.problem, lineOf(m["ReportingYear"], root.line)))
		}
		year, yearLine = y, lineOf(m["ReportingYear"], root.line)
		if v, ok := m.text("ProviderId"); ok {
			provider, _ = cmex.ParseProviderID(v)
		}
		d, f = h.activityData(m, &ps)
	default:
		d, f = decodeActivityTree(root, mode)
	}
	if f != nil {
		return append(ps, atLine(f.problem, root.line))
	}
	d.activity.ProviderID = provider
	ch := cmex.ActivityChange{Action: d.action, Activity: d.activity, Close: d.close, ReportingYear: year, Problems: d.problems}
	ps = append(ps, cmex.CheckActivityData(&ch, today)...)
	if yearLine != 0 {
		d.lines[cmex.FieldReportingYear] = yearLine
	}
	placeLines(ps, d.lines, d.line)
	return ps
}

func atLine(p cmex.Problem, line int) cmex.Problem {
	if p.Line == 0 {
		p.Line = line
	}
	return p
}

func lineOf(n *node, fallback int) int {
	if n == nil {
		return fallback
	}
	return n.line
}

// validateLearner is ValidateDocument for learner documents.
func validateLearner(body []byte, root *node, mode Mode, today cmex.Date) cmex.Problems {
	var d *decodedLearner
	var f *failure
	var ps cmex.Problems
	var provider cmex.ProviderID
	if root.name.Local == submitLearnerEnvelope.root {
		h := &Handler{Mode: mode}
		m, warnings, ef := readEnvelope(body, submitLearnerEnvelope, mode)
		if ef != nil {
			return cmex.Problems{atLine(ef.problem, root.line)}
		}
		ps = append(ps, warnings...)
		if v, ok := m.text("ProviderId"); ok {
			provider, _ = cmex.ParseProviderID(v)
		}
		d, f = h.learnerData(m, &ps)
	} else {
		d, f = decodeLearnerTree(root, mode)
	}
	if f != nil {
		return append(ps, atLine(f.problem, root.line))
	}
	ch := cmex.LearnerChange{Report: d.report, Problems: d.problems,
		By: cmex.Principal{Organization: cmex.Organization{ProviderID: provider}}}
	if provider == "" {
		// A bare document says nothing of who sends it: take its word.
		ch.By.Organization.ProviderID, _ = cmex.ParseProviderID(d.report.ProviderOrganization)
	}
	v := cmex.CheckLearnerChange(&ch, cmex.LearnerState{Offline: true}, cmex.MatchPassthrough, today)
	ps = append(ps, v.Problems...)
	placeLines(ps, d.lines, d.line)
	return ps
}
