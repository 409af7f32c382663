package processsync_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/processsync"
)

// xsdElement is a member of a complex type of the WSDL's data contract.
type xsdElement struct {
	Name      string `xml:"name,attr"`
	Type      string `xml:"type,attr"`
	MinOccurs string `xml:"minOccurs,attr"`
	MaxOccurs string `xml:"maxOccurs,attr"`
}

// dataContract is the WSDL's data-contract schema: each complex type's
// xs:sequence.
type dataContract map[string][]xsdElement

func (f *fixture) wsdl(t *testing.T) []byte {
	t.Helper()
	res, err := http.Get(f.server.URL + processsync.Path + "?wsdl")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("WSDL: HTTP %d %s", res.StatusCode, b)
	}
	return b
}

func parseContract(t *testing.T, wsdl []byte) dataContract {
	t.Helper()
	var doc struct {
		Schemas []struct {
			TargetNamespace string `xml:"targetNamespace,attr"`
			ComplexTypes    []struct {
				Name     string       `xml:"name,attr"`
				Sequence []xsdElement `xml:"sequence>element"`
			} `xml:"complexType"`
		} `xml:"types>schema"`
	}
	if err := xml.Unmarshal(wsdl, &doc); err != nil {
		t.Fatalf("WSDL: %v", err)
	}
	c := dataContract{}
	for _, s := range doc.Schemas {
		if s.TargetNamespace != processsync.NSDataContract {
			continue
		}
		for _, ct := range s.ComplexTypes {
			c[ct.Name] = ct.Sequence
		}
	}
	if len(c) == 0 {
		t.Fatalf("no data contract in the WSDL:\n%s", wsdl)
	}
	return c
}

// members returns the names of a complex type's sequence.
func (c dataContract) members(typ string) []string {
	var out []string
	for _, e := range c[typ] {
		out = append(out, e.Name)
	}
	return out
}

func parseResult(t *testing.T, answer string) *cmextest.XMLElement {
	t.Helper()
	result, err := cmextest.ParseXML([]byte(answer), "GetRoleDataResult")
	if err != nil {
		t.Fatalf("answer: %v\n%s", err, answer)
	}
	return result
}

var (
	xsInt     = regexp.MustCompile(`^[+-]?[0-9]+$`)
	xsDecimal = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)
)

// validLexical reports whether text is in the lexical space of an XSD
// built-in type the data contract uses.
func validLexical(typ, text string) bool {
	switch typ {
	case "xs:string":
		return true
	case "xs:int":
		n, err := strconv.ParseInt(text, 10, 64)
		return xsInt.MatchString(text) && err == nil && n >= math.MinInt32 && n <= math.MaxInt32
	case "xs:decimal":
		return xsDecimal.MatchString(text)
	}
	return false // a type the contract should not use
}

// follow checks that n, of complex type typ, holds only members of typ,
// in the order of its sequence, each once unless the sequence repeats it,
// with leaf values of the member's type; it records the members seen.
func (c dataContract) follow(n *cmextest.XMLElement, typ, path string, seen map[string]bool) []string {
	seq, ok := c[typ]
	if !ok {
		return []string{fmt.Sprintf("%s: type %s is not in the WSDL", path, typ)}
	}
	var problems []string
	last := -1
	for _, k := range n.Kids {
		p := path + "/" + k.Name
		if k.Space != processsync.NSDataContract {
			problems = append(problems, fmt.Sprintf("%s: in namespace %q", p, k.Space))
		}
		i := slices.IndexFunc(seq, func(e xsdElement) bool { return e.Name == k.Name })
		switch {
		case i < 0:
			problems = append(problems, fmt.Sprintf("%s: %s has no member %s (it has %s)", p, typ, k.Name, strings.Join(c.members(typ), ", ")))
			continue
		case i < last || i == last && seq[i].MaxOccurs != "unbounded":
			problems = append(problems, fmt.Sprintf("%s: out of the order of %s's sequence (%s)", p, typ, strings.Join(c.members(typ), ", ")))
		}
		last = i
		seen[typ+"."+k.Name] = true
		m := seq[i]
		if child, ok := strings.CutPrefix(m.Type, "a:"); ok {
			if strings.TrimSpace(k.Text) != "" && len(k.Kids) == 0 {
				problems = append(problems, fmt.Sprintf("%s: text %q in an element of complex type %s", p, k.Text, child))
			}
			problems = append(problems, c.follow(k, child, p, seen)...)
			continue
		}
		if len(k.Kids) > 0 {
			problems = append(problems, fmt.Sprintf("%s: elements in a leaf of type %s", p, m.Type))
		}
		if !validLexical(m.Type, k.Text) {
			problems = append(problems, fmt.Sprintf("%s: %q is not a valid %s", p, k.Text, m.Type))
		}
	}
	return problems
}

// TestAnswersFollowTheWSDL: at every RequestDepth and RequestType, every
// element GetRoleData sends is a member of its type in the WSDL served
// with it, in the order of the type's sequence, with a value of the
// member's XSD type (so that a strict client, zeep or .NET's
// DataContractSerializer, reads all of it); and every member the WSDL
// names is sent in some answer, so that it describes what is sent.
func TestAnswersFollowTheWSDL(t *testing.T) {
	f := newFixture(t)
	c := parseContract(t, f.wsdl(t))
	seen := map[string]bool{}
	for _, depth := range []string{"Role", "LearningPlan", "TaskGroup", "Activity"} {
		for _, typ := range []string{"Summary", "Detail"} {
			_, body := f.post(t, call("999902", "Practitioner", depth, typ))
			if !strings.Contains(body, "<a:Success>0</a:Success>") {
				t.Fatalf("%s %s: %s", depth, typ, body)
			}
			for _, p := range c.follow(parseResult(t, body), "RoleDataResult", "GetRoleDataResult", seen) {
				t.Errorf("%s %s: %s", depth, typ, p)
			}
		}
	}
	for typ, seq := range c {
		for _, m := range seq {
			if !seen[typ+"."+m.Name] {
				t.Errorf("the WSDL names %s.%s, which no answer sends", typ, m.Name)
			}
			if m.MinOccurs != "0" {
				t.Errorf("%s.%s: minOccurs %q; every member is optional, as views and depths leave them out", typ, m.Name, m.MinOccurs)
			}
		}
	}
	// The extrinsic fields are in their types, in sequence order.
	if got := c.members("RoleInstance"); !slices.Equal(got, []string{"BeginDate", "CertificationNumber", "EndDate", "IsGranted", "Label",
		"LearningPlansForRoleInstance", "Role", "Status", "UniqueIdentifier", "Workflow"}) {
		t.Errorf("RoleInstance = %v", got)
	}
	if got := c.members("LearningPlanForRoleInstance"); !slices.Equal(got[:3], []string{"AttestationDate", "AuditStatus", "CycleEndDate"}) {
		t.Errorf("LearningPlanForRoleInstance = %v", got)
	}
	cmextest.Golden(t, filepath.Join("testdata", "golden", "wsdl.xml"), strings.ReplaceAll(string(f.wsdl(t)), f.server.URL, "http://SERVER"), *update)
}

// TestWSDLFollowsThePlans: the WSDL is generated from the plans in force.
// A plan file that declares other extrinsic fields changes it at once
// (RoleInstance carrying every role's fields); the answers follow; and a
// value stored for a field no longer declared is kept but not sent.
func TestWSDLFollowsThePlans(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	before := f.wsdl(t)
	if again := f.wsdl(t); !bytes.Equal(before, again) {
		t.Error("the WSDL changed without a change of plans")
	}
	plans, err := f.store.Plans.CurrentPlans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A second role with a field of its own; the plan's fields dropped.
	plans.Roles[0].LearningPlans[0].ExtrinsicFields = nil
	plans.Roles = append(plans.Roles, cmex.RoleDefinition{Role: "Reviewer", ExtrinsicFields: []string{"PanelName", "CertificationNumber"}})
	if err := f.store.Plans.LoadPlans(ctx, plans); err != nil {
		t.Fatal(err)
	}
	after := f.wsdl(t)
	if bytes.Equal(before, after) {
		t.Fatal("the WSDL did not change with the plans")
	}
	c := parseContract(t, after)
	if got := c.members("RoleInstance"); !slices.Equal(got, []string{"BeginDate", "CertificationNumber", "EndDate", "IsGranted", "Label",
		"LearningPlansForRoleInstance", "PanelName", "Role", "Status", "UniqueIdentifier", "Workflow"}) {
		t.Errorf("RoleInstance of two roles = %v", got)
	}
	if got := c.members("LearningPlanForRoleInstance"); slices.Contains(got, "AuditStatus") || !slices.Equal(got[:1], []string{"CycleEndDate"}) {
		t.Errorf("LearningPlanForRoleInstance without plan fields = %v", got)
	}
	_, body := f.post(t, call("999902", "Practitioner", "LearningPlan", "Detail"))
	if !strings.Contains(body, "<a:CertificationNumber>IM-4242</a:CertificationNumber>") || strings.Contains(body, "AuditStatus") || strings.Contains(body, "AttestationDate") {
		t.Errorf("the answer under plans without plan fields:\n%s", body)
	}
	for _, p := range c.follow(parseResult(t, body), "RoleDataResult", "GetRoleDataResult", map[string]bool{}) {
		t.Error(p)
	}
	// The values stay with Jane's role instance; declared again, they are
	// sent again.
	ris, err := f.store.Plans.RoleInstances(ctx, f.jane)
	if err != nil || len(ris) != 1 || len(ris[0].PlanExtrinsic) != 2 {
		t.Fatalf("role instances = %+v, %v", ris, err)
	}
	plans.Roles[0].LearningPlans[0].ExtrinsicFields = []string{"AuditStatus"}
	if err := f.store.Plans.LoadPlans(ctx, plans); err != nil {
		t.Fatal(err)
	}
	if _, body := f.post(t, call("999902", "Practitioner", "LearningPlan", "Detail")); !strings.Contains(body, "<a:AuditStatus>Not Selected</a:AuditStatus>") || strings.Contains(body, "AttestationDate") {
		t.Errorf("AuditStatus declared again:\n%s", body)
	}
	if w := f.wsdl(t); !bytes.Contains(w, []byte(`name="AuditStatus"`)) || bytes.Contains(w, []byte(`name="AttestationDate"`)) {
		t.Errorf("the WSDL with AuditStatus declared again:\n%s", w)
	}
}
