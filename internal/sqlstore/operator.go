package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// What the operator's console needs of the store beyond the services'
// everyday methods: bulk retries and cancellations, every destination's
// backlog, and the record of calls to remote societies.

// unchanged is err, or nil for errUnchanged: a change that would set
// what is already there (rolled back, nothing audited) is no error.
func unchanged(err error) error {
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// bulkChunk is how many rows one statement of a bulk change names, well
// under both engines' limits on parameters (SQLite's 32766, PostgreSQL's
// 65535) with the audit log's six per row.
const bulkChunk = 500

// RetryDeliveries implements cmex.DeliveryService.
func (s *DeliveryService) RetryDeliveries(ctx context.Context, f cmex.DeliveryFilter) (*cmex.BulkResult, error) {
	if f.State == cmex.DeliveryDelivered {
		return nil, cmex.Errorf(cmex.EINVALID, "a delivered delivery is not sent again: retry pending, rejected or cancelled ones")
	}
	now := s.db.now()
	return s.bulk(ctx, f, "retry", []cmex.DeliveryState{cmex.DeliveryPending, cmex.DeliveryRejected, cmex.DeliveryCancelled},
		`UPDATE deliveries SET state = 'pending', next_attempt_at = ?, lease_until = NULL, leased_by = '', updated_at = ? WHERE state <> 'delivered' AND id IN `,
		[]any{now, now})
}

// CancelDeliveries implements cmex.DeliveryService.
func (s *DeliveryService) CancelDeliveries(ctx context.Context, f cmex.DeliveryFilter) (*cmex.BulkResult, error) {
	if f.State != "" && f.State != cmex.DeliveryPending {
		return nil, cmex.Errorf(cmex.EINVALID, "only pending deliveries can be cancelled, not %s ones", f.State)
	}
	return s.bulk(ctx, f, "cancel", []cmex.DeliveryState{cmex.DeliveryPending},
		`UPDATE deliveries SET state = 'cancelled', lease_until = NULL, leased_by = '', updated_at = ? WHERE state = 'pending' AND id IN `,
		[]any{s.db.now()})
}

// bulk changes, in one transaction, the deliveries f selects among those
// in states, oldest first and at most cmex.MaxBulkDeliveries, with update
// (ending in "id IN ", its leading arguments args), and appends an audit
// entry per delivery: delivery.<verb>, as a single retry or cancel
// writes, with the filter in the detail. Each delivery's row is locked
// where the engine locks rows, so that a worker's claim skips it.
func (s *DeliveryService) bulk(ctx context.Context, f cmex.DeliveryFilter, verb string, states []cmex.DeliveryState, update string, args []any) (*cmex.BulkResult, error) {
	where, wargs := deliveryWhere(f)
	in := make([]string, len(states))
	for i, st := range states {
		in[i], wargs = "?", append(wargs, string(st))
	}
	res := &cmex.BulkResult{}
	err := s.db.inTx(ctx, func(tx conn) error {
		ids, err := scanColumn[cmex.DeliveryID](tx.query(ctx, `SELECT d.id FROM deliveries d WHERE `+where+` AND d.state IN (`+strings.Join(in, ", ")+`)
			ORDER BY d.id LIMIT ?`+s.db.dialect.ForUpdate(), append(wargs, cmex.MaxBulkDeliveries+1)...))
		if err != nil {
			return err
		}
		if len(ids) > cmex.MaxBulkDeliveries {
			ids, res.More = ids[:cmex.MaxBulkDeliveries], true
		}
		var name string
		if f.DestinationID != 0 {
			if err := tx.queryRow(ctx, `SELECT name FROM destinations WHERE id = ?`, f.DestinationID).Scan(&name); err != nil && !isNoRows(err) {
				return err
			}
		}
		detail := fmt.Sprintf("bulk %s of %d (%s)", verb, len(ids), describeFilter(f, name))
		for start := 0; start < len(ids); start += bulkChunk {
			chunk := ids[start:min(start+bulkChunk, len(ids))]
			changed, err := scanColumn[cmex.DeliveryID](tx.query(ctx, update+`(`+placeholders(len(chunk))+`) RETURNING id`, append(append([]any{}, args...), anys(chunk)...)...))
			if err != nil {
				return err
			}
			rows := make([]auditRow, len(changed))
			for i, id := range changed {
				rows[i] = auditFrom(ctx, "", "delivery."+verb, fmt.Sprint(id), detail)
			}
			if err := s.db.appendAudit(ctx, tx, rows); err != nil {
				return err
			}
			res.IDs = append(res.IDs, changed...)
		}
		slices.Sort(res.IDs) // RETURNING has no order
		res.Changed = len(res.IDs)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bulk %s deliveries: %w", verb, err)
	}
	return res, nil
}

// CountDeliveries implements cmex.DeliveryService.
func (s *DeliveryService) CountDeliveries(ctx context.Context, f cmex.DeliveryFilter) (int, error) {
	where, args := deliveryWhere(f)
	var n int
	if err := s.db.read().queryRow(ctx, `SELECT count(*) FROM deliveries d WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count deliveries: %w", err)
	}
	return n, nil
}

// describeFilter says what a bulk change selected, for the audit log;
// name is the name of f's destination, if it names one by id.
func describeFilter(f cmex.DeliveryFilter, name string) string {
	var parts []string
	if f.OrganizationID != 0 {
		parts = append(parts, fmt.Sprintf("organization %d", f.OrganizationID))
	}
	if f.DestinationID != 0 {
		parts = append(parts, strings.TrimSpace(fmt.Sprintf("destination %d %s", f.DestinationID, name)))
	}
	if f.Destination != "" {
		parts = append(parts, "destination "+f.Destination)
	}
	if f.State != "" {
		parts = append(parts, "state "+string(f.State))
	}
	if !f.Since.IsZero() {
		parts = append(parts, "since "+f.Since.UTC().Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		parts = append(parts, "until "+f.Until.UTC().Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "every delivery"
	}
	return strings.Join(parts, ", ")
}

// DestinationBacklogs implements cmex.DeliveryService. Only the
// undelivered deliveries are counted (through the index on state), so the
// page stays cheap however many were delivered.
func (s *DeliveryService) DestinationBacklogs(ctx context.Context) ([]*cmex.DestinationBacklog, error) {
	rows, err := s.db.read().query(ctx, `SELECT t.id, t.organization_id, coalesce(o.provider_id, ''), o.name, t.name, t.kind, t.document
		FROM destinations t JOIN organizations o ON o.id = t.organization_id ORDER BY o.kind, length(o.provider_id), o.provider_id, t.name_key`)
	if err != nil {
		return nil, fmt.Errorf("destination backlogs: %w", err)
	}
	var out []*cmex.DestinationBacklog
	byID := map[cmex.DestinationID]*cmex.DestinationBacklog{}
	for rows.Next() {
		b := &cmex.DestinationBacklog{}
		var kind, doc, provider string
		if err := rows.Scan(&b.DestinationID, &b.OrganizationID, &provider, &b.Organization, &b.Destination, &kind, &doc); err != nil {
			rows.Close()
			return nil, fmt.Errorf("destination backlogs: %w", err)
		}
		var dd destinationDoc
		if err := json.Unmarshal([]byte(doc), &dd); err != nil {
			rows.Close()
			return nil, fmt.Errorf("decode destination %d: %w", b.DestinationID, err)
		}
		b.ProviderID, b.Kind, b.URL, b.Enabled = cmex.ProviderID(provider), cmex.DestinationKind(kind), dd.URL, dd.Enabled
		out, byID[b.DestinationID] = append(out, b), b
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("destination backlogs: %w", err)
	}
	rows, err = s.db.read().query(ctx, `SELECT destination_id, state, count(*), sum(CASE WHEN overdue THEN 1 ELSE 0 END) FROM deliveries
		WHERE state IN ('pending', 'rejected', 'cancelled') GROUP BY destination_id, state`)
	if err != nil {
		return nil, fmt.Errorf("destination backlogs: %w", err)
	}
	for rows.Next() {
		var id cmex.DestinationID
		var state string
		var n, overdue int
		if err := rows.Scan(&id, &state, &n, &overdue); err != nil {
			rows.Close()
			return nil, fmt.Errorf("destination backlogs: %w", err)
		}
		b := byID[id]
		if b == nil {
			continue
		}
		switch cmex.DeliveryState(state) {
		case cmex.DeliveryPending:
			b.Pending, b.Overdue = n, overdue
		case cmex.DeliveryRejected:
			b.Rejected = n
		case cmex.DeliveryCancelled:
			b.Cancelled = n
		}
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("destination backlogs: %w", err)
	}
	for _, b := range out {
		if b.Pending == 0 {
			continue
		}
		err := s.db.read().queryRow(ctx, `SELECT created_at FROM deliveries WHERE destination_id = ? AND state = 'pending' ORDER BY created_at LIMIT 1`,
			b.DestinationID).Scan(&b.OldestPending)
		if err != nil && !isNoRows(err) {
			return nil, fmt.Errorf("destination backlogs: %w", err)
		}
		b.OldestPending = b.OldestPending.UTC()
	}
	return out, nil
}

// SocietyCallService implements cmex.SocietyCallService.
type SocietyCallService struct{ db *DB }

var _ cmex.SocietyCallService = (*SocietyCallService)(nil)

// NewSocietyCallService returns the record of remote society calls of db.
func NewSocietyCallService(db *DB) *SocietyCallService { return &SocietyCallService{db: db} }

// RecordSocietyCall implements cmex.SocietyCallService: the call's row,
// its society's counters, and the deletion of its rows beyond the last
// cmex.RecentSocietyCalls, in one short transaction.
func (s *SocietyCallService) RecordSocietyCall(ctx context.Context, c cmex.SocietyCall) error {
	if c.At.IsZero() {
		c.At = s.db.now()
	}
	switch c.Outcome {
	case cmex.CallAnswered, cmex.CallRefused, cmex.CallFailed:
	default:
		return cmex.Errorf(cmex.EINVALID, "a society call is answered, refused or failed, not %q", c.Outcome)
	}
	answer := cmex.RemoteText(c.Answer, cmex.MaxRemoteText)
	refused, failed := 0, 0
	switch c.Outcome {
	case cmex.CallRefused:
		refused = 1
	case cmex.CallFailed:
		failed = 1
	}
	at := c.At.UTC().Truncate(time.Microsecond)
	return s.db.writeTurn(func() error {
		return s.db.inTx(ctx, func(tx conn) error {
			if _, err := tx.exec(ctx, `INSERT INTO society_calls (society_id, at, operation, outcome, duration_us, answer) VALUES (?, ?, ?, ?, ?, ?)`,
				c.SocietyID, at, c.Operation, string(c.Outcome), c.Duration.Microseconds(), answer); err != nil {
				return fmt.Errorf("record society call: %w", err)
			}
			if _, err := tx.exec(ctx, `INSERT INTO society_call_totals (society_id, calls, refusals, failures, since) VALUES (?, 1, ?, ?, ?)
				ON CONFLICT (society_id) DO UPDATE SET calls = society_call_totals.calls + 1,
					refusals = society_call_totals.refusals + excluded.refusals, failures = society_call_totals.failures + excluded.failures`,
				c.SocietyID, refused, failed, at); err != nil {
				return fmt.Errorf("record society call: %w", err)
			}
			if _, err := tx.exec(ctx, `DELETE FROM society_calls WHERE society_id = ? AND id <= (
				SELECT id FROM society_calls WHERE society_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
				c.SocietyID, c.SocietyID, cmex.RecentSocietyCalls); err != nil {
				return fmt.Errorf("record society call: %w", err)
			}
			return nil
		})
	})
}

// SocietyCallStats implements cmex.SocietyCallService.
func (s *SocietyCallService) SocietyCallStats(ctx context.Context) (map[cmex.SocietyID]*cmex.SocietyCallStats, error) {
	out := map[cmex.SocietyID]*cmex.SocietyCallStats{}
	rows, err := s.db.read().query(ctx, `SELECT society_id, calls, refusals, failures, since FROM society_call_totals`)
	if err != nil {
		return nil, fmt.Errorf("society call stats: %w", err)
	}
	for rows.Next() {
		st := &cmex.SocietyCallStats{}
		if err := rows.Scan(&st.SocietyID, &st.Calls, &st.Refusals, &st.Failures, &st.Since); err != nil {
			rows.Close()
			return nil, fmt.Errorf("society call stats: %w", err)
		}
		st.Since = st.Since.UTC()
		out[st.SocietyID] = st
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("society call stats: %w", err)
	}
	rows, err = s.db.read().query(ctx, `SELECT society_id, at, operation, outcome, duration_us, answer FROM society_calls ORDER BY society_id, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("society call stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c cmex.SocietyCall
		var outcome string
		var us int64
		if err := rows.Scan(&c.SocietyID, &c.At, &c.Operation, &outcome, &us, &c.Answer); err != nil {
			return nil, fmt.Errorf("society call stats: %w", err)
		}
		c.At, c.Outcome, c.Duration = c.At.UTC(), cmex.SocietyCallOutcome(outcome), time.Duration(us)*time.Microsecond
		if st := out[c.SocietyID]; st != nil && len(st.Recent) < cmex.RecentSocietyCalls {
			st.Recent = append(st.Recent, c)
		}
	}
	return out, rows.Err()
}
