package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// The operator's console's storage: disabling and rotating web-service
// users and API keys, bulk retries and cancellations, destination
// backlogs, plan set history, the audit log newest first, and the record
// of remote society calls.

func init() {
	extra = append(extra, named{"UserDisable", testUserDisable}, named{"APIKeyRotateDisable", testAPIKeyRotateDisable},
		named{"BulkDeliveries", testBulkDeliveries}, named{"BulkDeliveriesMore", testBulkDeliveriesMore}, named{"DestinationBacklogs", testDestinationBacklogs},
		named{"PlanSets", testPlanSets}, named{"AuditNewest", testAuditNewest}, named{"SocietyCalls", testSocietyCalls})
}

// auditActions returns the actions and subjects of the audit log's
// entries with action prefix.
func auditActions(t *testing.T, db *sqlstore.DB, prefix string) []string {
	t.Helper()
	es, err := sqlstore.NewAuditService(db).AuditLog(context.Background(), cmex.AuditFilter{Action: prefix, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Action+" "+e.Subject)
	}
	return out
}

// A disabled user is refused at once, even right after a check the
// password hasher remembers, and accepted again once enabled; a rotated
// password refuses the old one at once.
func testUserDisable(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := cmex.WithActor(context.Background(), "portal:op")
	p := e.MustProvider(t, cmextest.ProviderA, "A", "lms@example.org", "first password")
	org := p.Organization.ID
	auth := func(password string) error {
		_, err := e.users.Authenticate(ctx, cmextest.ProviderA, "LMS@example.org", password)
		return err
	}
	if err := auth("first password"); err != nil { // remembered from now on
		t.Fatal(err)
	}
	if err := e.users.SetWebServiceUserDisabled(ctx, org, "lms@EXAMPLE.org", true); err != nil {
		t.Fatal(err)
	}
	wantCode(t, auth("first password"), cmex.EUNAUTHORIZED)
	// Without a provider (LearnerMatch) too.
	if _, err := e.users.Authenticate(ctx, "", "lms@example.org", "first password"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("a disabled user without a provider id: %v", err)
	}
	list, err := e.users.ListWebServiceUsers(ctx, org)
	if err != nil || len(list) != 1 || !list[0].Disabled || !list[0].DisabledAt.Equal(Today) || !list[0].PasswordChangedAt.Equal(Today) {
		t.Fatalf("users = %+v, %v", list, err)
	}
	// Disabling again changes nothing and writes no entry.
	if err := e.users.SetWebServiceUserDisabled(ctx, org, "lms@example.org", true); err != nil {
		t.Fatal(err)
	}
	if err := e.users.SetWebServiceUserDisabled(ctx, org, "nobody", true); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("disabling no one: %v", err)
	}
	if err := e.users.SetWebServiceUserDisabled(ctx, org+1, "lms@example.org", true); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("disabling another organization's user: %v", err)
	}
	if err := e.users.SetWebServiceUserDisabled(ctx, org, "lms@example.org", false); err != nil {
		t.Fatal(err)
	}
	if err := auth("first password"); err != nil {
		t.Fatalf("after enabling: %v", err)
	}
	e.clock.Advance(time.Hour)
	if err := e.users.SetWebServiceUserPassword(ctx, org, "lms@example.org", "second password"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, auth("first password"), cmex.EUNAUTHORIZED)
	if err := auth("second password"); err != nil {
		t.Fatal(err)
	}
	if list, _ := e.users.ListWebServiceUsers(ctx, org); list[0].Disabled || !list[0].PasswordChangedAt.Equal(Today.Add(time.Hour)) {
		t.Errorf("after enabling and rotating: %+v", list[0])
	}
	got := auditActions(t, e.db, "web-service-user.")
	want := []string{"web-service-user.add lms@example.org", "web-service-user.disable lms@example.org", "web-service-user.enable lms@example.org",
		"web-service-user.password lms@example.org"}
	if !slices.Equal(got, want) {
		t.Errorf("audit log:\n%q\nwant\n%q", got, want)
	}
}

// A rotated key's old token is refused at once and its new one accepted;
// a disabled key is refused until enabled.
func testAPIKeyRotateDisable(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := cmex.WithActor(context.Background(), "portal:op")
	keys := sqlstore.NewAPIKeyService(e.db)
	p := e.MustProvider(t, cmextest.ProviderA, "A", "u", "pw")
	org := p.Organization.ID
	k, old, err := keys.CreateAPIKey(ctx, org, "lms")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.AuthenticateAPIKey(ctx, old); err != nil {
		t.Fatal(err)
	}
	k2, token, err := keys.RotateAPIKey(ctx, org, "lms")
	if err != nil || k2.ID != k.ID || k2.Name != "lms" || k2.Prefix == k.Prefix || token == old {
		t.Fatalf("rotated %+v (was %+v), %v", k2, k, err)
	}
	wantCode(t, func() error { _, err := keys.AuthenticateAPIKey(ctx, old); return err }(), cmex.EUNAUTHORIZED)
	if pr, err := keys.AuthenticateAPIKey(ctx, token); err != nil || pr.Organization.ID != org {
		t.Fatalf("the new token: %+v, %v", pr, err)
	}
	if _, _, err := keys.RotateAPIKey(ctx, org, "other"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("rotating no key: %v", err)
	}
	if _, _, err := keys.RotateAPIKey(ctx, org+1, "lms"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("rotating another organization's key: %v", err)
	}
	if err := keys.SetAPIKeyDisabled(ctx, org, "lms", true); err != nil {
		t.Fatal(err)
	}
	wantCode(t, func() error { _, err := keys.AuthenticateAPIKey(ctx, token); return err }(), cmex.EUNAUTHORIZED)
	if list, err := keys.ListAPIKeys(ctx, org); err != nil || len(list) != 1 || !list[0].Disabled || !list[0].DisabledAt.Equal(Today) || list[0].Prefix != k2.Prefix {
		t.Fatalf("keys = %+v, %v", list, err)
	}
	if err := keys.SetAPIKeyDisabled(ctx, org, "lms", true); err != nil {
		t.Fatal(err)
	}
	if err := keys.SetAPIKeyDisabled(ctx, org, "nope", true); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("disabling no key: %v", err)
	}
	if err := keys.SetAPIKeyDisabled(ctx, org, "lms", false); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.AuthenticateAPIKey(ctx, token); err != nil {
		t.Fatalf("after enabling: %v", err)
	}
	got := auditActions(t, e.db, "api-key.")
	want := []string{"api-key.add lms", "api-key.rotate lms", "api-key.disable lms", "api-key.enable lms"}
	if !slices.Equal(got, want) {
		t.Errorf("audit log:\n%q\nwant\n%q", got, want)
	}
}

// rejectAll claims every due delivery and answers each as refused for
// good by its destination.
func rejectAll(t *testing.T, le *learnerEnv, ds *sqlstore.DeliveryService) []*cmex.Delivery {
	t.Helper()
	ctx := context.Background()
	now := le.clock.Now()
	claimed, err := ds.ClaimDeliveries(ctx, "w", now, time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range claimed {
		o := cmex.Outcome{Result: cmex.DeliveryRejected, Error: "refused", Codes: []cmex.RemoteCode{{Code: "E42", Message: "no such learner"}}}
		if err := ds.CompleteAttempt(ctx, d.ID, "w", o, now, now); err != nil {
			t.Fatal(err)
		}
	}
	return claimed
}

// Bulk retries and cancellations change, in one step, exactly the
// deliveries their filter selects, with an audit entry for each.
func testBulkDeliveries(t *testing.T, open Opener) {
	le, ds, hook := deliveryEnv(t, open)
	ctx := cmex.WithActor(context.Background(), "portal:op")
	if _, err := le.report(t, cmextest.JaneReport(le.activity.ID, "2025-06-01", "b")); err != nil {
		t.Fatal(err)
	}
	rejected := rejectAll(t, le, ds) // the webhook's three; CMaRS's one was refused at routing
	if len(rejected) != 3 {
		t.Fatalf("%d rejected", len(rejected))
	}
	f := cmex.DeliveryFilter{DestinationID: hook.ID, State: cmex.DeliveryRejected}
	if n, err := ds.CountDeliveries(ctx, f); err != nil || n != 3 {
		t.Fatalf("count = %d, %v", n, err)
	}
	if n, _ := ds.CountDeliveries(ctx, cmex.DeliveryFilter{State: cmex.DeliveryRejected}); n != 4 {
		t.Errorf("rejected anywhere: %d, want 4", n)
	}
	// Filters that select nothing change nothing.
	for name, nf := range map[string]cmex.DeliveryFilter{
		"another organization": {OrganizationID: le.p.Organization.ID + 1, DestinationID: hook.ID, State: cmex.DeliveryRejected},
		"made later":           {DestinationID: hook.ID, Since: Today.Add(time.Second)},
		"made before":          {DestinationID: hook.ID, Until: Today},
		"another destination":  {DestinationID: hook.ID + 100},
	} {
		res, err := ds.RetryDeliveries(ctx, nf)
		if err != nil || res.Changed != 0 || res.More {
			t.Errorf("%s: %+v, %v", name, res, err)
		}
	}
	if _, err := ds.RetryDeliveries(ctx, cmex.DeliveryFilter{DestinationID: hook.ID, State: cmex.DeliveryDelivered}); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("retrying delivered ones: %v", err)
	}
	if _, err := ds.CancelDeliveries(ctx, f); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("cancelling rejected ones: %v", err)
	}
	if got := auditActions(t, le.db, "delivery."); len(got) != 0 {
		t.Fatalf("refused bulk actions were audited: %q", got)
	}

	res, err := ds.RetryDeliveries(ctx, f)
	if err != nil || res.Changed != 3 || res.More || len(res.IDs) != 3 {
		t.Fatalf("bulk retry = %+v, %v", res, err)
	}
	var want []string
	for _, d := range rejected {
		want = append(want, fmt.Sprintf("delivery.retry %d", d.ID))
		got, err := ds.Delivery(ctx, 0, d.ID)
		if err != nil || got.State != cmex.DeliveryPending || !got.NextAttemptAt.Equal(Today) || got.RemoteCodes[0].Code != "E42" {
			t.Errorf("after the bulk retry: %+v, %v", got, err)
		}
	}
	if got := auditActions(t, le.db, "delivery."); !slices.Equal(got, want) {
		t.Errorf("audit log:\n%q\nwant\n%q", got, want)
	}
	es, _ := sqlstore.NewAuditService(le.db).AuditLog(ctx, cmex.AuditFilter{Action: "delivery.retry"})
	if len(es) != 3 || es[0].Actor != "portal:op" || es[0].Detail != fmt.Sprintf("bulk retry of 3 (destination %d Hook, state rejected)", hook.ID) {
		t.Errorf("audit entry: %+v", es[0])
	}
	if n, _ := ds.CountDeliveries(ctx, cmex.DeliveryFilter{State: cmex.DeliveryRejected}); n != 1 {
		t.Errorf("rejected after the retry: %d, want CMaRS's 1", n)
	}

	// A leased delivery retried in bulk is no longer the worker's.
	claimed, err := ds.ClaimDeliveries(ctx, "w2", le.clock.Now(), time.Minute, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	if res, err := ds.RetryDeliveries(ctx, cmex.DeliveryFilter{DestinationID: hook.ID, State: cmex.DeliveryPending}); err != nil || res.Changed != 3 {
		t.Fatalf("retry pending = %+v, %v", res, err)
	}
	if err := ds.CompleteAttempt(ctx, claimed[0].ID, "w2", cmex.Outcome{Result: cmex.DeliveryDelivered}, le.clock.Now(), le.clock.Now()); err != cmex.ErrLeaseLost {
		t.Errorf("the worker's answer after a bulk retry: %v, want ErrLeaseLost", err)
	}

	// Cancel the pending ones; a second time there is none.
	res, err = ds.CancelDeliveries(ctx, cmex.DeliveryFilter{DestinationID: hook.ID, State: cmex.DeliveryPending})
	if err != nil || res.Changed != 3 {
		t.Fatalf("bulk cancel = %+v, %v", res, err)
	}
	if res, err := ds.CancelDeliveries(ctx, cmex.DeliveryFilter{DestinationID: hook.ID}); err != nil || res.Changed != 0 {
		t.Errorf("cancel again = %+v, %v", res, err)
	}
	if n, _ := ds.CountDeliveries(ctx, cmex.DeliveryFilter{DestinationID: hook.ID, State: cmex.DeliveryCancelled}); n != 3 {
		t.Errorf("cancelled: %d", n)
	}
	if got := auditActions(t, le.db, "delivery.cancel"); len(got) != 3 {
		t.Errorf("cancel entries: %q", got)
	}
	// The listing takes the same filter.
	list, err := ds.ListDeliveries(ctx, cmex.DeliveryFilter{DestinationID: hook.ID, Since: Today, Until: Today.Add(time.Second)})
	if err != nil || len(list) != 3 || list[0].DestinationID != hook.ID {
		t.Errorf("list by destination and time: %d, %v", len(list), err)
	}
	if list, _ := ds.ListDeliveries(ctx, cmex.DeliveryFilter{Destination: "HOOK"}); len(list) != 3 {
		t.Errorf("list by destination name: %d", len(list))
	}
}

// A bulk action takes at most cmex.MaxBulkDeliveries, and says when more
// match.
func testBulkDeliveriesMore(t *testing.T, open Opener) {
	le, ds, hook := deliveryEnv(t, open)
	ctx := context.Background()
	if _, err := le.report(t, cmextest.JaneReport(le.activity.ID, "2025-06-01", "m")); err != nil {
		t.Fatal(err)
	}
	rejected := rejectAll(t, le, ds)
	// Copies of one rejected delivery, made by the database itself.
	const cols = `organization_id, destination_id, subject, record_id, credit_id, activity_id, event, snapshot, payload, state, attempts, next_attempt_at,
		lease_until, leased_by, last_error, remote_codes, remote_id, overdue, created_at, updated_at, delivered_at`
	q := `INSERT INTO deliveries (` + cols + `) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` +
		fmt.Sprint(cmex.MaxBulkDeliveries-2) + `) SELECT ` + cols + ` FROM deliveries, n WHERE id = ?`
	if le.db.Dialect().Numbered() {
		q = strings.Replace(q, "?", "$1", 1)
	}
	if _, err := le.db.SQL().Exec(q, rejected[0].ID); err != nil {
		t.Fatal(err)
	}
	f := cmex.DeliveryFilter{DestinationID: hook.ID, State: cmex.DeliveryRejected}
	if n, _ := ds.CountDeliveries(ctx, f); n != cmex.MaxBulkDeliveries+1 {
		t.Fatalf("%d rejected, want %d", n, cmex.MaxBulkDeliveries+1)
	}
	start := time.Now()
	res, err := ds.RetryDeliveries(ctx, f)
	if err != nil || res.Changed != cmex.MaxBulkDeliveries || !res.More || !slices.IsSorted(res.IDs) || res.IDs[0] != rejected[0].ID {
		t.Fatalf("the first bulk retry: %+v, %v", res, err)
	}
	t.Logf("%s: a bulk retry of %d deliveries (and as many audit entries) took %v", le.db.Dialect().Name(), res.Changed, time.Since(start).Round(time.Millisecond))
	if got := auditActions(t, le.db, "delivery.retry"); len(got) != cmex.MaxBulkDeliveries {
		t.Errorf("%d audit entries, want %d", len(got), cmex.MaxBulkDeliveries)
	}
	res, err = ds.RetryDeliveries(ctx, f)
	if err != nil || res.Changed != 1 || res.More {
		t.Errorf("the second: %+v, %v", res, err)
	}
}

// Every destination is listed with its pending, overdue, rejected and
// cancelled deliveries and its oldest pending one.
func testDestinationBacklogs(t *testing.T, open Opener) {
	le, ds, hook := deliveryEnv(t, open)
	ctx := context.Background()
	bs, err := ds.DestinationBacklogs(ctx)
	if err != nil || len(bs) != 2 || bs[0].Destination != "CMaRS" || bs[1].Destination != "Hook" || bs[1].Pending != 0 || !bs[1].OldestPending.IsZero() {
		t.Fatalf("before any delivery: %+v, %v", bs, err)
	}
	if _, err := le.report(t, cmextest.JaneReport(le.activity.ID, "2025-06-01", "x")); err != nil {
		t.Fatal(err)
	}
	le.clock.Advance(time.Hour)
	other := mustSave(t, le.env, le.p, "Add", cmextest.Activity("moc-2", 2025)) // not routed to CMaRS
	if _, err := le.report(t, cmextest.JaneReport(other.ID, "2025-06-01", "y")); err != nil {
		t.Fatal(err)
	}
	if _, err := ds.MarkOverdue(ctx, Today.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	list, _ := ds.ListDeliveries(ctx, cmex.DeliveryFilter{DestinationID: hook.ID, State: cmex.DeliveryPending})
	if err := ds.CancelDelivery(ctx, 0, list[0].ID); err != nil {
		t.Fatal(err)
	}
	bs, err = ds.DestinationBacklogs(ctx)
	if err != nil || len(bs) != 2 {
		t.Fatal(bs, err)
	}
	h, c := bs[1], bs[0]
	if h.DestinationID != hook.ID || h.ProviderID != cmextest.ProviderA || h.Organization != "AAA Test Organization" || h.Kind != cmex.DestWebhook ||
		h.URL != hook.URL || !h.Enabled || h.Pending != 5 || h.Overdue != 3 || h.Cancelled != 1 || h.Rejected != 0 || !h.OldestPending.Equal(Today) {
		t.Errorf("the webhook's backlog: %+v", h)
	}
	if c.Rejected != 1 || c.Pending != 0 || !c.OldestPending.IsZero() {
		t.Errorf("CMaRS's backlog: %+v", c)
	}
}

// Every plan set loaded is listed, newest first, with who loaded it.
func testPlanSets(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ps := sqlstore.NewPlanService(e.db)
	ctx := context.Background()
	if sets, err := ps.PlanSets(ctx, 0); err != nil || len(sets) != 0 {
		t.Fatalf("before any: %+v, %v", sets, err)
	}
	for i, actor := range []string{"cli:root", "portal:op", ""} {
		e.clock.Advance(time.Minute)
		if err := ps.LoadPlans(cmex.WithActor(ctx, actor), somePlans(cmex.Points(100*(i+1)))); err != nil {
			t.Fatal(err)
		}
	}
	sets, err := ps.PlanSets(ctx, 0)
	if err != nil || len(sets) != 3 {
		t.Fatalf("plan sets: %d, %v", len(sets), err)
	}
	for i, want := range []struct {
		by  string
		min cmex.Points
	}{{"unknown", 300}, {"portal:op", 200}, {"cli:root", 100}} {
		s := sets[i]
		if s.LoadedBy != want.by || s.Plans.Roles[0].LearningPlans[0].MinimumUnits != want.min || !s.LoadedAt.Equal(Today.Add(time.Duration(3-i)*time.Minute)) {
			t.Errorf("set %d: %+v by %q", i, s, s.LoadedBy)
		}
	}
	if sets[0].ID <= sets[1].ID {
		t.Errorf("not newest first: %d, %d", sets[0].ID, sets[1].ID)
	}
	if two, _ := ps.PlanSets(ctx, 2); len(two) != 2 || two[0].ID != sets[0].ID {
		t.Errorf("limit 2: %d", len(two))
	}
}

// The audit log reads newest first, and pages back before an id.
func testAuditNewest(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := cmex.WithActor(context.Background(), "cli:admin")
	for _, id := range []cmex.ProviderID{"1", "2", "3", "4"} {
		if err := e.orgs.CreateOrganization(ctx, &cmex.Organization{ProviderID: id, Name: "P" + string(id)}); err != nil {
			t.Fatal(err)
		}
	}
	audit := sqlstore.NewAuditService(e.db)
	es, err := audit.AuditLog(ctx, cmex.AuditFilter{Newest: true, Limit: 2})
	if err != nil || len(es) != 2 || es[0].Subject != "4" || es[1].Subject != "3" {
		t.Fatalf("newest 2: %+v, %v", es, err)
	}
	older, err := audit.AuditLog(ctx, cmex.AuditFilter{Newest: true, BeforeID: es[1].ID, Limit: 10})
	if err != nil || len(older) != 2 || older[0].Subject != "2" || older[1].Subject != "1" {
		t.Fatalf("before %d: %+v, %v", es[1].ID, older, err)
	}
	if got, _ := audit.AuditLog(ctx, cmex.AuditFilter{BeforeID: es[0].ID, AfterID: older[1].ID}); len(got) != 2 || got[0].Subject != "2" {
		t.Errorf("between: %+v", got)
	}
}

// Calls to remote societies are counted, the last ones kept (no more
// than cmex.RecentSocietyCalls of each), newest first.
func testSocietyCalls(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	societies := sqlstore.NewSocietyService(e.db)
	calls := sqlstore.NewSocietyCallService(e.db)
	var ids []cmex.SocietyID
	for _, code := range []string{"ACR", "RSNA"} {
		so := &cmex.Society{Code: code, Name: code, Kind: cmex.SocietyRemote, BindingURL: "https://" + code + ".example/b", OrderURL: "https://" + code + ".example/o"}
		if err := societies.CreateSociety(ctx, so); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, so.ID)
	}
	if st, err := calls.SocietyCallStats(ctx); err != nil || len(st) != 0 {
		t.Fatalf("before any call: %+v, %v", st, err)
	}
	acr := ids[0]
	for i, c := range []cmex.SocietyCall{
		{Operation: cmex.CallBinding, Outcome: cmex.CallAnswered, Duration: 120 * time.Millisecond, Answer: "STATUS OK"},
		{Operation: cmex.CallOrder, Outcome: cmex.CallRefused, Duration: 80 * time.Millisecond, Answer: "STATUS no such member"},
		{Operation: cmex.CallOrder, Outcome: cmex.CallFailed, Duration: 5 * time.Second, Answer: "it did not answer\nin time"},
	} {
		c.SocietyID, c.At = acr, Today.Add(time.Duration(i)*time.Minute)
		if err := calls.RecordSocietyCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := calls.RecordSocietyCall(ctx, cmex.SocietyCall{SocietyID: acr, Outcome: "fine"}); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("an unknown outcome: %v", err)
	}
	stats, err := calls.SocietyCallStats(ctx)
	if err != nil || len(stats) != 1 {
		t.Fatalf("stats = %+v, %v", stats, err)
	}
	st := stats[acr]
	if st.Calls != 3 || st.Refusals != 1 || st.Failures != 1 || !st.Since.Equal(Today) || len(st.Recent) != 3 {
		t.Fatalf("ACR's stats = %+v", st)
	}
	last := st.Last()
	if last.Outcome != cmex.CallFailed || last.Answer != "it did not answer in time" || last.Duration != 5*time.Second || !last.At.Equal(Today.Add(2*time.Minute)) || last.Operation != cmex.CallOrder {
		t.Errorf("last call = %+v", last)
	}
	if med, slow, n := st.Latency(); n != 2 || med != 80*time.Millisecond || slow != 120*time.Millisecond {
		t.Errorf("latency = %v, %v of %d (a failure's duration is not the society's)", med, slow, n)
	}
	if st.RecentFailurePercent() != 33 {
		t.Errorf("failure rate = %d%%", st.RecentFailurePercent())
	}
	// Only the last RecentSocietyCalls are kept; the counters go on.
	start := time.Now()
	for i := range cmex.RecentSocietyCalls + 5 {
		if err := calls.RecordSocietyCall(ctx, cmex.SocietyCall{SocietyID: acr, Operation: cmex.CallOrder, Outcome: cmex.CallAnswered,
			At: Today.Add(time.Hour + time.Duration(i)*time.Second), Duration: time.Duration(i+1) * time.Millisecond, Answer: "STATUS OK"}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s: recording a call took %v on average", e.db.Dialect().Name(), (time.Since(start) / time.Duration(cmex.RecentSocietyCalls+5)).Round(time.Microsecond))
	if err := calls.RecordSocietyCall(ctx, cmex.SocietyCall{SocietyID: ids[1], Operation: cmex.CallBinding, Outcome: cmex.CallFailed, Answer: "it could not be reached"}); err != nil {
		t.Fatal(err)
	}
	stats, _ = calls.SocietyCallStats(ctx)
	st = stats[acr]
	if st.Calls != int64(cmex.RecentSocietyCalls+8) || st.Failures != 1 || len(st.Recent) != cmex.RecentSocietyCalls || st.RecentFailures() != 0 {
		t.Errorf("after many calls: %d calls, %d failures, %d recent (%d failed)", st.Calls, st.Failures, len(st.Recent), st.RecentFailures())
	}
	if st.Recent[0].Duration != time.Duration(cmex.RecentSocietyCalls+5)*time.Millisecond {
		t.Errorf("not newest first: %v", st.Recent[0])
	}
	if n := countWhere(t, e.db, "society_calls", "society_id", int64(acr)); n != cmex.RecentSocietyCalls {
		t.Errorf("%d rows kept of ACR's calls, want %d", n, cmex.RecentSocietyCalls)
	}
	if rs := stats[ids[1]]; rs == nil || rs.Calls != 1 || rs.Failures != 1 || rs.Last().At.IsZero() {
		t.Errorf("RSNA's stats = %+v", rs)
	}
}

// countWhere counts table's rows whose column is v.
func countWhere(tb testing.TB, db *sqlstore.DB, table, column string, v int64) int {
	tb.Helper()
	q := "SELECT count(*) FROM " + table + " WHERE " + column + " = ?"
	if db.Dialect().Numbered() {
		q = "SELECT count(*) FROM " + table + " WHERE " + column + " = $1"
	}
	var n int
	if err := db.SQL().QueryRow(q, v).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}
