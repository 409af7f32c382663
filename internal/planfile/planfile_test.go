package planfile_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cmexhub/cmex/internal/planfile"
)

func TestReadExample(t *testing.T) {
	f, err := os.Open("../../examples/plans.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := planfile.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	pl := p.Roles[0].LearningPlans[0]
	if p.Roles[0].Role != "Practitioner" || pl.Cycle.Years != 3 || pl.Reporting.EndOffsetDays != 90 || pl.MinimumUnits != 5000 ||
		len(pl.TaskGroups) != 3 || pl.TaskGroups[0].Filter.CreditTypes[0] != "Medical Knowledge" || pl.TaskGroups[2].RequiredUnits != 2500 {
		t.Errorf("plans = %+v", p)
	}
	if !slices.Equal(p.Roles[0].ExtrinsicFields, []string{"CertificationNumber"}) || !slices.Equal(pl.ExtrinsicFields, []string{"AuditStatus", "AttestationDate"}) {
		t.Errorf("extrinsic fields = %v, %v", p.Roles[0].ExtrinsicFields, pl.ExtrinsicFields)
	}
	if !slices.Contains(p.Views.Detail.Role, "Extrinsic") || slices.Contains(p.Views.Summary.Role, "Extrinsic") ||
		!slices.Contains(p.Views.Detail.LearningPlan, "Extrinsic") || slices.Contains(p.Views.Summary.LearningPlan, "Extrinsic") {
		t.Errorf("views = %+v", p.Views)
	}
}

func TestReadJSONWithDefaultViews(t *testing.T) {
	p, err := planfile.Read(strings.NewReader(`{"roles":[{"role":"Practitioner","learningPlans":[{"type":"Application","name":"Initial",
		"cycle":{"start":"2026-01-01","end":"2026-12-31"},"minimumUnits":"12.5","taskGroups":[{"name":"Any","requiredUnits":12.5}]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Roles[0].LearningPlans[0].MinimumUnits != 1250 || len(p.Views.Summary.Role) == 0 {
		t.Errorf("plans = %+v", p)
	}
}

func TestReadReportsLinesAndFields(t *testing.T) {
	for name, tc := range map[string]struct {
		doc  string
		want []string // "line N: path" or "line N: message part"
	}{
		"unknown field": {"roles:\n  - role: Practitioner\n    colour: blue\n", []string{"line 3:", "colour"}},
		"bad date":      {"roles:\n  - role: P\n    learningPlans:\n      - type: Maintenance\n        name: M\n        cycle:\n          start: 2026-02-30\n", []string{"line 7:", "2026-02-30"}},
		"bad units":     {"roles:\n  - role: P\n    learningPlans:\n      - type: Maintenance\n        name: M\n        minimumUnits: lots\n", []string{"line 6:", "lots"}},
		"rule problems": {"roles:\n  - role: Practitioner\n    learningPlans:\n      - type: Renewal\n        name: M\n        cycle: {years: 3}\n        taskGroups:\n          - name: G\n            filter:\n              boards: [ABXX]\n",
			[]string{"line 4: roles[0].learningPlans[0].type:", "line 10: roles[0].learningPlans[0].taskGroups[0].filter.boards:"}},
		"missing cycle": {"roles:\n  - role: Practitioner\n    learningPlans:\n      - type: Maintenance\n        name: M\n", []string{"line 4: roles[0].learningPlans[0].cycle:"}},
		"empty":         {"", []string{"empty"}},
		"not yaml":      {"roles: [\n", []string{"line"}},
		"bad view":      {"roles:\n  - role: P\n    learningPlans: []\nviews:\n  detail:\n    role: [Password]\n", []string{"line 6: views.detail.role:"}},
		"extrinsic fields": {`roles:
  - role: P
    extrinsicFields:
      - Status
      - a b
      - CertNo
      - certno
      - xmlId
    learningPlans:
      - type: Maintenance
        name: M
        cycle: {years: 3}
        extrinsicFields: [Workflow, Audit]
      - type: Application
        name: m
        cycle: {years: 3}
  - role: Q
    extrinsicFields: [CERTNO]
    learningPlans:
      - type: Maintenance
        name: M
        cycle: {years: 3}
        extrinsicFields:
          - audit
`, []string{
			`line 4: roles[0].extrinsicFields[0]: "Status" is an element GetRoleData already writes`,
			`line 5: roles[0].extrinsicFields[1]: "a b": a field name is letters`,
			`line 7: roles[0].extrinsicFields[3]: "certno" is named twice`,
			`line 8: roles[0].extrinsicFields[4]: "xmlId": XML reserves`,
			`line 13: roles[0].learningPlans[0].extrinsicFields[0]: "Workflow" is an element`,
			`line 15: roles[0].learningPlans[1].name: learning plan m is defined twice in this role`,
			`line 18: roles[1].extrinsicFields[0]: "CERTNO" is spelled "CertNo" elsewhere`,
			`line 24: roles[1].learningPlans[0].extrinsicFields[0]: "audit" is spelled "Audit" elsewhere`,
		}},
	} {
		_, err := planfile.Read(strings.NewReader(tc.doc))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", name, err, w)
			}
		}
	}
	_, err := planfile.Read(strings.NewReader(strings.Repeat("#", planfile.MaxBytes+1)))
	if pe, ok := err.(*planfile.Error); !ok || !strings.Contains(pe.Problems[0].Message, "larger") {
		t.Errorf("huge file: %v", err)
	}
}
