// Package boardsim simulates the certifying boards for the sandbox. PARS
// hands accepted MOC records to their board overnight and the board later
// approves or rejects them; here a Board does both after a short delay, so
// that an integrator can watch a record go Accepted → Submitted → Approved
// (or Rejected, for learners the sandbox flags) within seconds. Of several
// replicas on one database, one runs the boards at a time, by a lease.
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
	// Leases, when set, make the boards one replica's at a time: Run
	// steps only while Holder holds the lease Lease, taken at each tick
	// for three ticks (at least a second), so that a stopped replica's
	// boards move to another within that. Nil: this process is alone on
	// its database.
	Leases cmex.LeaseService
	Holder string
}

// Lease is the name of the boards' lease.
const Lease = "sandbox:boards"

func (b *Board) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Run works until ctx is done. Errors are logged and retried on the next
// tick: a board that cannot reach the database now will later. Two boards
// moving one record would not move it twice (MoveLearnerRecord moves it
// from the stage it was read at only), but would decide it twice, and log
// both; the lease keeps the deciding on one replica.
func (b *Board) Run(ctx context.Context) {
	every := b.Interval
	if every <= 0 {
		every = max(b.Delay/4, 50*time.Millisecond)
	}
	ttl := max(3*every, time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	if b.Leases != nil {
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if err := b.Leases.Release(rctx, Lease, b.Holder); err != nil {
				b.Logger.Warn("simulated board: release lease; it ends when it expires", "err", err)
			}
		}()
	}
	for {
		if b.hold(ctx, ttl) {
			if _, err := b.Step(ctx); err != nil && ctx.Err() == nil {
				b.Logger.Error("simulated board", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// hold takes or extends the boards' lease, and reports whether this board
// holds it.
func (b *Board) hold(ctx context.Context, ttl time.Duration) bool {
	if b.Leases == nil {
		return true
	}
	ok, err := b.Leases.TryAcquire(ctx, Lease, b.Holder, b.now(), ttl)
	if err != nil && ctx.Err() == nil {
		b.Logger.Error("simulated board: take lease", "err", err)
	}
	return ok && err == nil
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
