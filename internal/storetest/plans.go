package storetest

import (
	"context"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func init() {
	extra = append(extra, named{"PlansAndRoles", testPlansAndRoles}, named{"PersonCredits", testPersonCredits})
}

func somePlans(minimum cmex.Points) *cmex.Plans {
	return &cmex.Plans{Views: cmex.DefaultViews(), Roles: []cmex.RoleDefinition{{Role: "Practitioner", ExtrinsicFields: []string{"Specialty"}, LearningPlans: []cmex.PlanDefinition{{
		Type: cmex.PlanMaintenance, Name: "Maintenance 2025", MinimumUnits: minimum, ExtrinsicFields: []string{"AuditStatus"},
		Cycle:      cmex.CycleDefinition{Start: cmex.MustParseDate("2025-01-01"), End: cmex.MustParseDate("2025-12-31")},
		TaskGroups: []cmex.TaskGroupDefinition{{Name: "AMA", RequiredUnits: minimum, Filter: cmex.CreditFilter{Certifications: []string{cmex.CreditAMA}}}},
	}}}}}
}

func testPlansAndRoles(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	ps := sqlstore.NewPlanService(e.db)
	persons := sqlstore.NewPersonService(e.db)
	if _, err := persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane(), cmextest.Helen()}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.CurrentPlans(ctx); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("plans before any load: %v", err)
	}
	bad := somePlans(100)
	bad.Roles[0].LearningPlans[0].Type = "Renewal"
	if err := ps.LoadPlans(ctx, bad); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("invalid plans: %v", err)
	}
	for _, min := range []cmex.Points{100, 200} {
		if err := ps.LoadPlans(ctx, somePlans(min)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := ps.CurrentPlans(ctx)
	if err != nil || p.Roles[0].LearningPlans[0].MinimumUnits != 200 || p.Roles[0].LearningPlans[0].Cycle.End != cmex.MustParseDate("2025-12-31") {
		t.Fatalf("current plans = %+v, %v", p, err)
	}
	if _, err := e.db.SQL().Exec(`UPDATE plan_sets SET document = '{}'`); err == nil {
		t.Error("a loaded plan file was changed")
	}

	janes, _ := persons.FindPersons(ctx, cmex.PersonFilter{Name: "ACCME"})
	jane := janes[0].ID
	ri := &cmex.RoleInstance{PersonID: jane, Role: "Practitioner", Label: "Internal Medicine", Status: "Member-Active", UniqueIdentifier: "im-7",
		BeginDate: cmex.MustParseDate("2024-01-01"), Extrinsic: []cmex.ExtrinsicItem{{Name: "specialty", Value: "IM"}},
		PlanExtrinsic: []cmex.PlanExtrinsicItem{{Plan: "maintenance 2025", Name: "AUDITSTATUS", Value: "Selected"}}}
	if err := ps.SaveRoleInstance(ctx, ri); err != nil || ri.ID == 0 {
		t.Fatal(ri, err)
	}
	again := *ri
	again.Status, again.ID = "Member Lapsed", 0
	if err := ps.SaveRoleInstance(ctx, &again); err != nil || again.ID != ri.ID {
		t.Fatalf("saving the same role and label again: %+v, %v", again, err)
	}
	for name, bad := range map[string]cmex.RoleInstance{
		"no role":        {PersonID: jane},
		"unknown person": {PersonID: 9999, Role: "Practitioner"},
		"bad extrinsic":  {PersonID: jane, Role: "Practitioner", Extrinsic: []cmex.ExtrinsicItem{{Name: "a b", Value: "x"}}},
		"field twice":    {PersonID: jane, Role: "Practitioner", Extrinsic: []cmex.ExtrinsicItem{{Name: "Specialty", Value: "x"}, {Name: "specialty", Value: "y"}}},
		// Extrinsic values are of fields the plans in force declare.
		"undeclared field":      {PersonID: jane, Role: "Practitioner", Extrinsic: []cmex.ExtrinsicItem{{Name: "Colour", Value: "x"}}},
		"undeclared plan field": {PersonID: jane, Role: "Practitioner", PlanExtrinsic: []cmex.PlanExtrinsicItem{{Plan: "Maintenance 2025", Name: "Specialty", Value: "x"}}},
		"unknown plan":          {PersonID: jane, Role: "Practitioner", PlanExtrinsic: []cmex.PlanExtrinsicItem{{Plan: "Maintenance 2024", Name: "AuditStatus", Value: "x"}}},
		"role not in plans":     {PersonID: jane, Role: "Reviewer", Extrinsic: []cmex.ExtrinsicItem{{Name: "Specialty", Value: "x"}}},
		"ends early":            {PersonID: jane, Role: "Practitioner", BeginDate: cmex.MustParseDate("2025-01-01"), EndDate: cmex.MustParseDate("2024-01-01")},
	} {
		if err := ps.SaveRoleInstance(ctx, &bad); err == nil || bad.PersonID == jane && cmex.ErrorCode(err) != cmex.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	ris, err := ps.RoleInstances(ctx, jane)
	// Names are kept as the plans spell them.
	if err != nil || len(ris) != 1 || ris[0].Status != "Member Lapsed" || ris[0].ID != ri.ID ||
		ris[0].Extrinsic[0] != (cmex.ExtrinsicItem{Name: "Specialty", Value: "IM"}) ||
		len(ris[0].PlanExtrinsic) != 1 || ris[0].PlanExtrinsic[0] != (cmex.PlanExtrinsicItem{Plan: "Maintenance 2025", Name: "AuditStatus", Value: "Selected"}) {
		t.Fatalf("role instances = %+v, %v", ris, err)
	}

	for value, want := range map[string]int{"999902": 1, "md 999902": 1, "IM-7": 1, "1234567890": 1, "nobody": 0, "": 0} {
		got, err := ps.PersonsByIdentifier(ctx, value)
		if err != nil || len(got) != want {
			t.Errorf("persons by %q = %v, %v; want %d", value, got, err, want)
		}
	}
}

func testPersonCredits(t *testing.T, open Opener) {
	le := newLearnerEnv(t, open, cmex.MatchRegistry)
	ctx := context.Background()
	ps := sqlstore.NewPlanService(le.db)
	janes, _ := sqlstore.NewPersonService(le.db).FindPersons(ctx, cmex.PersonFilter{Name: "ACCME"})
	jane := janes[0].ID
	if _, err := le.report(t, cmextest.JaneReport(le.activity.ID, "2025-06-01", "c")); err != nil {
		t.Fatal(err)
	}
	credits, err := ps.PersonCredits(ctx, jane)
	if err != nil || len(credits) != 3 {
		t.Fatalf("credits = %+v, %v", credits, err)
	}
	for _, c := range credits {
		wantVerified := c.Board == "" // AMA at once; MOC only when the board approves
		if c.Verified != wantVerified || c.Title != "Internal Medicine Manuscript" || c.ActivityType != "Manuscript Review" || len(c.Specialties) != 2 ||
			c.Date != cmex.MustParseDate("2025-06-01") || c.Reported != cmex.DateOf(le.clock.Now()) {
			t.Errorf("credit = %+v", c)
		}
	}
	recs, _ := le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderA, CreditID: "ccid:aaatestorganization.org:c-2"})
	le.learners.MoveLearnerRecord(ctx, recs[0].ID, recs[0].Status, cmex.StatusChange{Status: cmex.StatusApproved, At: le.clock.Now(), Source: "board:ABIM"})
	recs, _ = le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderA, CreditID: "ccid:aaatestorganization.org:c-3"})
	le.learners.MoveLearnerRecord(ctx, recs[0].ID, recs[0].Status, cmex.StatusChange{Status: cmex.StatusRejected, At: le.clock.Now(), Source: "board:ABIM"})
	credits, _ = ps.PersonCredits(ctx, jane)
	if len(credits) != 2 || !credits[0].Verified || !credits[1].Verified {
		t.Errorf("after the board approved one and rejected the other: %+v", credits)
	}

	// A new title reaches her credits: what was read before is not reused
	// once the activity changed.
	upd := cmextest.Activity("moc-1", 2025)
	upd.Title = "Internal Medicine Manuscript, revised"
	mustSave(t, le.env, le.p, "Update", upd)
	credits, _ = ps.PersonCredits(ctx, jane)
	if len(credits) != 2 || credits[0].Title != upd.Title || credits[1].Title != upd.Title {
		t.Errorf("after the activity's title changed: %+v", credits)
	}

	// Her self-attested credits reach her through a society membership
	// linked to her and a gateway account bound to it.
	societies, gateway := sqlstore.NewSocietyService(le.db), sqlstore.NewGatewayService(le.db)
	soc := &cmex.Society{Code: "EXAMPLE", Name: "Example Society", Kind: cmex.SocietyLocal}
	if err := societies.CreateSociety(ctx, soc); err != nil {
		t.Fatal(err)
	}
	if err := societies.AddMember(ctx, &cmex.Member{SocietyID: soc.ID, MemberID: "J-1", Username: "jane", GivenName: "Jane", FamilyName: "ACCME", PersonID: jane}, "pw"); err != nil {
		t.Fatal(err)
	}
	acc := &cmex.Account{Username: "jane", GivenName: "Jane", FamilyName: "ACCME"}
	if err := gateway.CreateAccount(ctx, acc, "pw"); err != nil {
		t.Fatal(err)
	}
	if ps, err := gateway.AccountPersons(ctx, acc.ID); err != nil || len(ps) != 0 {
		t.Errorf("persons of an account bound nowhere: %v, %v", ps, err)
	}
	if err := gateway.SaveBinding(ctx, &cmex.Binding{AccountID: acc.ID, SocietyID: soc.ID, MemberID: "J-1"}); err != nil {
		t.Fatal(err)
	}
	if ps, err := gateway.AccountPersons(ctx, acc.ID); err != nil || len(ps) != 1 || ps[0] != jane {
		t.Errorf("persons of Jane's account = %v, %v; want [%d]", ps, err, jane)
	}
	if err := gateway.AddSelfCredit(ctx, &cmex.SelfCredit{AccountID: acc.ID, CEU: oneCEU("Reading", "2025-07-01", 150)}); err != nil {
		t.Fatal(err)
	}
	credits, _ = ps.PersonCredits(ctx, jane)
	if len(credits) != 3 {
		t.Fatalf("with a self-attested credit: %+v", credits)
	}
	if c := credits[2]; !c.SelfAttested || c.Verified || c.Points != 150 || c.Certification != cmex.CreditAMA || c.Title != "Reading" {
		t.Errorf("self-attested credit = %+v", c)
	}
}
