package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
)

func init() {
	extra = append(extra,
		named{"LearnerImport", testLearnerImport},
		named{"GroupCommit", testGroupCommit},
		named{"RememberedLogins", testRememberedLogins},
	)
}

func helenReport(activity cmex.ActivityID, tag string) *cmex.LearnerReport {
	r := cmextest.JaneReport(activity, "2025-06-03", tag)
	r.Learner = cmex.LearnerIdentity{UniqueIDs: []cmex.UniqueID{{Domain: "NPI", Value: "1234567890"}},
		GivenName: "Helen", FamilyName: "Markman", BirthDate: cmex.MustParseDate("1970-09-26")}
	r.Credits = r.Credits[:1]
	return r
}

func outcomes(rs []cmex.LearnerImportResult) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Outcome
		if r.Outcome == cmex.OutcomeRejected {
			out[i] += fmt.Sprint(r.Problems.Errors().Codes())
		}
	}
	return out
}

func testLearnerImport(t *testing.T, open Opener) {
	le := newLearnerEnv(t, open, cmex.MatchRegistry)
	ctx := context.Background()
	imp := func(reps ...*cmex.LearnerReport) []string {
		t.Helper()
		chs := make([]cmex.LearnerChange, len(reps))
		for i, r := range reps {
			chs[i] = cmex.LearnerChange{Report: r, By: le.p, Source: "csv"}
		}
		rs, err := le.learners.ImportLearnerReports(ctx, chs)
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		return outcomes(rs)
	}
	want := func(got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("outcomes %v, want %v", got, want)
		}
	}
	jane := func() *cmex.LearnerReport { return cmextest.JaneReport(le.activity.ID, "2025-06-01", "v1") }
	helen := func() *cmex.LearnerReport { return helenReport(le.activity.ID, "h1") }
	unknown := func() *cmex.LearnerReport { return cmextest.JaneReport(999999999, "2025-06-01", "x") }
	// Jane twice in one file: the second sees the first and is a repeat.
	again := cmextest.JaneReport(le.activity.ID, "2025-06-01", "v2")
	got := imp(jane(), helen(), unknown(), again)
	if got[0] != "accepted" || got[1] != "accepted" || got[2] == "accepted" || got[3] == "accepted" {
		t.Fatalf("first import: %v", got)
	}
	first := got
	records := count(t, le.db, "learner_records")
	events := count(t, le.db, "learner_record_events")
	if records != 4 || events != 4 {
		t.Fatalf("%d records and %d events after the first import, want 4 and 4", records, events)
	}

	// The same file again changes nothing: the records are present, the
	// rejected stay rejected for the same reasons.
	want(imp(jane(), helen(), unknown(), cmextest.JaneReport(le.activity.ID, "2025-06-01", "v2")),
		"present", "present", first[2], first[3])
	if n := count(t, le.db, "learner_records"); n != records {
		t.Errorf("%d records after a repeat import, want %d", n, records)
	}
	// The same CreditIDs with other content are duplicates, not present.
	changed := jane()
	changed.CompletionDate = cmex.MustParseDate("2025-06-02")
	if got := imp(changed); got[0] == "present" || got[0] == "accepted" {
		t.Errorf("changed record: %v", got)
	}
	// A delete, then the same delete: accepted, then present.
	del := helen()
	del.Action = "delete"
	want(imp(del), "accepted")
	del = helen()
	del.Action = "delete"
	want(imp(del), "present")
	if n := count(t, le.db, "learner_records"); n != records {
		t.Errorf("%d records after the deletes, want %d (deleted records are kept)", n, records)
	}
	// Helen may report again after the delete; the web service sees the
	// imported records: Jane's are duplicates there.
	want(imp(helen()), "accepted")
	if _, err := le.report(t, jane()); cmex.ErrorCode(err) != cmex.EINVALID || !cmex.ErrorProblems(err).Has("603") {
		t.Errorf("web-service repeat of an imported record: %v", err)
	}
	hist, err := le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: le.p.Organization.ProviderID, CreditID: "ccid:aaatestorganization.org:v1-2"})
	if err != nil || len(hist) != 1 || hist[0].Board != "ABIM" || hist[0].PersonID == 0 {
		t.Errorf("imported record: %+v, %v", hist, err)
	}
}

// testGroupCommit: concurrent web-service reports share transactions and
// each gets its own answer.
func testGroupCommit(t *testing.T, open Opener) {
	le := newLearnerEnv(t, open, cmex.MatchPassthrough)
	const n = 60
	var wg sync.WaitGroup
	errs := make([]error, n)
	recs := make([][]*cmex.LearnerRecord, n)
	for i := range n {
		wg.Go(func() {
			r := cmextest.JaneReport(le.activity.ID, "2025-06-01", fmt.Sprintf("g%d", i))
			r.Learner.UniqueIDs = []cmex.UniqueID{{Domain: "ME", Value: fmt.Sprintf("MD%d", 1000+i)}}
			r.Learner.FamilyName = fmt.Sprintf("Learner%d", i)
			r.Credits = r.Credits[:1]
			if i%10 == 9 {
				r.ActivityID = 999999999 // rejected: no such activity
			}
			recs[i], _, errs[i] = le.learners.SaveLearnerReport(context.Background(), cmex.LearnerChange{Report: r, By: le.p, Source: "pars"})
		})
	}
	wg.Wait()
	accepted := 0
	for i, err := range errs {
		switch {
		case i%10 == 9:
			if cmex.ErrorCode(err) != cmex.EINVALID {
				t.Errorf("report %d on no activity: %v", i, err)
			}
		case err != nil:
			t.Errorf("report %d: %v %v", i, err, cmex.ErrorProblems(err))
		case len(recs[i]) != 1 || recs[i][0].ID == 0 || recs[i][0].CreditID != cmex.CreditID(fmt.Sprintf("ccid:aaatestorganization.org:g%d-1", i)):
			t.Errorf("report %d: records %+v", i, recs[i])
		default:
			accepted++
		}
	}
	if got := count(t, le.db, "learner_records"); got != accepted || accepted != n-n/10 {
		t.Errorf("%d records stored, %d accepted, want %d", got, accepted, n-n/10)
	}
}

// testRememberedLogins: a remembered login never outlives its password.
func testRememberedLogins(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	p := e.MustProvider(t, cmextest.ProviderA, "AAA Test Organization", "webserviceuser@yourdomain.org", "first-password")
	for range 3 {
		if _, err := e.users.Authenticate(ctx, cmextest.ProviderA, "webserviceuser@yourdomain.org", "first-password"); err != nil {
			t.Fatalf("first password: %v", err)
		}
	}
	if err := e.users.SetWebServiceUserPassword(ctx, p.Organization.ID, "webserviceuser@yourdomain.org", "second-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.users.Authenticate(ctx, cmextest.ProviderA, "webserviceuser@yourdomain.org", "first-password"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("the old password after a change: %v", err)
	}
	if _, err := e.users.Authenticate(ctx, cmextest.ProviderA, "webserviceuser@yourdomain.org", "second-password"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if _, err := e.users.Authenticate(ctx, cmextest.ProviderA, "webserviceuser@yourdomain.org", "Second-password"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("a wrong password: %v", err)
	}
}
