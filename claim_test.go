package cmex_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
)

// helenRecords are a linked person's ledger: provider A's AMA record and
// ABIM Medical Knowledge points (submitted), and provider B's AMA record
// with ABIM Patient Safety points its board rejected.
func helenRecords() []*cmex.LearnerRecord {
	d := cmex.MustParseDate("2026-03-02")
	return []*cmex.LearnerRecord{
		{ID: 1, ProviderID: "1234567", ActivityID: 300000001, CompletionDate: d, Certification: cmex.CreditAMA, Points: 200, Status: cmex.StatusAccepted},
		{ID: 2, ProviderID: "1234567", ActivityID: 300000001, CompletionDate: d, Certification: "ABIM Medical Knowledge", Board: "ABIM", CreditType: "Medical Knowledge", Points: 150, Status: cmex.StatusSubmitted},
		{ID: 3, ProviderID: "7654321", ActivityID: 300000002, CompletionDate: d, Certification: cmex.CreditAMA, Points: 100, Status: cmex.StatusAccepted},
		{ID: 4, ProviderID: "7654321", ActivityID: 300000002, CompletionDate: d, Certification: "ABIM Patient Safety", Board: "ABIM", CreditType: "Patient Safety", Points: 100,
			Status: cmex.StatusRejected, StatusCode: "661", StatusReason: "Diplomate ID not found in Board records."},
		{ID: 5, ProviderID: "7654321", ActivityID: 300000002, CompletionDate: d, Certification: cmex.CreditAMA, Points: 900, Status: cmex.StatusDeleted, Deleted: true},
	}
}

func describe(r *cmex.LearnerRecord) cmex.LedgerActivity {
	if r.ProviderID == "1234567" {
		return cmex.LedgerActivity{Sponsor: "AAA Test Organization", Title: "Internal Medicine Update 2026"}
	}
	return cmex.LedgerActivity{Sponsor: "Second Sandbox Organization", Title: "Grand Rounds"}
}

// TestLedgerCredits: the ledger credits of a person are the CEUs a local
// society's ceu_order shows for her (LedgerCEUs), each detail with its
// status, and the rejected records a credit of their own.
func TestLedgerCredits(t *testing.T) {
	credits := cmex.LedgerCredits(helenRecords(), describe)
	ceus := cmex.LedgerCEUs(helenRecords(), describe)
	if len(credits) != 3 || len(ceus) != 2 {
		t.Fatalf("%d credits, %d CEUs; want 3 and 2", len(credits), len(ceus))
	}
	for i, c := range ceus {
		if credits[i].Key() != c.Key() || credits[i].Rejected {
			t.Errorf("credit %d %+v is not the ceu_order's %+v", i, credits[i], c)
		}
	}
	a := credits[0]
	if len(a.Statuses) != 2 || a.Statuses[0].Status != cmex.StatusAccepted || a.Statuses[1].Status != cmex.StatusSubmitted || a.Sources[0] != cmex.SourceRegistry {
		t.Errorf("A's credit: %+v", a)
	}
	rej := credits[2]
	if !rej.Rejected || len(rej.Details) != 1 || rej.Details[0].Category != "ABIM MOC" || rej.Statuses[0].Code != "661" || rej.Statuses[0].Reason == "" {
		t.Errorf("the rejected credit: %+v", rej)
	}
	lines := rej.Lines()
	if len(lines) != 1 || lines[0].Status == nil || lines[0].Status.Status != cmex.StatusRejected {
		t.Errorf("lines: %+v", lines)
	}
}

// TestRegistryTranscript: the registry source's credits merge with a
// local society's answer for a member linked to the same person, counted
// once with both sources and the registry's statuses; a rejected credit is
// listed and counted in no total; filtering keeps each detail's status;
// the digest changes when a record is rejected, not when it is approved.
func TestRegistryTranscript(t *testing.T) {
	recs := helenRecords()
	society := cmex.SourceResult{TranscriptSource: cmex.TranscriptSource{Society: "EXAMPLE", Status: cmex.SourceOK},
		Customer: &cmex.Customer{CEUs: cmex.LedgerCEUs(recs, describe)}}
	registry := cmex.SourceResult{TranscriptSource: cmex.TranscriptSource{Society: cmex.SourceRegistry, Status: cmex.SourceOK, Person: 2},
		Ledger: cmex.LedgerCredits(recs, describe)}
	both := cmex.BuildTranscript(cmex.Account{}, time.Now(), []cmex.SourceResult{registry, society}, nil)
	alone := cmex.BuildTranscript(cmex.Account{}, time.Now(), []cmex.SourceResult{registry}, nil)
	if len(both.Credits) != 3 || len(alone.Credits) != 3 {
		t.Fatalf("credits: %d through both, %d through the registry alone; want 3", len(both.Credits), len(alone.Credits))
	}
	// 2 + 1 AMA credits; 1.5 ABIM Medical Knowledge; the rejected 1 ABIM
	// Patient Safety in no total.
	for name, tr := range map[string]*cmex.Transcript{"both": both, "alone": alone} {
		if tr.Totals.Category1 != 300 || len(tr.Totals.MOC) != 1 || tr.Totals.MOC[0].Competency != "Medical Knowledge" || tr.Totals.MOC[0].Credits != 150 {
			t.Errorf("%s: totals %+v", name, tr.Totals)
		}
	}
	for _, c := range both.Credits {
		if c.Rejected {
			if len(c.Sources) != 1 || c.Sources[0] != cmex.SourceRegistry {
				t.Errorf("the rejected credit's sources: %v", c.Sources)
			}
			continue
		}
		if len(c.Sources) != 2 || len(c.Statuses) != len(c.Details) {
			t.Errorf("credit %q: sources %v, statuses %+v", c.Title, c.Sources, c.Statuses)
		}
	}
	if both.Sources[0].Society != "EXAMPLE" || both.Sources[1].Society != cmex.SourceRegistry || both.Sources[1].Credits != 3 {
		t.Errorf("sources: %+v", both.Sources)
	}

	mocOnly := both.Filter(cmex.TranscriptFilter{Type: cmex.DetailMOC})
	for _, c := range mocOnly.Credits {
		if len(c.Details) != 1 || len(c.Statuses) != 1 || c.Details[0].Type != cmex.DetailMOC {
			t.Errorf("MOC only: %+v", c)
		}
		if c.Title == "Internal Medicine Update 2026" && c.Statuses[0].Status != cmex.StatusSubmitted {
			t.Errorf("MOC only: the MOC detail's status is %v", c.Statuses[0])
		}
	}

	digest := cmex.TranscriptDigest(alone.Credits)
	approved := helenRecords()
	approved[1].Status = cmex.StatusApproved
	if d := cmex.TranscriptDigest(cmex.BuildTranscript(cmex.Account{}, time.Now(), []cmex.SourceResult{{TranscriptSource: registry.TranscriptSource,
		Ledger: cmex.LedgerCredits(approved, describe)}}, nil).Credits); d != digest {
		t.Error("the board approving submitted points changed the digest")
	}
	rejected := helenRecords()
	rejected[1].Status = cmex.StatusRejected
	if d := cmex.TranscriptDigest(cmex.BuildTranscript(cmex.Account{}, time.Now(), []cmex.SourceResult{{TranscriptSource: registry.TranscriptSource,
		Ledger: cmex.LedgerCredits(rejected, describe)}}, nil).Credits); d == digest {
		t.Error("the board rejecting points left the digest as it was")
	}
}

// TestExactMatch: the birth year is compared when given, as claims give
// it; the other queries do not give it.
func TestExactMatch(t *testing.T) {
	p := &cmex.Person{GivenName: "Helen", FamilyName: "Markman", BirthDate: cmex.MustParseDate("1970-09-26"), NPI: "1234567890"}
	e := cmex.ClaimEvidence{GivenName: "HELEN", FamilyName: "markman", BirthDate: cmex.MustParseDate("1970-09-26"), Kind: cmex.KindNPI, Identifier: "1234567890"}
	if !e.Query().Matches(p) {
		t.Error("Helen's own evidence does not match her")
	}
	e.BirthDate.Year = 1971
	if e.Query().Matches(p) {
		t.Error("a wrong birth year matches")
	}
	if q := (cmex.LearnerIdentity{GivenName: "Helen", FamilyName: "Markman", BirthDate: cmex.MustParseDate("1971-09-26")}).Query(); !q.Matches(p) {
		t.Error("a reported identity compares the birth year, which PARS does not")
	}
}

type fakeClaims struct {
	cmex.ClaimService
	calls int
	link  bool
}

func (f *fakeClaims) ClaimPerson(ctx context.Context, a cmex.AccountID, e cmex.ClaimEvidence) (*cmex.Claim, error) {
	f.calls++
	if f.link {
		return &cmex.Claim{State: cmex.ClaimLinked}, nil
	}
	return &cmex.Claim{State: cmex.ClaimPending}, nil
}

// TestClaimGuard: claims that wait count as failures of the account and
// of the address; after LockAfter of them the account's claims are refused
// without a lookup; a claim that links is not refused before that and
// clears the count.
func TestClaimGuard(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := cmex.DefaultLoginGuard()
	g.Now = func() time.Time { return now }
	f := &fakeClaims{}
	claims := cmex.Guarded{Guard: g}.Claims(f)
	ctx := cmex.WithClientAddr(context.Background(), "203.0.113.7")
	for i := range g.LockAfter {
		if c, err := claims.ClaimPerson(ctx, 1, cmex.ClaimEvidence{}); err != nil || c.State != cmex.ClaimPending {
			t.Fatalf("claim %d: %+v, %v", i+1, c, err)
		}
	}
	_, err := claims.ClaimPerson(ctx, 1, cmex.ClaimEvidence{})
	var e *cmex.Error
	if cmex.ErrorCode(err) != cmex.ETOOMANY || cmex.RetryAfter(err) != 15*60 || !errors.As(err, &e) || e.Message != "Too many claims for this account or from this address; try again in 15 minutes." {
		t.Fatalf("claim after %d that waited: %v", g.LockAfter, err)
	}
	if f.calls != g.LockAfter {
		t.Errorf("the refused claim was looked up: %d calls", f.calls)
	}
	// Another account from the same address: the address has failures
	// left (20), so it may claim.
	f.link = true
	if c, err := claims.ClaimPerson(ctx, 2, cmex.ClaimEvidence{}); err != nil || c.State != cmex.ClaimLinked {
		t.Errorf("another account's claim: %+v, %v", c, err)
	}
	// The address fails too: after its 20 failures (5 already) every
	// account from it is refused.
	f.link = false
	for i := range 15 {
		if _, err := claims.ClaimPerson(ctx, cmex.AccountID(10+i), cmex.ClaimEvidence{}); err != nil {
			t.Fatalf("failure %d of the address: %v", 6+i, err)
		}
	}
	if _, err := claims.ClaimPerson(ctx, 99, cmex.ClaimEvidence{}); cmex.ErrorCode(err) != cmex.ETOOMANY {
		t.Errorf("a new account from an address that failed 20 times: %v", err)
	}
	if _, err := claims.ClaimPerson(cmex.WithClientAddr(context.Background(), "198.51.100.1"), 99, cmex.ClaimEvidence{}); err != nil {
		t.Errorf("the same account from another address: %v", err)
	}
}
