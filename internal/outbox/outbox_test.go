package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/outbox"
	"github.com/cmexhub/cmex/internal/webhook"
)

const secret, apiID = "whsec-test", "api-42"

// receiver is a webhook endpoint that keeps the CreditIDs it acknowledged.
type receiver struct {
	t         testing.TB
	mu        sync.Mutex
	acked     map[cmex.CreditID]int
	calls     int
	misbehave func(w http.ResponseWriter, r *http.Request) bool // true: answered badly
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.calls++
	rc.mu.Unlock()
	if !webhook.Verify(secret, body, r.Header.Get(webhook.HeaderSignature)) {
		rc.t.Errorf("bad signature on %s", body)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if rc.misbehave != nil && rc.misbehave(w, r) {
		return
	}
	var e webhook.Event
	if err := json.Unmarshal(body, &e); err != nil || e.APIID != apiID {
		rc.t.Errorf("event %s: %v", body, err)
	}
	rc.mu.Lock()
	rc.acked[e.CreditID]++
	rc.mu.Unlock()
	json.NewEncoder(w).Encode(webhook.Ack{APIID: apiID, Result: "success"})
}

type fixture struct {
	store  *cmextest.Store
	worker *outbox.Worker
	p      cmex.Principal
	dest   *cmex.Destination
}

// newFixture is provider 1234567 with a webhook destination at url taking
// every learner record, and a worker with short timings.
func newFixture(t testing.TB, url string) *fixture {
	s := cmextest.NewStore(t, time.Now())
	s.Clock = nil
	s.DB.Now = time.Now
	p, _ := s.MOCActivity(t, "warm-up")
	if _, err := s.Persons.ImportPersons(context.Background(), []*cmex.Person{cmextest.Jane()}); err != nil {
		t.Fatal(err)
	}
	d := &cmex.Destination{OrganizationID: p.Organization.ID, Name: "hook", Kind: cmex.DestWebhook, URL: url, Enabled: true,
		Secrets: cmex.DestinationSecrets{WebhookSecret: secret, APIID: apiID}}
	if err := s.Deliveries.CreateDestination(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	w := outbox.New(s.Deliveries, map[cmex.DestinationKind]outbox.Forwarder{cmex.DestWebhook: &webhook.Forwarder{}}, slog.New(slog.DiscardHandler))
	w.Poll, w.Timeout, w.Backoff = 5*time.Millisecond, 200*time.Millisecond, outbox.Backoff{Base: 5 * time.Millisecond, Max: 40 * time.Millisecond}
	return &fixture{store: s, worker: w, p: p, dest: d}
}

// report registers n activities and reports Jane's completion of each:
// three credits, so three deliveries, each.
func (f *fixture) report(t testing.TB, n int) []cmex.CreditID {
	var ids []cmex.CreditID
	for i := range n {
		a, _, err := f.store.Activities.SaveActivity(context.Background(), cmex.ActivityChange{Action: "Add", Activity: cmextest.Activity(fmt.Sprintf("act-%d", i), 2025), By: f.p})
		if err != nil {
			t.Fatal(err)
		}
		recs, _, err := f.store.Learners.SaveLearnerReport(context.Background(), cmex.LearnerChange{Report: cmextest.JaneReport(a.ID, "2025-06-01", fmt.Sprintf("r%d", i)), By: f.p, Source: "test"})
		if err != nil {
			t.Fatal(err, cmex.ErrorProblems(err))
		}
		for _, r := range recs {
			ids = append(ids, r.CreditID)
		}
	}
	return ids
}

// run runs the worker until cond holds or the deadline passes.
func (f *fixture) run(t testing.TB, deadline time.Duration, cond func() bool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.worker.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("not done after %v", deadline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fixture) states(t testing.TB) map[cmex.DeliveryState]int {
	ds, err := f.store.Deliveries.ListDeliveries(context.Background(), cmex.DeliveryFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[cmex.DeliveryState]int{}
	for _, d := range ds {
		out[d.State]++
	}
	return out
}

// TestFlakyReceiver: a receiver that fails at random (500s, timeouts,
// dropped connections, 200s with garbage) still ends with every record
// delivered, and acknowledged, by CreditID.
func TestFlakyReceiver(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	var rmu sync.Mutex
	rc := &receiver{t: t, acked: map[cmex.CreditID]int{}}
	rc.misbehave = func(w http.ResponseWriter, r *http.Request) bool {
		rmu.Lock()
		x := rng.IntN(10)
		rmu.Unlock()
		switch x {
		case 0, 1:
			http.Error(w, "oops", http.StatusInternalServerError)
		case 2:
			time.Sleep(300 * time.Millisecond) // longer than the worker waits
			return false
		case 3:
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
		case 4:
			w.Write([]byte("<html>not an acknowledgement</html>"))
		case 5:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		default:
			return false
		}
		return true
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := newFixture(t, srv.URL)
	ids := f.report(t, 10)
	if n := f.states(t)[cmex.DeliveryPending]; n != 30 {
		t.Fatalf("%d pending deliveries, want 30 (3 credits × 10 reports)", n)
	}
	f.run(t, 60*time.Second, func() bool { return f.states(t)[cmex.DeliveryDelivered] == 30 })
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, id := range ids {
		if rc.acked[id] == 0 {
			t.Errorf("%s was never acknowledged", id)
		}
	}
	if len(rc.acked) != 30 || rc.calls <= 30 {
		t.Errorf("%d credits acknowledged in %d calls; the faults did not happen or records went missing", len(rc.acked), rc.calls)
	}
	if f.worker.Stats.Retried.Load() == 0 || f.worker.Stats.Delivered.Load() != 30 {
		t.Errorf("stats: retried %d, delivered %d", f.worker.Stats.Retried.Load(), f.worker.Stats.Delivered.Load())
	}
}

// TestPermanentRejection: a 4xx ends the delivery as rejected with the
// receiver's status, after one attempt; its body, which is no Ack echoing
// an api_id, is not kept.
func TestPermanentRejection(t *testing.T) {
	rc := &receiver{t: t, acked: map[cmex.CreditID]int{}}
	rc.misbehave = func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusUnprocessableEntity)
		w.Write([]byte(`{"error":"unknown licence"}`))
		return true
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := newFixture(t, srv.URL)
	f.report(t, 1)
	f.run(t, 10*time.Second, func() bool { return f.states(t)[cmex.DeliveryRejected] == 3 })
	ds, _ := f.store.Deliveries.ListDeliveries(context.Background(), cmex.DeliveryFilter{})
	for _, d := range ds {
		if d.Attempts != 1 || len(d.RemoteCodes) != 1 || d.RemoteCodes[0].Code != "422" || d.RemoteCodes[0].Message != "" {
			t.Errorf("rejected delivery = %+v", d)
		}
	}
	if rc.calls != 3 {
		t.Errorf("%d calls, want 3: a rejection is not retried", rc.calls)
	}
	// An operator retries one after fixing the cause.
	if err := f.store.Deliveries.RetryDelivery(context.Background(), f.p.Organization.ID, ds[0].ID); err != nil {
		t.Fatal(err)
	}
	rc.misbehave = nil
	f.run(t, 10*time.Second, func() bool { return f.states(t)[cmex.DeliveryDelivered] == 1 })
}

// TestLeaseTakeover: a delivery claimed by a worker that died is claimed
// again once its lease ends, and the first worker's late answer is ignored.
func TestLeaseTakeover(t *testing.T) {
	rc := &receiver{t: t, acked: map[cmex.CreditID]int{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := newFixture(t, srv.URL)
	f.report(t, 1)
	ctx := context.Background()
	now := time.Now()
	dead, err := f.store.Deliveries.ClaimDeliveries(ctx, "dead-worker", now, time.Minute, 10)
	if err != nil || len(dead) != 3 {
		t.Fatalf("claim: %d, %v", len(dead), err)
	}
	if again, _ := f.store.Deliveries.ClaimDeliveries(ctx, "other", now.Add(30*time.Second), time.Minute, 10); len(again) != 0 {
		t.Fatalf("claimed during the lease: %d", len(again))
	}
	taken, _ := f.store.Deliveries.ClaimDeliveries(ctx, "other", now.Add(61*time.Second), time.Minute, 10)
	if len(taken) != 3 || taken[0].Attempts != 2 {
		t.Fatalf("after the lease: %+v", taken)
	}
	if err := f.store.Deliveries.CompleteAttempt(ctx, dead[0].ID, "dead-worker", cmex.Outcome{Result: cmex.DeliveryRejected, Error: "late"}, now, now); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.store.Deliveries.Delivery(ctx, 0, dead[0].ID); d.State != cmex.DeliveryPending {
		t.Errorf("the dead worker's late answer counted: %+v", d)
	}
}

// TestOverdueAlert: a delivery undelivered past the threshold is flagged
// once.
func TestOverdueAlert(t *testing.T) {
	rc := &receiver{t: t, acked: map[cmex.CreditID]int{}}
	rc.misbehave = func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := newFixture(t, srv.URL)
	f.worker.AlertAfter = 50 * time.Millisecond
	f.report(t, 1)
	f.run(t, 10*time.Second, func() bool { return f.worker.Stats.Overdue.Load() == 3 })
	ds, _ := f.store.Deliveries.ListDeliveries(context.Background(), cmex.DeliveryFilter{State: cmex.DeliveryPending})
	for _, d := range ds {
		if !d.Overdue || d.LastError != "the receiver answered HTTP 503" {
			t.Errorf("overdue delivery = %+v", d)
		}
	}
	if n := f.worker.Stats.Overdue.Load(); n != 3 {
		t.Errorf("%d alerts, want one per delivery", n)
	}
}
