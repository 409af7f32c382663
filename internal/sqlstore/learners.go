package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cmexhub/cmex"
)

// LearnerService implements cmex.LearnerService: learner records, their
// status, and the history of both.
type LearnerService struct {
	db *DB
	// Mode is how reported identities are checked.
	Mode cmex.MatchingMode

	group groupCommit
	stats ledgerStatistics
}

// ledgerStatistics is what keepStatistics knows of the engine's statistics.
type ledgerStatistics struct {
	mu    sync.Mutex
	known bool
	// rows are the records the statistics counted; added, the records
	// imports added since.
	rows, added int64
}

var _ cmex.LearnerService = (*LearnerService)(nil)

// NewLearnerService returns the learner ledger of db, matching identities
// as mode says.
func NewLearnerService(db *DB, mode cmex.MatchingMode) *LearnerService {
	return &LearnerService{db: db, Mode: mode}
}

// SaveLearnerReport implements cmex.LearnerService. Concurrent calls share
// transactions (group commit); each returns once its record is committed.
func (s *LearnerService) SaveLearnerReport(ctx context.Context, ch cmex.LearnerChange) ([]*cmex.LearnerRecord, cmex.Problems, error) {
	if ch.Report == nil {
		return nil, nil, cmex.Errorf(cmex.EINVALID, "no learner report in the change")
	}
	if ch.By.Organization.ID == 0 || ch.By.Organization.ProviderID == "" {
		return nil, nil, cmex.Errorf(cmex.EUNAUTHORIZED, "no provider")
	}
	res, err := s.save(ctx, ch)
	if err != nil {
		return nil, nil, err
	}
	if res.Outcome == cmex.OutcomeRejected {
		return nil, nil, cmex.Rejected(res.Problems)
	}
	return res.Records, res.Problems, nil
}

func (s *LearnerService) appendEvent(ctx context.Context, tx conn, ch cmex.StatusChange) error {
	_, err := tx.exec(ctx, `INSERT INTO learner_record_events (record_id, seq, status, at, source, code, reason)
		VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM learner_record_events WHERE record_id = ?), ?, ?, ?, ?, ?)`,
		ch.RecordID, ch.RecordID, string(ch.Status), ch.At, ch.Source, ch.Code, ch.Reason)
	if err != nil {
		return fmt.Errorf("append status change of record %d: %w", ch.RecordID, err)
	}
	return nil
}

// move changes a record's status if it is still from, and appends the change.
func (s *LearnerService) move(ctx context.Context, tx conn, id cmex.LearnerRecordID, from cmex.LearnerStatus, ch cmex.StatusChange) (bool, error) {
	res, err := tx.exec(ctx, `UPDATE learner_records SET status = ?, status_code = ?, status_reason = ?, status_at = ?, deleted = ?
		WHERE id = ? AND status = ? AND NOT deleted`,
		string(ch.Status), ch.Code, ch.Reason, ch.At, ch.Status == cmex.StatusDeleted, id, string(from))
	if err != nil {
		return false, fmt.Errorf("move learner record %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	ch.RecordID = id
	return true, s.appendEvent(ctx, tx, ch)
}

// MoveLearnerRecord implements cmex.LearnerService.
func (s *LearnerService) MoveLearnerRecord(ctx context.Context, id cmex.LearnerRecordID, from cmex.LearnerStatus, ch cmex.StatusChange) (bool, error) {
	if ch.At.IsZero() {
		ch.At = s.db.now()
	}
	var moved bool
	err := s.db.inTx(ctx, func(tx conn) error {
		var err error
		if moved, err = s.move(ctx, tx, id, from, ch); err != nil || !moved {
			return err
		}
		row := auditFrom(ctx, ch.Source, "learner-record.status", fmt.Sprint(id),
			strings.TrimSpace(fmt.Sprintf("%s to %s %s %s", from, ch.Status, ch.Code, ch.Reason)))
		return s.db.appendAudit(ctx, tx, []auditRow{row})
	})
	return moved, err
}

// FindLearnerRecords implements cmex.LearnerService.
func (s *LearnerService) FindLearnerRecords(ctx context.Context, f cmex.LearnerRecordFilter) ([]*cmex.LearnerRecord, error) {
	if f.ProviderID == "" {
		return nil, cmex.Errorf(cmex.EINVALID, "no provider")
	}
	where := []string{"o.provider_id = ?", "NOT r.deleted"}
	args := []any{string(f.ProviderID)}
	if f.CreditID != "" {
		where, args = append(where, "r.credit_id = ?"), append(args, string(f.CreditID))
	}
	if f.ActivityID != 0 {
		where, args = append(where, "r.activity_id = ?"), append(args, f.ActivityID)
	}
	if !f.CompletionDate.IsZero() {
		where, args = append(where, "r.completion_date = ?"), append(args, f.CompletionDate)
	}
	if f.LearnerKey != "" {
		where, args = append(where, "r.learner_key = ?"), append(args, f.LearnerKey)
	}
	if !f.From.IsZero() {
		where, args = append(where, "r.completion_date >= ?"), append(args, f.From)
	}
	if !f.To.IsZero() {
		where, args = append(where, "r.completion_date <= ?"), append(args, f.To)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	order := "r.id"
	if f.Newest {
		order = "r.id DESC"
	}
	recs, err := scanRecords(s.db.read().query(ctx, `SELECT `+prefixed("r.", recordColumns)+`
		FROM learner_records r JOIN organizations o ON o.id = r.organization_id
		WHERE `+strings.Join(where, " AND ")+` ORDER BY `+order+` LIMIT ?`, append(args, limit)...))
	if err != nil {
		return nil, fmt.Errorf("find learner records: %w", err)
	}
	if f.UniqueID == "" && f.BirthMonth == 0 && f.BirthDay == 0 {
		return recs, nil
	}
	var out []*cmex.LearnerRecord
	for _, r := range recs {
		if f.BirthMonth != 0 && r.Learner.BirthDate.Month != f.BirthMonth || f.BirthDay != 0 && r.Learner.BirthDate.Day != f.BirthDay {
			continue
		}
		if f.UniqueID != "" && !hasUniqueID(r.Learner, f.UniqueID) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func hasUniqueID(l cmex.LearnerIdentity, value string) bool {
	for _, u := range l.UniqueIDs {
		if cmex.IDKey(u.Value) == cmex.IDKey(value) {
			return true
		}
	}
	return false
}

// LearnerRecordHistory implements cmex.LearnerService.
func (s *LearnerService) LearnerRecordHistory(ctx context.Context, provider cmex.ProviderID, id cmex.LearnerRecordID) ([]*cmex.StatusChange, error) {
	rows, err := s.db.read().query(ctx, `SELECT e.record_id, e.status, e.at, e.source, e.code, e.reason
		FROM learner_record_events e
		JOIN learner_records r ON r.id = e.record_id
		JOIN organizations o ON o.id = r.organization_id
		WHERE e.record_id = ? AND o.provider_id = ? ORDER BY e.seq`, id, string(provider))
	if err != nil {
		return nil, fmt.Errorf("learner record history: %w", err)
	}
	defer rows.Close()
	var out []*cmex.StatusChange
	for rows.Next() {
		var c cmex.StatusChange
		var status string
		if err := rows.Scan(&c.RecordID, &status, &c.At, &c.Source, &c.Code, &c.Reason); err != nil {
			return nil, fmt.Errorf("learner record history: %w", err)
		}
		c.Status, c.At = cmex.LearnerStatus(status), c.At.UTC()
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, cmex.Errorf(cmex.ENOTFOUND, "learner record %d not found", id)
	}
	return out, nil
}

// RecordsAwaiting implements cmex.LearnerService.
func (s *LearnerService) RecordsAwaiting(ctx context.Context, st cmex.LearnerStatus, t time.Time, limit int) ([]*cmex.LearnerRecord, error) {
	if limit <= 0 {
		limit = 100
	}
	recs, err := scanRecords(s.db.read().query(ctx, `SELECT `+recordColumns+` FROM learner_records
		WHERE status = ? AND status_at <= ? AND NOT deleted AND board <> '' ORDER BY status_at, id LIMIT ?`,
		string(st), t.UTC(), limit))
	if err != nil {
		return nil, fmt.Errorf("records awaiting: %w", err)
	}
	return recs, nil
}

const recordColumns = "id, status, status_code, status_reason, status_at, deleted, document"

// scanRecords reads rows of recordColumns: the immutable document, with the
// columns that move laid over it.
func scanRecords(rows *sql.Rows, err error) ([]*cmex.LearnerRecord, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*cmex.LearnerRecord
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// scanRecord reads a row of recordColumns.
func scanRecord(row scanner) (*cmex.LearnerRecord, error) {
	var id cmex.LearnerRecordID
	var status, code, reason, doc string
	var at time.Time
	var deleted bool
	if err := row.Scan(&id, &status, &code, &reason, &at, &deleted, &doc); err != nil {
		return nil, err
	}
	r := new(cmex.LearnerRecord)
	if err := json.Unmarshal([]byte(doc), r); err != nil {
		return nil, fmt.Errorf("decode learner record %d: %w", id, err)
	}
	r.ID, r.Status, r.StatusCode, r.StatusReason, r.StatusAt, r.Deleted = id, cmex.LearnerStatus(status), code, reason, at.UTC(), deleted
	return r, nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		switch v := any(x).(type) {
		case cmex.CreditID:
			out[i] = string(v)
		default:
			out[i] = x
		}
	}
	return out
}

// RecordQuery selects live learner records for export.
type RecordQuery struct {
	Provider cmex.ProviderID // "" for every provider's
	From, To cmex.Date       // completion dates, inclusive; zero for no bound
	Person   cmex.PersonID   // the registry person's, 0 for anyone's
	UniqueID string          // records of a learner with this identifier value
}

// exportPage is how many records EachLearnerRecord reads at a time.
const exportPage = 2000

// EachLearnerRecord calls fn with every live record q selects, in id
// order. It reads a page at a time, so an export of any size holds one
// page in memory and no long-running transaction.
func (s *LearnerService) EachLearnerRecord(ctx context.Context, q RecordQuery, fn func(*cmex.LearnerRecord) error) error {
	where := []string{"NOT r.deleted", "r.id > ?"}
	var args []any
	if q.Provider != "" {
		where, args = append(where, "r.organization_id = (SELECT id FROM organizations WHERE provider_id = ?)"), append(args, string(q.Provider))
	}
	if !q.From.IsZero() {
		where, args = append(where, "r.completion_date >= ?"), append(args, q.From)
	}
	if !q.To.IsZero() {
		where, args = append(where, "r.completion_date <= ?"), append(args, q.To)
	}
	if q.Person != 0 {
		where, args = append(where, "r.person_id = ?"), append(args, q.Person)
	}
	query := `SELECT ` + prefixed("r.", recordColumns) + `, o.provider_id FROM learner_records r JOIN organizations o ON o.id = r.organization_id
		WHERE ` + strings.Join(where, " AND ") + ` ORDER BY r.id LIMIT ?`
	var last cmex.LearnerRecordID
	for {
		rows, err := s.db.read().query(ctx, query, append(append([]any{last}, args...), exportPage)...)
		if err != nil {
			return fmt.Errorf("export learner records: %w", err)
		}
		var page []*cmex.LearnerRecord
		for rows.Next() {
			var id cmex.LearnerRecordID
			var status, code, reason, doc, provider string
			var at time.Time
			var deleted bool
			if err := rows.Scan(&id, &status, &code, &reason, &at, &deleted, &doc, &provider); err != nil {
				rows.Close()
				return err
			}
			r := new(cmex.LearnerRecord)
			if err := json.Unmarshal([]byte(doc), r); err != nil {
				rows.Close()
				return fmt.Errorf("decode learner record %d: %w", id, err)
			}
			r.ID, r.Status, r.StatusCode, r.StatusReason, r.StatusAt, r.Deleted = id, cmex.LearnerStatus(status), code, reason, at.UTC(), deleted
			r.ProviderID = cmex.ProviderID(provider)
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range page {
			if q.UniqueID != "" && !hasUniqueID(r.Learner, q.UniqueID) {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		last = page[len(page)-1].ID
	}
}
