package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	if err := f.store.Deliveries.CompleteAttempt(ctx, dead[0].ID, "dead-worker", cmex.Outcome{Result: cmex.DeliveryRejected, Error: "late"}, now, now); !errors.Is(err, cmex.ErrLeaseLost) {
		t.Fatalf("the dead worker's late answer: %v", err)
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

// TestRetryAfterIsTheWait: when the receiver says when to come back, that
// is the wait, held within the floor and the cap, even when the backoff
// would wait longer or shorter; a failure that says nothing waits the
// jittered backoff. The worker's clock stands still, so each delivery is
// tried once and its next attempt is read exactly.
func TestRetryAfterIsTheWait(t *testing.T) {
	for name, tc := range map[string]struct {
		status           int
		retryAfter, date string
		want             time.Duration
	}{
		"429, 1 s (shorter than the backoff)": {429, "1", "", time.Second},
		"503, 5 s (longer than the backoff)":  {503, "5", "", 5 * time.Second},
		"503, a date 90 s after its Date":     {503, "DATE+90", "DATE", 90 * time.Second}, // the receiver's clock an hour behind
		"429, 0: the floor":                   {429, "0", "", time.Second},
		"503, two hours: the cap":             {503, "7200", "", time.Hour},
		"500, no Retry-After: the backoff":    {500, "", "", 1500 * time.Millisecond}, // 2 s × (0.5 + 0.5/2)
		"429, unreadable: the backoff":        {429, "soon", "", 1500 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			var t0 time.Time
			var header *strings.Replacer // set before the worker runs
			rc := &receiver{t: t, acked: map[cmex.CreditID]int{}}
			rc.misbehave = func(w http.ResponseWriter, r *http.Request) bool {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", header.Replace(tc.retryAfter))
				}
				if tc.date != "" {
					w.Header().Set("Date", header.Replace(tc.date))
				}
				w.WriteHeader(tc.status)
				return true
			}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			f := newFixture(t, srv.URL)
			f.report(t, 1)
			t0 = time.Now().UTC().Truncate(time.Second).Add(time.Second) // after the deliveries were made: they are due
			remote := t0.Add(-time.Hour)
			header = strings.NewReplacer("DATE+90", remote.Add(90*time.Second).Format(http.TimeFormat), "DATE", remote.Format(http.TimeFormat))
			f.worker.Now = func() time.Time { return t0 }
			f.worker.Backoff, f.worker.Random = outbox.DefaultBackoff, func() float64 { return 0.5 }
			tried := func() []*cmex.Delivery {
				ds, _ := f.store.Deliveries.ListDeliveries(context.Background(), cmex.DeliveryFilter{})
				var out []*cmex.Delivery
				for _, d := range ds {
					if d.Attempts == 1 && d.LastError != "" {
						out = append(out, d)
					}
				}
				return out
			}
			f.run(t, 10*time.Second, func() bool { return len(tried()) == 3 })
			for _, d := range tried() {
				if got := d.NextAttemptAt.Sub(t0); got != tc.want || d.State != cmex.DeliveryPending {
					t.Errorf("delivery %d (%s): next attempt %v after the answer, want %v", d.ID, d.LastError, got, tc.want)
				}
			}
		})
	}
}

// TestSteps: the schedule doubles at every attempt while the destination
// is down, and at every third while it answers.
func TestSteps(t *testing.T) {
	for _, tc := range []struct {
		attempts int
		outage   bool
		want     int
	}{
		{1, true, 1}, {2, true, 2}, {6, true, 6}, {0, true, 1},
		{1, false, 1}, {3, false, 1}, {4, false, 2}, {6, false, 2}, {7, false, 3}, {30, false, 10}, {0, false, 1},
	} {
		if got := outbox.Steps(tc.attempts, tc.outage); got != tc.want {
			t.Errorf("Steps(%d, %v) = %d, want %d", tc.attempts, tc.outage, got, tc.want)
		}
	}
	b := outbox.DefaultBackoff
	if got := b.Delay(outbox.Steps(7, false), 0.999999); got > 8*time.Second {
		t.Errorf("the 7th failure at a destination that answers others waits %v", got)
	}
	if got := b.Delay(outbox.Steps(7, true), 0); got != 64*time.Second {
		t.Errorf("the 7th failure in an outage waits %v", got)
	}
	if got := b.Delay(outbox.Steps(40, false), 0); got != 30*time.Minute {
		t.Errorf("a delivery that always fails at a destination that answers waits %v at its 40th attempt, want half the cap", got)
	}
}

// TestOutageBacksOff: at a destination that answers nothing but 503, the
// failures of its first OutageAfter are retried every few seconds (the
// worker cannot tell an outage yet), and after it each failure doubles the
// wait, as a plain exponential backoff does.
func TestOutageBacksOff(t *testing.T) {
	rc := &receiver{t: t, acked: map[cmex.CreditID]int{}}
	rc.misbehave = func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := newFixture(t, srv.URL)
	var mu sync.Mutex
	clock := time.Now().UTC().Add(time.Second)
	f.worker.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	f.worker.Backoff, f.worker.Random, f.worker.OutageAfter = outbox.DefaultBackoff, func() float64 { return 0 }, 5*time.Second
	f.report(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.worker.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// Waits of 2 s × 2^(steps-1) × 0.5: steps 1, 1, 1, 2 (every third
	// attempt) while the last answer is less than 5 s old, then 5, 6
	// (every attempt).
	for attempt, want := range []time.Duration{0, time.Second, time.Second, time.Second, 2 * time.Second, 16 * time.Second, 32 * time.Second} {
		if attempt == 0 {
			continue
		}
		var ds []*cmex.Delivery
		end := time.Now().Add(10 * time.Second)
		for {
			ds, _ = f.store.Deliveries.ListDeliveries(context.Background(), cmex.DeliveryFilter{})
			n := 0
			for _, d := range ds {
				if d.Attempts == attempt && d.LastError != "" && d.NextAttemptAt.After(f.worker.Now()) {
					n++
				}
			}
			if n == 3 {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("attempt %d not made: %+v", attempt, ds)
			}
			time.Sleep(10 * time.Millisecond)
		}
		var latest time.Time
		for _, d := range ds {
			if got := d.NextAttemptAt.Sub(f.worker.Now()); got != want {
				t.Errorf("attempt %d of delivery %d: waits %v, want %v", attempt, d.ID, got, want)
			}
			if d.NextAttemptAt.After(latest) {
				latest = d.NextAttemptAt
			}
		}
		mu.Lock()
		clock = latest
		mu.Unlock()
	}
}

// TestHeartbeat: an attempt longer than the lease keeps its delivery: the
// worker renews the lease while the attempt is in flight, so another
// worker claiming all along gets nothing and the receiver gets each record
// once.
func TestHeartbeat(t *testing.T) {
	sent := make(chan struct{}, 3)
	rc := &receiver{t: t, acked: map[cmex.CreditID]int{}}
	rc.misbehave = func(w http.ResponseWriter, r *http.Request) bool {
		sent <- struct{}{}
		time.Sleep(1200 * time.Millisecond) // four leases
		return false
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := newFixture(t, srv.URL)
	// Claiming once, not again for a minute: only the heartbeat keeps the
	// leases (the worker's own next claim would take its lapsed leases back).
	f.worker.Lease, f.worker.Timeout, f.worker.Poll = 300*time.Millisecond, 5*time.Second, time.Minute
	f.report(t, 1)
	var stolen atomic.Int64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select { // the worker has claimed them all and the attempts are in flight
		case <-sent:
		case <-stop:
			return
		}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			got, _ := f.store.Deliveries.ClaimDeliveries(context.Background(), "thief", time.Now(), time.Minute, 10)
			stolen.Add(int64(len(got)))
		}
	}()
	defer func() { close(stop); <-stopped }()
	f.run(t, 5*time.Second, func() bool { return f.states(t)[cmex.DeliveryDelivered] == 3 || stolen.Load() > 0 })
	if n := stolen.Load(); n != 0 {
		t.Fatalf("another worker took over %d deliveries in flight", n)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.calls != 3 || len(rc.acked) != 3 || f.states(t)[cmex.DeliveryDelivered] != 3 {
		t.Errorf("%d calls, %d credits acknowledged, %v; want 3, 3 and 3 delivered", rc.calls, len(rc.acked), f.states(t))
	}
}

// TestLeaseLostCallsOff: when an operator cancels a delivery in flight, the
// next renewal finds the lease gone and calls the attempt off: the request
// is abandoned, and nothing the worker learns is recorded.
func TestLeaseLostCallsOff(t *testing.T) {
	arrived, abandoned := make(chan struct{}, 3), make(chan time.Duration, 3)
	rc := &receiver{t: t, acked: map[cmex.CreditID]int{}}
	rc.misbehave = func(w http.ResponseWriter, r *http.Request) bool {
		start := time.Now()
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
			abandoned <- time.Since(start)
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := newFixture(t, srv.URL)
	f.worker.Lease, f.worker.Timeout = 300*time.Millisecond, 10*time.Second
	f.report(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.worker.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for range 3 {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the attempts did not arrive")
		}
	}
	ds, _ := f.store.Deliveries.ListDeliveries(context.Background(), cmex.DeliveryFilter{})
	for _, d := range ds {
		if err := f.store.Deliveries.CancelDelivery(context.Background(), 0, d.ID); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		select {
		case d := <-abandoned:
			if d > 2*time.Second {
				t.Errorf("abandoned after %v", d)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("an attempt whose lease was lost went on")
		}
	}
	if n := f.states(t)[cmex.DeliveryCancelled]; n != 3 || f.worker.Stats.Delivered.Load() != 0 {
		t.Errorf("%d cancelled, %d delivered", n, f.worker.Stats.Delivered.Load())
	}
}

// unreachableStore is a delivery store whose first fail calls to record an
// outcome meet the database gone (the connection reset), as while
// PostgreSQL restarts.
type unreachableStore struct {
	cmex.DeliveryService
	fail   atomic.Int64
	failed atomic.Int64
}

func (s *unreachableStore) CompleteAttempt(ctx context.Context, id cmex.DeliveryID, worker string, o cmex.Outcome, now, next time.Time) error {
	if s.fail.Add(-1) >= 0 {
		s.failed.Add(1)
		return fmt.Errorf("complete delivery: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET})
	}
	return s.DeliveryService.CompleteAttempt(ctx, id, worker, o, now, next)
}

// TestOutcomeRecordedAfterOutage: an outcome the database could not take
// (it was restarting) is recorded when it is back, within the lease, so the
// delivery the receiver took is not sent again once the lease lapses.
func TestOutcomeRecordedAfterOutage(t *testing.T) {
	rc := &receiver{t: t, acked: map[cmex.CreditID]int{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := newFixture(t, srv.URL)
	store := &unreachableStore{DeliveryService: f.worker.Deliveries}
	store.fail.Store(6) // two failures for each of the three deliveries, or thereabouts
	f.worker.Deliveries, f.worker.Lease = store, 2*time.Second
	f.report(t, 1)
	// The worker runs on for a lease and a half after the last is
	// recorded: one whose lease lapsed would have been sent again by then.
	var all time.Time
	f.run(t, 15*time.Second, func() bool {
		if all.IsZero() && f.states(t)[cmex.DeliveryDelivered] == 3 {
			all = time.Now()
		}
		return !all.IsZero() && time.Since(all) > 3*f.worker.Lease/2
	})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if store.failed.Load() != 6 {
		t.Fatalf("%d outcomes failed to record, want 6", store.failed.Load())
	}
	if rc.calls != 3 || len(rc.acked) != 3 {
		t.Errorf("%d calls for %d credits acknowledged; want 3 and 3 (no delivery sent twice)", rc.calls, len(rc.acked))
	}
}

// committedStore is a delivery store whose outcomes commit and then, as
// pgx does, report the cancellation of their context if it comes while
// the commit's answer is still being read: here, while the heartbeat's
// renewal that the commit unblocked runs.
type committedStore struct {
	cmex.DeliveryService
	committed atomic.Int64
	renewed   chan struct{}
}

func (s *committedStore) CompleteAttempt(ctx context.Context, id cmex.DeliveryID, worker string, o cmex.Outcome, now, next time.Time) error {
	if err := s.DeliveryService.CompleteAttempt(context.WithoutCancel(ctx), id, worker, o, now, next); err != nil {
		return err
	}
	s.committed.Add(1)
	select {
	case <-s.renewed:
	case <-time.After(2 * time.Second):
	}
	select {
	case <-ctx.Done():
	case <-time.After(300 * time.Millisecond):
	}
	return ctx.Err()
}

func (s *committedStore) RenewLeases(ctx context.Context, worker string, ids []cmex.DeliveryID, now time.Time, lease time.Duration) ([]cmex.DeliveryID, error) {
	held, err := s.DeliveryService.RenewLeases(ctx, worker, ids, now, lease)
	if s.committed.Load() > 0 {
		select {
		case s.renewed <- struct{}{}:
		default:
		}
	}
	return held, err
}

// TestRenewalAfterTheAnswer: a renewal that runs while an attempt's
// outcome commits finds the lease gone (the outcome ended it) and must not
// call the attempt off: the outcome is recorded, counted, and not logged
// as lost or failed (seen in TestCluster on PostgreSQL as "lease lost"
// then "record outcome: commit: context canceled" for a delivery whose
// outcome was in fact committed).
func TestRenewalAfterTheAnswer(t *testing.T) {
	rc := &receiver{t: t, acked: map[cmex.CreditID]int{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := newFixture(t, srv.URL)
	var logs strings.Builder
	var mu sync.Mutex
	f.worker.Logger = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelWarn}))
	store := &committedStore{DeliveryService: f.store.Deliveries, renewed: make(chan struct{})}
	f.worker.Deliveries = store
	f.worker.Lease = 300 * time.Millisecond // renewed every 100 ms
	f.report(t, 1)
	// Run until the three are recorded, and their attempts have returned
	// (each waits for a renewal, then a little, after its commit).
	f.run(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return f.states(t)[cmex.DeliveryDelivered] == 3 && (f.worker.Stats.Delivered.Load() == 3 || strings.Count(logs.String(), "record outcome") == 3)
	})
	mu.Lock()
	defer mu.Unlock()
	if n := f.worker.Stats.Delivered.Load(); n != 3 || logs.Len() > 0 {
		t.Errorf("%d deliveries counted, want 3; logged:\n%s", n, logs.String())
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
