package boardsim_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/boardsim"
	"github.com/cmexhub/cmex/internal/cmextest"
)

func TestBoardMovesMOCRecords(t *testing.T) {
	start := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
	store := cmextest.NewStore(t, start)
	ctx := context.Background()
	p, a := store.MOCActivity(t, "moc")
	if _, err := store.Persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane()}); err != nil {
		t.Fatal(err)
	}
	learners := store.Learners
	recs, _, err := learners.SaveLearnerReport(ctx, cmex.LearnerChange{Report: cmextest.JaneReport(a.ID, "2025-06-01", "b"), By: p})
	if err != nil {
		t.Fatal(err, cmex.ErrorProblems(err))
	}
	board := &boardsim.Board{
		Learners: learners, Logger: slog.New(slog.DiscardHandler), Delay: 3 * time.Second, Now: store.Clock.Now,
		Reject: func(r *cmex.LearnerRecord) (string, string, bool) {
			return "661", "Diplomate ID not found in Board records.", r.CreditType == "Patient Safety"
		},
	}
	status := func() map[string]cmex.LearnerStatus {
		m := map[string]cmex.LearnerStatus{}
		for _, r := range recs {
			got, err := learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderA, CreditID: r.CreditID})
			if err != nil || len(got) != 1 {
				t.Fatalf("find %s: %v", r.CreditID, err)
			}
			m[r.Certification] = got[0].Status
		}
		return m
	}
	step := func(advance time.Duration, wantMoved int, want map[string]cmex.LearnerStatus) {
		t.Helper()
		store.Clock.Advance(advance)
		n, err := board.Step(ctx)
		if err != nil || n != wantMoved {
			t.Fatalf("step: moved %d, %v; want %d", n, err, wantMoved)
		}
		got := status()
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s, want %s", k, got[k], v)
			}
		}
	}
	step(time.Second, 0, map[string]cmex.LearnerStatus{"ABIM Medical Knowledge": cmex.StatusAccepted})
	step(2*time.Second, 2, map[string]cmex.LearnerStatus{
		"AMA PRA Category 1": cmex.StatusAccepted, "ABIM Medical Knowledge": cmex.StatusSubmitted, "ABIM Patient Safety": cmex.StatusSubmitted,
	})
	step(time.Second, 0, nil)
	step(2*time.Second, 2, map[string]cmex.LearnerStatus{
		"AMA PRA Category 1": cmex.StatusAccepted, "ABIM Medical Knowledge": cmex.StatusApproved, "ABIM Patient Safety": cmex.StatusRejected,
	})
	step(time.Hour, 0, nil)
	hist, err := learners.LearnerRecordHistory(ctx, cmextest.ProviderA, recs[2].ID)
	if err != nil || len(hist) != 3 || hist[2].Code != "661" || hist[2].Source != "board:ABIM (sandbox)" {
		t.Errorf("history: %+v %v", hist, err)
	}
}

// movesBy counts the records each board moved.
type movesBy struct {
	cmex.LearnerService
	by    string
	mu    *sync.Mutex
	moves map[string]int
}

func (m movesBy) MoveLearnerRecord(ctx context.Context, id cmex.LearnerRecordID, from cmex.LearnerStatus, ch cmex.StatusChange) (bool, error) {
	ok, err := m.LearnerService.MoveLearnerRecord(ctx, id, from, ch)
	if ok {
		m.mu.Lock()
		m.moves[m.by]++
		m.mu.Unlock()
	}
	return ok, err
}

// TestOneBoardAmongReplicas: the boards of two replicas on one database
// take turns by a lease: while both run, one makes every decision; when it
// stops, the other takes over.
func TestOneBoardAmongReplicas(t *testing.T) {
	store := cmextest.NewStore(t, time.Now())
	store.Clock = nil
	store.DB.Now = time.Now
	ctx := context.Background()
	p, _ := store.MOCActivity(t, "moc")
	if _, err := store.Persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane()}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	moves := map[string]int{}
	boards := map[string]*boardsim.Board{}
	for _, name := range []string{"a", "b"} {
		boards[name] = &boardsim.Board{Learners: movesBy{store.Learners, name, &mu, moves}, Logger: slog.New(slog.DiscardHandler),
			Delay: 100 * time.Millisecond, Interval: 10 * time.Millisecond, Leases: store.Leases, Holder: "replica-" + name}
	}
	report := func(id string) {
		t.Helper()
		_, a := store.MOCActivity(t, "moc-"+id)
		if _, _, err := store.Learners.SaveLearnerReport(ctx, cmex.LearnerChange{Report: cmextest.JaneReport(a.ID, "2025-06-01", id), By: p}); err != nil {
			t.Fatal(err, cmex.ErrorProblems(err))
		}
	}
	run := func(names ...string) {
		t.Helper()
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, n := range names {
			wg.Go(func() { boards[n].Run(rctx) })
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			total := moves["a"] + moves["b"]
			mu.Unlock()
			if total == 4 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("moves: %v, want 4 (two MOC records, submitted and decided)", moves)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // time for a second board to act, were there one
		cancel()
		wg.Wait()
	}
	report("one")
	run("a", "b")
	if moves["a"]+moves["b"] != 4 || moves["a"] != 0 && moves["b"] != 0 {
		t.Errorf("with both running: moves %v; want all four by one board", moves)
	}
	first := "a"
	if moves["b"] != 0 {
		first = "b"
	}
	other := map[string]string{"a": "b", "b": "a"}[first]
	clear(moves)
	report("two")
	run(other) // the first released its lease when it stopped
	if moves[other] != 4 {
		t.Errorf("after %s stopped: moves %v; want four by %s", first, moves, other)
	}
}
