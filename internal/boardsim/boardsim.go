// Package boardsim simulates the certifying boards for the sandbox. PARS
// hands accepted MOC records to their board overnight and the board later
// approves or rejects them; here a Board does both after a short delay, so
// that an integrator can watch a record go Accepted → Submitted → Approved
// (or Rejected, for learners the sandbox flags) within seconds.
package boardsim

import (
	"context"
	"log/slog"
	"time"

	"github.com/cmexhub/cmex"
)

// Board moves MOC learner records through the board's part of their life.
type Board struct {
	Learners cmex.LearnerService
	Logger   *slog.Logger
	// Delay is how long a record stays Accepted before it is submitted, and
	// Submitted before the board decides.
	Delay time.Duration
	// Interval is how often the board looks for work; Delay/4 if zero.
	Interval time.Duration
	// Reject says whether the board rejects a record, with its code and
	// reason; nil approves everything.
	Reject func(r *cmex.LearnerRecord) (code, reason string, reject bool)
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

func (b *Board) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Run works until ctx is done. Errors are logged and retried on the next
// tick: a board that cannot reach the database now will later.
func (b *Board) Run(ctx context.Context) {
	every := b.Interval
	if every <= 0 {
		every = max(b.Delay/4, 50*time.Millisecond)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := b.Step(ctx); err != nil && ctx.Err() == nil {
			b.Logger.Error("simulated board", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Step does one pass of the board's work and returns how many records it
// moved: records Accepted for Delay are submitted, records Submitted for
// Delay are approved or rejected.
func (b *Board) Step(ctx context.Context) (int, error) {
	moved := 0
	due := b.now().Add(-b.Delay)
	for _, stage := range []cmex.LearnerStatus{cmex.StatusSubmitted, cmex.StatusAccepted} {
		recs, err := b.Learners.RecordsAwaiting(ctx, stage, due, 500)
		if err != nil {
			return moved, err
		}
		for _, r := range recs {
			ch := cmex.StatusChange{Source: "board:" + r.Board + " (sandbox)", At: b.now()}
			if stage == cmex.StatusAccepted {
				ch.Status = cmex.StatusSubmitted
			} else if code, reason, reject := b.decide(r); reject {
				ch.Status, ch.Code, ch.Reason = cmex.StatusRejected, code, reason
			} else {
				ch.Status = cmex.StatusApproved
			}
			ok, err := b.Learners.MoveLearnerRecord(ctx, r.ID, stage, ch)
			if err != nil {
				return moved, err
			}
			if ok {
				moved++
				b.Logger.Info("simulated board moved a learner record", "record", r.ID, "board", r.Board, "from", stage, "to", ch.Status)
			}
		}
	}
	return moved, nil
}

func (b *Board) decide(r *cmex.LearnerRecord) (string, string, bool) {
	if b.Reject == nil {
		return "", "", false
	}
	return b.Reject(r)
}
