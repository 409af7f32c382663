package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func init() {
	extra = append(extra, named{"XAPIProfiles", testXAPIProfiles})
}

// A provider without a profile has the default one; a loaded one replaces
// it; outcomes are kept per statement (the last one written), listed
// newest first and by kind, and a provider sees only its own.
func testXAPIProfiles(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	a := e.MustProvider(t, cmextest.ProviderA, "A", "a", "secret-a")
	b := e.MustProvider(t, cmextest.ProviderB, "B", "b", "secret-b")
	s := sqlstore.NewXAPIProfiles(e.db, sqlstore.NewLearnerService(e.db, cmex.MatchRegistry))
	orgA, orgB := a.Organization.ID, b.Organization.ID

	p, err := s.XAPIProfile(ctx, orgA)
	if err != nil || !p.Counts(cmex.XAPIVerbCmi5Passed) || len(p.Activity.Table) != 0 {
		t.Fatalf("default profile: %+v, %v", p, err)
	}
	mine, ps := cmex.ParseXAPIProfile([]byte(`{"verbs": ["https://lms.example/finished"], "activity": {"table": {"https://lms.example/1": "300000001"}}}`))
	if len(ps) != 0 {
		t.Fatal(ps)
	}
	for range 2 {
		if err := s.PutXAPIProfile(ctx, orgA, mine); err != nil {
			t.Fatalf("PutXAPIProfile: %v", err)
		}
	}
	if p, err = s.XAPIProfile(ctx, orgA); err != nil || p.Counts(cmex.XAPIVerbCmi5Passed) || !p.Counts("https://lms.example/finished") || p.Activity.Table["https://lms.example/1"] != "300000001" {
		t.Errorf("loaded profile: %+v, %v", p, err)
	}
	if p, err = s.XAPIProfile(ctx, orgB); err != nil || !p.Counts(cmex.XAPIVerbCmi5Passed) {
		t.Errorf("another provider's profile: %+v, %v", p, err)
	}

	t0 := e.clock.Now().UTC().Truncate(time.Microsecond)
	outs := []*cmex.XAPIOutcome{
		{Organization: orgA, StatementID: "s-1", Outcome: cmex.OutcomeAccepted, CreditIDs: []cmex.CreditID{"ccid:x:1"}, At: t0},
		{Organization: orgA, StatementID: "s-2", Outcome: cmex.OutcomeRejected, At: t0.Add(time.Second),
			Problems: cmex.Problems{cmex.RuleDuplicateCreditID.Problem(cmex.Args{})}},
		{Organization: orgA, StatementID: "s-1", Outcome: cmex.OutcomeVoided, CreditIDs: []cmex.CreditID{"ccid:x:1"}, At: t0.Add(2 * time.Second)},
	}
	for _, o := range outs {
		if err := s.PutXAPIOutcome(ctx, o); err != nil {
			t.Fatalf("PutXAPIOutcome: %v", err)
		}
	}
	if o, err := s.XAPIOutcome(ctx, orgA, "s-1"); err != nil || o.Outcome != cmex.OutcomeVoided || len(o.CreditIDs) != 1 {
		t.Errorf("outcome s-1: %+v, %v", o, err)
	}
	if o, err := s.XAPIOutcome(ctx, orgA, "s-2"); err != nil || len(o.Problems) != 1 || o.Problems[0].Code != cmex.RuleDuplicateCreditID.Code || o.Problems[0].Severity != cmex.SeverityError {
		t.Errorf("outcome s-2: %+v, %v", o, err)
	}
	all, err := s.XAPIOutcomes(ctx, orgA, "", 10)
	if err != nil || len(all) != 2 || all[0].StatementID != "s-1" || all[1].StatementID != "s-2" {
		t.Errorf("outcomes: %+v, %v", all, err)
	}
	if rej, err := s.XAPIOutcomes(ctx, orgA, cmex.OutcomeRejected, 10); err != nil || len(rej) != 1 || rej[0].StatementID != "s-2" {
		t.Errorf("refusals: %+v, %v", rej, err)
	}
	if _, err := s.XAPIOutcome(ctx, orgB, "s-1"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("another provider's outcome: %v", err)
	}
	if other, err := s.XAPIOutcomes(ctx, orgB, "", 10); err != nil || len(other) != 0 {
		t.Errorf("another provider's outcomes: %+v, %v", other, err)
	}
}
