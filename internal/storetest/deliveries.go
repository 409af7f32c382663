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

func init() {
	extra = append(extra, named{"Deliveries", testDeliveries}, named{"ConcurrentClaims", testConcurrentClaims},
		named{"DeliveryListLimit", testDeliveryListLimit}, named{"DeliveryLeases", testDeliveryLeases},
		named{"ConcurrentOverdue", testConcurrentOverdue}, named{"UpdateDestination", testUpdateDestination})
}

// deliveries returns the env's delivery service, its database given the
// test secret key (and the key's box, to give back after taking it away).
func (le *learnerEnv) deliveries(t *testing.T) (*sqlstore.DeliveryService, *sqlstore.SecretBox) {
	t.Helper()
	box, err := sqlstore.NewSecretBox(cmextest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	le.db.Secrets = box
	return sqlstore.NewDeliveryService(le.db), box
}

// deliveryEnv is a learner env whose provider has a webhook for every
// record and a CMaRS destination for its activity.
func deliveryEnv(t *testing.T, open Opener) (*learnerEnv, *sqlstore.DeliveryService, *cmex.Destination) {
	le := newLearnerEnv(t, open, cmex.MatchRegistry)
	ds, _ := le.deliveries(t)
	hook := &cmex.Destination{OrganizationID: le.p.Organization.ID, Name: "Hook", Kind: cmex.DestWebhook, URL: "https://hooks.example/cmex", Enabled: true,
		Secrets: cmex.DestinationSecrets{WebhookSecret: "s3cret-signing-key"}}
	if err := ds.CreateDestination(context.Background(), hook); err != nil {
		t.Fatal(err)
	}
	cmars := &cmex.Destination{OrganizationID: le.p.Organization.ID, Name: "CMaRS", Kind: cmex.DestCMaRS, URL: "https://lrx.example/records", Enabled: true,
		Routing: cmex.RoutingRule{ActivityIDs: []cmex.ActivityID{le.activity.ID}, Certifications: []string{cmex.CreditAMA}}}
	if err := ds.CreateDestination(context.Background(), cmars); err != nil {
		t.Fatal(err)
	}
	return le, ds, hook
}

func testDeliveries(t *testing.T, open Opener) {
	le, ds, hook := deliveryEnv(t, open)
	ctx := context.Background()
	var raw string
	if err := le.db.SQL().QueryRow(`SELECT secrets FROM destinations WHERE name = 'Hook'`).Scan(&raw); err != nil || strings.Contains(raw, "s3cret") || !strings.HasPrefix(raw, "v1:") {
		t.Errorf("the secrets are stored as %q", raw)
	}
	got, err := ds.Destination(ctx, hook.ID)
	if err != nil || got.Secrets.WebhookSecret != "s3cret-signing-key" || got.Concurrency != sqlstore.DefaultConcurrency {
		t.Fatalf("destination = %+v, %v", got, err)
	}
	if err := ds.CreateDestination(ctx, &cmex.Destination{OrganizationID: le.p.Organization.ID, Name: "hook", Kind: cmex.DestWebhook,
		URL: "https://x.example", Secrets: cmex.DestinationSecrets{WebhookSecret: "x"}}); cmex.ErrorCode(err) != cmex.ECONFLICT {
		t.Errorf("same name: %v", err)
	}
	for name, bad := range map[string]cmex.Destination{
		"no kind":                  {Name: "a", URL: "https://x.example"},
		"ftp":                      {Name: "b", Kind: cmex.DestWebhook, URL: "ftp://x.example", Secrets: cmex.DestinationSecrets{WebhookSecret: "x"}},
		"PARS without key":         {Name: "c", Kind: cmex.DestPARS, URL: "https://pars.example"},
		"CMaRS without activities": {Name: "d", Kind: cmex.DestCMaRS, URL: "https://lrx.example"},
		"PARS with a bad learner URL": {Name: "e", Kind: cmex.DestPARS, URL: "https://pars.example", Secrets: cmex.DestinationSecrets{Username: "u", Password: "p"},
			Settings: cmex.DestinationSettings{ProviderID: "1234567", LearnerURL: "parsii.example"}},
	} {
		bad.OrganizationID = le.p.Organization.ID
		if err := ds.CreateDestination(ctx, &bad); cmex.ErrorCode(err) != cmex.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}

	// Jane has no OCI ID: her AMA credit is rejected for CMaRS at routing
	// (WS400, nothing sent); the webhook takes all three credits.
	recs, err := le.report(t, cmextest.JaneReport(le.activity.ID, "2025-06-01", "d"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := ds.ListDeliveries(ctx, cmex.DeliveryFilter{OrganizationID: le.p.Organization.ID})
	if err != nil || len(list) != 4 {
		t.Fatalf("deliveries = %d, %v", len(list), err)
	}
	var ws400 *cmex.Delivery
	for _, d := range list {
		if d.Kind == cmex.DestCMaRS {
			ws400 = d
		}
	}
	if ws400 == nil || ws400.State != cmex.DeliveryRejected || ws400.RemoteCodes[0].Code != "WS400" || ws400.CreditID != recs[0].CreditID {
		t.Fatalf("CMaRS delivery = %+v", ws400)
	}
	// A rejected report makes no delivery.
	if _, err := le.report(t, cmextest.JaneReport(le.activity.ID, "2025-06-01", "d")); err == nil {
		t.Fatal("a duplicate report was accepted")
	}
	if n := count(t, le.db, "deliveries"); n != 4 {
		t.Errorf("%d deliveries after a rejected report", n)
	}

	// Claim, fix the payload once, answer.
	now := le.clock.Now()
	claimed, err := ds.ClaimDeliveries(ctx, "w1", now, time.Minute, 10)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claimed %d, %v", len(claimed), err)
	}
	first := claimed[0]
	p1, err := ds.SavePayload(ctx, first.ID, "w1", []byte("first bytes"))
	if err != nil || string(p1) != "first bytes" {
		t.Fatal(string(p1), err)
	}
	if p2, err := ds.SavePayload(ctx, first.ID, "w1", []byte("other bytes")); err != nil || string(p2) != "first bytes" {
		t.Errorf("the payload changed: %q, %v", p2, err)
	}
	// A transient failure: due again at next.
	if err := ds.CompleteAttempt(ctx, first.ID, "w1", cmex.Outcome{Result: cmex.DeliveryPending, Error: "HTTP 503"}, now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if again, _ := ds.ClaimDeliveries(ctx, "w1", now.Add(30*time.Second), time.Minute, 10); len(again) != 0 {
		t.Errorf("claimed before its retry time: %d", len(again))
	}
	again, _ := ds.ClaimDeliveries(ctx, "w1", now.Add(61*time.Second), time.Minute, 10)
	if len(again) != 3 {
		t.Fatalf("after the retry time: %d", len(again))
	}
	for _, d := range again {
		if d.ID == first.ID && (string(d.Payload) != "first bytes" || d.Attempts != 2 || d.LastError != "HTTP 503") {
			t.Errorf("the retried delivery: %+v", d)
		}
	}
	// Delivered, and the destination's answer moves the MOC record.
	var moc *cmex.Delivery
	for _, d := range again {
		if strings.HasSuffix(string(d.CreditID), "-2") {
			moc = d
		}
	}
	if err := ds.CompleteAttempt(ctx, moc.ID, "w1", cmex.Outcome{Result: cmex.DeliveryDelivered, RemoteID: "R-1", Status: cmex.StatusSubmitted}, now, now); err != nil {
		t.Fatal(err)
	}
	rec, _ := le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderA, CreditID: moc.CreditID})
	if len(rec) != 1 || rec[0].Status != cmex.StatusSubmitted {
		t.Errorf("the record after delivery: %+v", rec)
	}
	if dests, err := ds.StatusDestinations(ctx, cmex.DestWebhook); err != nil || len(dests) != 1 || dests[0] != hook.ID {
		t.Errorf("destinations awaiting status = %v, %v; want [%d]", dests, err, hook.ID)
	}
	if dests, err := ds.StatusDestinations(ctx, cmex.DestPARS); err != nil || len(dests) != 0 {
		t.Errorf("PARS destinations awaiting status = %v, %v; want none", dests, err)
	}
	if waiting, err := ds.AwaitingStatus(ctx, hook.ID+1, now, 10); err != nil || len(waiting) != 0 {
		t.Errorf("awaiting status at another destination = %+v, %v", waiting, err)
	}
	waiting, err := ds.AwaitingStatus(ctx, hook.ID, now, 10)
	if err != nil || len(waiting) != 1 || waiting[0].ID != moc.ID {
		t.Fatalf("awaiting status = %+v, %v", waiting, err)
	}
	if err := ds.RecordStatus(ctx, moc.ID, cmex.Outcome{Status: cmex.StatusApproved}, now); err != nil {
		t.Fatal(err)
	}
	if waiting, _ := ds.AwaitingStatus(ctx, hook.ID, now, 10); len(waiting) != 0 {
		t.Errorf("still awaiting after approval: %+v", waiting)
	}
	if dests, _ := ds.StatusDestinations(ctx, cmex.DestWebhook); len(dests) != 0 {
		t.Errorf("destinations awaiting status after approval: %v", dests)
	}
	rec, _ = le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderA, CreditID: moc.CreditID})
	if rec[0].Status != cmex.StatusApproved {
		t.Errorf("the record after the destination approved it: %+v", rec[0])
	}
	if id, ok, err := ds.RemoteID(ctx, hook.ID, cmex.SubjectLearnerRecord, moc.RecordID); !ok || id != "R-1" || err != nil {
		t.Errorf("remote id = %q %v %v", id, ok, err)
	}
	// Cancel and retry by an operator; a delivered one is not sent again.
	for _, d := range again {
		if err := ds.CancelDelivery(ctx, le.p.Organization.ID, d.ID); (err == nil) != (d.ID != moc.ID) {
			t.Errorf("cancel %d: %v", d.ID, err)
		}
	}
	if err := ds.RetryDelivery(ctx, le.p.Organization.ID, moc.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("retrying a delivered one: %v", err)
	}
	if err := ds.RetryDelivery(ctx, le.p.Organization.ID+1, ws400.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("another organization retrying: %v", err)
	}
	// Overdue deliveries are flagged once.
	if err := ds.RetryDelivery(ctx, le.p.Organization.ID, first.ID); err != nil {
		t.Fatal(err)
	}
	late, err := ds.MarkOverdue(ctx, now.Add(time.Hour))
	if err != nil || len(late) == 0 {
		t.Fatalf("overdue: %d, %v", len(late), err)
	}
	if again, _ := ds.MarkOverdue(ctx, now.Add(time.Hour)); len(again) != 0 {
		t.Errorf("flagged twice: %d", len(again))
	}
}

// testConcurrentClaims: workers claiming at once never get the same
// delivery.
func testConcurrentClaims(t *testing.T, open Opener) {
	le, ds, _ := deliveryEnv(t, open)
	ctx := context.Background()
	for i := range 10 {
		a := mustSave(t, le.env, le.p, "Add", cmextest.Activity(fmt.Sprintf("c-%d", i), 2025))
		if _, err := le.report(t, cmextest.JaneReport(a.ID, "2025-06-01", fmt.Sprintf("c%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[cmex.DeliveryID]string{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("w%d", w)
			for range 10 {
				ds, err := ds.ClaimDeliveries(ctx, name, le.clock.Now(), time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, d := range ds {
					if other, ok := seen[d.ID]; ok {
						t.Errorf("delivery %d claimed by %s and %s", d.ID, other, name)
					}
					seen[d.ID] = name
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 30 {
		t.Errorf("%d deliveries claimed, want 30", len(seen))
	}
}

// testDeliveryListLimit: a limit over the cap is held to the cap, not
// replaced by the default; no limit is the default.
func testDeliveryListLimit(t *testing.T, open Opener) {
	le, ds, _ := deliveryEnv(t, open)
	ctx := context.Background()
	for i := range 35 {
		a := mustSave(t, le.env, le.p, "Add", cmextest.Activity(fmt.Sprintf("l-%d", i), 2025))
		if _, err := le.report(t, cmextest.JaneReport(a.ID, "2025-06-01", fmt.Sprintf("l%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	total := count(t, le.db, "deliveries")
	if total <= cmex.DefaultDeliveryLimit {
		t.Fatalf("%d deliveries: the test needs more than %d", total, cmex.DefaultDeliveryLimit)
	}
	for _, tc := range []struct{ limit, want int }{
		{0, cmex.DefaultDeliveryLimit}, {-1, cmex.DefaultDeliveryLimit}, {7, 7}, {total + 1, total},
		{cmex.MaxDeliveryLimit, total}, {cmex.MaxDeliveryLimit + 1, total}, {1 << 30, total},
	} {
		list, err := ds.ListDeliveries(ctx, cmex.DeliveryFilter{Limit: tc.limit})
		if err != nil || len(list) != tc.want {
			t.Errorf("limit %d: %d deliveries, %v; want %d", tc.limit, len(list), err, tc.want)
		}
	}
}

// testDeliveryLeases: a worker's renewed lease keeps others out; a renewal
// or an answer from a worker that lost the lease changes nothing; a
// release at start makes every claimed delivery due again at once, its
// attempt still counted.
func testDeliveryLeases(t *testing.T, open Opener) {
	le, ds, _ := deliveryEnv(t, open)
	ctx := context.Background()
	if _, err := le.report(t, cmextest.JaneReport(le.activity.ID, "2025-06-01", "l")); err != nil {
		t.Fatal(err)
	}
	now := le.clock.Now()
	claimed, err := ds.ClaimDeliveries(ctx, "w1", now, time.Minute, 10)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claimed %d, %v", len(claimed), err)
	}
	ids := []cmex.DeliveryID{claimed[0].ID, claimed[1].ID, claimed[2].ID}
	held, err := ds.RenewLeases(ctx, "w1", ids, now.Add(50*time.Second), time.Minute)
	if err != nil || len(held) != 3 {
		t.Fatalf("renewed %v, %v", held, err)
	}
	if got, _ := ds.ClaimDeliveries(ctx, "w2", now.Add(90*time.Second), time.Minute, 10); len(got) != 0 {
		t.Fatalf("claimed past the first lease, within the renewed one: %d", len(got))
	}
	if held, err := ds.RenewLeases(ctx, "w2", ids, now.Add(100*time.Second), time.Hour); err != nil || len(held) != 0 {
		t.Errorf("another worker renewed w1's leases: %v, %v", held, err)
	}
	if held, err := ds.RenewLeases(ctx, "w1", nil, now, time.Minute); err != nil || len(held) != 0 {
		t.Errorf("renewing nothing: %v, %v", held, err)
	}
	// An operator cancels one: it is no longer w1's.
	if err := ds.CancelDelivery(ctx, 0, ids[0]); err != nil {
		t.Fatal(err)
	}
	held, err = ds.RenewLeases(ctx, "w1", ids, now.Add(60*time.Second), time.Minute)
	if err != nil || len(held) != 2 || held[0] == ids[0] || held[1] == ids[0] {
		t.Errorf("renewed after a cancel: %v, %v", held, err)
	}
	if err := ds.CompleteAttempt(ctx, ids[0], "w1", cmex.Outcome{Result: cmex.DeliveryDelivered}, now, now); !errors.Is(err, cmex.ErrLeaseLost) {
		t.Errorf("completing a cancelled delivery: %v", err)
	}

	// The server restarts: its two leased deliveries are due at once for
	// anyone, within the lease; the cancelled one and CMaRS's rejected one
	// are left alone.
	at := now.Add(70 * time.Second)
	n, err := ds.ReleaseLeases(ctx, at)
	if err != nil || n != 2 {
		t.Fatalf("released %d, %v", n, err)
	}
	again, err := ds.ClaimDeliveries(ctx, "w3", at, time.Minute, 10)
	if err != nil || len(again) != 2 {
		t.Fatalf("claimed after the release: %d, %v", len(again), err)
	}
	for _, d := range again {
		if d.Attempts != 2 || !strings.Contains(d.LastError, "cut short") {
			t.Errorf("a released delivery claimed again: %+v", d)
		}
	}
	if err := ds.CompleteAttempt(ctx, again[0].ID, "w1", cmex.Outcome{Result: cmex.DeliveryDelivered}, at, at); !errors.Is(err, cmex.ErrLeaseLost) {
		t.Errorf("the old worker's late answer: %v", err)
	}
	if d, _ := ds.Delivery(ctx, 0, again[0].ID); d.State != cmex.DeliveryPending {
		t.Errorf("the old worker's late answer counted: %+v", d)
	}
	if held, _ := ds.RenewLeases(ctx, "w1", ids, at, time.Minute); len(held) != 0 {
		t.Errorf("the old worker renewed: %v", held)
	}
	if err := ds.CompleteAttempt(ctx, again[0].ID, "w3", cmex.Outcome{Result: cmex.DeliveryDelivered}, at, at); err != nil {
		t.Errorf("the holder's answer: %v", err)
	}
	if n, err := ds.ReleaseLeases(ctx, at); err != nil || n != 1 {
		t.Errorf("released %d, %v; want w3's other one", n, err)
	}
	if n, err := ds.ReleaseLeases(ctx, at); err != nil || n != 0 {
		t.Errorf("released %d, %v with nothing leased", n, err)
	}
	list, _ := ds.ListDeliveries(ctx, cmex.DeliveryFilter{})
	states := map[cmex.DeliveryState]int{}
	for _, d := range list {
		states[d.State]++
	}
	if states[cmex.DeliveryDelivered] != 1 || states[cmex.DeliveryCancelled] != 1 || states[cmex.DeliveryRejected] != 1 || states[cmex.DeliveryPending] != 1 {
		t.Errorf("states: %v", states)
	}
}

// testConcurrentOverdue: replicas flagging overdue deliveries at once each
// get different ones, so that each is logged and counted once.
func testConcurrentOverdue(t *testing.T, open Opener) {
	le, ds, _ := deliveryEnv(t, open)
	ctx := context.Background()
	for i := range 10 {
		a := mustSave(t, le.env, le.p, "Add", cmextest.Activity(fmt.Sprintf("o-%d", i), 2025))
		if _, err := le.report(t, cmextest.JaneReport(a.ID, "2025-06-01", fmt.Sprintf("o%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	total := count(t, le.db, "deliveries")
	var mu sync.Mutex
	flagged := map[cmex.DeliveryID]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			late, err := ds.MarkOverdue(ctx, le.clock.Now().Add(time.Hour))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, d := range late {
				if !d.Overdue {
					t.Errorf("delivery %d returned without its flag", d.ID)
				}
				flagged[d.ID]++
			}
		})
	}
	wg.Wait()
	if len(flagged) != total {
		t.Errorf("%d of %d deliveries flagged", len(flagged), total)
	}
	for id, n := range flagged {
		if n != 1 {
			t.Errorf("delivery %d returned by %d callers", id, n)
		}
	}
}

// testUpdateDestination: a destination's URL, credentials, limits and
// state change (audited), its name and kind do not, and the next read
// has the new ones.
func testUpdateDestination(t *testing.T, open Opener) {
	le, ds, hook := deliveryEnv(t, open)
	ctx := context.Background()
	d, err := ds.Destination(ctx, hook.ID)
	if err != nil {
		t.Fatal(err)
	}
	d.URL, d.Secrets.WebhookSecret, d.Concurrency, d.RatePerSecond, d.Enabled, d.Name = "https://hooks2.example/cmex", "new-signing-key", 3, 2.5, false, "Renamed"
	if err := ds.UpdateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := ds.Destination(ctx, hook.ID)
	if err != nil || got.URL != "https://hooks2.example/cmex" || got.Secrets.WebhookSecret != "new-signing-key" || got.Concurrency != 3 ||
		got.RatePerSecond != 2.5 || got.Enabled || got.Name != "Hook" || got.Kind != cmex.DestWebhook {
		t.Errorf("after the update: %+v, %v", got, err)
	}
	var audited int
	if err := le.db.SQL().QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'destination.update'`).Scan(&audited); err != nil || audited != 1 {
		t.Errorf("audit entries of the update: %d, %v", audited, err)
	}
	// Disabled, it takes no new deliveries.
	a := mustSave(t, le.env, le.p, "Add", cmextest.Activity("u-1", 2025))
	if _, err := le.report(t, cmextest.JaneReport(a.ID, "2025-06-01", "u1")); err != nil {
		t.Fatal(err)
	}
	if list, _ := ds.ListDeliveries(ctx, cmex.DeliveryFilter{DestinationID: hook.ID}); len(list) != 0 {
		t.Errorf("a disabled destination got %d deliveries", len(list))
	}
	for name, change := range map[string]func(d *cmex.Destination){
		"another kind":     func(d *cmex.Destination) { d.Kind = cmex.DestPARS },
		"a bad URL":        func(d *cmex.Destination) { d.URL = "ftp://x.example" },
		"no secret":        func(d *cmex.Destination) { d.Secrets = cmex.DestinationSecrets{} },
		"another org":      func(d *cmex.Destination) { d.OrganizationID++ },
		"no such id":       func(d *cmex.Destination) { d.ID += 100 },
		"too many at once": func(d *cmex.Destination) { d.Concurrency = 1000 },
	} {
		d, _ := ds.Destination(ctx, hook.ID)
		change(d)
		if err := ds.UpdateDestination(ctx, d); err == nil || cmex.ErrorCode(err) == cmex.EINTERNAL {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got, _ := ds.Destination(ctx, hook.ID); got.URL != "https://hooks2.example/cmex" || got.Secrets.WebhookSecret != "new-signing-key" {
		t.Errorf("a refused update changed it: %+v", got)
	}
}
