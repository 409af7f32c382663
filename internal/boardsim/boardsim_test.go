package boardsim_test

import (
	"context"
	"log/slog"
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
