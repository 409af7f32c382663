package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func init() {
	extra = append(extra,
		named{"Persons", testPersons},
		named{"LearnerRecords", testLearnerRecords},
		named{"LearnerRecordsAreImmutable", testLearnerImmutability},
		named{"ActivityRulesWithLearners", testActivityRulesWithLearners},
		named{"ConcurrentLearnerReports", testConcurrentLearnerReports},
	)
}

func testPersons(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	persons := sqlstore.NewPersonService(e.db)

	res, err := persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane(), cmextest.Helen()})
	if err != nil || res != (cmex.ImportResult{Created: 2}) {
		t.Fatalf("first import: %+v, %v", res, err)
	}
	res, err = persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane(), cmextest.Helen()})
	if err != nil || res != (cmex.ImportResult{Unchanged: 2}) {
		t.Fatalf("same import again: %+v, %v", res, err)
	}
	jane := cmextest.Jane()
	jane.Licenses = append(jane.Licenses, cmex.License{State: "NH", Number: "NH-4242"})
	jane.BoardIDs = nil // known by licence alone; the board id is kept
	res, err = persons.ImportPersons(ctx, []*cmex.Person{jane})
	if err != nil || res != (cmex.ImportResult{Updated: 1}) {
		t.Fatalf("import adding a licence: %+v, %v", res, err)
	}
	found, err := persons.FindPersons(ctx, cmex.PersonFilter{Name: "accme"})
	if err != nil || len(found) != 1 || len(found[0].Licenses) != 2 || len(found[0].BoardIDs) != 1 {
		t.Fatalf("Jane after the merge: %+v, %v", found, err)
	}

	// Someone else with Helen's NPI: the whole import is refused.
	thief := &cmex.Person{GivenName: "Ima", FamilyName: "Other", BirthDate: cmex.MustParseDate("1980-01-01"), NPI: "1234567890"}
	fresh := &cmex.Person{GivenName: "New", FamilyName: "Person", BirthDate: cmex.MustParseDate("1981-01-01"), NPI: "2234567890"}
	_, err = persons.ImportPersons(ctx, []*cmex.Person{fresh, thief})
	if cmex.ErrorCode(err) != cmex.EINVALID || len(cmex.ErrorProblems(err)) != 1 || !strings.Contains(cmex.ErrorProblems(err)[0].Message, "NPI 1234567890 belongs to Helen Markman") {
		t.Fatalf("conflicting NPI: %v %v", err, cmex.ErrorProblems(err))
	}
	if n := count(t, e.db, "persons"); n != 2 {
		t.Errorf("%d persons after a refused import, want 2", n)
	}

	for name, tc := range map[string]struct {
		q    cmex.MatchQuery
		want int
	}{
		"seed's Helen request": {cmex.MatchQuery{GivenName: "Helen", FamilyName: "Markman", BirthMonth: 9, BirthDay: 26,
			BoardIDs: []cmex.BoardID{{Board: "ABIM", ID: "999898"}}, LicenseNumber: "44861", MedicalSchool: "Harvard Medical School", NPI: "1234567890", LicenseState: "OH"}, 1},
		"name and NPI":                   {cmex.MatchQuery{GivenName: "helen", FamilyName: "MARKMAN", NPI: "1234567890"}, 1},
		"name and birthday only":         {cmex.MatchQuery{GivenName: "Jane", FamilyName: "ACCME", BirthMonth: 10, BirthDay: 30}, 1},
		"board without id":               {cmex.MatchQuery{GivenName: "Jane", FamilyName: "ACCME", BoardIDs: []cmex.BoardID{{Board: "abim"}}, BirthMonth: 10}, 1},
		"wrong birthday":                 {cmex.MatchQuery{GivenName: "Helen", FamilyName: "Markman", NPI: "1234567890", BirthDay: 27}, 0},
		"another's licence":              {cmex.MatchQuery{GivenName: "Helen", FamilyName: "Markman", LicenseState: "ME", LicenseNumber: "MD999902"}, 0},
		"licence in the wrong state":     {cmex.MatchQuery{GivenName: "Helen", FamilyName: "Markman", LicenseState: "IN", LicenseNumber: "44861"}, 0},
		"licence number without state":   {cmex.MatchQuery{GivenName: "Helen", FamilyName: "Markman", LicenseNumber: "44861"}, 1},
		"nobody":                         {cmex.MatchQuery{GivenName: "No", FamilyName: "Body", NPI: "9999999999"}, 0},
		"medical school of someone else": {cmex.MatchQuery{GivenName: "Helen", FamilyName: "Markman", NPI: "1234567890", MedicalSchool: "Yale"}, 0},
	} {
		got, err := persons.MatchPersons(ctx, tc.q)
		if err != nil || len(got) != tc.want {
			t.Errorf("%s: %d matches, %v; want %d", name, len(got), err, tc.want)
		}
	}
	p, err := persons.Person(ctx, found[0].ID)
	if err != nil || p.GivenName != "Jane" || p.ID != found[0].ID {
		t.Errorf("Person(%d) = %+v, %v", found[0].ID, p, err)
	}
	if _, err := persons.Person(ctx, 99999); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("unknown person: %v", err)
	}
}

// learnerEnv is a provider with an ABIM-registered activity and the
// registry holding Jane and Helen.
type learnerEnv struct {
	*env
	p        cmex.Principal
	activity *cmex.Activity
	learners *sqlstore.LearnerService
}

func newLearnerEnv(t *testing.T, open Opener, mode cmex.MatchingMode) *learnerEnv {
	e := newEnv(t, open)
	p := e.MustProvider(t, cmextest.ProviderA, "AAA Test Organization", "webserviceuser@yourdomain.org", "pw")
	a := mustSave(t, e, p, "Add", cmextest.Activity("moc-1", 2025))
	if _, err := sqlstore.NewPersonService(e.db).ImportPersons(context.Background(), []*cmex.Person{cmextest.Jane(), cmextest.Helen()}); err != nil {
		t.Fatal(err)
	}
	return &learnerEnv{env: e, p: p, activity: a, learners: sqlstore.NewLearnerService(e.db, mode)}
}

func (le *learnerEnv) report(t *testing.T, rep *cmex.LearnerReport) ([]*cmex.LearnerRecord, error) {
	t.Helper()
	recs, _, err := le.learners.SaveLearnerReport(context.Background(), cmex.LearnerChange{Report: rep, By: le.p, Source: "test"})
	return recs, err
}

func testLearnerRecords(t *testing.T, open Opener) {
	le := newLearnerEnv(t, open, cmex.MatchRegistry)
	ctx := context.Background()
	rep := cmextest.JaneReport(le.activity.ID, "2025-06-01", "v1")
	recs, err := le.report(t, rep)
	if err != nil {
		t.Fatalf("Jane's report: %v %v", err, cmex.ErrorProblems(err))
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3 (AMA, ABIM MK, ABIM PS)", len(recs))
	}
	var moc *cmex.LearnerRecord
	for _, r := range recs {
		if r.Status != cmex.StatusAccepted || r.PersonID == 0 || r.ID == 0 || !r.SubmittedAt.Equal(Today) {
			t.Errorf("record %+v", r)
		}
		if r.Board == "ABIM" && r.CreditType == "Medical Knowledge" {
			moc = r
		}
	}
	if moc == nil || moc.Points != 150 {
		t.Fatalf("no ABIM MK record of 1.5 points: %+v", recs)
	}

	// The same CreditIDs again.
	_, err = le.report(t, cmextest.JaneReport(le.activity.ID, "2025-06-02", "v1"))
	wantRejected(t, err, "603")

	// Boards work on MOC records only.
	le.clock.Advance(time.Minute)
	awaiting, err := le.learners.RecordsAwaiting(ctx, cmex.StatusAccepted, le.clock.Now(), 0)
	if err != nil || len(awaiting) != 2 {
		t.Fatalf("awaiting: %d, %v; want the 2 MOC records", len(awaiting), err)
	}
	moved, err := le.learners.MoveLearnerRecord(ctx, moc.ID, cmex.StatusAccepted, cmex.StatusChange{Status: cmex.StatusSubmitted, Source: "board:ABIM"})
	if err != nil || !moved {
		t.Fatalf("move to Submitted: %v %v", moved, err)
	}
	moved, err = le.learners.MoveLearnerRecord(ctx, moc.ID, cmex.StatusAccepted, cmex.StatusChange{Status: cmex.StatusSubmitted, Source: "board:ABIM"})
	if err != nil || moved {
		t.Fatalf("a second move from Accepted: %v %v", moved, err)
	}
	le.clock.Advance(time.Minute)
	if _, err := le.learners.MoveLearnerRecord(ctx, moc.ID, cmex.StatusSubmitted, cmex.StatusChange{Status: cmex.StatusRejected, Source: "board:ABIM", Code: "661", Reason: "Diplomate ID not found in Board records."}); err != nil {
		t.Fatal(err)
	}
	hist, err := le.learners.LearnerRecordHistory(ctx, cmextest.ProviderA, moc.ID)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, h := range hist {
		trail = append(trail, fmt.Sprintf("%s %s %s %s", h.Status, h.Source, h.Code, h.At.Format("15:04")))
	}
	if got, want := strings.Join(trail, ", "), "Accepted test:webserviceuser@yourdomain.org  14:00, Submitted board:ABIM  14:01, Rejected board:ABIM 661 14:02"; got != want {
		t.Errorf("history: %s\nwant:     %s", got, want)
	}

	// Finding: by credit id, and by learner as GetLearnerStatusByLearner asks.
	got, err := le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderA, CreditID: moc.CreditID})
	if err != nil || len(got) != 1 || got[0].Status != cmex.StatusRejected || got[0].StatusCode != "661" || got[0].Learner.GivenName != "Jane" {
		t.Fatalf("by credit id: %+v, %v", got, err)
	}
	got, err = le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderA, ActivityID: le.activity.ID,
		CompletionDate: cmex.MustParseDate("2025-06-01"), UniqueID: "999902", BirthMonth: 10, BirthDay: 30})
	if err != nil || len(got) != 3 {
		t.Fatalf("by learner: %d records, %v", len(got), err)
	}
	// A date range, newest first.
	got, err = le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderA,
		From: cmex.MustParseDate("2025-06-01"), To: cmex.MustParseDate("2025-06-01"), Newest: true})
	if err != nil || len(got) != 3 || got[0].ID < got[1].ID || got[1].ID < got[2].ID {
		t.Fatalf("by dates, newest first: %+v, %v", got, err)
	}
	if got, _ := le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderA, From: cmex.MustParseDate("2025-06-02")}); len(got) != 0 {
		t.Errorf("after the completions: %d records", len(got))
	}
	for _, f := range []cmex.LearnerRecordFilter{
		{ActivityID: le.activity.ID, CompletionDate: cmex.MustParseDate("2025-06-01"), UniqueID: "999902", BirthMonth: 10, BirthDay: 31},
		{ActivityID: le.activity.ID, CompletionDate: cmex.MustParseDate("2025-06-02"), UniqueID: "999902", BirthMonth: 10, BirthDay: 30},
		{ActivityID: le.activity.ID, CompletionDate: cmex.MustParseDate("2025-06-01"), UniqueID: "999898", BirthMonth: 10, BirthDay: 30},
	} {
		f.ProviderID = cmextest.ProviderA
		if got, _ := le.learners.FindLearnerRecords(ctx, f); len(got) != 0 {
			t.Errorf("filter %+v found %d records", f, len(got))
		}
	}

	// Delete by CreditID, then add again: the history keeps both.
	del := &cmex.LearnerReport{Action: "delete", Credits: []cmex.CreditCertificate{{CreditID: recs[0].CreditID}}}
	deleted, err := le.report(t, del)
	if err != nil || len(deleted) != 1 || !deleted[0].Deleted {
		t.Fatalf("delete: %+v, %v %v", deleted, err, cmex.ErrorProblems(err))
	}
	if got, _ := le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderA, CreditID: recs[0].CreditID}); len(got) != 0 {
		t.Errorf("deleted record still found")
	}
	_, err = le.report(t, del)
	wantRejected(t, err, "605")
	again := cmextest.JaneReport(le.activity.ID, "2025-06-01", "v1")
	again.Credits = again.Credits[:1] // the AMA credit, with its old CreditID
	readded, err := le.report(t, again)
	if err != nil || len(readded) != 1 || readded[0].ID == recs[0].ID {
		t.Fatalf("re-add: %+v, %v %v", readded, err, cmex.ErrorProblems(err))
	}
	if n := count(t, le.db, "learner_records"); n != 4 {
		t.Errorf("%d learner records kept, want 4 (3, one of them deleted, and the new one)", n)
	}
	hist, _ = le.learners.LearnerRecordHistory(ctx, cmextest.ProviderA, recs[0].ID)
	if len(hist) != 2 || hist[1].Status != cmex.StatusDeleted {
		t.Errorf("history of the deleted record: %+v", hist)
	}

	// Another provider sees none of it and cannot report on the activity.
	b := le.MustProvider(t, cmextest.ProviderB, "B", "b", "pw")
	if got, _ := le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderB, CreditID: moc.CreditID}); len(got) != 0 {
		t.Errorf("provider B finds A's record")
	}
	if _, err := le.learners.LearnerRecordHistory(ctx, cmextest.ProviderB, moc.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("provider B reads A's record history: %v", err)
	}
	_, _, err = le.learners.SaveLearnerReport(ctx, cmex.LearnerChange{Report: cmextest.JaneReport(le.activity.ID, "2025-06-03", "b1"), By: b})
	wantRejected(t, err, "690")
}

func testLearnerImmutability(t *testing.T, open Opener) {
	le := newLearnerEnv(t, open, cmex.MatchRegistry)
	if _, err := le.report(t, cmextest.JaneReport(le.activity.ID, "2025-06-01", "v1")); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"UPDATE learner_records SET document = '{}'",
		"UPDATE learner_records SET credit_id = 'ccid:x:y'",
		"UPDATE learner_records SET completion_date = '2025-01-01'",
		"DELETE FROM learner_records",
		"UPDATE learner_record_events SET source = 'mallory'",
		"DELETE FROM learner_record_events",
	} {
		if _, err := le.db.SQL().Exec(stmt); err == nil {
			t.Errorf("%s succeeded", stmt)
		}
	}
	// Status moves are allowed: they are how records progress.
	if _, err := le.db.SQL().Exec("UPDATE learner_records SET status = 'Submitted' WHERE board <> ''"); err != nil {
		t.Errorf("a status move was refused: %v", err)
	}
}

func testActivityRulesWithLearners(t *testing.T, open Opener) {
	le := newLearnerEnv(t, open, cmex.MatchRegistry)
	if _, err := le.report(t, cmextest.JaneReport(le.activity.ID, "2025-06-01", "v1")); err != nil {
		t.Fatal(err)
	}
	_, err := save(t, le.env, le.p, "Delete", &cmex.Activity{ID: le.activity.ID}, false)
	wantRejected(t, err, "106")

	noABIM := cmextest.Activity("moc-1", 2025)
	noABIM.MOCRegistrations = nil
	_, err = save(t, le.env, le.p, "Update", noABIM, false)
	wantRejected(t, err, "320")

	otherType := cmextest.Activity("moc-1", 2025)
	otherType.Type = "Enduring Material"
	_, err = save(t, le.env, le.p, "Update", otherType, false)
	wantRejected(t, err, "486")
}

// testConcurrentLearnerReports sends the same report from many goroutines:
// one is accepted, the others are duplicates (603).
func testConcurrentLearnerReports(t *testing.T, open Opener) {
	le := newLearnerEnv(t, open, cmex.MatchRegistry)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = le.report(t, cmextest.JaneReport(le.activity.ID, "2025-06-01", "same")) })
	}
	wg.Wait()
	accepted := 0
	for _, err := range errs {
		switch {
		case err == nil:
			accepted++
		case !cmex.ErrorProblems(err).Has("603") && !cmex.ErrorProblems(err).Has("717") && !cmex.ErrorProblems(err).Has("751"):
			t.Errorf("unexpected error: %v %v", err, cmex.ErrorProblems(err))
		}
	}
	if accepted != 1 {
		t.Errorf("%d of %d identical reports accepted, want 1", accepted, n)
	}
	if got := count(t, le.db, "learner_records"); got != 3 {
		t.Errorf("%d records, want 3", got)
	}
}

func init() { extra = append(extra, named{"APIKeys", testAPIKeys}) }

func testAPIKeys(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	p := e.MustProvider(t, cmextest.ProviderA, "A", "a", "pw")
	keys := sqlstore.NewAPIKeyService(e.db)
	k, token, err := keys.CreateAPIKey(ctx, p.Organization.ID, "lms")
	if err != nil || !strings.HasPrefix(token, "cmex_"+k.Prefix+"_") || len(token) != 5+8+1+64 {
		t.Fatalf("create: %+v %q %v", k, token, err)
	}
	if _, _, err := keys.CreateAPIKey(ctx, p.Organization.ID, "lms"); cmex.ErrorCode(err) != cmex.ECONFLICT {
		t.Errorf("same name again: %v", err)
	}
	got, err := keys.AuthenticateAPIKey(ctx, token)
	if err != nil || got.Organization.ProviderID != cmextest.ProviderA || got.User.Username != "apikey:lms" {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	var stored string
	if err := e.db.SQL().QueryRow("SELECT hash FROM api_keys").Scan(&stored); err != nil || strings.Contains(token, stored) || len(stored) != 64 {
		t.Errorf("the token is stored as %q", stored)
	}
	last := "0"
	if strings.HasSuffix(token, "0") {
		last = "1"
	}
	for _, bad := range []string{"", "cmex_", token[:len(token)-1] + last, strings.Replace(token, k.Prefix, "00000000", 1), "Bearer " + token} {
		if _, err := keys.AuthenticateAPIKey(ctx, bad); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	list, err := keys.ListAPIKeys(ctx, p.Organization.ID)
	if err != nil || len(list) != 1 || list[0].Name != "lms" {
		t.Errorf("list: %v %v", list, err)
	}
	if err := keys.RevokeAPIKey(ctx, p.Organization.ID, "lms"); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.AuthenticateAPIKey(ctx, token); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("a revoked key still works: %v", err)
	}
	if err := keys.RevokeAPIKey(ctx, p.Organization.ID, "lms"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("revoking twice: %v", err)
	}
}
