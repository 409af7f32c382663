package pars

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/cmexhub/cmex"
)

// decodedLearner is an ACCMELearnerReports document read from the wire.
type decodedLearner struct {
	report   *cmex.LearnerReport
	problems cmex.Problems
	lines    map[string]int
	line     int // line of ar:ActivityReport
}

// decodeLearnerData parses the escaped document of a SaveLearnerActivity
// SubmitMessage; lineOffset places its lines in the enclosing file.
func decodeLearnerData(data string, mode Mode, lineOffset int) (*decodedLearner, *failure) {
	if strings.TrimSpace(data) == "" {
		return nil, fail(http.StatusOK, cmex.RuleLearnerGeneral, cmex.Args{}).detail(" Data is empty.")
	}
	root, f := parseData(data, lineOffset)
	if f != nil {
		return nil, f
	}
	return decodeLearnerTree(root, mode)
}

// detail appends a sentence to a failure's message.
func (f *failure) detail(s string) *failure {
	f.problem.Message += s
	return f
}

// decodeLearnerTree reads a parsed ACCMELearnerReports document, which must
// hold exactly one ar:Activity (738): one learner record per call.
func decodeLearnerTree(root *node, mode Mode) (*decodedLearner, *failure) {
	if !root.is("ACCMELearnerReports", NSLearnerReports) {
		return nil, fail(http.StatusOK, cmex.RuleLearnerGeneral, cmex.Args{}).detail(fmt.Sprintf(
			" Data holds <%s> in namespace %q, not accme:ACCMELearnerReports in namespace %s.", root.name.Local, root.name.Space, NSLearnerReports))
	}
	var reports []*node
	activities := 0
	var walk func(n *node)
	walk = func(n *node) {
		if n.is("ActivityReport", NSActivityReport) {
			reports = append(reports, n)
		}
		if n.is("Activity", NSActivityReport) {
			activities++
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(root)
	if len(reports) != 1 || activities != 1 {
		// A second ActivityReport brings a second Activity node: one learner
		// record per call, as PARS requires (GUESS for the code).
		line := root.line
		if len(reports) > 1 {
			line = reports[1].line
		}
		f := fail(http.StatusOK, cmex.RuleOneActivityNode, cmex.Args{})
		f.problem.Line = line
		return nil, f
	}
	r := &lrReader{mode: mode, rep: &cmex.LearnerReport{}, lines: make(map[string]int, 32)}
	r.document(root)
	r.activityReport(reports[0])
	return &decodedLearner{report: r.rep, problems: r.ps, lines: r.lines, line: reports[0].line}, nil
}

// lrReader fills a LearnerReport from the tree of ar:ActivityReport.
type lrReader struct {
	mode  Mode
	rep   *cmex.LearnerReport
	ps    cmex.Problems
	lines map[string]int
}

var learnerPrefixes = map[string]string{
	NSActivityReport: "ar:", NSMember: "m:", NSName: "n:", NSHealthcare: "hx:", NSLearnerExtension: "ex:", NSLearnerReports: "accme:",
}

func displayLearner(n *node) string {
	if p, ok := learnerPrefixes[n.name.Space]; ok {
		return p + n.name.Local
	}
	return n.name.Local
}

func (r *lrReader) mark(field string, n *node) {
	if _, ok := r.lines[field]; !ok {
		r.lines[field] = n.line
	}
}

func (r *lrReader) problem(rule cmex.Rule, field string, n *node, detail string) {
	p := rule.At(field).Problem(cmex.Args{})
	if detail != "" {
		p.Message += " " + detail
	}
	p.Line = n.line
	r.ps = append(r.ps, p)
}

// unknown reports an element cmex does not keep: a general error (998) in
// Strict mode, a dropped element and a warning in Permissive mode.
func (r *lrReader) unknown(n *node, path string) {
	field := join(path, displayLearner(n))
	p := cmex.RuleLearnerGeneral.At(field).Problem(cmex.Args{})
	p.Message += " " + displayLearner(n) + " is not an element of ACCMELearnerReports at " + orRoot(path) + "."
	p.Line = n.line
	if r.mode == Permissive {
		p.Severity = cmex.SeverityWarning
		p.Message += " It was ignored."
	}
	r.ps = append(r.ps, p)
}

func orRoot(path string) string {
	if path == "" {
		return "ar:ActivityReport"
	}
	return path
}

// each dispatches the children of n, as actReader.each does for activities.
func (r *lrReader) each(n *node, path string, hs handlers) {
	for _, c := range n.children {
		if h, ok := hs.find(c.name); ok {
			h(c)
			continue
		}
		if r.mode == Permissive {
			if h, want, ok := foldMatch(hs, c.name); ok {
				p := cmex.RuleXMLError.At(join(path, displayLearner(c))).Problem(cmex.Args{Detail: fmt.Sprintf("%s should be spelled %s", displayLearner(c), want.Local)})
				p.Severity, p.Line = cmex.SeverityWarning, c.line
				r.ps = append(r.ps, p)
				h(c)
				continue
			}
		}
		r.unknown(c, path)
	}
}

// single reads an element that must appear exactly once where it appears;
// a repeat is reported with rule (the 739–744 family).
func (r *lrReader) single(seen map[string]bool, field string, rule cmex.Rule, read func(*node)) func(*node) {
	return func(c *node) {
		if seen[field] {
			r.problem(rule, field, c, "")
			return
		}
		seen[field] = true
		r.mark(field, c)
		read(c)
	}
}

// text sets *dst once from an element's text; a repeat is 998.
func (r *lrReader) text(seen map[string]bool, field string, dst *string) func(*node) {
	return r.single(seen, field, cmex.RuleLearnerGeneral.At(field), func(c *node) { *dst = c.value() })
}

// document checks the part above ar:ActivityReport.
func (r *lrReader) document(root *node) {
	for _, c := range root.children {
		if !c.is("ActivityReports", NSActivityReport) {
			r.unknown(c, "accme:ACCMELearnerReports")
			continue
		}
		for _, g := range c.children {
			switch {
			case g.is("ActivityReport", NSActivityReport):
			case g.is("DateTimeCreated", NSActivityReport):
				// "any time value provided will be ignored" (seed 003); the
				// value itself is not kept.
			default:
				r.unknown(g, "ar:ActivityReports")
			}
		}
	}
}

func (r *lrReader) activityReport(n *node) {
	seen := map[string]bool{}
	rep := r.rep
	r.mark(cmex.FieldDocument, n)
	xtensible := 0
	r.each(n, "", handlers{
		{ns(NSActivityReport, "ReportingOrganization"), r.text(seen, "ar:ReportingOrganization", &rep.ReportingOrganization)},
		{ns(NSActivityReport, "Member"), r.single(seen, cmex.FieldLearnerMember, cmex.RuleOneMemberNode, r.member)},
		{ns(NSActivityReport, "Participants"), func(c *node) {
			// REMS participant data: no activity in cmex is registered for
			// REMS, so the record cannot be accepted.
			r.problem(cmex.RuleNotREMSActivity, "ar:Participants", c, "")
		}},
		{ns(NSActivityReport, "Activity"), r.activity},
		{ns(NSActivityReport, "XtensibleInfo"), func(c *node) {
			xtensible++
			if xtensible > 1 {
				r.problem(cmex.RuleOneXtensibleInfoNode, "ar:XtensibleInfo", c, "")
				return
			}
			r.mark("ar:XtensibleInfo", c)
			actions := map[string]bool{}
			r.each(c, "ar:XtensibleInfo", handlers{
				{ns(NSLearnerExtension, "learnerRecordAction"), r.text(actions, cmex.FieldLearnerAction, &rep.Action)},
			})
		}},
	})
	if xtensible == 0 {
		// No XtensibleInfo means no action either: 601 will say so, 744 why.
		r.problem(cmex.RuleOneXtensibleInfoNode, "ar:XtensibleInfo", n, "")
	}
}

func (r *lrReader) member(n *node) {
	l := &r.rep.Learner
	seen := map[string]bool{}
	r.each(n, cmex.FieldLearnerMember, handlers{
		{ns(NSMember, "UniqueID"), func(c *node) {
			field := cmex.Item(cmex.FieldLearnerUniqueID, len(l.UniqueIDs)+1)
			r.mark(field, c)
			if len(l.UniqueIDs) == 0 {
				r.mark(cmex.FieldLearnerUniqueID, c)
			}
			domain, _ := c.attr("domain")
			l.UniqueIDs = append(l.UniqueIDs, cmex.UniqueID{Domain: domain, Value: c.value()})
		}},
		{ns(NSMember, "Name"), r.single(seen, "ar:Member/m:Name", cmex.RuleOneNameNode, func(c *node) {
			names := map[string]bool{}
			r.each(c, "ar:Member/m:Name", handlers{
				{ns(NSName, "GivenName"), r.text(names, cmex.FieldLearnerGivenName, &l.GivenName)},
				{ns(NSName, "FamilyName"), r.text(names, cmex.FieldLearnerFamilyName, &l.FamilyName)},
				{ns(NSName, "MiddleName"), ignore},
				{ns(NSName, "Prefix"), ignore},
				{ns(NSName, "Suffix"), ignore},
				{ns(NSName, "Degree"), ignore},
			})
		})},
		{ns(NSMember, "PersonalInfo"), r.single(seen, "ar:Member/m:PersonalInfo", cmex.RuleOneBirthDateNode, func(c *node) {
			births := map[string]bool{}
			r.each(c, "ar:Member/m:PersonalInfo", handlers{
				{ns(NSMember, "BirthDate"), r.single(births, cmex.FieldLearnerBirthDate, cmex.RuleOneBirthDateNode, func(b *node) {
					if b.value() == "" {
						return
					}
					d, _, err := cmex.ParseDate(b.value())
					if err != nil {
						r.problem(cmex.RuleInvalidBirthDate, cmex.FieldLearnerBirthDate, b, "")
						return
					}
					l.BirthDate = d
				})},
			})
		})},
	})
}

func (r *lrReader) activity(n *node) {
	rep := r.rep
	seen := map[string]bool{}
	var activityName, moduleID string
	var nameNode *node
	r.each(n, "ar:Activity", handlers{
		{ns(NSActivityReport, "ProviderOrganization"), r.text(seen, "ar:Activity/ar:ProviderOrganization", &rep.ProviderOrganization)},
		{ns(NSActivityReport, "ActivityName"), r.single(seen, cmex.FieldLearnerActivity, cmex.RuleLearnerGeneral, func(c *node) {
			activityName, nameNode = c.value(), c
		})},
		{ns(NSActivityReport, "RegulatoryInformation"), func(c *node) {
			r.problem(cmex.RuleNotREMSActivity, "ar:Activity/ar:RegulatoryInformation", c, "")
		}},
		{ns(NSActivityReport, "Module"), r.single(seen, "ar:Activity/ar:Module", cmex.RuleOneModuleNode, func(c *node) {
			moduleID = r.module(c)
		})},
	})
	id := activityName
	if id == "" {
		id = moduleID
	}
	if id == "" {
		return
	}
	at := nameNode
	if at == nil {
		at = n
	}
	if activityName != "" && moduleID != "" && activityName != moduleID {
		r.problem(cmex.RuleLearnerGeneral, cmex.FieldLearnerActivity, at,
			fmt.Sprintf("ar:ActivityName %s and ar:ModuleName/@moduleID %s name different activities.", activityName, moduleID))
		return
	}
	aid, err := cmex.ParseActivityID(id)
	if err != nil {
		r.problem(cmex.RuleLearnerActivityUnknown, cmex.FieldLearnerActivity, at, "("+strconv.Quote(id)+" is not a nine-digit ACCME Activity ID.)")
		return
	}
	rep.ActivityID = aid
}

// module reads ar:Module and returns its moduleID.
func (r *lrReader) module(n *node) string {
	rep := r.rep
	seen := map[string]bool{}
	var moduleID string
	r.each(n, "ar:Activity/ar:Module", handlers{
		{ns(NSActivityReport, "ModuleName"), r.single(seen, "ar:Activity/ar:Module/ar:ModuleName", cmex.RuleLearnerGeneral, func(c *node) {
			rep.ActivityTitle = c.value()
			moduleID, _ = c.attr("moduleID")
		})},
		{ns(NSActivityReport, "Status"), r.text(seen, "ar:Activity/ar:Module/ar:Status", &rep.Status)},
		{ns(NSActivityReport, "CompletedDateTime"), r.single(seen, cmex.FieldCompletionDate, cmex.RuleLearnerGeneral, func(c *node) {
			if c.value() == "" {
				return
			}
			d, _, err := cmex.ParseDate(c.value())
			if err != nil {
				r.problem(cmex.RuleInvalidCompletionDate, cmex.FieldCompletionDate, c, "")
				return
			}
			rep.CompletionDate = d
		})},
		{ns(NSActivityReport, "CreditCertificate"), r.certificate},
	})
	return moduleID
}

func (r *lrReader) certificate(n *node) {
	rep := r.rep
	i := len(rep.Credits)
	base := cmex.Item(cmex.FieldCreditCertificate, i+1)
	r.mark(base, n)
	if i == 0 {
		r.mark(cmex.FieldCreditCertificate, n)
	}
	cr := cmex.CreditCertificate{}
	seen := map[string]bool{}
	var points *node
	r.each(n, base, handlers{
		{ns(NSActivityReport, "CreditReceived"), r.single(seen, base+"/ar:CreditReceived", cmex.RuleLearnerGeneral, func(c *node) {
			got := map[string]bool{}
			r.each(c, base+"/ar:CreditReceived", handlers{
				{ns(NSHealthcare, "activityCertification"), r.text(got, base+"/ar:CreditReceived/hx:activityCertification", &cr.Certification)},
				{ns(NSHealthcare, "creditUnit"), r.text(got, base+"/ar:CreditReceived/hx:creditUnit", &cr.Unit)},
				{ns(NSHealthcare, "numberOfCredits"), r.single(got, base+"/ar:CreditReceived/hx:numberOfCredits", cmex.RuleLearnerGeneral, func(p *node) {
					points = p
				})},
			})
		})},
		{ns(NSActivityReport, "CreditID"), r.single(seen, base+"/ar:CreditID", cmex.RuleLearnerGeneral, func(c *node) {
			cr.CreditID = cmex.CreditID(c.value())
		})},
	})
	if points != nil && points.value() != "" {
		p, err := cmex.ParsePoints(points.value())
		if err != nil {
			rule := cmex.RuleInvalidCMECredits
			if board, _, ok := cmex.ParseCertification(cr.Certification); ok && board != "" {
				rule = cmex.RuleInvalidLearnerPoints
			}
			r.problem(rule, base+"/ar:CreditReceived/hx:numberOfCredits", points, "("+strconv.Quote(points.value())+")")
		} else {
			cr.Points = &p
		}
	}
	rep.Credits = append(rep.Credits, cr)
}
