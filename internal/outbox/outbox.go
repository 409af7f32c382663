// Package outbox delivers what cmex accepted to the registries that need
// it: a worker claims due deliveries from the database (several replicas
// share them safely), hands each to its destination's forwarder, and
// records the answer. Transient failures are retried with capped, jittered
// exponential backoff; permanent rejections keep the remote's codes; a
// delivery late past a threshold raises an alert.
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/cmexhub/cmex"
)

// Forwarder speaks one destination kind's protocol.
type Forwarder interface {
	// Encode builds the bytes a delivery sends; cmex.ErrNotReady defers
	// the delivery, any other error rejects it.
	Encode(ctx context.Context, d *cmex.Destination, dl *cmex.Delivery) ([]byte, error)
	// Send sends payload once and says what came of it.
	Send(ctx context.Context, d *cmex.Destination, dl *cmex.Delivery, payload []byte) cmex.Outcome
}

// StatusChecker is a forwarder that can ask its destination where a
// delivered record stands (a board's approval through PARS).
type StatusChecker interface {
	// Status returns the record's status upstream in Outcome.Status, or ""
	// when it has not moved or cannot be read now.
	Status(ctx context.Context, d *cmex.Destination, dl *cmex.Delivery) cmex.Outcome
}

// Defaults of a Worker.
const (
	DefaultPoll        = 250 * time.Millisecond
	DefaultLease       = 2 * time.Minute
	DefaultTimeout     = 30 * time.Second
	DefaultMaxInFlight = 64
	DefaultAlertAfter  = time.Hour
	DefaultStatusEvery = 5 * time.Minute
)

// Backoff is the retry schedule: Base doubled per attempt up to Max, then
// a random part of the last half taken off so that retries spread out.
type Backoff struct {
	Base, Max time.Duration
}

// DefaultBackoff retries after about 2 s, 4 s, 8 s… up to an hour.
var DefaultBackoff = Backoff{Base: 2 * time.Second, Max: time.Hour}

// Delay is the wait before attempt n+1 after n attempts; random is in [0,1).
func (b Backoff) Delay(attempts int, random float64) time.Duration {
	d := float64(b.Base) * math.Pow(2, float64(max(attempts-1, 0)))
	if d > float64(b.Max) {
		d = float64(b.Max)
	}
	return time.Duration(d * (0.5 + random/2))
}

// Stats count what a worker did.
type Stats struct {
	Delivered, Rejected, Retried, Overdue atomic.Int64
}

// Worker runs the outbox.
type Worker struct {
	Deliveries cmex.DeliveryService
	Forwarders map[cmex.DestinationKind]Forwarder
	Logger     *slog.Logger
	// ID names this worker in leases; unique per process.
	ID          string
	Now         func() time.Time
	Poll        time.Duration
	Lease       time.Duration
	Timeout     time.Duration
	MaxInFlight int
	Backoff     Backoff
	// AlertAfter is how long a delivery may stay undelivered before it is
	// flagged and logged at error level.
	AlertAfter time.Duration
	// StatusEvery is how often delivered MOC records still waiting for a
	// board are checked with destinations that can tell.
	StatusEvery time.Duration

	Stats Stats

	mu    sync.Mutex
	dests map[cmex.DestinationID]*destination
}

// destination is a destination with its limits, reloaded now and then.
type destination struct {
	d       *cmex.Destination
	slots   chan struct{}
	limiter *rate.Limiter
	loaded  time.Time
}

// New returns a worker with the defaults.
func New(deliveries cmex.DeliveryService, forwarders map[cmex.DestinationKind]Forwarder, logger *slog.Logger) *Worker {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Worker{
		Deliveries: deliveries, Forwarders: forwarders, Logger: logger, ID: "worker-" + hex.EncodeToString(b[:]),
		Now: time.Now, Poll: DefaultPoll, Lease: DefaultLease, Timeout: DefaultTimeout, MaxInFlight: DefaultMaxInFlight,
		Backoff: DefaultBackoff, AlertAfter: DefaultAlertAfter, StatusEvery: DefaultStatusEvery,
		dests: map[cmex.DestinationID]*destination{},
	}
}

// Run delivers until ctx is done, then lets the attempts in flight finish.
func (w *Worker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, w.MaxInFlight)
	var lastOverdue, lastStatus time.Time
	for ctx.Err() == nil {
		if now := w.Now(); now.Sub(lastOverdue) > min(w.AlertAfter/10, time.Minute) {
			w.checkOverdue(ctx, now)
			lastOverdue = now
		}
		if now := w.Now(); w.StatusEvery > 0 && now.Sub(lastStatus) > w.StatusEvery {
			w.checkStatuses(ctx, now)
			lastStatus = now
		}
		free := cap(slots) - len(slots)
		var claimed []*cmex.Delivery
		if free > 0 {
			var err error
			claimed, err = w.Deliveries.ClaimDeliveries(ctx, w.ID, w.Now(), w.Lease, free)
			if err != nil && ctx.Err() == nil {
				w.Logger.ErrorContext(ctx, "outbox: claim", "err", err)
			}
		}
		for _, dl := range claimed {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				w.attempt(context.WithoutCancel(ctx), dl)
			}()
		}
		if len(claimed) == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(w.Poll):
			}
		}
	}
	wg.Wait()
}

// destination returns a delivery's destination with its limits.
func (w *Worker) destination(ctx context.Context, id cmex.DestinationID) (*destination, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ds := w.dests[id]
	if ds != nil && w.Now().Sub(ds.loaded) < time.Minute {
		return ds, nil
	}
	d, err := w.Deliveries.Destination(ctx, id)
	if err != nil {
		return nil, err
	}
	if ds == nil || cap(ds.slots) != d.Concurrency {
		ds = &destination{slots: make(chan struct{}, max(d.Concurrency, 1))}
	}
	ds.d, ds.loaded = d, w.Now()
	ds.limiter = rate.NewLimiter(rate.Inf, 1)
	if d.RatePerSecond > 0 {
		ds.limiter = rate.NewLimiter(rate.Limit(d.RatePerSecond), max(1, int(d.RatePerSecond)))
	}
	w.dests[id] = ds
	return ds, nil
}

// attempt makes one attempt at a delivery and records its outcome.
func (w *Worker) attempt(ctx context.Context, dl *cmex.Delivery) {
	ds, err := w.destination(ctx, dl.DestinationID)
	if err != nil {
		w.complete(ctx, dl, cmex.Outcome{Result: cmex.DeliveryPending, Error: "the destination could not be loaded"})
		w.Logger.ErrorContext(ctx, "outbox: load destination", "destination", dl.DestinationID, "err", err)
		return
	}
	fwd := w.Forwarders[ds.d.Kind]
	if fwd == nil {
		w.complete(ctx, dl, cmex.Outcome{Result: cmex.DeliveryRejected, Error: "no forwarder for destinations of kind " + string(ds.d.Kind)})
		return
	}
	ds.slots <- struct{}{}
	defer func() { <-ds.slots }()
	if err := ds.limiter.Wait(ctx); err != nil {
		w.complete(ctx, dl, cmex.Outcome{Result: cmex.DeliveryPending, Error: "rate limit: " + err.Error()})
		return
	}
	payload := dl.Payload
	if len(payload) == 0 {
		b, err := fwd.Encode(ctx, ds.d, dl)
		switch {
		case errors.Is(err, cmex.ErrNotReady):
			w.complete(ctx, dl, cmex.Outcome{Result: cmex.DeliveryPending, Error: err.Error()})
			return
		case err != nil:
			w.complete(ctx, dl, cmex.Outcome{Result: cmex.DeliveryRejected, Error: "the record cannot be sent there: " + err.Error()})
			return
		}
		if payload, err = w.Deliveries.SavePayload(ctx, dl.ID, w.ID, b); err != nil {
			w.Logger.ErrorContext(ctx, "outbox: save payload", "delivery", dl.ID, "err", err)
			return // the lease runs out and the delivery is claimed again
		}
	}
	sctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	w.complete(ctx, dl, fwd.Send(sctx, ds.d, dl, payload))
}

func (w *Worker) complete(ctx context.Context, dl *cmex.Delivery, o cmex.Outcome) {
	now := w.Now()
	next := now
	switch o.Result {
	case cmex.DeliveryDelivered:
		w.Stats.Delivered.Add(1)
	case cmex.DeliveryRejected:
		w.Stats.Rejected.Add(1)
		w.Logger.WarnContext(ctx, "outbox: rejected", "delivery", dl.ID, "destination", dl.Destination, "credit_id", dl.CreditID, "error", o.Error, "codes", o.Codes)
	default:
		o.Result = cmex.DeliveryPending
		w.Stats.Retried.Add(1)
		next = now.Add(max(w.Backoff.Delay(dl.Attempts, mrand.Float64()), o.RetryAfter))
		w.Logger.InfoContext(ctx, "outbox: will retry", "delivery", dl.ID, "destination", dl.Destination, "attempts", dl.Attempts, "error", o.Error, "at", next)
	}
	if err := w.Deliveries.CompleteAttempt(ctx, dl.ID, w.ID, o, now, next); err != nil {
		w.Logger.ErrorContext(ctx, "outbox: record outcome", "delivery", dl.ID, "err", err)
	}
}

func (w *Worker) checkOverdue(ctx context.Context, now time.Time) {
	late, err := w.Deliveries.MarkOverdue(ctx, now.Add(-w.AlertAfter))
	if err != nil {
		w.Logger.ErrorContext(ctx, "outbox: overdue check", "err", err)
		return
	}
	for _, d := range late {
		w.Stats.Overdue.Add(1)
		w.Logger.ErrorContext(ctx, "outbox: delivery overdue", "delivery", d.ID, "destination", d.Destination, "credit_id", d.CreditID,
			"attempts", d.Attempts, "since", d.CreatedAt, "last_error", d.LastError)
	}
}

// checkStatuses asks destinations that can tell where the delivered MOC
// records waiting for a board stand, and moves the records.
func (w *Worker) checkStatuses(ctx context.Context, now time.Time) {
	for kind, fwd := range w.Forwarders {
		sc, ok := fwd.(StatusChecker)
		if !ok {
			continue
		}
		waiting, err := w.Deliveries.AwaitingStatus(ctx, kind, now, 200)
		if err != nil {
			w.Logger.ErrorContext(ctx, "outbox: deliveries awaiting status", "err", err)
			continue
		}
		for _, dl := range waiting {
			ds, err := w.destination(ctx, dl.DestinationID)
			if err != nil {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, w.Timeout)
			o := sc.Status(sctx, ds.d, dl)
			cancel()
			if o.Status == "" {
				continue
			}
			if err := w.Deliveries.RecordStatus(ctx, dl.ID, o, now); err != nil {
				w.Logger.ErrorContext(ctx, "outbox: record status", "delivery", dl.ID, "err", err)
			}
		}
	}
}
