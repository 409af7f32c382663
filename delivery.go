package cmex

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// DestinationKind is the protocol a destination speaks.
type DestinationKind string

const (
	DestPARS     DestinationKind = "pars"     // an upstream PARS (ACCME, its sandbox, another cmex)
	DestCMaRS    DestinationKind = "cmars"    // CMaRS through a learning-record exchange
	DestCEBroker DestinationKind = "cebroker" // CE Broker roster uploads
	DestWebhook  DestinationKind = "webhook"  // signed JSON events
)

// DestinationKinds are the kinds cmex forwards to.
var DestinationKinds = []DestinationKind{DestPARS, DestCMaRS, DestCEBroker, DestWebhook}

// DestinationID is cmex's key for a destination.
type DestinationID int64

// Destination is a registry a provider's records are forwarded to.
type Destination struct {
	ID             DestinationID   `json:"id"`
	OrganizationID OrganizationID  `json:"-"`
	Name           string          `json:"name"`
	Kind           DestinationKind `json:"kind"`
	URL            string          `json:"url"`
	// Secrets are encrypted at rest and never shown or logged.
	Secrets  DestinationSecrets  `json:"-"`
	Settings DestinationSettings `json:"settings"`
	Routing  RoutingRule         `json:"routing"`
	// Concurrency is how many deliveries may be in flight at once, and
	// RatePerSecond how many may start each second (0: unlimited).
	Concurrency   int       `json:"concurrency"`
	RatePerSecond float64   `json:"ratePerSecond,omitempty"`
	Enabled       bool      `json:"enabled"`
	CreatedAt     time.Time `json:"createdAt,omitzero"`
}

// DestinationSecrets are a destination's credentials.
type DestinationSecrets struct {
	Username      string `json:"username,omitempty"`      // PARS web-service user
	Password      string `json:"password,omitempty"`      // PARS
	UploadKey     string `json:"uploadKey,omitempty"`     // CE Broker upload_key
	WebhookSecret string `json:"webhookSecret,omitempty"` // HMAC-SHA256 key of webhook signatures
	APIID         string `json:"apiId,omitempty"`         // the api_id a webhook receiver must echo
	Token         string `json:"token,omitempty"`         // a bearer token (CMaRS exchange)
}

// DestinationSettings are a destination's non-secret parameters.
type DestinationSettings struct {
	ProviderID       ProviderID `json:"providerId,omitempty"`       // PARS: the provider id upstream
	LearnerURL       string     `json:"learnerUrl,omitempty"`       // PARS: the learner service's host, when not the URL's
	ParentProviderID string     `json:"parentProviderId,omitempty"` // CE Broker id_parent_provider
	Profession       string     `json:"profession,omitempty"`       // CE Broker licensee_profession
	Test             bool       `json:"test,omitempty"`             // CE Broker test uploads
}

// RoutingRule says which records go to a destination. Every list given
// must match; an empty rule takes every learner record.
type RoutingRule struct {
	Certifications []string     `json:"certifications,omitempty"` // AMA PRA Category 1, ABIM Medical Knowledge…
	Boards         []string     `json:"boards,omitempty"`         // MOC credits of these boards
	LicenseStates  []string     `json:"licenseStates,omitempty"`  // learners licensed in one of these states
	RequireOCIID   bool         `json:"requireOciId,omitempty"`   // learners with an OCI ID
	Colleges       []string     `json:"colleges,omitempty"`       // …of these colleges (CA-ON-CPSO)
	ActivityIDs    []ActivityID `json:"activityIds,omitempty"`    // only these activities
	// Mandatory names, for a CMaRS course, the activity (a SCORM module, the
	// "Supporting Documentation") its learners must also have a record of in
	// the same reporting period before the course's records are sent
	// (specs/cmars.md: "A learning record must exist for both the course and
	// the mandatory activity in the current reporting period").
	Mandatory []MandatoryActivity `json:"mandatory,omitempty"`
	// Activities forwards activity registrations too (PARS).
	Activities bool `json:"activities,omitempty"`
}

// MandatoryActivity is a course's mandatory activity.
type MandatoryActivity struct {
	Course   ActivityID `json:"course"`
	Activity ActivityID `json:"activity"`
}

// MandatoryFor returns the activity a course's learners must also have
// completed, if the rule names one.
func (rule RoutingRule) MandatoryFor(course ActivityID) (ActivityID, bool) {
	for _, m := range rule.Mandatory {
		if m.Course == course {
			return m.Activity, true
		}
	}
	return 0, false
}

// CMaRSColleges are the colleges CMaRS accepts (CERTAIN, specs/cmars.md).
var CMaRSColleges = []string{"CA-ON-CPSO", "CA-ON-CMO", "CA-ON-RCDSO"}

var cmarsOCIID = regexp.MustCompile(`^[A-Z]{2}-[A-Z]{2}-(CPSO|CMO|RCDSO)-[0-9A-Za-z]+$`)

// OCICollege returns the college of an OCI ID: CA-ON-CPSO of
// CA-ON-CPSO-12345.
func OCICollege(oci string) string {
	i := strings.LastIndex(oci, "-")
	if i < 0 {
		return ""
	}
	return oci[:i]
}

// CMaRS is never sent legacy records, CSV uploads or records of a course
// equivalency, but is sent equivalencies that went through "Requesting
// Evidence before Issuing a Learning Record" (CERTAIN, specs/cmars.md):
// these are the sources and origins it does not take.
var (
	sourcesNotForCMaRS = []string{"csv"}
	originsNotForCMaRS = []string{OriginLegacy, OriginEquivalency}
)

// RoutedRecord is what routing knows of a learner record.
type RoutedRecord struct {
	Record *LearnerRecord
	Person *Person // the registry person, nil in passthrough mode
	Source string  // pars, api, csv…
}

// Route decides whether a record goes to d. A record d should take but
// cannot (CMaRS without a supported OCI ID) comes back as a rejection to
// record without sending anything.
func Route(d *Destination, rr RoutedRecord) (send bool, reject *RemoteCode) {
	r, rule := rr.Record, d.Routing
	eq := func(list []string, v string) bool {
		return slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), v) })
	}
	if len(rule.Certifications) > 0 && !eq(rule.Certifications, r.Certification) ||
		len(rule.Boards) > 0 && !eq(rule.Boards, r.Board) ||
		len(rule.ActivityIDs) > 0 && !slices.Contains(rule.ActivityIDs, r.ActivityID) {
		return false, nil
	}
	if len(rule.LicenseStates) > 0 {
		licensed := false
		for _, u := range r.Learner.UniqueIDs {
			if kind, st := IdentifierKind(u.Domain); kind == KindLicense && eq(rule.LicenseStates, st) {
				licensed = true
			}
		}
		if rr.Person != nil {
			for _, l := range rr.Person.Licenses {
				licensed = licensed || eq(rule.LicenseStates, l.State)
			}
		}
		if !licensed {
			return false, nil
		}
	}
	oci := LearnerOCIID(r, rr.Person)
	if d.Kind == DestCMaRS {
		if len(rule.ActivityIDs) == 0 || slices.Contains(sourcesNotForCMaRS, strings.SplitN(rr.Source, ":", 2)[0]) ||
			slices.Contains(originsNotForCMaRS, r.Origin) {
			return false, nil // only activities configured for CMaRS; never legacy, CSV or equivalency records
		}
		if !cmarsOCIID.MatchString(oci) {
			return false, &RemoteCode{Code: "WS400", Message: "The learner has no OCI ID of a college CMaRS accepts (" + strings.Join(CMaRSColleges, ", ") + ")."}
		}
		return true, nil
	}
	if rule.RequireOCIID && !OCIIDPattern.MatchString(oci) {
		return false, nil
	}
	if len(rule.Colleges) > 0 && !eq(rule.Colleges, OCICollege(oci)) {
		return false, nil
	}
	return true, nil
}

// DeliveryID is cmex's key for a delivery.
type DeliveryID int64

// DeliveryState is where a delivery stands.
type DeliveryState string

const (
	DeliveryPending   DeliveryState = "pending"   // to be sent, or sent again
	DeliveryDelivered DeliveryState = "delivered" // the destination took it
	DeliveryRejected  DeliveryState = "rejected"  // the destination refused it for good
	DeliveryCancelled DeliveryState = "cancelled" // an operator stopped it
)

// Subjects of deliveries.
const (
	SubjectLearnerRecord = "learner-record"
	SubjectActivity      = "activity"
)

// RemoteCode is a code and message a destination answered with.
type RemoteCode struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Delivery is one record on its way to one destination.
type Delivery struct {
	ID             DeliveryID      `json:"id"`
	OrganizationID OrganizationID  `json:"-"`
	DestinationID  DestinationID   `json:"destinationId"`
	Destination    string          `json:"destination"` // its name
	Kind           DestinationKind `json:"kind"`
	Subject        string          `json:"subject"`  // learner-record | activity
	RecordID       int64           `json:"recordId"` // the learner record's or the activity's id
	CreditID       CreditID        `json:"creditId,omitempty"`
	ActivityID     ActivityID      `json:"activityId,omitempty"`
	Event          string          `json:"event"` // add | update | delete
	// Snapshot is the record as it stood when the delivery was made;
	// Payload the exact bytes sent, fixed at the first attempt so that
	// every retry resends the same request.
	Snapshot      []byte        `json:"-"`
	Payload       []byte        `json:"-"`
	State         DeliveryState `json:"state"`
	Attempts      int           `json:"attempts"`
	NextAttemptAt time.Time     `json:"nextAttemptAt,omitzero"`
	LastError     string        `json:"lastError,omitempty"`
	RemoteCodes   []RemoteCode  `json:"remoteCodes,omitempty"`
	RemoteID      string        `json:"remoteId,omitempty"` // e.g. the ACCME Activity ID upstream
	// Overdue is set when the delivery stayed undelivered past the alert
	// threshold.
	Overdue     bool      `json:"overdue,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	DeliveredAt time.Time `json:"deliveredAt,omitzero"`
}

// LearnerOCIID is the OCI ID of a record's learner: the one the report
// itself gave (a UniqueID of the OCI domain), or else the registry
// person's, when the record was matched to one (p may be nil).
func LearnerOCIID(r *LearnerRecord, p *Person) string {
	if oci := r.Learner.OCIID(); oci != "" {
		return oci
	}
	if p != nil {
		return p.OCIID
	}
	return ""
}

// LearnerSnapshot is what a learner record's delivery keeps of it: the
// record and the registry person it was matched to, if any.
type LearnerSnapshot struct {
	Record *LearnerRecord `json:"record"`
	Person *Person        `json:"person,omitempty"`
}

// Outcome is what came of one attempt.
type Outcome struct {
	Result DeliveryState // delivered, rejected, or pending to retry
	Codes  []RemoteCode
	Error  string // why it must be retried or was rejected
	// RetryAfter is when the destination asked to be tried again (its
	// Retry-After), if RetryAfterGiven: that is the wait, rather than the
	// backoff, within the worker's floor and cap. 0 is "now".
	RetryAfter      time.Duration
	RetryAfterGiven bool
	RemoteID        string
	// Status is where the destination's answer moves the learner record
	// (Submitted, Approved, Rejected), if anywhere.
	Status LearnerStatus
}

// MaxRemoteText is the most of a remote system's own message (a PARS
// ErrorMessage, a CE Broker receipt's Message) cmex keeps, in bytes.
const MaxRemoteText = 300

// RemoteText makes text a remote system sent safe to keep and show: valid
// UTF-8, one line of printable characters, at most limit bytes, cut on a
// rune boundary and marked with … when cut. Only text a protocol defines
// (a code, its message) goes through it: a body that is not the protocol's
// answer is never kept at all.
func RemoteText(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }), " ")
	if len(s) <= limit {
		return s
	}
	ellipsis := "…"
	if limit < len(ellipsis) {
		ellipsis = ""
	}
	cut := max(limit-len(ellipsis), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// Unanswered is the outcome of an attempt that got no answer from who
// ("PARS", "the exchange"): it is retried. ctx is the attempt's, to tell a
// timeout from a destination that cannot be reached; err is the client's,
// to tell a connection cmex refused to make (an *AddressError of the
// dialer), which the outcome names.
func Unanswered(ctx context.Context, who string, err error) Outcome {
	if ae, ok := errors.AsType[*AddressError](err); ok {
		return Outcome{Result: DeliveryPending, Error: who + " was not called: " + ae.Error()}
	}
	if ctx.Err() != nil {
		return Outcome{Result: DeliveryPending, Error: who + " did not answer in time"}
	}
	return Outcome{Result: DeliveryPending, Error: who + " could not be reached"}
}

// WithRetryAfter adds to an outcome to be retried the wait a destination's
// Retry-After header value asks for: delay-seconds, or an HTTP date read
// against date, the answer's own Date header (the destination's clock, so
// that a skew between the two clocks does not matter), or against now when
// the answer has none. A date already past is a wait of 0; a value that is
// neither is ignored, and so is any on an outcome not to be retried.
func (o Outcome) WithRetryAfter(retryAfter, date string, now time.Time) Outcome {
	if o.Result != DeliveryPending {
		return o
	}
	if d, ok := ParseRetryAfter(retryAfter, date, now); ok {
		o.RetryAfter, o.RetryAfterGiven = d, true
	}
	return o
}

// maxRetryAfter bounds a Retry-After before the worker's own cap applies,
// so that no value overflows a time.Duration.
const maxRetryAfter = 24 * time.Hour

// httpDates are the three formats of an HTTP date (RFC 9110 5.6.7): the
// preferred IMF-fixdate and the obsolete RFC 850 and asctime forms.
var httpDates = []string{"Mon, 02 Jan 2006 15:04:05 GMT", "Monday, 02-Jan-06 15:04:05 GMT", "Mon Jan _2 15:04:05 2006"}

func parseHTTPDate(s string) (time.Time, bool) {
	for _, f := range httpDates {
		if t, err := time.Parse(f, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// ParseRetryAfter reads a Retry-After header value (RFC 9110 10.2.3):
// delay-seconds or an HTTP date, the date read against date (the answer's
// Date header) or, without one, now. It reports false for anything else.
func ParseRetryAfter(value, date string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if strings.Trim(value, "0123456789") == "" {
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true // all digits, too many to hold
		}
		return time.Duration(n) * time.Second, true
	}
	at, ok := parseHTTPDate(value)
	if !ok {
		return 0, false
	}
	if d, ok := parseHTTPDate(strings.TrimSpace(date)); ok {
		now = d
	}
	return min(max(at.Sub(now), 0), maxRetryAfter), true
}

// ErrLeaseLost is what recording an attempt's outcome returns when the
// worker no longer holds the delivery's lease: another worker took it over,
// or an operator retried or cancelled it. Nothing is recorded.
var ErrLeaseLost = errors.New("the delivery is no longer leased to this worker")

// ErrNotReady is what an encoder returns when a delivery must wait for
// another (a learner record for its activity's registration upstream).
var ErrNotReady = errors.New("waiting for another delivery")

// NotReady is an ErrNotReady that says what the delivery waits for.
func NotReady(format string, args ...any) error {
	return notReady{fmt.Sprintf(format, args...)}
}

type notReady struct{ msg string }

func (e notReady) Error() string        { return e.msg }
func (e notReady) Is(target error) bool { return target == ErrNotReady }

// DeliveryFilter selects deliveries for listing.
type DeliveryFilter struct {
	OrganizationID OrganizationID // 0: every organization (operators)
	State          DeliveryState
	Destination    string        // by name, within OrganizationID
	DestinationID  DestinationID // 0: any
	// Since and Until bound when deliveries were made (created_at):
	// Since included, Until excluded; zero does not bound.
	Since, Until time.Time
	// Limit is at most how many: DefaultDeliveryLimit if 0 or less, and
	// never more than MaxDeliveryLimit.
	Limit int
}

// Limits of a delivery listing.
const (
	DefaultDeliveryLimit = 100
	MaxDeliveryLimit     = 10000
)

// DeliveryService keeps destinations and the outbox.
type DeliveryService interface {
	// CreateDestination stores d with its secrets encrypted.
	CreateDestination(ctx context.Context, d *Destination) error
	// UpdateDestination replaces the URL, credentials, settings, routing,
	// limits and Enabled of destination d.ID of d.OrganizationID (its name
	// and kind stay; ENOTFOUND if it has none such). The outbox sends with
	// them from its next attempt on, on every replica; deliveries to a
	// disabled destination wait.
	UpdateDestination(ctx context.Context, d *Destination) error
	// ListDestinations returns an organization's destinations, by name,
	// without their secrets.
	ListDestinations(ctx context.Context, org OrganizationID) ([]*Destination, error)
	// Destination returns one with its secrets, or ENOTFOUND.
	Destination(ctx context.Context, id DestinationID) (*Destination, error)
	// ClaimDeliveries leases up to limit due deliveries to worker until
	// now+lease, and counts an attempt for each; others do not see them
	// until the lease ends.
	ClaimDeliveries(ctx context.Context, worker string, now time.Time, lease time.Duration, limit int) ([]*Delivery, error)
	// RenewLeases extends to now+lease the leases worker still holds among
	// ids, and returns those it holds; one missing from the answer is no
	// longer the worker's (another worker took it over, or an operator
	// retried or cancelled it).
	RenewLeases(ctx context.Context, worker string, ids []DeliveryID, now time.Time, lease time.Duration) ([]DeliveryID, error)
	// ReleaseLeases ends every lease, whoever holds it, and returns how
	// many it ended: the deliveries are due again at once, their attempt
	// still counted (it may have reached the destination) and their last
	// error saying it was cut short. Only for a server that knows no other
	// worker is running (SQLite, one server per file, at its start).
	ReleaseLeases(ctx context.Context, now time.Time) (int, error)
	// SavePayload fixes the bytes a delivery sends, if none are fixed yet,
	// and returns the bytes in force.
	SavePayload(ctx context.Context, id DeliveryID, worker string, payload []byte) ([]byte, error)
	// CompleteAttempt records an attempt's outcome, if worker still holds
	// the lease (else ErrLeaseLost, recording nothing), and moves the
	// learner record as the outcome says. A retry is due at next.
	CompleteAttempt(ctx context.Context, id DeliveryID, worker string, o Outcome, now, next time.Time) error
	// RemoteID returns the remote id a delivered delivery of a record to a
	// destination got, if any.
	RemoteID(ctx context.Context, dest DestinationID, subject string, recordID int64) (string, bool, error)
	// MarkOverdue flags the pending deliveries created before t and not yet
	// flagged, and returns them; of callers at once, each delivery is
	// returned to one.
	MarkOverdue(ctx context.Context, t time.Time) ([]*Delivery, error)
	// ListDeliveries returns deliveries, newest first.
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error)
	// Delivery returns one, or ENOTFOUND.
	Delivery(ctx context.Context, org OrganizationID, id DeliveryID) (*Delivery, error)
	// RetryDelivery makes a rejected, cancelled or pending delivery due now.
	RetryDelivery(ctx context.Context, org OrganizationID, id DeliveryID) error
	// CancelDelivery stops a pending delivery.
	CancelDelivery(ctx context.Context, org OrganizationID, id DeliveryID) error
	// RetryDeliveries makes due now, in one transaction, the undelivered
	// deliveries f selects, oldest first, at most MaxBulkDeliveries; the
	// audit log gets an entry per delivery. f.Limit is ignored.
	RetryDeliveries(ctx context.Context, f DeliveryFilter) (*BulkResult, error)
	// CancelDeliveries stops the pending deliveries f selects, as
	// RetryDeliveries does.
	CancelDeliveries(ctx context.Context, f DeliveryFilter) (*BulkResult, error)
	// CountDeliveries counts the deliveries f selects (f.Limit aside).
	CountDeliveries(ctx context.Context, f DeliveryFilter) (int, error)
	// DestinationBacklogs returns every destination of every
	// organization, by provider and name, with what its outbox holds.
	DestinationBacklogs(ctx context.Context) ([]*DestinationBacklog, error)
	// StatusDestinations returns the destinations of kind that have
	// delivered learner records whose MOC credit still waits for a board
	// (Accepted or Submitted).
	StatusDestinations(ctx context.Context, kind DestinationKind) ([]DestinationID, error)
	// AwaitingStatus returns the delivered learner-record deliveries to
	// dest whose MOC records still wait for a board, least recently
	// checked first, and marks them checked at now.
	AwaitingStatus(ctx context.Context, dest DestinationID, now time.Time, limit int) ([]*Delivery, error)
	// RecordStatus moves a delivery's learner record as the destination
	// now reports it (forward only).
	RecordStatus(ctx context.Context, id DeliveryID, o Outcome, now time.Time) error
}
