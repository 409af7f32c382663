// Package storetest is the storage contract: one suite of tests that every
// engine must pass, run by the sqlite and postgres packages against their
// own databases. Only test files import it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// Opener returns a new, empty, migrated database for one test.
type Opener func(tb testing.TB) *sqlstore.DB

// env is one test's database, services and clock.
type env struct {
	db    *sqlstore.DB
	clock *cmextest.Clock
	orgs  cmex.OrganizationService
	users cmex.UserService
	acts  cmex.ActivityService
}

// Today is the date the suite's clock starts at.
var Today = time.Date(2025, time.June, 15, 14, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, open Opener) *env {
	t.Helper()
	db := open(t)
	clock := cmextest.NewClock(Today)
	db.Now = clock.Now
	// Cheap hashing: the contract is about behaviour, not cost.
	db.Hasher = &sqlstore.PasswordHasher{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	return &env{
		db: db, clock: clock,
		orgs:  sqlstore.NewOrganizationService(db),
		users: sqlstore.NewUserService(db),
		acts:  sqlstore.NewActivityService(db),
	}
}

// Run runs the whole contract against the engine open returns.
func Run(t *testing.T, open Opener) {
	t.Run("Migrate", func(t *testing.T) { testMigrate(t, open) })
	t.Run("Organizations", func(t *testing.T) { testOrganizations(t, open) })
	t.Run("Users", func(t *testing.T) { testUsers(t, open) })
	t.Run("Activities", func(t *testing.T) { testActivities(t, open) })
	t.Run("ActivityRejections", func(t *testing.T) { testActivityRejections(t, open) })
	t.Run("ActivityTenancy", func(t *testing.T) { testActivityTenancy(t, open) })
	t.Run("ActivityHistoryIsAppendOnly", func(t *testing.T) { testAppendOnly(t, open) })
	t.Run("ConcurrentAdds", func(t *testing.T) { testConcurrentAdds(t, open) })
	for _, x := range extra {
		t.Run(x.name, func(t *testing.T) { x.test(t, open) })
	}
}

// named is a contract test registered by another file of the suite.
type named struct {
	name string
	test func(*testing.T, Opener)
}

var extra []named

// MustProvider creates a provider with one web-service user and returns the
// principal the user authenticates as.
func (e *env) MustProvider(tb testing.TB, id cmex.ProviderID, name, username, password string) cmex.Principal {
	tb.Helper()
	ctx := context.Background()
	o := &cmex.Organization{Kind: cmex.OrgProvider, ProviderID: id, Name: name}
	if err := e.orgs.CreateOrganization(ctx, o); err != nil {
		tb.Fatalf("create provider %s: %v", id, err)
	}
	u := &cmex.WebServiceUser{OrganizationID: o.ID, Username: username}
	if err := e.users.CreateWebServiceUser(ctx, u, password); err != nil {
		tb.Fatalf("create user %s: %v", username, err)
	}
	p, err := e.users.Authenticate(ctx, id, username, password)
	if err != nil {
		tb.Fatalf("authenticate %s: %v", username, err)
	}
	return *p
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := cmex.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func count(tb testing.TB, db *sqlstore.DB, table string) int {
	tb.Helper()
	var n int
	if err := db.SQL().QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func testMigrate(t *testing.T, open Opener) {
	e := newEnv(t, open)
	// Opening an already migrated database applies nothing twice.
	var n int
	if err := e.db.SQL().QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("schema_migrations is empty after Open")
	}
	for _, table := range []string{"organizations", "web_service_users", "activities", "activity_revisions", "counters"} {
		count(t, e.db, table)
	}
}

func testOrganizations(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()

	o := &cmex.Organization{ProviderID: "0001234567", Name: "  AAA Test Organization "}
	if err := e.orgs.CreateOrganization(ctx, o); err != nil {
		t.Fatal(err)
	}
	if o.ID == 0 || o.ProviderID != "1234567" || o.Name != "AAA Test Organization" || o.Kind != cmex.OrgProvider {
		t.Fatalf("created %+v", o)
	}
	if !o.CreatedAt.Equal(Today) {
		t.Errorf("CreatedAt = %v, want %v", o.CreatedAt, Today)
	}

	got, err := e.orgs.FindOrganizationByProviderID(ctx, "1234567")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != o.ID || got.Name != o.Name || !got.CreatedAt.Equal(o.CreatedAt) {
		t.Errorf("found %+v, want %+v", got, o)
	}

	err = e.orgs.CreateOrganization(ctx, &cmex.Organization{ProviderID: "1234567", Name: "Again"})
	wantCode(t, err, cmex.ECONFLICT)
	for _, bad := range []*cmex.Organization{
		{ProviderID: "12a4567", Name: "Letters"},
		{ProviderID: "", Name: "No id"},
		{ProviderID: "7654321", Name: ""},
	} {
		wantCode(t, e.orgs.CreateOrganization(ctx, bad), cmex.EINVALID)
	}

	_, err = e.orgs.FindOrganizationByProviderID(ctx, "999")
	wantCode(t, err, cmex.ENOTFOUND)

	if err := e.orgs.CreateOrganization(ctx, &cmex.Organization{ProviderID: "7654321", Name: "Other"}); err != nil {
		t.Fatal(err)
	}
	list, err := e.orgs.ListOrganizations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ProviderID != "1234567" || list[1].ProviderID != "7654321" {
		t.Errorf("list = %v", list)
	}
}

func testUsers(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	const secret = "correct horse battery staple"
	p := e.MustProvider(t, "1234567", "AAA Test Organization", "webserviceuser@yourdomain.org", secret)
	if p.Organization.ProviderID != "1234567" || p.User.Username != "webserviceuser@yourdomain.org" {
		t.Fatalf("principal = %+v", p)
	}
	other := e.MustProvider(t, "7654321", "Other", "otheruser@example.org", "another secret")

	// Usernames compare without regard to case.
	p2, err := e.users.Authenticate(ctx, "1234567", "WebServiceUser@YourDomain.org", secret)
	if err != nil || p2.User.ID != p.User.ID {
		t.Fatalf("case-insensitive login: %v, %+v", err, p2)
	}
	err = e.users.CreateWebServiceUser(ctx, &cmex.WebServiceUser{OrganizationID: p.Organization.ID, Username: "WEBSERVICEUSER@yourdomain.org"}, "x")
	wantCode(t, err, cmex.ECONFLICT)

	for name, try := range map[string][3]string{
		"wrong password":           {"1234567", "webserviceuser@yourdomain.org", "wrong"},
		"unknown user":             {"1234567", "nobody@yourdomain.org", secret},
		"unknown provider":         {"1111111", "webserviceuser@yourdomain.org", secret},
		"another provider's user":  {"7654321", "webserviceuser@yourdomain.org", secret},
		"empty password":           {"1234567", "webserviceuser@yourdomain.org", ""},
		"password of another user": {"1234567", "webserviceuser@yourdomain.org", "another secret"},
	} {
		_, err := e.users.Authenticate(ctx, cmex.ProviderID(try[0]), try[1], try[2])
		if cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
			t.Errorf("%s: error = %v, want unauthorized", name, err)
		}
	}

	// Passwords are stored as argon2id hashes, never as given.
	rows, err := e.db.SQL().Query("SELECT password_hash FROM web_service_users")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h, "$argon2id$") || strings.Contains(h, secret) || strings.Contains(h, "another secret") {
			t.Errorf("stored password_hash %q is not an argon2id hash", h)
		}
	}
	rows.Close()

	if err := e.users.SetWebServiceUserPassword(ctx, p.Organization.ID, "webserviceuser@yourdomain.org", "new secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.users.Authenticate(ctx, "1234567", "webserviceuser@yourdomain.org", secret); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("old password still works: %v", err)
	}
	if _, err := e.users.Authenticate(ctx, "1234567", "webserviceuser@yourdomain.org", "new secret"); err != nil {
		t.Errorf("new password: %v", err)
	}
	wantCode(t, e.users.SetWebServiceUserPassword(ctx, other.Organization.ID, "webserviceuser@yourdomain.org", "x"), cmex.ENOTFOUND)
	wantCode(t, e.users.SetWebServiceUserPassword(ctx, p.Organization.ID, "webserviceuser@yourdomain.org", ""), cmex.EINVALID)

	users, err := e.users.ListWebServiceUsers(ctx, p.Organization.ID)
	if err != nil || len(users) != 1 || users[0].Username != "webserviceuser@yourdomain.org" || users[0].OrganizationID != p.Organization.ID {
		t.Errorf("list users = %v, %v", users, err)
	}

	// Without a provider id (PARS's learner match), the username and the
	// password find the user, whichever organization it belongs to; the
	// same name in another organization is told apart by its password.
	if err := e.users.CreateWebServiceUser(ctx, &cmex.WebServiceUser{OrganizationID: other.Organization.ID, Username: "webserviceuser@yourdomain.org"}, "other's secret"); err != nil {
		t.Fatal(err)
	}
	for password, want := range map[string]cmex.ProviderID{"new secret": "1234567", "other's secret": "7654321"} {
		got, err := e.users.Authenticate(ctx, "", "webserviceuser@yourdomain.org", password)
		if err != nil || got.Organization.ProviderID != want {
			t.Errorf("provider-less login with %q: %+v, %v; want provider %s", password, got, err, want)
		}
	}
	if _, err := e.users.Authenticate(ctx, "", "webserviceuser@yourdomain.org", "neither"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("provider-less login with a wrong password: %v", err)
	}

}

func save(tb testing.TB, e *env, by cmex.Principal, action string, a *cmex.Activity, close bool) (*cmex.Activity, error) {
	tb.Helper()
	saved, _, err := e.acts.SaveActivity(context.Background(), cmex.ActivityChange{Action: action, Activity: a, Close: close, By: by})
	return saved, err
}

func mustSave(tb testing.TB, e *env, by cmex.Principal, action string, a *cmex.Activity) *cmex.Activity {
	tb.Helper()
	saved, err := save(tb, e, by, action, a, false)
	if err != nil {
		tb.Fatalf("%s %s: %v (problems %v)", action, a.ProviderActivityID, err, cmex.ErrorProblems(err))
	}
	return saved
}

func wantRejected(tb testing.TB, err error, codes ...cmex.RuleCode) {
	tb.Helper()
	ps := cmex.ErrorProblems(err)
	if cmex.ErrorCode(err) != cmex.EINVALID {
		tb.Fatalf("error = %v, want a rejection with %v", err, codes)
	}
	for _, c := range codes {
		if !ps.Has(c) {
			tb.Errorf("problems %v lack %s", ps, c)
		}
	}
}

func testActivities(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	p := e.MustProvider(t, cmextest.ProviderA, "AAA Test Organization", "webserviceuser@yourdomain.org", "pw")

	added := mustSave(t, e, p, "Add", cmextest.Activity("addactivityexample", 2025))
	if added.ID < cmex.MinActivityID || added.ID > cmex.MaxActivityID {
		t.Fatalf("assigned ID %d is not nine digits", added.ID)
	}
	if added.Revision != 1 || added.ProviderID != cmextest.ProviderA || added.Closed || added.Deleted {
		t.Errorf("added = %+v", added)
	}
	second := mustSave(t, e, p, "add", cmextest.Activity("second", 2025))
	if second.ID <= added.ID {
		t.Errorf("second ID %d not after first %d", second.ID, added.ID)
	}

	// Every search criterion finds the activity, and the stored record
	// round-trips whole.
	for name, f := range map[string]cmex.ActivityFilter{
		"ID":                 {ID: added.ID},
		"ProviderActivityID": {ProviderActivityID: "addactivityexample"},
		"StartDate":          {StartDate: cmex.MustParseDate("2025-01-30"), ProviderActivityID: "addactivityexample"},
		"Type (any case)":    {Type: "manuscript review", ProviderActivityID: "addactivityexample"},
	} {
		f.ProviderID = cmextest.ProviderA
		got, err := e.acts.FindActivities(ctx, f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != 1 || got[0].ID != added.ID {
			t.Fatalf("%s: found %d activities", name, len(got))
		}
		if got[0].Title != added.Title || len(got[0].MOCRegistrations) != 1 || *got[0].MOCRegistrations[0].Points != 200 ||
			got[0].StartDate != added.StartDate || !got[0].CreatedAt.Equal(Today) {
			t.Errorf("%s: round trip lost data: %+v", name, got[0])
		}
	}
	all, err := e.acts.FindActivities(ctx, cmex.ActivityFilter{ProviderID: cmextest.ProviderA, StartDate: cmex.MustParseDate("2025-01-30")})
	if err != nil || len(all) != 2 {
		t.Fatalf("by start date: %d activities, %v", len(all), err)
	}
	none, err := e.acts.FindActivities(ctx, cmex.ActivityFilter{ProviderID: cmextest.ProviderA, Type: "Live Course"})
	if err != nil || len(none) != 0 {
		t.Fatalf("by other type: %d activities, %v", len(none), err)
	}

	// Update by ACCME Activity ID, then by Provider Activity ID.
	e.clock.Advance(time.Hour)
	upd := cmextest.Activity("addactivityexample", 2025)
	upd.ID = added.ID
	upd.Title = "Internal Medicine Manuscript, revised"
	updated := mustSave(t, e, p, "Update", upd)
	if updated.ID != added.ID || updated.Revision != 2 || !updated.CreatedAt.Equal(Today) || !updated.UpdatedAt.Equal(Today.Add(time.Hour)) {
		t.Errorf("updated = %+v", updated)
	}
	upd2 := cmextest.Activity("addactivityexample", 2025)
	upd2.Title = "Third title"
	if got := mustSave(t, e, p, "Update", upd2); got.ID != added.ID || got.Revision != 3 {
		t.Errorf("update by provider activity id = %+v", got)
	}

	// The history keeps every version.
	hist, err := e.acts.ActivityHistory(ctx, cmextest.ProviderA, added.ID)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, r := range hist {
		titles = append(titles, fmt.Sprintf("%d %s %s %s", r.Revision, r.Action, r.RecordedBy, r.Activity.Title))
	}
	want := []string{
		"1 Add webserviceuser@yourdomain.org Internal Medicine Manuscript",
		"2 Update webserviceuser@yourdomain.org Internal Medicine Manuscript, revised",
		"3 Update webserviceuser@yourdomain.org Third title",
	}
	if strings.Join(titles, "\n") != strings.Join(want, "\n") {
		t.Errorf("history:\n%s\nwant:\n%s", strings.Join(titles, "\n"), strings.Join(want, "\n"))
	}

	// Delete hides the activity but keeps its history; the Provider
	// Activity ID may then be used again, under a new ACCME Activity ID.
	del := &cmex.Activity{ID: added.ID}
	deleted := mustSave(t, e, p, "Delete", del)
	if !deleted.Deleted || deleted.Revision != 4 || deleted.Title != "Third title" {
		t.Errorf("deleted = %+v", deleted)
	}
	if got, _ := e.acts.FindActivities(ctx, cmex.ActivityFilter{ProviderID: cmextest.ProviderA, ID: added.ID}); len(got) != 0 {
		t.Errorf("deleted activity still found")
	}
	hist, err = e.acts.ActivityHistory(ctx, cmextest.ProviderA, added.ID)
	if err != nil || len(hist) != 4 || hist[3].Action != "Delete" || !hist[3].Activity.Deleted {
		t.Fatalf("history after delete: %d revisions, %v", len(hist), err)
	}
	again := mustSave(t, e, p, "Add", cmextest.Activity("addactivityexample", 2025))
	if again.ID == added.ID {
		t.Errorf("re-added activity reused ID %d", again.ID)
	}
	_, err = save(t, e, p, "Update", &cmex.Activity{ID: added.ID, ProviderActivityID: "x"}, false)
	wantRejected(t, err, "104")

	// Closing: an activity whose end date has passed closes, and then
	// refuses updates.
	closing := cmextest.Activity("to-close", 2024)
	closed, err := save(t, e, p, "Add", closing, true)
	if err != nil {
		t.Fatalf("add closed: %v %v", err, cmex.ErrorProblems(err))
	}
	if !closed.Closed {
		t.Fatal("activity not closed")
	}
	_, err = save(t, e, p, "Update", cmextest.Activity("to-close", 2024), false)
	wantRejected(t, err, "473")
	_, err = save(t, e, p, "Delete", &cmex.Activity{ProviderActivityID: "to-close"}, false)
	wantRejected(t, err, "492")
	// An activity still running cannot be closed.
	_, err = save(t, e, p, "Add", cmextest.Activity("running", 2025), true)
	wantRejected(t, err, "483")
}

func testActivityRejections(t *testing.T, open Opener) {
	e := newEnv(t, open)
	p := e.MustProvider(t, cmextest.ProviderA, "AAA Test Organization", "u", "pw")
	first := mustSave(t, e, p, "Add", cmextest.Activity("dup", 2025))
	activities, revisions := count(t, e.db, "activities"), count(t, e.db, "activity_revisions")

	bad := cmextest.Activity("", 2025)
	bad.Title = ""
	bad.Type = "Webinar"
	bad.EndDate = cmex.MustParseDate("2024-01-01")
	bad.MOCRegistrations[0].Points = cmextest.Ptr(cmex.Points(130))

	withID := cmextest.Activity("new-with-id", 2025)
	withID.ID = first.ID
	yearChange := cmextest.Activity("dup", 2024)
	yearChange.ID = first.ID

	for name, tc := range map[string]struct {
		action string
		a      *cmex.Activity
		codes  []cmex.RuleCode
	}{
		"duplicate add":          {"Add", cmextest.Activity("dup", 2025), []cmex.RuleCode{"476"}},
		"add with existing id":   {"Add", withID, []cmex.RuleCode{"103"}},
		"many problems together": {"Add", bad, []cmex.RuleCode{"216", "203", "459", "469", "319"}},
		"missing action":         {"", cmextest.Activity("x", 2025), []cmex.RuleCode{"101"}},
		"unknown action":         {"Replace", cmextest.Activity("x", 2025), []cmex.RuleCode{"102"}},
		"update unknown":         {"Update", cmextest.Activity("nope", 2025), []cmex.RuleCode{"104"}},
		"delete unknown":         {"Delete", &cmex.Activity{ID: 399999999}, []cmex.RuleCode{"105"}},
		"delete without id":      {"Delete", &cmex.Activity{}, []cmex.RuleCode{"202"}},
		"reporting year changes": {"Update", yearChange, []cmex.RuleCode{"464"}},
	} {
		_, err := save(t, e, p, tc.action, tc.a, false)
		wantRejected(t, err, tc.codes...)
		if n := count(t, e.db, "activities"); n != activities {
			t.Errorf("%s: activities %d → %d: a rejected change stored something", name, activities, n)
		}
		if n := count(t, e.db, "activity_revisions"); n != revisions {
			t.Errorf("%s: revisions %d → %d: a rejected change stored something", name, revisions, n)
		}
	}
}

func testActivityTenancy(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	a := e.MustProvider(t, cmextest.ProviderA, "A", "a", "pw")
	b := e.MustProvider(t, cmextest.ProviderB, "B", "b", "pw")
	mine := mustSave(t, e, a, "Add", cmextest.Activity("shared-name", 2025))

	// B may use the same Provider Activity ID: ids are per provider.
	theirs := mustSave(t, e, b, "Add", cmextest.Activity("shared-name", 2025))
	if theirs.ID == mine.ID {
		t.Fatal("two providers share an ACCME Activity ID")
	}
	got, err := e.acts.FindActivities(ctx, cmex.ActivityFilter{ProviderID: cmextest.ProviderB, ID: mine.ID})
	if err != nil || len(got) != 0 {
		t.Errorf("B sees A's activity: %v %v", got, err)
	}
	if _, err := e.acts.ActivityHistory(ctx, cmextest.ProviderB, mine.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("B reads A's history: %v", err)
	}
	upd := cmextest.Activity("shared-name", 2025)
	upd.ID = mine.ID
	_, err = save(t, e, b, "Update", upd, false)
	wantRejected(t, err, "104")
	_, err = save(t, e, b, "Delete", &cmex.Activity{ID: mine.ID}, false)
	wantRejected(t, err, "105")
	if hist, _ := e.acts.ActivityHistory(ctx, cmextest.ProviderA, mine.ID); len(hist) != 1 {
		t.Errorf("A's activity changed by B: %d revisions", len(hist))
	}
}

func testAppendOnly(t *testing.T, open Opener) {
	e := newEnv(t, open)
	p := e.MustProvider(t, cmextest.ProviderA, "A", "a", "pw")
	a := mustSave(t, e, p, "Add", cmextest.Activity("kept", 2025))
	if _, err := e.db.SQL().Exec("UPDATE activity_revisions SET recorded_by = 'mallory'"); err == nil {
		t.Error("UPDATE of activity_revisions succeeded")
	}
	if _, err := e.db.SQL().Exec("DELETE FROM activity_revisions"); err == nil {
		t.Error("DELETE from activity_revisions succeeded")
	}
	hist, err := e.acts.ActivityHistory(context.Background(), cmextest.ProviderA, a.ID)
	if err != nil || len(hist) != 1 || hist[0].RecordedBy != "a" {
		t.Errorf("history after tampering attempts: %v %v", hist, err)
	}
}

// testConcurrentAdds sends the same Add from many goroutines: exactly one
// is accepted, the rest are rejected with 476, and distinct activities get
// distinct IDs.
func testConcurrentAdds(t *testing.T, open Opener) {
	e := newEnv(t, open)
	p := e.MustProvider(t, cmextest.ProviderA, "A", "a", "pw")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, err := save(t, e, p, "Add", cmextest.Activity("same", 2025), false)
			errs[i] = err
			if _, err := save(t, e, p, "Add", cmextest.Activity(fmt.Sprintf("distinct-%d", i), 2025), false); err != nil {
				errs[i] = errors.Join(errs[i], fmt.Errorf("distinct add: %w", err))
			}
		})
	}
	wg.Wait()
	accepted := 0
	for _, err := range errs {
		switch {
		case err == nil:
			accepted++
		case cmex.ErrorProblems(err).Has("476"):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if accepted != 1 {
		t.Errorf("%d of %d identical Adds accepted, want 1", accepted, n)
	}
	if got := count(t, e.db, "activities"); got != n+1 {
		t.Errorf("%d activities stored, want %d", got, n+1)
	}
	var distinct int
	if err := e.db.SQL().QueryRow("SELECT count(DISTINCT id) FROM activities").Scan(&distinct); err != nil || distinct != n+1 {
		t.Errorf("distinct ids = %d, %v", distinct, err)
	}
}
