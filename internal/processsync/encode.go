package processsync

import (
	"encoding/xml"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/cmexhub/cmex"
)

// el is an element of the result, written with the a: prefix of the data
// contract namespace. Children are written in elementOrder, the order of
// the WSDL's sequences (wsdl.go).
type el struct {
	name     string
	text     string
	children []*el
}

func (e *el) add(name, text string) { e.children = append(e.children, &el{name: name, text: text}) }

func (e *el) node(name string) *el {
	c := &el{name: name}
	e.children = append(e.children, c)
	return c
}

func (e *el) write(w *strings.Builder, indent string) {
	w.WriteString(indent)
	w.WriteString("<a:")
	w.WriteString(e.name)
	w.WriteByte('>')
	if len(e.children) == 0 {
		escapeText(w, e.text)
		w.WriteString("</a:")
		w.WriteString(e.name)
		w.WriteString(">\n")
		return
	}
	w.WriteByte('\n')
	kids := e.children
	byName := func(a, b *el) int { return elementOrder(a.name, b.name) }
	if !slices.IsSortedFunc(kids, byName) {
		kids = slices.Clone(kids)
		slices.SortStableFunc(kids, byName)
	}
	inner := indent + "  "
	for _, c := range kids {
		c.write(w, inner)
	}
	w.WriteString(indent)
	w.WriteString("</a:")
	w.WriteString(e.name)
	w.WriteString(">\n")
}

// escapeText writes s as xml.EscapeText does, without its copy when s
// needs no escaping, as most values do.
func escapeText(w *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80, c < 0x20, c == '&', c == '<', c == '>', c == '"', c == '\'':
			_ = xml.EscapeText(w, []byte(s))
			return
		}
	}
	w.WriteString(s)
}

// date is MM/dd/yyyy (CERTAIN).
func date(d cmex.Date) string {
	if d.IsZero() {
		return ""
	}
	return pad2(int(d.Month)) + "/" + pad2(d.Day) + "/" + strconv.Itoa(d.Year)
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// boolean is True or False (CERTAIN).
func boolean(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// units are written as the seed writes them: 1, 100, 12.5.
func units(p cmex.Points) string {
	return strings.TrimSuffix(strings.TrimRight(p.String(), "0"), ".")
}

func workflow(parent *el, wf cmex.Workflow) {
	w := parent.node("Workflow")
	w.add("CurrentStep", strconv.Itoa(wf.CurrentStep))
	w.add("CurrentStepTitle", wf.CurrentStepTitle)
	w.add("Status", wf.Status)
}

// writeResult writes the GetRoleData response envelope.
func writeResult(w io.Writer, res *result) {
	root := &el{name: "GetRoleDataResult"}
	root.add("Success", strconv.Itoa(res.success))
	if res.person != nil && profileWith(res.success) {
		p := root.node("Profile")
		p.add("AlternateName", "")
		p.add("FirstName", res.person.GivenName)
		p.add("LastName", res.person.FamilyName)
		p.add("MiddleName", "")
		p.add("PrimaryEmail", res.person.Email)
		p.add("RecordStatus", "Active")
		p.add("Suffix", "")
		p.add("Title", "")
	}
	if res.success == successOK {
		ris := root.node("RoleInstances")
		for _, rp := range res.roles {
			roleInstance(ris.node("RoleInstance"), &rp, res)
		}
	}
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">` + "\n  <s:Body>\n")
	b.WriteString(`    <GetRoleDataResponse xmlns="` + NSTempuri + `">` + "\n")
	b.WriteString(`      <GetRoleDataResult xmlns:a="` + NSDataContract + `" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">` + "\n")
	kids := slices.Clone(root.children)
	slices.SortStableFunc(kids, func(a, b *el) int { return elementOrder(a.name, b.name) })
	for _, c := range kids {
		c.write(&b, "        ")
	}
	b.WriteString("      </GetRoleDataResult>\n    </GetRoleDataResponse>\n  </s:Body>\n</s:Envelope>\n")
	_, _ = io.WriteString(w, b.String())
}

func roleInstance(e *el, rp *cmex.RoleProgress, res *result) {
	v := res.view
	has := func(f string) bool { return slices.Contains(v.Role, f) }
	if has("Role") {
		e.add("Role", rp.Role)
	}
	if has("Label") {
		e.add("Label", rp.Label)
	}
	if has("IsGranted") {
		e.add("IsGranted", boolean(rp.IsGranted))
	}
	if has("Status") {
		e.add("Status", rp.Status)
	}
	if has("UniqueIdentifier") {
		e.add("UniqueIdentifier", rp.UniqueIdentifier)
	}
	if has("BeginDate") && !rp.BeginDate.IsZero() {
		e.add("BeginDate", date(rp.BeginDate))
	}
	if has("EndDate") && !rp.EndDate.IsZero() {
		e.add("EndDate", date(rp.EndDate))
	}
	if has("Extrinsic") {
		// Only the fields the plans declare, which the WSDL names
		// (cmex.Progress leaves the others out).
		for _, x := range rp.Extrinsic {
			e.add(x.Name, x.Value)
		}
	}
	workflow(e, rp.Workflow)
	if res.depth < depthLearningPlan {
		return
	}
	plans := e.node("LearningPlansForRoleInstance")
	for i := range rp.Plans {
		learningPlan(plans.node("LearningPlanForRoleInstance"), &rp.Plans[i], res)
	}
}

func learningPlan(e *el, p *cmex.PlanProgress, res *result) {
	v := res.view
	has := func(f string) bool { return slices.Contains(v.LearningPlan, f) }
	e.add("LearningPlanType", p.Type) // always provided (CERTAIN)
	for _, f := range []struct {
		name, value string
	}{
		{"LearningPlanName", p.Name}, {"CycleStartDate", date(p.CycleStart)}, {"CycleEndDate", date(p.CycleEnd)},
		{"ReportingStartDate", date(p.ReportingStart)}, {"ReportingEndDate", date(p.ReportingEnd)},
		{"MinimumUnits", units(p.MinimumUnits)}, {"RequestedUnits", units(p.RequestedUnits)}, {"GrantedUnits", units(p.GrantedUnits)},
	} {
		if has(f.name) {
			e.add(f.name, f.value)
		}
	}
	if has("Extrinsic") {
		for _, x := range p.Extrinsic {
			e.add(x.Name, x.Value)
		}
	}
	workflow(e, p.Workflow)
	if res.depth < depthTaskGroup {
		return
	}
	groups := e.node("TaskGroupsForLearningPlan")
	for _, g := range p.TaskGroups {
		tg := groups.node("TaskGroupForLearningPlan")
		tg.add("TaskGroupName", g.Name)
		tg.add("Complete", boolean(g.Complete))
		tg.add("Required", boolean(g.Required))
		tg.add("GrantedUnits", units(g.GrantedUnits))
		tg.add("RequestedUnits", units(g.RequestedUnits))
		tg.add("RequiredUnits", units(g.RequiredUnits))
		if res.depth < depthActivity {
			continue
		}
		acts := tg.node("ActivitiesForTaskGroup")
		for _, a := range g.Activities {
			ae := acts.node("ActivityForTaskGroup")
			av := func(f string) bool { return slices.Contains(v.Activity, f) }
			if av("ActivityTitle") {
				ae.add("ActivityTitle", a.Title)
			}
			if av("GrantedUnits") {
				ae.add("GrantedUnits", units(a.GrantedUnits))
			}
			if av("RequestedUnits") {
				ae.add("RequestedUnits", units(a.RequestedUnits))
			}
			workflow(ae, a.Workflow)
		}
	}
}
