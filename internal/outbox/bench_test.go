package outbox_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/webhook"
)

// BenchmarkDrain10000 queues 10,000 deliveries to a local destination that
// answers in 20 ms and measures how long the worker, with its default
// concurrency, takes to deliver them all.
func BenchmarkDrain10000(b *testing.B) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		served.Add(1)
		json.NewEncoder(w).Encode(webhook.Ack{APIID: apiID, Result: "success"})
	}))
	defer srv.Close()
	for b.Loop() {
		b.StopTimer()
		f := newFixture(b, srv.URL)
		f.worker.Poll = 10 * time.Millisecond
		queue(b, f, 10000)
		b.StartTimer()
		start := time.Now()
		f.run(b, 5*time.Minute, func() bool { return f.worker.Stats.Delivered.Load() == 10000 })
		b.ReportMetric(time.Since(start).Seconds(), "s/10k")
	}
}

// queue inserts n pending deliveries to the fixture's destination, as the
// learner service would.
func queue(b *testing.B, f *fixture, n int) {
	tx, err := f.store.DB.SQL().Begin()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range n {
		snap, _ := json.Marshal(cmex.LearnerSnapshot{Record: &cmex.LearnerRecord{ID: cmex.LearnerRecordID(i + 1), CreditID: cmex.CreditID(fmt.Sprintf("ccid:bench:%d", i))}})
		if _, err := tx.Exec(`INSERT INTO deliveries (organization_id, destination_id, subject, record_id, credit_id, activity_id, event, snapshot, payload,
			state, attempts, next_attempt_at, lease_until, leased_by, last_error, remote_codes, remote_id, overdue, created_at, updated_at, delivered_at)
			VALUES (?, ?, 'learner-record', ?, ?, 1, 'add', ?, NULL, 'pending', 0, ?, NULL, '', '', '[]', '', FALSE, ?, ?, NULL)`,
			f.p.Organization.ID, f.dest.ID, i+1, fmt.Sprintf("ccid:bench:%d", i), string(snap), now, now, now); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
