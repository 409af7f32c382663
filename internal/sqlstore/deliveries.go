package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// DeliveryService implements cmex.DeliveryService.
type DeliveryService struct{ db *DB }

var _ cmex.DeliveryService = (*DeliveryService)(nil)

// NewDeliveryService returns the destinations and outbox of db.
func NewDeliveryService(db *DB) *DeliveryService { return &DeliveryService{db: db} }

// DefaultConcurrency is a destination's concurrency when it sets none.
const DefaultConcurrency = 16

// destinationDoc is what the document column keeps of a destination.
type destinationDoc struct {
	URL           string                   `json:"url"`
	Settings      cmex.DestinationSettings `json:"settings"`
	Routing       cmex.RoutingRule         `json:"routing"`
	Concurrency   int                      `json:"concurrency"`
	RatePerSecond float64                  `json:"ratePerSecond"`
	Enabled       bool                     `json:"enabled"`
}

func secretsAD(org cmex.OrganizationID, name string) string {
	return fmt.Sprintf("destination:%d:%s", org, strings.ToLower(strings.TrimSpace(name)))
}

// checkDestination says everything wrong with d, in one EINVALID error.
func checkDestination(d *cmex.Destination) error {
	var ps []string
	if d.Name == "" || len(d.Name) > 100 {
		ps = append(ps, "a destination needs a name of at most 100 characters")
	}
	known := false
	for _, k := range cmex.DestinationKinds {
		known = known || d.Kind == k
	}
	if !known {
		ps = append(ps, fmt.Sprintf("the kind is pars, cmars, cebroker or webhook, not %q", d.Kind))
	}
	if !serviceURL(d.URL) {
		ps = append(ps, "the URL must be an http or https URL without credentials in it")
	}
	if d.Settings.LearnerURL != "" && !serviceURL(d.Settings.LearnerURL) {
		ps = append(ps, "the learner URL must be an http or https URL without credentials in it")
	}
	if d.Concurrency < 0 || d.Concurrency > 256 || d.RatePerSecond < 0 {
		ps = append(ps, "concurrency is 1 to 256 (0 for the default) and the rate not negative")
	}
	switch d.Kind {
	case cmex.DestPARS:
		if d.Secrets.Username == "" || d.Secrets.Password == "" || d.Settings.ProviderID == "" {
			ps = append(ps, "a PARS destination needs the upstream provider id, user and password")
		}
	case cmex.DestCEBroker:
		if d.Secrets.UploadKey == "" || d.Settings.ParentProviderID == "" {
			ps = append(ps, "a CE Broker destination needs the parent provider id and the upload key")
		}
	case cmex.DestWebhook:
		if d.Secrets.WebhookSecret == "" {
			ps = append(ps, "a webhook destination needs a signing secret")
		}
	case cmex.DestCMaRS:
		if len(d.Routing.ActivityIDs) == 0 {
			ps = append(ps, "a CMaRS destination names the activities configured for CMaRS")
		}
		for _, m := range d.Routing.Mandatory {
			if !slices.Contains(d.Routing.ActivityIDs, m.Course) || m.Activity == 0 || m.Activity == m.Course {
				ps = append(ps, fmt.Sprintf("mandatory activity %s of course %s: the course must be one of the destination's activities, and its mandatory activity another", m.Activity, m.Course))
			}
		}
	}
	if len(ps) > 0 {
		return cmex.Errorf(cmex.EINVALID, "%s", strings.Join(ps, "; "))
	}
	return nil
}

// encodeDestination returns d's sealed secrets (” for none) and its
// document, as the destinations table keeps them.
func (s *DeliveryService) encodeDestination(d *cmex.Destination) (secrets, doc string, err error) {
	if d.Secrets != (cmex.DestinationSecrets{}) {
		if s.db.Secrets == nil {
			return "", "", cmex.Errorf(cmex.EINVALID, "this server has no secret key to encrypt the destination's credentials with; set CMEX_SECRET_KEY")
		}
		plain, err := json.Marshal(d.Secrets)
		if err != nil {
			return "", "", err
		}
		if secrets, err = s.db.Secrets.Seal(plain, secretsAD(d.OrganizationID, d.Name)); err != nil {
			return "", "", fmt.Errorf("seal destination secrets: %w", err)
		}
	}
	b, err := json.Marshal(destinationDoc{URL: d.URL, Settings: d.Settings, Routing: d.Routing, Concurrency: d.Concurrency, RatePerSecond: d.RatePerSecond, Enabled: d.Enabled})
	return secrets, string(b), err
}

// CreateDestination implements cmex.DeliveryService.
func (s *DeliveryService) CreateDestination(ctx context.Context, d *cmex.Destination) error {
	d.Name = strings.TrimSpace(d.Name)
	if err := checkDestination(d); err != nil {
		return err
	}
	if d.Concurrency == 0 {
		d.Concurrency = DefaultConcurrency
	}
	secrets, doc, err := s.encodeDestination(d)
	if err != nil {
		return err
	}
	d.CreatedAt = s.db.now()
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		err := tx.queryRow(ctx, `INSERT INTO destinations (organization_id, name, name_key, kind, secrets, document, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			d.OrganizationID, d.Name, strings.ToLower(d.Name), string(d.Kind), secrets, doc, d.CreatedAt).Scan(&d.ID)
		if s.db.dialect.IsUniqueViolation(err) {
			return "", "", "", cmex.Errorf(cmex.ECONFLICT, "a destination named %s exists", d.Name)
		}
		if err != nil {
			return "", "", "", fmt.Errorf("create destination: %w", err)
		}
		return "destination.add", d.Name, fmt.Sprintf("destination %d, organization %d, kind %s", d.ID, d.OrganizationID, d.Kind), nil
	})
}

// UpdateDestination implements cmex.DeliveryService. The outbox reads a
// destination's row at every attempt (outbox.Worker.destination), so the
// change is in force from the next attempt on, on every replica.
func (s *DeliveryService) UpdateDestination(ctx context.Context, d *cmex.Destination) error {
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		var name, kind string
		err := tx.queryRow(ctx, `SELECT name, kind FROM destinations WHERE id = ? AND organization_id = ?`+s.db.dialect.ForUpdate(), d.ID, d.OrganizationID).Scan(&name, &kind)
		if err != nil {
			return "", "", "", notFound(err, fmt.Sprintf("no destination %d", d.ID))
		}
		if d.Kind != cmex.DestinationKind(kind) {
			return "", "", "", cmex.Errorf(cmex.EINVALID, "a destination's kind does not change (%s is %s); add another", name, kind)
		}
		d.Name = name // the sealed secrets are bound to it
		if d.Concurrency == 0 {
			d.Concurrency = DefaultConcurrency
		}
		if err := checkDestination(d); err != nil {
			return "", "", "", err
		}
		secrets, doc, err := s.encodeDestination(d)
		if err != nil {
			return "", "", "", err
		}
		if _, err := tx.exec(ctx, `UPDATE destinations SET secrets = ?, document = ? WHERE id = ?`, secrets, doc, d.ID); err != nil {
			return "", "", "", fmt.Errorf("update destination: %w", err)
		}
		return "destination.update", d.Name, fmt.Sprintf("destination %d, organization %d, kind %s, enabled %t", d.ID, d.OrganizationID, d.Kind, d.Enabled), nil
	})
}

// serviceURL reports whether s is an absolute http(s) URL with a host and
// no credentials.
func serviceURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

const destinationColumns = "id, organization_id, name, kind, secrets, document, created_at"

// destinationsOf is the query of an organization's destinations, as
// destinations makes it.
const destinationsOf = `SELECT ` + destinationColumns + ` FROM destinations WHERE organization_id = ? ORDER BY name_key`

// scanDestination reads a destination, and opens its secrets when
// withSecrets: only sending needs them, so that routing a record (in
// cmex import, say) and listing destinations work without the server key.
func (s *DeliveryService) scanDestination(row scanner, withSecrets bool) (*cmex.Destination, error) {
	var d cmex.Destination
	var kind, secrets, doc string
	var created time.Time
	if err := row.Scan(&d.ID, &d.OrganizationID, &d.Name, &kind, &secrets, &doc, &created); err != nil {
		return nil, err
	}
	var dd destinationDoc
	if err := json.Unmarshal([]byte(doc), &dd); err != nil {
		return nil, fmt.Errorf("decode destination %d: %w", d.ID, err)
	}
	d.Kind, d.CreatedAt = cmex.DestinationKind(kind), created.UTC()
	d.URL, d.Settings, d.Routing, d.Concurrency, d.RatePerSecond, d.Enabled = dd.URL, dd.Settings, dd.Routing, dd.Concurrency, dd.RatePerSecond, dd.Enabled
	if secrets != "" && withSecrets {
		if s.db.Secrets == nil {
			return nil, fmt.Errorf("destination %d: its credentials are encrypted and this server has no secret key", d.ID)
		}
		plain, err := s.db.Secrets.Open(secrets, secretsAD(d.OrganizationID, d.Name))
		if err != nil {
			return nil, fmt.Errorf("destination %d: %w", d.ID, err)
		}
		if err := json.Unmarshal(plain, &d.Secrets); err != nil {
			return nil, fmt.Errorf("decode destination %d secrets: %w", d.ID, err)
		}
	}
	return &d, nil
}

func (s *DeliveryService) destinations(ctx context.Context, c conn, where string, args ...any) ([]*cmex.Destination, error) {
	rows, err := c.query(ctx, `SELECT `+destinationColumns+` FROM destinations WHERE `+where+` ORDER BY name_key`, args...)
	if err != nil {
		return nil, fmt.Errorf("destinations: %w", err)
	}
	defer rows.Close()
	var out []*cmex.Destination
	for rows.Next() {
		d, err := s.scanDestination(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ListDestinations implements cmex.DeliveryService.
func (s *DeliveryService) ListDestinations(ctx context.Context, org cmex.OrganizationID) ([]*cmex.Destination, error) {
	return s.destinations(ctx, s.db.read(), `organization_id = ?`, org)
}

// Destination implements cmex.DeliveryService.
func (s *DeliveryService) Destination(ctx context.Context, id cmex.DestinationID) (*cmex.Destination, error) {
	d, err := s.scanDestination(s.db.read().queryRow(ctx, `SELECT `+destinationColumns+` FROM destinations WHERE id = ?`, id), true)
	if err != nil {
		return nil, notFound(err, "destination not found")
	}
	return d, nil
}

// enqueueLearnerRecordsTo makes the deliveries of records in the
// transaction that accepts them: one per enabled destination of dests (the
// organization's, read with the batch) whose routing takes each.
func enqueueLearnerRecordsTo(ctx context.Context, tx conn, org cmex.OrganizationID, dests []*cmex.Destination, recs []*cmex.LearnerRecord, event, source string, now time.Time) error {
	if len(dests) == 0 {
		return nil
	}
	persons := map[cmex.PersonID]*cmex.Person{}
	for _, r := range recs {
		var person *cmex.Person
		if r.PersonID != 0 {
			if person = persons[r.PersonID]; person == nil {
				ps, err := scanPersons(tx.query(ctx, `SELECT id, document FROM persons WHERE id = ?`, r.PersonID))
				if err != nil {
					return fmt.Errorf("route learner record: %w", err)
				}
				if len(ps) == 1 {
					person, persons[r.PersonID] = ps[0], ps[0]
				}
			}
		}
		snapshot, err := json.Marshal(cmex.LearnerSnapshot{Record: r, Person: person})
		if err != nil {
			return err
		}
		for _, d := range dests {
			if !d.Enabled {
				continue
			}
			send, reject := cmex.Route(d, cmex.RoutedRecord{Record: r, Person: person, Source: source})
			if !send && reject == nil {
				continue
			}
			state, codes, lastErr := cmex.DeliveryPending, "[]", ""
			if reject != nil {
				state, lastErr = cmex.DeliveryRejected, reject.Message
				b, _ := json.Marshal([]cmex.RemoteCode{*reject})
				codes = string(b)
			}
			if err := insertDelivery(ctx, tx, org, d.ID, cmex.SubjectLearnerRecord, int64(r.ID), r.CreditID, r.ActivityID, event, snapshot, state, codes, lastErr, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// enqueueActivity makes the deliveries of an activity change to the PARS
// destinations that forward activities.
func enqueueActivity(ctx context.Context, tx conn, org cmex.OrganizationID, a *cmex.Activity, event string, now time.Time) error {
	ds := &DeliveryService{db: tx.db}
	dests, err := ds.destinations(ctx, tx, `organization_id = ? AND kind = ?`, org, string(cmex.DestPARS))
	if err != nil || len(dests) == 0 {
		return err
	}
	snapshot, err := json.Marshal(a)
	if err != nil {
		return err
	}
	for _, d := range dests {
		if !d.Enabled || !d.Routing.Activities {
			continue
		}
		if err := insertDelivery(ctx, tx, org, d.ID, cmex.SubjectActivity, int64(a.ID), "", a.ID, event, snapshot, cmex.DeliveryPending, "[]", "", now); err != nil {
			return err
		}
	}
	return nil
}

func insertDelivery(ctx context.Context, tx conn, org cmex.OrganizationID, dest cmex.DestinationID, subject string, recordID int64, credit cmex.CreditID,
	activity cmex.ActivityID, event string, snapshot []byte, state cmex.DeliveryState, codes, lastErr string, now time.Time) error {
	return tx.later(ctx, func(err error) error { return fmt.Errorf("enqueue delivery: %w", err) },
		`INSERT INTO deliveries (organization_id, destination_id, subject, record_id, credit_id, activity_id, event, snapshot, payload,
		state, attempts, next_attempt_at, lease_until, leased_by, last_error, remote_codes, remote_id, overdue, created_at, updated_at, delivered_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 0, ?, NULL, '', ?, ?, '', ?, ?, ?, NULL)`,
		org, dest, subject, recordID, string(credit), activity, event, string(snapshot), string(state), now, lastErr, codes, false, now, now)
}

const deliveryColumns = `d.id, d.organization_id, d.destination_id, t.name, t.kind, d.subject, d.record_id, d.credit_id, d.activity_id, d.event,
	d.snapshot, d.payload, d.state, d.attempts, d.next_attempt_at, d.last_error, d.remote_codes, d.remote_id, d.overdue, d.created_at, d.updated_at, d.delivered_at`

func scanDelivery(row scanner) (*cmex.Delivery, error) {
	var d cmex.Delivery
	var kind, state, credit, snapshot, codes string
	var payload *string
	var next, created, updated time.Time
	var delivered sql.NullTime
	if err := row.Scan(&d.ID, &d.OrganizationID, &d.DestinationID, &d.Destination, &kind, &d.Subject, &d.RecordID, &credit, &d.ActivityID, &d.Event,
		&snapshot, &payload, &state, &d.Attempts, &next, &d.LastError, &codes, &d.RemoteID, &d.Overdue, &created, &updated, &delivered); err != nil {
		return nil, err
	}
	d.Kind, d.CreditID, d.State, d.Snapshot = cmex.DestinationKind(kind), cmex.CreditID(credit), cmex.DeliveryState(state), []byte(snapshot)
	if payload != nil {
		d.Payload = []byte(*payload)
	}
	if err := json.Unmarshal([]byte(codes), &d.RemoteCodes); err != nil {
		return nil, fmt.Errorf("decode delivery %d codes: %w", d.ID, err)
	}
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = next.UTC(), created.UTC(), updated.UTC()
	if delivered.Valid {
		d.DeliveredAt = delivered.Time.UTC()
	}
	return &d, nil
}

func scanDeliveries(rows *sql.Rows, err error) ([]*cmex.Delivery, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*cmex.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimDeliveries implements cmex.DeliveryService. On PostgreSQL the rows
// are locked with SKIP LOCKED, so workers of several replicas never claim
// the same delivery; the lease lets another take it over if this one dies.
func (s *DeliveryService) ClaimDeliveries(ctx context.Context, worker string, now time.Time, lease time.Duration, limit int) ([]*cmex.Delivery, error) {
	now = now.UTC()
	var ids []cmex.DeliveryID
	err := s.db.inTx(ctx, func(tx conn) error {
		var err error
		ids, err = scanColumn[cmex.DeliveryID](tx.query(ctx, `SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= ?
			AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_attempt_at, id LIMIT ?`+s.db.dialect.SkipLocked(), now, now, limit))
		if err != nil || len(ids) == 0 {
			return err
		}
		_, err = tx.exec(ctx, `UPDATE deliveries SET lease_until = ?, leased_by = ?, attempts = attempts + 1, updated_at = ? WHERE id IN (`+placeholders(len(ids))+`)`,
			append([]any{now.Add(lease), worker, now}, anys(ids)...)...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return scanDeliveries(s.db.read().query(ctx, `SELECT `+deliveryColumns+` FROM deliveries d JOIN destinations t ON t.id = d.destination_id
		WHERE d.id IN (`+placeholders(len(ids))+`) ORDER BY d.next_attempt_at, d.id`, anys(ids)...))
}

// RenewLeases implements cmex.DeliveryService.
func (s *DeliveryService) RenewLeases(ctx context.Context, worker string, ids []cmex.DeliveryID, now time.Time, lease time.Duration) ([]cmex.DeliveryID, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	now = now.UTC()
	var held []cmex.DeliveryID
	err := s.db.inTx(ctx, func(tx conn) error {
		var err error
		held, err = scanColumn[cmex.DeliveryID](tx.query(ctx, `UPDATE deliveries SET lease_until = ? WHERE state = 'pending' AND leased_by = ?
			AND id IN (`+placeholders(len(ids))+`) RETURNING id`, append([]any{now.Add(lease), worker}, anys(ids)...)...))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("renew delivery leases: %w", err)
	}
	return held, nil
}

// interrupted is the last error of a delivery whose lease ReleaseLeases
// ended.
const interrupted = "the attempt was cut short: cmex stopped before the destination's answer was recorded (it may have arrived)"

// ReleaseLeases implements cmex.DeliveryService. The deliveries keep their
// next_attempt_at, which a claim only takes once it has passed: they are
// due at once, ahead of those that became due since.
func (s *DeliveryService) ReleaseLeases(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.db.inTx(ctx, func(tx conn) error {
		res, err := tx.exec(ctx, `UPDATE deliveries SET lease_until = NULL, leased_by = '', last_error = ?, updated_at = ?
			WHERE state = 'pending' AND leased_by <> ''`, interrupted, now.UTC())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("release delivery leases: %w", err)
	}
	return int(n), nil
}

// SavePayload implements cmex.DeliveryService.
func (s *DeliveryService) SavePayload(ctx context.Context, id cmex.DeliveryID, worker string, payload []byte) ([]byte, error) {
	if _, err := s.db.read().exec(ctx, `UPDATE deliveries SET payload = ? WHERE id = ? AND leased_by = ? AND payload IS NULL`, string(payload), id, worker); err != nil {
		return nil, fmt.Errorf("save payload: %w", err)
	}
	var got *string
	if err := s.db.read().queryRow(ctx, `SELECT payload FROM deliveries WHERE id = ?`, id).Scan(&got); err != nil {
		return nil, fmt.Errorf("save payload: %w", err)
	}
	if got == nil {
		return nil, fmt.Errorf("save payload: delivery %d is no longer leased to %s", id, worker)
	}
	return []byte(*got), nil
}

// CompleteAttempt implements cmex.DeliveryService.
func (s *DeliveryService) CompleteAttempt(ctx context.Context, id cmex.DeliveryID, worker string, o cmex.Outcome, now, next time.Time) error {
	codes, err := json.Marshal(o.Codes)
	if err != nil {
		return err
	}
	if o.Codes == nil {
		codes = []byte("[]")
	}
	now = now.UTC()
	return s.db.inTx(ctx, func(tx conn) error {
		var state, leasedBy, subject, dest string
		var recordID int64
		err := tx.queryRow(ctx, `SELECT d.state, d.leased_by, d.subject, d.record_id, t.name FROM deliveries d JOIN destinations t ON t.id = d.destination_id
			WHERE d.id = ?`+s.db.dialect.ForUpdate(), id).Scan(&state, &leasedBy, &subject, &recordID, &dest)
		if err != nil {
			return notFound(err, "delivery not found")
		}
		if state != string(cmex.DeliveryPending) || leasedBy != worker {
			return cmex.ErrLeaseLost // another worker took it over, or an operator retried or cancelled it
		}
		switch o.Result {
		case cmex.DeliveryDelivered:
			_, err = tx.exec(ctx, `UPDATE deliveries SET state = ?, lease_until = NULL, leased_by = '', last_error = '', remote_codes = ?, remote_id = ?,
				updated_at = ?, delivered_at = ? WHERE id = ?`, string(cmex.DeliveryDelivered), string(codes), o.RemoteID, now, now, id)
		case cmex.DeliveryRejected:
			_, err = tx.exec(ctx, `UPDATE deliveries SET state = ?, lease_until = NULL, leased_by = '', last_error = ?, remote_codes = ?, updated_at = ? WHERE id = ?`,
				string(cmex.DeliveryRejected), o.Error, string(codes), now, id)
		default:
			_, err = tx.exec(ctx, `UPDATE deliveries SET lease_until = NULL, leased_by = '', last_error = ?, remote_codes = ?, next_attempt_at = ?, updated_at = ? WHERE id = ?`,
				o.Error, string(codes), next.UTC(), now, id)
		}
		if err != nil {
			return fmt.Errorf("complete delivery: %w", err)
		}
		if o.Status == "" || subject != cmex.SubjectLearnerRecord {
			return nil
		}
		return moveFromDestination(ctx, tx, cmex.LearnerRecordID(recordID), o, dest, now)
	})
}

// moveFromDestination moves a learner record as a destination's answer
// says, forward only: Accepted to Submitted, either to Approved or
// Rejected.
func moveFromDestination(ctx context.Context, tx conn, id cmex.LearnerRecordID, o cmex.Outcome, dest string, now time.Time) error {
	var status string
	var deleted bool
	if err := tx.queryRow(ctx, `SELECT status, deleted FROM learner_records WHERE id = ?`, id).Scan(&status, &deleted); err != nil {
		return fmt.Errorf("move learner record: %w", err)
	}
	from := cmex.LearnerStatus(status)
	rank := map[cmex.LearnerStatus]int{cmex.StatusAccepted: 1, cmex.StatusSubmitted: 2, cmex.StatusApproved: 3, cmex.StatusRejected: 3}
	if deleted || rank[o.Status] <= rank[from] {
		return nil
	}
	ch := cmex.StatusChange{Status: o.Status, At: now, Source: "destination:" + dest}
	if o.Status == cmex.StatusRejected && len(o.Codes) > 0 {
		ch.Code, ch.Reason = o.Codes[0].Code, o.Codes[0].Message
	}
	_, err := (&LearnerService{db: tx.db}).move(ctx, tx, id, from, ch)
	return err
}

// RemoteID implements cmex.DeliveryService.
func (s *DeliveryService) RemoteID(ctx context.Context, dest cmex.DestinationID, subject string, recordID int64) (string, bool, error) {
	var id string
	err := s.db.read().queryRow(ctx, `SELECT remote_id FROM deliveries WHERE destination_id = ? AND subject = ? AND record_id = ? AND state = ? AND remote_id <> ''
		ORDER BY delivered_at DESC LIMIT 1`, dest, subject, recordID, string(cmex.DeliveryDelivered)).Scan(&id)
	if isNoRows(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("remote id: %w", err)
	}
	return id, true, nil
}

// MarkOverdue implements cmex.DeliveryService. The flag is set by an
// UPDATE that re-checks NOT overdue on each row it locks, and only the rows
// it changed are returned: of two replicas checking at once (a lease
// handed over mid-check), each delivery is flagged, logged and counted by
// one.
func (s *DeliveryService) MarkOverdue(ctx context.Context, t time.Time) ([]*cmex.Delivery, error) {
	var out []*cmex.Delivery
	err := s.db.inTx(ctx, func(tx conn) error {
		ids, err := scanColumn[cmex.DeliveryID](tx.query(ctx, `UPDATE deliveries SET overdue = ? WHERE state = 'pending' AND NOT overdue AND created_at < ?
			AND id IN (SELECT id FROM deliveries WHERE state = 'pending' AND NOT overdue AND created_at < ? ORDER BY id LIMIT 1000) RETURNING id`,
			true, t.UTC(), t.UTC()))
		if err != nil || len(ids) == 0 {
			return err
		}
		out, err = scanDeliveries(tx.query(ctx, `SELECT `+deliveryColumns+` FROM deliveries d JOIN destinations t ON t.id = d.destination_id
			WHERE d.id IN (`+placeholders(len(ids))+`) ORDER BY d.id`, anys(ids)...))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mark overdue deliveries: %w", err)
	}
	return out, nil
}

// ListDeliveries implements cmex.DeliveryService.
func (s *DeliveryService) ListDeliveries(ctx context.Context, f cmex.DeliveryFilter) ([]*cmex.Delivery, error) {
	where, args := deliveryWhere(f)
	switch {
	case f.Limit <= 0:
		f.Limit = cmex.DefaultDeliveryLimit
	case f.Limit > cmex.MaxDeliveryLimit:
		f.Limit = cmex.MaxDeliveryLimit
	}
	return scanDeliveries(s.db.read().query(ctx, `SELECT `+deliveryColumns+` FROM deliveries d JOIN destinations t ON t.id = d.destination_id
		WHERE `+where+` ORDER BY d.id DESC LIMIT ?`, append(args, f.Limit)...))
}

// deliveryWhere is the condition (on deliveries d) and its arguments of
// a filter's fields but Limit.
func deliveryWhere(f cmex.DeliveryFilter) (string, []any) {
	where, args := []string{"1 = 1"}, []any{}
	if f.OrganizationID != 0 {
		where, args = append(where, "d.organization_id = ?"), append(args, f.OrganizationID)
	}
	if f.State != "" {
		where, args = append(where, "d.state = ?"), append(args, string(f.State))
	}
	if f.Destination != "" {
		where, args = append(where, "d.destination_id IN (SELECT n.id FROM destinations n WHERE n.name_key = ?)"), append(args, strings.ToLower(f.Destination))
	}
	if f.DestinationID != 0 {
		where, args = append(where, "d.destination_id = ?"), append(args, f.DestinationID)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "d.created_at >= ?"), append(args, f.Since.UTC())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "d.created_at < ?"), append(args, f.Until.UTC())
	}
	return strings.Join(where, " AND "), args
}

// Delivery implements cmex.DeliveryService.
func (s *DeliveryService) Delivery(ctx context.Context, org cmex.OrganizationID, id cmex.DeliveryID) (*cmex.Delivery, error) {
	d, err := scanDelivery(s.db.read().queryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries d JOIN destinations t ON t.id = d.destination_id
		WHERE d.id = ? AND (? = 0 OR d.organization_id = ?)`, id, org, org))
	if err != nil {
		return nil, notFound(err, fmt.Sprintf("no delivery %d", id))
	}
	return d, nil
}

// RetryDelivery implements cmex.DeliveryService.
func (s *DeliveryService) RetryDelivery(ctx context.Context, org cmex.OrganizationID, id cmex.DeliveryID) error {
	now := s.db.now()
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		res, err := tx.exec(ctx, `UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_until = NULL, leased_by = '', updated_at = ?
			WHERE id = ? AND (? = 0 OR organization_id = ?) AND state <> 'delivered'`, now, now, id, org, org)
		return "delivery.retry", fmt.Sprint(id), "", affected(res, err, fmt.Sprintf("no delivery %d to retry (a delivered one is not sent again)", id))
	})
}

// CancelDelivery implements cmex.DeliveryService.
func (s *DeliveryService) CancelDelivery(ctx context.Context, org cmex.OrganizationID, id cmex.DeliveryID) error {
	return s.db.change(ctx, func(tx conn) (string, string, string, error) {
		res, err := tx.exec(ctx, `UPDATE deliveries SET state = 'cancelled', lease_until = NULL, leased_by = '', updated_at = ?
			WHERE id = ? AND (? = 0 OR organization_id = ?) AND state = 'pending'`, s.db.now(), id, org, org)
		return "delivery.cancel", fmt.Sprint(id), "", affected(res, err, fmt.Sprintf("no pending delivery %d to cancel", id))
	})
}

func affected(res sql.Result, err error, msg string) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return cmex.Errorf(cmex.ENOTFOUND, "%s", msg)
	}
	return nil
}

// awaitingStatus is the condition (on deliveries d, destinations t and
// learner_records r) of delivered MOC records still waiting for a board.
const awaitingStatus = `d.state = 'delivered' AND d.subject = ? AND r.board <> '' AND NOT r.deleted AND r.status IN (?, ?)`

// StatusDestinations implements cmex.DeliveryService.
func (s *DeliveryService) StatusDestinations(ctx context.Context, kind cmex.DestinationKind) ([]cmex.DestinationID, error) {
	ids, err := scanColumn[cmex.DestinationID](s.db.read().query(ctx, `SELECT DISTINCT d.destination_id FROM deliveries d
		JOIN destinations t ON t.id = d.destination_id JOIN learner_records r ON r.id = d.record_id
		WHERE t.kind = ? AND `+awaitingStatus+` ORDER BY d.destination_id`,
		string(kind), cmex.SubjectLearnerRecord, string(cmex.StatusAccepted), string(cmex.StatusSubmitted)))
	if err != nil {
		return nil, fmt.Errorf("destinations awaiting status: %w", err)
	}
	return ids, nil
}

// AwaitingStatus implements cmex.DeliveryService. The delivery's
// updated_at records when its status was last checked.
func (s *DeliveryService) AwaitingStatus(ctx context.Context, dest cmex.DestinationID, now time.Time, limit int) ([]*cmex.Delivery, error) {
	var out []*cmex.Delivery
	err := s.db.inTx(ctx, func(tx conn) error {
		var err error
		out, err = scanDeliveries(tx.query(ctx, `SELECT `+deliveryColumns+` FROM deliveries d JOIN destinations t ON t.id = d.destination_id
			JOIN learner_records r ON r.id = d.record_id
			WHERE d.destination_id = ? AND `+awaitingStatus+`
			ORDER BY d.updated_at, d.id LIMIT ?`,
			dest, cmex.SubjectLearnerRecord, string(cmex.StatusAccepted), string(cmex.StatusSubmitted), limit))
		if err != nil || len(out) == 0 {
			return err
		}
		ids := make([]any, len(out))
		for i, d := range out {
			ids[i] = d.ID
		}
		_, err = tx.exec(ctx, `UPDATE deliveries SET updated_at = ? WHERE id IN (`+placeholders(len(ids))+`)`, append([]any{now.UTC()}, ids...)...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("deliveries awaiting status: %w", err)
	}
	return out, nil
}

// RecordStatus implements cmex.DeliveryService.
func (s *DeliveryService) RecordStatus(ctx context.Context, id cmex.DeliveryID, o cmex.Outcome, now time.Time) error {
	return s.db.inTx(ctx, func(tx conn) error {
		var subject, dest string
		var recordID int64
		err := tx.queryRow(ctx, `SELECT d.subject, d.record_id, t.name FROM deliveries d JOIN destinations t ON t.id = d.destination_id WHERE d.id = ?`, id).
			Scan(&subject, &recordID, &dest)
		if err != nil {
			return notFound(err, "delivery not found")
		}
		if subject != cmex.SubjectLearnerRecord || o.Status == "" {
			return nil
		}
		return moveFromDestination(ctx, tx, cmex.LearnerRecordID(recordID), o, dest, now.UTC())
	})
}

// Backlog is one destination's undelivered work, for /metrics.
type Backlog struct {
	Provider    cmex.ProviderID
	Destination string
	Pending     int
	Oldest      time.Time // the oldest pending delivery's creation
}

// Backlogs returns the pending deliveries of each destination that has
// any, and how old the oldest is.
func (s *DeliveryService) Backlogs(ctx context.Context) ([]Backlog, error) {
	rows, err := s.db.read().query(ctx, `SELECT d.id, coalesce(o.provider_id, ''), d.name, count(*) FROM deliveries l
		JOIN destinations d ON d.id = l.destination_id JOIN organizations o ON o.id = d.organization_id
		WHERE l.state = 'pending' GROUP BY d.id, o.provider_id, d.name ORDER BY o.provider_id, d.name`)
	if err != nil {
		return nil, fmt.Errorf("outbox backlog: %w", err)
	}
	var out []Backlog
	var ids []int64
	for rows.Next() {
		var b Backlog
		var id int64
		if err := rows.Scan(&id, &b.Provider, &b.Destination, &b.Pending); err != nil {
			rows.Close()
			return nil, fmt.Errorf("outbox backlog: %w", err)
		}
		out, ids = append(out, b), append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("outbox backlog: %w", err)
	}
	// The oldest by its own row, so that the column's type (a time) is
	// kept, as an aggregate's is not on SQLite.
	for i, id := range ids {
		if err := s.db.read().queryRow(ctx, `SELECT created_at FROM deliveries WHERE destination_id = ? AND state = 'pending' ORDER BY created_at LIMIT 1`,
			id).Scan(&out[i].Oldest); err != nil && !isNoRows(err) {
			return nil, fmt.Errorf("outbox backlog: %w", err)
		}
	}
	return out, nil
}
