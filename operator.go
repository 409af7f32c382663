package cmex

import (
	"context"
	"slices"
	"time"
)

// What the operator (a cmex admin) watches and acts on beyond one
// provider: every destination's outbox, bulk retries and cancellations,
// the history of plan sets, and how remote societies answer.

// MaxBulkDeliveries is the most deliveries one bulk retry or cancel
// changes, in one transaction; when more match, BulkResult.More says so
// and the operator acts again.
const MaxBulkDeliveries = 5000

// BulkResult is what one bulk retry or cancel did.
type BulkResult struct {
	// Changed is how many deliveries it changed (their ids, oldest
	// first, in IDs); More whether more matched than it took.
	Changed int
	IDs     []DeliveryID
	More    bool
}

// DestinationBacklog is one destination and what its outbox holds: how
// many deliveries wait (Pending, Overdue of them flagged past the alert
// threshold) and since when the oldest (OldestPending, zero when none),
// how many the destination refused for good (Rejected) or an operator
// cancelled, and how many it took.
type DestinationBacklog struct {
	DestinationID  DestinationID
	OrganizationID OrganizationID
	ProviderID     ProviderID
	Organization   string // its name
	Destination    string
	Kind           DestinationKind
	URL            string
	Enabled        bool
	Pending        int
	Overdue        int
	Rejected       int
	Cancelled      int
	Delivered      int
	OldestPending  time.Time
}

// PlanSet is one plan file as it was loaded: the newest is in force.
type PlanSet struct {
	ID       int64
	LoadedAt time.Time
	LoadedBy string // the audit log's actor; "" for sets loaded before it was kept
	Plans    *Plans
}

// A SocietyCallOutcome says what came of one call to a remote society.
type SocietyCallOutcome string

const (
	// CallAnswered: the society answered with its protocol's document and
	// did what was asked (a binding accepted, a member's credits sent).
	CallAnswered SocietyCallOutcome = "answered"
	// CallRefused: the society answered with its protocol's document,
	// refusing (a wrong login, a member it does not know). The service
	// works; the request was turned down.
	CallRefused SocietyCallOutcome = "refused"
	// CallFailed: no usable answer: it could not be reached, did not
	// answer in time, answered an HTTP error or something that is not its
	// protocol's document, or was not called because of where its URL
	// leads.
	CallFailed SocietyCallOutcome = "failed"
)

// Operations of remote society calls.
const (
	CallBinding = "customer_binding"
	CallOrder   = "ceu_order"
)

// SocietyCall is one call the gateway made to a remote society.
type SocietyCall struct {
	SocietyID SocietyID
	Operation string // CallBinding or CallOrder
	At        time.Time
	Duration  time.Duration
	Outcome   SocietyCallOutcome
	// Answer says what came back, in words safe to show (never the
	// request, which may carry a password): "STATUS OK", "it did not
	// answer in time", "it answered HTTP 502".
	Answer string
}

// RecentSocietyCalls is how many of each society's last calls the store
// keeps, to judge its current failure rate and latency from.
const RecentSocietyCalls = 100

// SocietyCallStats is how a remote society has answered: every call
// counted since Since, and its last calls (at most RecentSocietyCalls,
// newest first).
type SocietyCallStats struct {
	SocietyID                 SocietyID
	Calls, Refusals, Failures int64
	Since                     time.Time
	Recent                    []SocietyCall
}

// Last is the society's last call, or nil.
func (s *SocietyCallStats) Last() *SocietyCall {
	if s == nil || len(s.Recent) == 0 {
		return nil
	}
	return &s.Recent[0]
}

// RecentFailures is how many of the recent calls failed.
func (s *SocietyCallStats) RecentFailures() int {
	n := 0
	for _, c := range s.Recent {
		if c.Outcome == CallFailed {
			n++
		}
	}
	return n
}

// RecentFailurePercent is the share of the recent calls that failed, in
// percent, rounded down; 0 without calls.
func (s *SocietyCallStats) RecentFailurePercent() int {
	if len(s.Recent) == 0 {
		return 0
	}
	return 100 * s.RecentFailures() / len(s.Recent)
}

// Latency returns the median and the slowest duration of the recent
// calls that got an answer (answered or refused): a failure's duration
// is the timeout's or a refused connection's, not the society's speed.
func (s *SocietyCallStats) Latency() (median, slowest time.Duration, n int) {
	var ds []time.Duration
	for _, c := range s.Recent {
		if c.Outcome != CallFailed {
			ds = append(ds, c.Duration)
		}
	}
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	return ds[(len(ds)-1)/2], ds[len(ds)-1], len(ds)
}

// SocietyCallService records the gateway's calls to remote societies and
// tells the operator how each answers. A call's record is not a change to
// the exchange's records: it goes to no audit log.
type SocietyCallService interface {
	// RecordSocietyCall counts c and keeps it among the society's recent
	// calls, forgetting the oldest beyond RecentSocietyCalls.
	RecordSocietyCall(ctx context.Context, c SocietyCall) error
	// SocietyCallStats returns the stats of every society called at
	// least once, by society.
	SocietyCallStats(ctx context.Context) (map[SocietyID]*SocietyCallStats, error)
}
