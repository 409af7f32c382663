package outbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/outbox"
	"github.com/cmexhub/cmex/internal/webhook"
)

// polls are the status questions workers asked, by delivery: who asked,
// in order.
type polls struct {
	mu    sync.Mutex
	asked map[cmex.DeliveryID][]string
}

// statusHook is a webhook forwarder that can also be asked for statuses;
// the records never move.
type statusHook struct {
	webhook.Forwarder
	polls *polls
	by    string
}

func (h *statusHook) Status(ctx context.Context, d *cmex.Destination, dl *cmex.Delivery) cmex.Outcome {
	h.polls.mu.Lock()
	defer h.polls.mu.Unlock()
	h.polls.asked[dl.ID] = append(h.polls.asked[dl.ID], h.by)
	return cmex.Outcome{}
}

// TestStatusPolledOncePerInterval: two workers on one database, each
// polling statuses every 300 ms for 3 s, ask about each waiting record
// about ten times between them, not twenty: the destination's lease keeps
// the polling on one of them at a time. When the last holder stops, the
// other takes over at once (the lease was released).
func TestStatusPolledOncePerInterval(t *testing.T) {
	rc := &receiver{t: t, acked: map[cmex.CreditID]int{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	f := newFixture(t, srv.URL)
	f.report(t, 1)
	f.run(t, 10*time.Second, func() bool { return f.states(t)[cmex.DeliveryDelivered] == 3 })

	const every, window = 300 * time.Millisecond, 3 * time.Second
	p := &polls{asked: map[cmex.DeliveryID][]string{}}
	workers := map[string]*outbox.Worker{}
	for _, name := range []string{"a", "b"} {
		w := outbox.New(f.store.Deliveries, map[cmex.DestinationKind]outbox.Forwarder{cmex.DestWebhook: &statusHook{polls: p, by: name}}, slog.New(slog.DiscardHandler))
		w.ID, w.Leases, w.StatusEvery, w.Poll = "worker-"+name, f.store.Leases, every, 5*time.Millisecond
		workers[name] = w
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.Run(ctx) })
	}
	time.Sleep(window)
	cancel()
	wg.Wait()

	p.mu.Lock()
	if len(p.asked) != 2 {
		t.Fatalf("asked about %d deliveries, want 2 (the MOC credits'): %v", len(p.asked), p.asked)
	}
	var holder string
	for id, by := range p.asked {
		// At most one poll per interval, and one for the start.
		if most := int(window/every) + 1; len(by) > most || len(by) < 2 {
			t.Errorf("delivery %d asked about %d times in %v at one poll every %v (want 2 to %d): %v", id, len(by), window, every, most, by)
		}
		// The holder keeps its lease from one poll to the next; on a loaded
		// machine a late tick may hand it over, which is no double poll.
		t.Logf("delivery %d asked by %v", id, by)
		holder = by[len(by)-1]
	}
	p.asked = map[cmex.DeliveryID][]string{}
	p.mu.Unlock()

	other := workers["a"]
	if holder == "a" {
		other = workers["b"]
	}
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { other.Run(ctx); close(done) }()
	time.Sleep(every)
	cancel()
	<-done
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.asked) != 2 {
		t.Errorf("after %s stopped, the other asked about %v", holder, p.asked)
	}
}

// reportOne registers an activity and reports Jane's completion of it:
// three deliveries.
func reportOne(t *testing.T, f *fixture, tag string) {
	t.Helper()
	a, _, err := f.store.Activities.SaveActivity(context.Background(), cmex.ActivityChange{Action: "Add", Activity: cmextest.Activity("act-"+tag, 2025), By: f.p})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.Learners.SaveLearnerReport(context.Background(), cmex.LearnerChange{Report: cmextest.JaneReport(a.ID, "2025-06-01", "r-"+tag), By: f.p, Source: "test"}); err != nil {
		t.Fatal(err, cmex.ErrorProblems(err))
	}
}

// TestDestinationChangeTakesEffect: a destination changed in the database
// (as through another replica) is used from the worker's next attempt on,
// not a minute later: its new URL and signing secret; disabled, it is sent
// nothing, its deliveries waiting until it is enabled again.
func TestDestinationChangeTakesEffect(t *testing.T) {
	var oldCalls, newCalls, badSignatures atomic.Int64
	oldSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		oldCalls.Add(1)
		json.NewEncoder(w).Encode(webhook.Ack{APIID: apiID, Result: "success"})
	}))
	defer oldSrv.Close()
	newSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !webhook.Verify("whsec-rotated", body, r.Header.Get(webhook.HeaderSignature)) {
			badSignatures.Add(1)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		newCalls.Add(1)
		json.NewEncoder(w).Encode(webhook.Ack{APIID: apiID, Result: "success"})
	}))
	defer newSrv.Close()
	f := newFixture(t, oldSrv.URL)
	ctx := context.Background()
	update := func(change func(d *cmex.Destination)) {
		t.Helper()
		d, err := f.store.Deliveries.Destination(ctx, f.dest.ID)
		if err != nil {
			t.Fatal(err)
		}
		change(d)
		if err := f.store.Deliveries.UpdateDestination(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	reportOne(t, f, "1")
	f.run(t, 30*time.Second, func() bool { return f.states(t)[cmex.DeliveryDelivered] == 3 })

	update(func(d *cmex.Destination) { d.URL, d.Secrets.WebhookSecret = newSrv.URL, "whsec-rotated" })
	reportOne(t, f, "2")
	f.run(t, 30*time.Second, func() bool { return f.states(t)[cmex.DeliveryDelivered] == 6 })
	if oldCalls.Load() != 3 || newCalls.Load() != 3 || badSignatures.Load() != 0 {
		t.Errorf("calls: %d to the old URL, %d to the new, %d with the old secret; want 3, 3, 0", oldCalls.Load(), newCalls.Load(), badSignatures.Load())
	}

	reportOne(t, f, "3") // while no worker runs: three deliveries wait
	update(func(d *cmex.Destination) { d.Enabled = false })
	f.run(t, 30*time.Second, func() bool {
		ds, _ := f.store.Deliveries.ListDeliveries(ctx, cmex.DeliveryFilter{State: cmex.DeliveryPending})
		waiting := 0
		for _, d := range ds {
			if d.LastError == "the destination is disabled" && d.Attempts >= 2 {
				waiting++
			}
		}
		return waiting == 3
	})
	if n := newCalls.Load() + oldCalls.Load(); n != 6 {
		t.Errorf("%d calls to a disabled destination", n-6)
	}
	update(func(d *cmex.Destination) { d.Enabled = true })
	f.run(t, 30*time.Second, func() bool { return f.states(t)[cmex.DeliveryDelivered] == 9 })
	if newCalls.Load() != 6 {
		t.Errorf("%d calls to the new URL, want 6", newCalls.Load())
	}
}

// TestConcurrencyChangeKeepsLimit: a destination's concurrency is kept
// while it is read afresh at every attempt (a limiter or slots made anew
// each time would let everything through at once), and a change to it is
// followed.
func TestConcurrencyChangeKeepsLimit(t *testing.T) {
	var inFlight, most atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(30 * time.Millisecond)
		json.NewEncoder(w).Encode(webhook.Ack{APIID: apiID, Result: "success"})
	}))
	defer srv.Close()
	f := newFixture(t, srv.URL)
	ctx := context.Background()
	for _, limit := range []int{2, 5} {
		d, err := f.store.Deliveries.Destination(ctx, f.dest.ID)
		if err != nil {
			t.Fatal(err)
		}
		d.Concurrency = limit
		if err := f.store.Deliveries.UpdateDestination(ctx, d); err != nil {
			t.Fatal(err)
		}
		most.Store(0)
		for i := range 5 {
			reportOne(t, f, fmt.Sprintf("c%d-%d", limit, i))
		}
		want := f.states(t)[cmex.DeliveryDelivered] + 15
		f.run(t, 20*time.Second, func() bool { return f.states(t)[cmex.DeliveryDelivered] == want })
		if m := most.Load(); m > int64(limit) || limit == 5 && m <= 2 {
			t.Errorf("concurrency %d: at most %d in flight", limit, m)
		}
	}
}
