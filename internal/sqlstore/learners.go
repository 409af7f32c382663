package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// LearnerService implements cmex.LearnerService: learner records, their
// status, and the history of both.
type LearnerService struct {
	db *DB
	// Mode is how reported identities are checked.
	Mode cmex.MatchingMode
}

var _ cmex.LearnerService = (*LearnerService)(nil)

// NewLearnerService returns the learner ledger of db, matching identities
// as mode says.
func NewLearnerService(db *DB, mode cmex.MatchingMode) *LearnerService {
	return &LearnerService{db: db, Mode: mode}
}

// SaveLearnerReport implements cmex.LearnerService.
func (s *LearnerService) SaveLearnerReport(ctx context.Context, ch cmex.LearnerChange) ([]*cmex.LearnerRecord, cmex.Problems, error) {
	if ch.Report == nil {
		return nil, nil, cmex.Errorf(cmex.EINVALID, "no learner report in the change")
	}
	if ch.By.Organization.ID == 0 || ch.By.Organization.ProviderID == "" {
		return nil, nil, cmex.Errorf(cmex.EUNAUTHORIZED, "no provider")
	}
	mode := s.Mode
	if mode == "" {
		mode = cmex.MatchRegistry
	}
	source := ch.Source
	if source == "" {
		source = "pars"
	}
	source += ":" + ch.By.User.Username

	var out []*cmex.LearnerRecord
	var warnings cmex.Problems
	err := s.db.inTx(ctx, func(tx conn) error {
		st, err := s.state(ctx, tx, ch, mode)
		if err != nil {
			return err
		}
		now := s.db.now()
		v := cmex.CheckLearnerChange(&ch, st, mode, cmex.DateOf(now))
		if v.Problems.HasErrors() {
			return cmex.Rejected(v.Problems.Dedup())
		}
		warnings = v.Problems.Warnings()
		out = nil
		for _, r := range v.Add {
			if err := s.insert(ctx, tx, ch.By.Organization.ID, r, source, now); err != nil {
				return err
			}
			out = append(out, r)
		}
		// The records' deliveries are made with them, or not at all.
		if err := enqueueLearnerRecords(ctx, tx, ch.By.Organization.ID, v.Add, cmex.LearnerAdd, source, now); err != nil {
			return err
		}
		for _, r := range v.Delete {
			moved, err := s.move(ctx, tx, r.ID, r.Status, cmex.StatusChange{Status: cmex.StatusDeleted, At: now, Source: source})
			if err != nil {
				return err
			}
			if !moved {
				return fmt.Errorf("delete learner record %d: it changed meanwhile", r.ID)
			}
			r.Deleted, r.Status, r.StatusAt = true, cmex.StatusDeleted, now
			out = append(out, r)
		}
		return enqueueLearnerRecords(ctx, tx, ch.By.Organization.ID, v.Delete, cmex.LearnerDelete, source, now)
	})
	if err != nil {
		return nil, nil, err
	}
	return out, warnings, nil
}

// state loads what the rules need, locking the activity's row on engines
// that need it so that concurrent reports for one activity are judged one
// after the other.
func (s *LearnerService) state(ctx context.Context, tx conn, ch cmex.LearnerChange, mode cmex.MatchingMode) (cmex.LearnerState, error) {
	r := ch.Report
	org := ch.By.Organization.ID
	st := cmex.LearnerState{ByCreditID: map[cmex.CreditID]*cmex.LearnerRecord{}}
	if r.ActivityID != 0 {
		row, err := scanActivityRow(tx.queryRow(ctx, `SELECT `+activityColumns+` FROM activities WHERE id = ? AND organization_id = ? AND NOT deleted`+s.db.dialect.ForUpdate(), r.ActivityID, org))
		switch {
		case err == nil:
			st.Activity = row.activity
		case !isNoRows(err):
			return st, fmt.Errorf("load activity %d: %w", r.ActivityID, err)
		}
	}
	if mode == cmex.MatchRegistry && strings.EqualFold(r.Action, cmex.LearnerAdd) {
		q := r.Learner.Query()
		if q.HasIdentifier() {
			cands, err := candidates(ctx, tx, q)
			if err != nil {
				return st, err
			}
			st.Candidates = cands
		}
	}
	if st.Activity != nil {
		keys := cmex.CandidateKeys(r.Learner, st.Candidates)
		recs, err := scanRecords(tx.query(ctx, `SELECT `+recordColumns+` FROM learner_records
			WHERE activity_id = ? AND NOT deleted AND learner_key IN (`+placeholders(len(keys))+`)`, append([]any{r.ActivityID}, anys(keys)...)...))
		if err != nil {
			return st, fmt.Errorf("learner's records: %w", err)
		}
		st.Records = recs
	}
	var ids []cmex.CreditID
	for _, c := range r.Credits {
		if c.CreditID != "" {
			ids = append(ids, c.CreditID)
		}
	}
	if len(ids) > 0 {
		recs, err := scanRecords(tx.query(ctx, `SELECT `+recordColumns+` FROM learner_records
			WHERE organization_id = ? AND NOT deleted AND credit_id IN (`+placeholders(len(ids))+`)`, append([]any{org}, anys(ids)...)...))
		if err != nil {
			return st, fmt.Errorf("records by credit id: %w", err)
		}
		for _, rec := range recs {
			st.ByCreditID[rec.CreditID] = rec
		}
	}
	return st, nil
}

func (s *LearnerService) insert(ctx context.Context, tx conn, org cmex.OrganizationID, r *cmex.LearnerRecord, source string, now time.Time) error {
	r.SubmittedAt, r.StatusAt = now, now
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode learner record: %w", err)
	}
	var person any
	if r.PersonID != 0 {
		person = r.PersonID
	}
	err = tx.queryRow(ctx, `INSERT INTO learner_records
		(organization_id, credit_id, activity_id, person_id, learner_key, completion_date, board, status, status_code, status_reason, status_at, deleted, document, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', '', ?, ?, ?, ?) RETURNING id`,
		org, string(r.CreditID), r.ActivityID, person, r.LearnerKey, r.CompletionDate, r.Board, string(r.Status), now, false, string(doc), now).Scan(&r.ID)
	if s.db.dialect.IsUniqueViolation(err) {
		var ps cmex.Problems
		ps.Add(cmex.RuleDuplicateCreditID, cmex.Args{})
		return cmex.Rejected(ps)
	}
	if err != nil {
		return fmt.Errorf("insert learner record: %w", err)
	}
	return s.appendEvent(ctx, tx, cmex.StatusChange{RecordID: r.ID, Status: r.Status, At: now, Source: source})
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
		moved, err = s.move(ctx, tx, id, from, ch)
		return err
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
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	recs, err := scanRecords(s.db.read().query(ctx, `SELECT `+prefixed("r.", recordColumns)+`
		FROM learner_records r JOIN organizations o ON o.id = r.organization_id
		WHERE `+strings.Join(where, " AND ")+` ORDER BY r.id LIMIT ?`, append(args, limit)...))
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
		var id cmex.LearnerRecordID
		var status, code, reason, doc string
		var at time.Time
		var deleted bool
		if err := rows.Scan(&id, &status, &code, &reason, &at, &deleted, &doc); err != nil {
			return nil, err
		}
		r := new(cmex.LearnerRecord)
		if err := json.Unmarshal([]byte(doc), r); err != nil {
			return nil, fmt.Errorf("decode learner record %d: %w", id, err)
		}
		r.ID, r.Status, r.StatusCode, r.StatusReason, r.StatusAt, r.Deleted = id, cmex.LearnerStatus(status), code, reason, at.UTC(), deleted
		out = append(out, r)
	}
	return out, rows.Err()
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
