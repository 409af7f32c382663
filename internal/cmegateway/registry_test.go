package cmegateway_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
)

// TestRegistrySource: an account linked to a registry person has her
// ledger credits as a source of their own, with every record's status, in
// Transcript and in HeldTranscript (which asks no society, so a printed
// transcript's verification stays free of remote calls); the credit feed,
// which serves societies, leaves them out; an account linked to nobody has
// no such source.
func TestRegistrySource(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.gateway.Links = e.store.Claims
	if _, err := e.store.Persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane()}); err != nil {
		t.Fatal(err)
	}
	p, act := e.store.MOCActivity(t, "moc-1")
	recs, _, err := e.store.Learners.SaveLearnerReport(ctx, cmex.LearnerChange{Report: cmextest.JaneReport(act.ID, "2025-06-01", "j"), By: p})
	if err != nil {
		t.Fatal(err)
	}
	// A remote society the account is bound to, which must not be asked by
	// HeldTranscript.
	var calls atomic.Int64
	remote := e.remote(t, "REMOTE", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "down", http.StatusBadGateway)
	}))
	a := e.account(t, "jane")
	if err := e.store.Gateway.SaveBinding(ctx, &cmex.Binding{AccountID: a.ID, SocietyID: remote.ID, MemberID: "R-1"}); err != nil {
		t.Fatal(err)
	}
	before, err := e.gateway.HeldTranscript(ctx, a.ID)
	if err != nil || len(before.Sources) != 1 || len(before.Credits) != 0 {
		t.Fatalf("before the link: %+v, %v", before, err)
	}
	c, err := e.store.Claims.ClaimPerson(ctx, a.ID, cmex.ClaimEvidence{GivenName: "Jane", FamilyName: "ACCME", BirthDate: cmex.MustParseDate("1904-10-30"),
		Kind: cmex.KindBoard, Scope: "ABIM", Identifier: "999902"})
	if err != nil || c.State != cmex.ClaimLinked {
		t.Fatal(c, err)
	}
	if _, err := e.store.Learners.MoveLearnerRecord(ctx, recs[2].ID, cmex.StatusAccepted, cmex.StatusChange{Status: cmex.StatusRejected, Code: "661", Reason: "Diplomate ID not found in Board records.", Source: "board:ABIM"}); err != nil {
		t.Fatal(err)
	}
	held, err := e.gateway.HeldTranscript(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 0 {
		t.Errorf("HeldTranscript asked the remote society %d times", calls.Load())
	}
	live, err := e.gateway.Transcript(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for name, tr := range map[string]*cmex.Transcript{"held": held, "live": live} {
		var src *cmex.TranscriptSource
		for i := range tr.Sources {
			if tr.Sources[i].Society == cmex.SourceRegistry {
				src = &tr.Sources[i]
			}
		}
		if src == nil || src.Person != c.Person || src.Credits != 2 || src.Status != cmex.SourceOK {
			t.Errorf("%s: sources %+v", name, tr.Sources)
			continue
		}
		if len(tr.Credits) != 2 || tr.Totals.Category1 != 200 || len(tr.Totals.MOC) != 1 || tr.Totals.MOC[0].Credits != 150 {
			t.Errorf("%s: credits %+v, totals %+v", name, tr.Credits, tr.Totals)
		}
		for _, cr := range tr.Credits {
			if cr.Sponsor != "AAA Test Organization" || len(cr.Statuses) != len(cr.Details) {
				t.Errorf("%s: credit %+v", name, cr)
			}
			if cr.Rejected && (cr.Statuses[0].Code != "661" || cr.Details[0].Focus[0] != "Patient Safety") {
				t.Errorf("%s: the rejected credit %+v", name, cr)
			}
		}
	}
	if cmex.TranscriptDigest(held.Credits) != cmex.TranscriptDigest(live.Credits) {
		t.Error("the held transcript's digest differs from the live one's")
	}
	other := e.account(t, "other")
	if tr, err := e.gateway.HeldTranscript(ctx, other.ID); err != nil || len(tr.Sources) != 0 || len(tr.Credits) != 0 {
		t.Errorf("an account linked to nobody: %+v, %v", tr, err)
	}
}

// TestRegistryAndSocietyCountedOnce: an account bound to a local society
// whose member is linked to the same registry person as the account
// itself gets the person's ledger credits both ways; each is shown once,
// with both sources and the registry's statuses, and counted once.
func TestRegistryAndSocietyCountedOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.gateway.Links = e.store.Claims
	if _, err := e.store.Persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane()}); err != nil {
		t.Fatal(err)
	}
	p, act := e.store.MOCActivity(t, "moc-1")
	if _, _, err := e.store.Learners.SaveLearnerReport(ctx, cmex.LearnerChange{Report: cmextest.JaneReport(act.ID, "2025-06-01", "j"), By: p}); err != nil {
		t.Fatal(err)
	}
	jane, _ := e.store.Persons.FindPersons(ctx, cmex.PersonFilter{Name: "accme"})
	if err := e.store.Societies.AddMember(ctx, &cmex.Member{SocietyID: e.example.ID, MemberID: "J-1", Username: "jane", GivenName: "Jane", FamilyName: "ACCME", PersonID: jane[0].ID}, "pw"); err != nil {
		t.Fatal(err)
	}
	a := e.account(t, "jane")
	if err := e.store.Gateway.SaveBinding(ctx, &cmex.Binding{AccountID: a.ID, SocietyID: e.example.ID, MemberID: "J-1"}); err != nil {
		t.Fatal(err)
	}
	bound, err := e.gateway.Transcript(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Claims.ClaimPerson(ctx, a.ID, cmex.ClaimEvidence{GivenName: "Jane", FamilyName: "ACCME", BirthDate: cmex.MustParseDate("1904-10-30"),
		Kind: cmex.KindLicense, Scope: "ME", Identifier: "MD999902"}); err != nil {
		t.Fatal(err)
	}
	both, err := e.gateway.Transcript(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(bound.Credits) != 1 || len(both.Credits) != 1 || len(both.Sources) != 2 {
		t.Fatalf("credits bound only %d, bound and linked %d (sources %+v); want 1 and 1", len(bound.Credits), len(both.Credits), both.Sources)
	}
	c := both.Credits[0]
	if len(c.Sources) != 2 || c.Sources[0] != "EXAMPLE" || c.Sources[1] != cmex.SourceRegistry || len(c.Statuses) != 3 || c.Statuses[1].Status != cmex.StatusAccepted {
		t.Errorf("the credit reached both ways: %+v", c)
	}
	if both.Totals.Category1 != bound.Totals.Category1 || both.Totals.Category1 != 200 || len(both.Totals.MOC) != 2 || both.Totals.MOC[0].Credits != 150 {
		t.Errorf("totals bound only %+v, bound and linked %+v", bound.Totals, both.Totals)
	}
}
