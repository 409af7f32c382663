// Package outbox delivers what cmex accepted to the registries that need
// it: a worker claims due deliveries from the database with a short lease
// that it renews while each attempt is in flight (several replicas share
// them safely, and a dead one's claims come back within a lease), hands
// each to its destination's forwarder, and records the answer. A
// destination that says when to come back (Retry-After) is tried again
// then; other transient failures are retried with capped, jittered
// exponential backoff; permanent rejections keep the remote's codes; a
// delivery late past a threshold raises an alert.
//
// What must happen once in a cluster, not once per replica, is done under
// a named lease (cmex.LeaseService): flagging overdue deliveries, and
// polling each destination for its records' statuses (one replica per
// destination; different destinations may be polled by different
// replicas). A destination is read afresh at every attempt, so a change
// made through any replica is in force on all of them at their next
// attempt.
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
	DefaultLease       = 15 * time.Second
	DefaultTimeout     = 30 * time.Second
	DefaultMaxInFlight = 64
	DefaultAlertAfter  = time.Hour
	DefaultStatusEvery = 5 * time.Minute
	DefaultOutageAfter = time.Minute
)

// Backoff is the retry schedule of failures that do not say when to come
// back: Base doubled per step up to Max, then a random part of the last
// half taken off so that retries spread out. A destination's Retry-After
// is the wait instead, held within Floor and Max.
type Backoff struct {
	Base, Max time.Duration
	// Floor is the shortest wait a Retry-After is held to (a "0" or a date
	// already past would otherwise retry at once, again and again).
	Floor time.Duration
}

// DefaultBackoff retries after about 2 s, 4 s, 8 s… up to an hour, and
// after a destination's Retry-After of at least a second.
var DefaultBackoff = Backoff{Base: 2 * time.Second, Max: time.Hour, Floor: time.Second}

// Delay is the wait after a failure that is the steps-th step of the
// schedule (Steps); random is in [0,1).
func (b Backoff) Delay(steps int, random float64) time.Duration {
	d := float64(b.Base) * math.Pow(2, float64(max(steps-1, 0)))
	if d > float64(b.Max) {
		d = float64(b.Max)
	}
	return time.Duration(d * (0.5 + random/2))
}

// Hold is the wait a destination asked for with Retry-After, held within
// Floor and Max.
func (b Backoff) Hold(retryAfter time.Duration) time.Duration {
	return min(max(retryAfter, b.Floor), b.Max)
}

// Steps is how far into the schedule a delivery's failure puts it after
// attempts attempts. While its destination is down (it has answered
// nothing for OutageAfter), every attempt is a step, as in a plain
// exponential backoff. While it answers, the failure is this delivery's
// bad luck, not an outage, and only every third attempt is a step: at a
// receiver that fails 40% of its requests at random, a plain backoff
// leaves one delivery in a hundred behind six doublings, a minute and
// more; a delivery that always fails still backs off to Max.
func Steps(attempts int, outage bool) int {
	if outage {
		return max(attempts, 1)
	}
	return max((attempts+2)/3, 1)
}

// Stats count what a worker did.
type Stats struct {
	Delivered, Rejected, Retried, Overdue atomic.Int64
}

// Worker runs the outbox.
type Worker struct {
	Deliveries cmex.DeliveryService
	Forwarders map[cmex.DestinationKind]Forwarder
	// Leases, when set, make the overdue check and each destination's
	// status polling one replica's at a time; nil for a worker known to
	// be alone on its database.
	Leases cmex.LeaseService
	Logger *slog.Logger
	// ID names this worker in leases; unique per process.
	ID          string
	Now         func() time.Time
	Poll        time.Duration
	Lease       time.Duration
	Timeout     time.Duration
	MaxInFlight int
	Backoff     Backoff
	// Random returns the jitter of the backoff, in [0,1).
	Random func() float64
	// OutageAfter is how long a destination may answer nothing (neither
	// take nor refuse a delivery, nor say when to come back) before its
	// failures back off as an outage's (Steps).
	OutageAfter time.Duration
	// AlertAfter is how long a delivery may stay undelivered before it is
	// flagged and logged at error level.
	AlertAfter time.Duration
	// StatusEvery is how often delivered MOC records still waiting for a
	// board are checked with destinations that can tell. Each
	// destination's lease is held for StatusTTL(StatusEvery): a stopped
	// replica's destinations are polled by another within that and one
	// StatusEvery more.
	StatusEvery time.Duration

	Stats Stats

	mu    sync.Mutex
	dests map[cmex.DestinationID]*destination

	// held are the named leases this worker took, released when Run ends;
	// only Run's goroutine touches it.
	held map[string]bool

	// flights are the deliveries claimed and not yet answered, whose
	// leases the heartbeat renews.
	fmu     sync.Mutex
	flights map[cmex.DeliveryID]*flight
}

// destination is what this process keeps of a destination between
// attempts: the slots of its concurrency and the limiter of its rate (made
// again when the destination's limits change), and when it last answered.
// The destination itself is read afresh at every attempt.
type destination struct {
	slots       chan struct{}
	limiter     *rate.Limiter
	concurrency int
	rate        float64
	// answered is when the destination last took or refused a delivery or
	// said when to come back (or this worker first loaded it), under the
	// worker's mu.
	answered time.Time
}

// flight is one claimed delivery's attempt.
type flight struct {
	cancel context.CancelFunc // calls the attempt off when its lease is lost
	lost   bool
	// answered is set once the attempt has its outcome: from then on it
	// is not called off, since recording the outcome checks the lease
	// itself, and a renewal that finds the lease ended may only be seeing
	// that outcome's commit.
	answered bool
}

// New returns a worker with the defaults.
func New(deliveries cmex.DeliveryService, forwarders map[cmex.DestinationKind]Forwarder, logger *slog.Logger) *Worker {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Worker{
		Deliveries: deliveries, Forwarders: forwarders, Logger: logger, ID: "worker-" + hex.EncodeToString(b[:]),
		Now: time.Now, Poll: DefaultPoll, Lease: DefaultLease, Timeout: DefaultTimeout, MaxInFlight: DefaultMaxInFlight,
		Backoff: DefaultBackoff, Random: mrand.Float64, OutageAfter: DefaultOutageAfter, AlertAfter: DefaultAlertAfter, StatusEvery: DefaultStatusEvery,
		dests: map[cmex.DestinationID]*destination{}, flights: map[cmex.DeliveryID]*flight{}, held: map[string]bool{},
	}
}

// Names of the leases a worker takes.
const (
	overdueLease = "outbox:overdue"
	statusLease  = "outbox:status:" // and the destination's id
)

// StatusTTL is how long a worker holds a destination's status-polling
// lease after each poll: longer than the interval, so that its holder
// keeps it from one poll to the next and another replica polls it only
// when the holder stops.
func StatusTTL(every time.Duration) time.Duration { return every * 3 / 2 }

// OverdueEvery is how often a worker flags overdue deliveries; it holds
// the lease of the check for twice that.
func OverdueEvery(alertAfter time.Duration) time.Duration { return min(alertAfter/10, time.Minute) }

// hold takes or extends the lease name for ttl from now, and reports
// whether this worker holds it. Without Leases it always does.
func (w *Worker) hold(ctx context.Context, name string, now time.Time, ttl time.Duration) bool {
	if w.Leases == nil {
		return true
	}
	ok, err := w.Leases.TryAcquire(ctx, name, w.ID, now, ttl)
	if err != nil {
		if ctx.Err() == nil {
			w.Logger.ErrorContext(ctx, "outbox: take lease", "lease", name, "err", err)
		}
		return false
	}
	if ok {
		if w.held == nil {
			w.held = map[string]bool{}
		}
		w.held[name] = true
	} else {
		delete(w.held, name)
	}
	return ok
}

// releaseAll gives up the leases this worker holds, so that another
// replica takes the work over at once rather than when they expire.
func (w *Worker) releaseAll(ctx context.Context) {
	if w.Leases == nil || len(w.held) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for name := range w.held {
		if err := w.Leases.Release(ctx, name, w.ID); err != nil {
			w.Logger.WarnContext(ctx, "outbox: release lease; it ends when it expires", "lease", name, "err", err)
		}
		delete(w.held, name)
	}
}

// Run delivers until ctx is done, then lets the attempts in flight finish.
// While any is in flight, a heartbeat renews their leases every third of
// a lease.
func (w *Worker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	slots := make(chan struct{}, w.MaxInFlight)
	stopBeat, beatDone := make(chan struct{}), make(chan struct{})
	go func() { w.heartbeat(stopBeat); close(beatDone) }()
	defer func() { close(stopBeat); <-beatDone }() // after wg.Wait: the last attempts keep their leases
	defer w.releaseAll(ctx)
	var lastOverdue, lastStatus time.Time
	for ctx.Err() == nil {
		if now, every := w.Now(), OverdueEvery(w.AlertAfter); now.Sub(lastOverdue) > every {
			if w.hold(ctx, overdueLease, now, 2*every) {
				w.checkOverdue(ctx, now)
			}
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
			actx, ok := w.takeOff(ctx, dl.ID)
			if !ok {
				continue // still in flight here (a renewal failed for a whole lease): that attempt answers
			}
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				defer w.land(dl.ID)
				w.attempt(actx, dl)
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

// takeOff records a claimed delivery as in flight and returns its
// attempt's context: not cancelled with ctx (a stopping worker lets the
// attempts in flight finish), but when the lease is lost. It reports false
// if the delivery is in flight already.
func (w *Worker) takeOff(ctx context.Context, id cmex.DeliveryID) (context.Context, bool) {
	w.fmu.Lock()
	defer w.fmu.Unlock()
	if w.flights[id] != nil {
		return nil, false
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.flights[id] = &flight{cancel: cancel}
	return actx, true
}

func (w *Worker) land(id cmex.DeliveryID) {
	w.fmu.Lock()
	defer w.fmu.Unlock()
	if f := w.flights[id]; f != nil {
		f.cancel()
		delete(w.flights, id)
	}
}

// heartbeat renews the leases of the deliveries in flight every third of
// a lease until stop is closed.
func (w *Worker) heartbeat(stop <-chan struct{}) {
	every := max(w.Lease/3, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		w.renew(ctx)
		cancel()
	}
}

// renew extends the leases of the deliveries in flight. One whose lease is
// lost (another worker took it over, an operator retried or cancelled it)
// has its attempt called off: if it has not been sent yet, it is not, and
// its answer, if any, is not recorded.
func (w *Worker) renew(ctx context.Context) {
	w.fmu.Lock()
	ids := make([]cmex.DeliveryID, 0, len(w.flights))
	seen := make(map[cmex.DeliveryID]*flight, len(w.flights))
	for id, f := range w.flights {
		ids, seen[id] = append(ids, id), f
	}
	w.fmu.Unlock()
	if len(ids) == 0 {
		return
	}
	held, err := w.Deliveries.RenewLeases(ctx, w.ID, ids, w.Now(), w.Lease)
	if err != nil {
		// The leases run until the next beat tries again.
		w.Logger.ErrorContext(ctx, "outbox: renew leases", "deliveries", len(ids), "err", err)
		return
	}
	kept := make(map[cmex.DeliveryID]bool, len(held))
	for _, id := range held {
		kept[id] = true
	}
	w.fmu.Lock()
	defer w.fmu.Unlock()
	for id, f := range seen {
		// The same flight only: one that landed meanwhile gave its lease
		// up, and a new claim of the delivery is a new flight.
		if !kept[id] && w.flights[id] == f && !f.lost && !f.answered {
			f.lost = true
			f.cancel()
			w.Logger.WarnContext(ctx, "outbox: lease lost; the attempt is called off", "delivery", id)
		}
	}
}

// destination reads a delivery's destination afresh, with what this
// process keeps of it. A change made through any replica (URL,
// credentials, enabled, limits) is in force from the next attempt on;
// reading one row by its key costs little next to the request it is read
// for. Slots and limiter are made again only when the limits change
// (attempts in flight finish in the old ones).
func (w *Worker) destination(ctx context.Context, id cmex.DestinationID) (*destination, *cmex.Destination, error) {
	d, err := w.Deliveries.Destination(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ds := w.dests[id]
	if concurrency := max(d.Concurrency, 1); ds == nil || ds.concurrency != concurrency || ds.rate != d.RatePerSecond {
		answered := w.Now()
		if ds != nil {
			answered = ds.answered
		}
		ds = &destination{slots: make(chan struct{}, concurrency), concurrency: concurrency, rate: d.RatePerSecond, answered: answered,
			limiter: rate.NewLimiter(rate.Inf, 1)}
		if d.RatePerSecond > 0 {
			ds.limiter = rate.NewLimiter(rate.Limit(d.RatePerSecond), max(1, int(d.RatePerSecond)))
		}
		w.dests[id] = ds
	}
	return ds, d, nil
}

// attempt makes one attempt at a delivery and records its outcome.
func (w *Worker) attempt(ctx context.Context, dl *cmex.Delivery) {
	ds, d, err := w.destination(ctx, dl.DestinationID)
	if err != nil {
		w.complete(ctx, nil, dl, cmex.Outcome{Result: cmex.DeliveryPending, Error: "the destination could not be loaded"})
		w.Logger.ErrorContext(ctx, "outbox: load destination", "destination", dl.DestinationID, "err", err)
		return
	}
	if !d.Enabled {
		w.complete(ctx, nil, dl, cmex.Outcome{Result: cmex.DeliveryPending, Error: "the destination is disabled"})
		return
	}
	fwd := w.Forwarders[d.Kind]
	if fwd == nil {
		w.complete(ctx, nil, dl, cmex.Outcome{Result: cmex.DeliveryRejected, Error: "no forwarder for destinations of kind " + string(d.Kind)})
		return
	}
	select {
	case ds.slots <- struct{}{}:
	case <-ctx.Done():
		w.complete(ctx, nil, dl, cmex.Outcome{Result: cmex.DeliveryPending, Error: "the lease was lost before it was sent"})
		return
	}
	defer func() { <-ds.slots }()
	if err := ds.limiter.Wait(ctx); err != nil {
		w.complete(ctx, nil, dl, cmex.Outcome{Result: cmex.DeliveryPending, Error: "rate limit: " + err.Error()})
		return
	}
	payload := dl.Payload
	if len(payload) == 0 {
		b, err := fwd.Encode(ctx, d, dl)
		switch {
		case errors.Is(err, cmex.ErrNotReady):
			w.complete(ctx, nil, dl, cmex.Outcome{Result: cmex.DeliveryPending, Error: err.Error()})
			return
		case err != nil:
			w.complete(ctx, nil, dl, cmex.Outcome{Result: cmex.DeliveryRejected, Error: "the record cannot be sent there: " + err.Error()})
			return
		}
		if payload, err = w.Deliveries.SavePayload(ctx, dl.ID, w.ID, b); err != nil {
			w.Logger.ErrorContext(ctx, "outbox: save payload", "delivery", dl.ID, "err", err)
			return // the lease runs out and the delivery is claimed again
		}
	}
	sctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	w.complete(ctx, ds, dl, fwd.Send(sctx, d, dl, payload))
}

// complete records an attempt's outcome; sent is the destination the
// attempt reached, nil for an attempt that did not get as far as sending.
func (w *Worker) complete(ctx context.Context, sent *destination, dl *cmex.Delivery, o cmex.Outcome) {
	w.fmu.Lock()
	if f := w.flights[dl.ID]; f != nil {
		f.answered = true
	}
	w.fmu.Unlock()
	now := w.Now()
	next := now
	if o.Result != cmex.DeliveryDelivered && o.Result != cmex.DeliveryRejected {
		o.Result = cmex.DeliveryPending
	}
	outage := false // an attempt that did not reach the destination tells nothing of it
	if sent != nil {
		w.mu.Lock()
		if o.Result != cmex.DeliveryPending || o.RetryAfterGiven {
			sent.answered = now // it took or refused it, or said when to come back: it is up
		}
		outage = now.Sub(sent.answered) >= w.OutageAfter
		w.mu.Unlock()
	}
	if o.Result == cmex.DeliveryPending {
		if o.RetryAfterGiven {
			next = now.Add(w.Backoff.Hold(o.RetryAfter))
		} else {
			next = now.Add(w.Backoff.Delay(Steps(dl.Attempts, outage), w.Random()))
		}
	}
	err := w.record(ctx, dl.ID, o, now, next)
	switch {
	case errors.Is(err, cmex.ErrLeaseLost):
		w.Logger.WarnContext(ctx, "outbox: answer not recorded: the delivery is no longer this worker's", "delivery", dl.ID, "result", o.Result)
		return
	case err != nil:
		w.Logger.ErrorContext(ctx, "outbox: record outcome", "delivery", dl.ID, "err", err)
		return
	}
	switch o.Result {
	case cmex.DeliveryDelivered:
		w.Stats.Delivered.Add(1)
	case cmex.DeliveryRejected:
		w.Stats.Rejected.Add(1)
		w.Logger.WarnContext(ctx, "outbox: rejected", "delivery", dl.ID, "destination", dl.Destination, "credit_id", dl.CreditID, "error", o.Error, "codes", o.Codes)
	default:
		w.Stats.Retried.Add(1)
		w.Logger.InfoContext(ctx, "outbox: will retry", "delivery", dl.ID, "destination", dl.Destination, "attempts", dl.Attempts, "error", o.Error, "at", next)
	}
}

// record records an attempt's outcome, trying again while the database
// cannot be reached, for up to a lease: an outcome not recorded is an
// attempt made again once the lease lapses, and a delivery the
// destination took would be sent twice. The heartbeat keeps renewing the
// lease meanwhile, and one lost is ErrLeaseLost, not recorded.
func (w *Worker) record(ctx context.Context, id cmex.DeliveryID, o cmex.Outcome, now, next time.Time) error {
	giveUp := w.Now().Add(w.Lease)
	wait := 50 * time.Millisecond
	for {
		err := w.Deliveries.CompleteAttempt(ctx, id, w.ID, o, now, next)
		if !cmex.Unreachable(err) || w.Now().Add(wait).After(giveUp) {
			return err
		}
		w.Logger.WarnContext(ctx, "outbox: outcome not recorded yet; trying again", "delivery", id, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
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
// records waiting for a board stand, and moves the records: each
// destination whose lease this worker holds, so that of several replicas
// one polls it.
func (w *Worker) checkStatuses(ctx context.Context, now time.Time) {
	for kind, fwd := range w.Forwarders {
		sc, ok := fwd.(StatusChecker)
		if !ok {
			continue
		}
		dests, err := w.Deliveries.StatusDestinations(ctx, kind)
		if err != nil {
			w.Logger.ErrorContext(ctx, "outbox: destinations awaiting status", "err", err)
			continue
		}
		for _, id := range dests {
			if name := fmt.Sprint(statusLease, id); w.hold(ctx, name, now, StatusTTL(w.StatusEvery)) {
				w.pollStatuses(ctx, sc, id, name, now)
			}
		}
	}
}

// pollStatuses checks the records delivered to one destination. A long
// round renews the lease as it goes, and stops if it was lost (another
// replica polls the destination now).
func (w *Worker) pollStatuses(ctx context.Context, sc StatusChecker, id cmex.DestinationID, lease string, now time.Time) {
	_, d, err := w.destination(ctx, id)
	if err != nil {
		w.Logger.ErrorContext(ctx, "outbox: load destination", "destination", id, "err", err)
		return
	}
	if !d.Enabled {
		return
	}
	waiting, err := w.Deliveries.AwaitingStatus(ctx, id, now, 200)
	if err != nil {
		w.Logger.ErrorContext(ctx, "outbox: deliveries awaiting status", "destination", id, "err", err)
		return
	}
	ttl, renewed := StatusTTL(w.StatusEvery), w.Now()
	for _, dl := range waiting {
		if at := w.Now(); w.Leases != nil && at.Sub(renewed) > ttl/3 {
			if ok, err := w.Leases.Renew(ctx, lease, w.ID, at, ttl); err != nil || !ok {
				delete(w.held, lease)
				return
			}
			renewed = at
		}
		sctx, cancel := context.WithTimeout(ctx, w.Timeout)
		o := sc.Status(sctx, d, dl)
		cancel()
		if o.Status == "" {
			continue
		}
		if err := w.Deliveries.RecordStatus(ctx, dl.ID, o, now); err != nil {
			w.Logger.ErrorContext(ctx, "outbox: record status", "delivery", dl.ID, "err", err)
		}
	}
}
