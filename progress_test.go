package cmex_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cmexhub/cmex"
)

func d(s string) cmex.Date { return cmex.MustParseDate(s) }

// practitioner is a Maintenance plan of 2026 with a reporting window to 31
// March 2027: 10 units, of which 4 must be ABIM Medical Knowledge; any
// credit counts toward the second group.
func practitioner() *cmex.RoleDefinition {
	return &cmex.RoleDefinition{Role: "Practitioner", LearningPlans: []cmex.PlanDefinition{{
		Type: cmex.PlanMaintenance, Name: "MOC 2026",
		Cycle:        cmex.CycleDefinition{Start: d("2026-01-01"), End: d("2026-12-31")},
		Reporting:    cmex.ReportingDefinition{EndOffsetDays: 90},
		MinimumUnits: 1000,
		TaskGroups: []cmex.TaskGroupDefinition{
			{Name: "ABIM Medical Knowledge", RequiredUnits: 400, Filter: cmex.CreditFilter{Boards: []string{"ABIM"}, CreditTypes: []string{"Medical Knowledge"}}},
			{Name: "Any credit", RequiredUnits: 600, Filter: cmex.CreditFilter{}},
		},
	}}}
}

func credit(date string, cert, board, ctype string, points cmex.Points, verified bool) cmex.Credit {
	return cmex.Credit{Title: "Course " + date, Date: d(date), Reported: d(date), Certification: cert, Board: board, CreditType: ctype, Points: points, Verified: verified}
}

func TestProgressCountsEachCreditOnce(t *testing.T) {
	credits := []cmex.Credit{
		credit("2026-02-01", "ABIM Medical Knowledge", "ABIM", "Medical Knowledge", 400, true), // matches both groups: the first takes it
		credit("2026-03-01", "AMA PRA Category 1", "", "", 600, true),
	}
	p := cmex.Progress(practitioner(), cmex.RoleInstance{Role: "Practitioner"}, credits, d("2026-06-01")).Plans[0]
	mk, anyGroup := p.TaskGroups[0], p.TaskGroups[1]
	if mk.RequestedUnits != 400 || anyGroup.RequestedUnits != 600 || p.RequestedUnits != 1000 || p.GrantedUnits != 1000 {
		t.Fatalf("units: MK %v, any %v, plan %v/%v", mk.RequestedUnits, anyGroup.RequestedUnits, p.RequestedUnits, p.GrantedUnits)
	}
	// Exactly at the minimum is enough.
	if !mk.Complete || !anyGroup.Complete || p.Workflow.Status != cmex.WorkflowCompletedSuccessfully || p.Workflow.CurrentStep != 3 {
		t.Errorf("at exactly the minimum: %+v", p)
	}
	// A quarter point short is not.
	credits[1].Points = 575
	p = cmex.Progress(practitioner(), cmex.RoleInstance{}, credits, d("2026-06-01")).Plans[0]
	if p.TaskGroups[1].Complete || p.Workflow.Status != cmex.WorkflowIncomplete || p.Workflow.CurrentStep != 1 {
		t.Errorf("a quarter short: %+v", p)
	}
}

func TestProgressRequestedAndGranted(t *testing.T) {
	credits := []cmex.Credit{
		credit("2026-02-01", "ABIM Medical Knowledge", "ABIM", "Medical Knowledge", 400, false), // submitted to the board, not yet approved
		credit("2026-03-01", "AMA PRA Category 1", "", "", 600, true),
		{Title: "Self study", Date: d("2026-04-01"), Reported: d("2026-04-01"), Certification: "AMA PRA Category 1", Points: 100, SelfAttested: true},
	}
	p := cmex.Progress(practitioner(), cmex.RoleInstance{}, credits, d("2026-06-01")).Plans[0]
	if p.RequestedUnits != 1100 || p.GrantedUnits != 600 {
		t.Fatalf("requested %v, granted %v", p.RequestedUnits, p.GrantedUnits)
	}
	if p.Workflow.Status != cmex.WorkflowOwnerComplete || p.Workflow.CurrentStep != 2 {
		t.Errorf("everything requested, not all verified: %+v", p.Workflow)
	}
	acts := p.TaskGroups[1].Activities
	if len(acts) != 2 || acts[1].GrantedUnits != 0 || acts[1].Workflow.Status != cmex.WorkflowOwnerComplete {
		t.Errorf("the self-attested credit stays requested: %+v", acts)
	}
	// After the reporting window, a plan short of its granted units failed.
	p = cmex.Progress(practitioner(), cmex.RoleInstance{}, credits, d("2027-04-01")).Plans[0]
	if p.Workflow.Status != cmex.WorkflowCompletedUnsuccessfully {
		t.Errorf("after the window: %+v", p.Workflow)
	}
	p = cmex.Progress(practitioner(), cmex.RoleInstance{}, credits, d("2027-03-31")).Plans[0]
	if p.Workflow.Status != cmex.WorkflowOwnerComplete {
		t.Errorf("on the window's last day: %+v", p.Workflow)
	}
}

func TestProgressCycleBoundaries(t *testing.T) {
	def := practitioner()
	credits := []cmex.Credit{
		credit("2025-12-31", "AMA PRA Category 1", "", "", 100, true), // the day before the cycle
		credit("2026-01-01", "AMA PRA Category 1", "", "", 200, true), // its first day
		credit("2026-12-31", "AMA PRA Category 1", "", "", 400, true), // its last day
		credit("2027-01-01", "AMA PRA Category 1", "", "", 800, true), // the day after
		{Title: "late", Date: d("2026-12-30"), Reported: d("2027-04-01"), // earned in the cycle, reported after the window
			Certification: "AMA PRA Category 1", Points: 1600, Verified: true},
	}
	p := cmex.Progress(def, cmex.RoleInstance{}, credits, d("2026-06-01")).Plans[0]
	if p.RequestedUnits != 600 {
		t.Errorf("requested %v, want 6.00 (first and last day only)", p.RequestedUnits)
	}

	// A rolling cycle of three years from the role's begin date.
	def.LearningPlans[0].Cycle = cmex.CycleDefinition{Years: 3}
	ri := cmex.RoleInstance{BeginDate: d("2024-03-15")}
	for today, want := range map[string][2]string{
		"2024-01-01": {"2024-03-15", "2027-03-14"}, // before the role begins: its first cycle
		"2024-03-15": {"2024-03-15", "2027-03-14"},
		"2027-03-14": {"2024-03-15", "2027-03-14"},
		"2027-03-15": {"2027-03-15", "2030-03-14"},
		"2031-01-31": {"2030-03-15", "2033-03-14"},
	} {
		p := cmex.Progress(def, ri, nil, d(today)).Plans[0]
		if p.CycleStart.String() != want[0] || p.CycleEnd.String() != want[1] || p.ReportingEnd != p.CycleEnd.AddDays(90) {
			t.Errorf("on %s: cycle %s to %s, reporting to %s; want %s to %s", today, p.CycleStart, p.CycleEnd, p.ReportingEnd, want[0], want[1])
		}
	}
}

func TestProgressRequiredActivities(t *testing.T) {
	def := practitioner()
	def.LearningPlans[0].TaskGroups[0].RequiredActivities = []string{"Patient Safety Module"}
	credits := []cmex.Credit{credit("2026-02-01", "ABIM Medical Knowledge", "ABIM", "Medical Knowledge", 400, true)}
	p := cmex.Progress(def, cmex.RoleInstance{}, credits, d("2026-06-01")).Plans[0]
	g := p.TaskGroups[0]
	if g.Complete || !g.Required || len(g.Activities) != 2 || g.Activities[1].Workflow.Status != cmex.WorkflowIncomplete {
		t.Fatalf("missing required activity: %+v", g)
	}
	credits = append(credits, cmex.Credit{Title: "patient safety module", Date: d("2026-05-01"), Reported: d("2026-05-01"),
		Certification: "ABIM Patient Safety", Board: "ABIM", CreditType: "Patient Safety", Points: 100, Verified: true})
	def.LearningPlans[0].TaskGroups[0].Filter.CreditTypes = nil // any ABIM credit
	g = cmex.Progress(def, cmex.RoleInstance{}, credits, d("2026-06-01")).Plans[0].TaskGroups[0]
	if !g.Complete || len(g.Activities) != 2 {
		t.Errorf("with the required activity: %+v", g)
	}
}

func TestCheckPlans(t *testing.T) {
	good := &cmex.Plans{Roles: []cmex.RoleDefinition{*practitioner()}, Views: cmex.DefaultViews()}
	if ps := cmex.CheckPlans(good); len(ps) != 0 {
		t.Fatalf("good plans: %v", ps)
	}
	bad := &cmex.Plans{Roles: []cmex.RoleDefinition{*practitioner(), *practitioner()}, Views: cmex.Views{Summary: cmex.View{Role: []string{"Password"}}}}
	bad.Roles[1].LearningPlans[0].Type = "Renewal"
	bad.Roles[1].LearningPlans[0].Cycle = cmex.CycleDefinition{Start: d("2026-01-01"), Years: 1}
	bad.Roles[1].LearningPlans[0].TaskGroups[0].Filter.Boards = []string{"ABXYZ"}
	bad.Roles[1].LearningPlans[0].TaskGroups[1].Name = "ABIM medical knowledge"
	want := map[string]bool{"roles[1].role": true, "roles[1].learningPlans[0].type": true, "roles[1].learningPlans[0].cycle": true,
		"roles[1].learningPlans[0].taskGroups[0].filter.boards": true, "roles[1].learningPlans[0].taskGroups[1].name": true, "views.summary.role": true}
	ps := cmex.CheckPlans(bad)
	for _, p := range ps {
		if !want[p.Path] {
			t.Errorf("unexpected problem %v", p)
		}
		delete(want, p.Path)
	}
	if len(want) > 0 {
		t.Errorf("problems not found: %v (got %v)", want, ps)
	}
}

// TestProgressExtrinsicFields: a role instance's extrinsic values are sent
// for the fields the plans declare, with the plans' spelling and in their
// order, role-level ones with the role and plan-level ones with their
// plan; values of fields the plans do not declare are kept apart as
// Undeclared, never sent.
func TestProgressExtrinsicFields(t *testing.T) {
	def := practitioner()
	def.ExtrinsicFields = []string{"CertificationNumber", "Specialty"}
	def.LearningPlans[0].ExtrinsicFields = []string{"AuditStatus"}
	ri := cmex.RoleInstance{Role: "Practitioner",
		Extrinsic: []cmex.ExtrinsicItem{{Name: "Retired", Value: "x"}, {Name: "specialty", Value: "IM"}, {Name: "CertificationNumber", Value: "IM-1"}},
		PlanExtrinsic: []cmex.PlanExtrinsicItem{{Plan: "moc 2026", Name: "auditstatus", Value: "Selected"}, {Plan: "MOC 2026", Name: "Reviewer", Value: "y"},
			{Plan: "MOC 2020", Name: "AuditStatus", Value: "z"}}}
	rp := cmex.Progress(def, ri, nil, d("2026-06-01"))
	if want := []cmex.ExtrinsicItem{{Name: "CertificationNumber", Value: "IM-1"}, {Name: "Specialty", Value: "IM"}}; !slices.Equal(rp.Extrinsic, want) {
		t.Errorf("role's fields = %v, want %v", rp.Extrinsic, want)
	}
	if want := []cmex.ExtrinsicItem{{Name: "AuditStatus", Value: "Selected"}}; !slices.Equal(rp.Plans[0].Extrinsic, want) {
		t.Errorf("plan's fields = %v, want %v", rp.Plans[0].Extrinsic, want)
	}
	want := []cmex.PlanExtrinsicItem{{Name: "Retired", Value: "x"}, {Plan: "MOC 2026", Name: "Reviewer", Value: "y"}, {Plan: "MOC 2020", Name: "AuditStatus", Value: "z"}}
	if rp.PlanExtrinsic != nil || !slices.Equal(rp.Undeclared, want) {
		t.Errorf("undeclared = %v, want %v (plan extrinsic %v)", rp.Undeclared, want, rp.PlanExtrinsic)
	}

	// Saving checks the values against the plans, and respells them.
	plans := &cmex.Plans{Roles: []cmex.RoleDefinition{*def}}
	good := cmex.RoleInstance{Role: "practitioner", Extrinsic: []cmex.ExtrinsicItem{{Name: "specialty", Value: "IM"}},
		PlanExtrinsic: []cmex.PlanExtrinsicItem{{Plan: "moc 2026", Name: "AUDITSTATUS", Value: "Selected"}}}
	if err := cmex.CheckRoleFields(&good, plans); err != nil || good.Extrinsic[0].Name != "Specialty" || good.PlanExtrinsic[0] != (cmex.PlanExtrinsicItem{Plan: "MOC 2026", Name: "AuditStatus", Value: "Selected"}) {
		t.Errorf("CheckRoleFields(good) = %v, %+v", err, good)
	}
	err := cmex.CheckRoleFields(&ri, plans)
	for _, w := range []string{"declares no extrinsic field Retired", "learning plan MOC 2026 declares no extrinsic field Reviewer", `no learning plan "MOC 2020"`} {
		if cmex.ErrorCode(err) != cmex.EINVALID || !strings.Contains(err.Error(), w) {
			t.Errorf("CheckRoleFields = %v; want %q in it", err, w)
		}
	}
	if err := cmex.CheckRoleFields(&cmex.RoleInstance{Role: "Reviewer", Extrinsic: good.Extrinsic}, plans); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("a role the plans do not define: %v", err)
	}
}
