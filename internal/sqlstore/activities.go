package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// ActivityService implements cmex.ActivityService. Each accepted change
// writes the activity's current row and appends a revision, in one
// transaction; revisions are never updated or deleted (the schema's
// triggers refuse it).
type ActivityService struct{ db *DB }

var _ cmex.ActivityService = (*ActivityService)(nil)

// NewActivityService returns the activity registry of db.
func NewActivityService(db *DB) *ActivityService { return &ActivityService{db: db} }

// DefaultActivityLimit caps FindActivities when the filter sets no limit.
const DefaultActivityLimit = 1000

// SaveActivity implements cmex.ActivityService.
func (s *ActivityService) SaveActivity(ctx context.Context, ch cmex.ActivityChange) (*cmex.Activity, cmex.Problems, error) {
	if ch.Activity == nil {
		return nil, nil, cmex.Errorf(cmex.EINVALID, "no activity in the change")
	}
	if ch.By.Organization.ID == 0 || ch.By.Organization.ProviderID == "" {
		return nil, nil, cmex.Errorf(cmex.EUNAUTHORIZED, "no provider")
	}
	a := ch.Activity
	a.ProviderID = ch.By.Organization.ProviderID
	org := ch.By.Organization.ID

	var saved *cmex.Activity
	var warnings cmex.Problems
	err := s.db.inTx(ctx, func(tx conn) error {
		st, err := s.state(ctx, tx, org, a)
		if err != nil {
			return err
		}
		now := s.db.now()
		ps := cmex.CheckActivityChange(&ch, st, cmex.DateOf(now))
		if ps.HasErrors() {
			return cmex.Rejected(ps.Dedup())
		}
		warnings = ps.Warnings()
		switch cmex.ActivityAction(ch.Action) {
		case cmex.ActionAdd:
			saved, err = s.add(ctx, tx, org, ch, now)
		case cmex.ActionUpdate:
			saved, err = s.update(ctx, tx, st.Target(a), ch, now)
		case cmex.ActionDelete:
			saved, err = s.delete(ctx, tx, st.Target(a), ch, now)
		default:
			err = fmt.Errorf("save activity: unhandled action %q", ch.Action)
		}
		if err != nil {
			return err
		}
		row := auditFrom(ctx, cmex.PrincipalActor(ch.By), "activity."+strings.ToLower(ch.Action), fmt.Sprint(saved.ID),
			fmt.Sprintf("provider %s, provider activity id %q", saved.ProviderID, saved.ProviderActivityID))
		if err := s.db.appendAudit(ctx, tx, []auditRow{row}); err != nil {
			return err
		}
		return enqueueActivity(ctx, tx, org, saved, strings.ToLower(ch.Action), now)
	})
	if err != nil {
		return nil, nil, err
	}
	return saved, warnings, nil
}

// state loads, and on engines that need it locks, the rows a change names.
func (s *ActivityService) state(ctx context.Context, tx conn, org cmex.OrganizationID, a *cmex.Activity) (cmex.ActivityState, error) {
	var st cmex.ActivityState
	lock := s.db.dialect.ForUpdate()
	if a.ID != 0 {
		row, err := scanActivityRow(tx.queryRow(ctx, `SELECT `+activityColumns+` FROM activities WHERE id = ?`+lock, a.ID))
		switch {
		case err == nil:
			st.IDTaken = true
			if row.org == org && !row.activity.Deleted {
				st.ByID = row.activity
			}
		case !errors.Is(err, sql.ErrNoRows):
			return st, fmt.Errorf("load activity %d: %w", a.ID, err)
		}
	}
	if a.ProviderActivityID != "" {
		row, err := scanActivityRow(tx.queryRow(ctx,
			`SELECT `+activityColumns+` FROM activities WHERE organization_id = ? AND provider_activity_id = ? AND NOT deleted`+lock,
			org, a.ProviderActivityID))
		switch {
		case err == nil:
			st.ByProviderActivityID = row.activity
		case !errors.Is(err, sql.ErrNoRows):
			return st, fmt.Errorf("load activity %q: %w", a.ProviderActivityID, err)
		}
	}
	if t := st.Target(a); t != nil {
		rows, err := tx.query(ctx, `SELECT board, count(*) FROM learner_records WHERE activity_id = ? AND NOT deleted GROUP BY board ORDER BY board`, t.ID)
		if err != nil {
			return st, fmt.Errorf("learner records of activity %d: %w", t.ID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var board string
			var n int
			if err := rows.Scan(&board, &n); err != nil {
				return st, err
			}
			st.LearnerRecords += n
			if board != "" {
				st.BoardsWithLearners = append(st.BoardsWithLearners, board)
			}
		}
		if err := rows.Err(); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (s *ActivityService) add(ctx context.Context, tx conn, org cmex.OrganizationID, ch cmex.ActivityChange, now time.Time) (*cmex.Activity, error) {
	a := *ch.Activity
	var next int64
	if err := tx.queryRow(ctx, `UPDATE counters SET value = value + 1 WHERE name = 'activity_id' RETURNING value`).Scan(&next); err != nil {
		return nil, fmt.Errorf("next activity id: %w", err)
	}
	if cmex.ActivityID(next) > cmex.MaxActivityID {
		return nil, fmt.Errorf("next activity id: the nine-digit range is exhausted")
	}
	a.ID = cmex.ActivityID(next)
	a.Revision = 1
	a.Closed = ch.Close
	a.Deleted = false
	a.CreatedAt, a.UpdatedAt = now, now
	doc, err := json.Marshal(&a)
	if err != nil {
		return nil, fmt.Errorf("encode activity: %w", err)
	}
	_, err = tx.exec(ctx, `INSERT INTO activities
		(id, organization_id, provider_activity_id, activity_type, start_date, closed, deleted, revision, document, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, org, a.ProviderActivityID, a.Type, a.StartDate, a.Closed, false, a.Revision, string(doc), now, now)
	if err != nil {
		return nil, s.writeError(err, &a)
	}
	return &a, s.appendRevision(ctx, tx, &a, "Add", ch.By, doc)
}

func (s *ActivityService) update(ctx context.Context, tx conn, cur *cmex.Activity, ch cmex.ActivityChange, now time.Time) (*cmex.Activity, error) {
	a := *ch.Activity
	a.ID = cur.ID
	a.Revision = cur.Revision + 1
	a.Closed = ch.Close
	a.Deleted = false
	a.CreatedAt, a.UpdatedAt = cur.CreatedAt, now
	doc, err := json.Marshal(&a)
	if err != nil {
		return nil, fmt.Errorf("encode activity: %w", err)
	}
	_, err = tx.exec(ctx, `UPDATE activities
		SET provider_activity_id = ?, activity_type = ?, start_date = ?, closed = ?, revision = ?, document = ?, updated_at = ?
		WHERE id = ?`,
		a.ProviderActivityID, a.Type, a.StartDate, a.Closed, a.Revision, string(doc), now, a.ID)
	if err != nil {
		return nil, s.writeError(err, &a)
	}
	action := "Update"
	if a.Closed {
		action = "Close"
	}
	return &a, s.appendRevision(ctx, tx, &a, action, ch.By, doc)
}

func (s *ActivityService) delete(ctx context.Context, tx conn, cur *cmex.Activity, ch cmex.ActivityChange, now time.Time) (*cmex.Activity, error) {
	a := *cur
	a.Revision = cur.Revision + 1
	a.Deleted = true
	a.UpdatedAt = now
	doc, err := json.Marshal(&a)
	if err != nil {
		return nil, fmt.Errorf("encode activity: %w", err)
	}
	if _, err := tx.exec(ctx, `UPDATE activities SET deleted = ?, revision = ?, document = ?, updated_at = ? WHERE id = ?`,
		true, a.Revision, string(doc), now, a.ID); err != nil {
		return nil, fmt.Errorf("delete activity %d: %w", a.ID, err)
	}
	return &a, s.appendRevision(ctx, tx, &a, "Delete", ch.By, doc)
}

func (s *ActivityService) appendRevision(ctx context.Context, tx conn, a *cmex.Activity, action string, by cmex.Principal, doc []byte) error {
	_, err := tx.exec(ctx, `INSERT INTO activity_revisions (activity_id, revision, action, recorded_at, recorded_by, document)
		VALUES (?, ?, ?, ?, ?, ?)`, a.ID, a.Revision, action, a.UpdatedAt, by.User.Username, string(doc))
	if err != nil {
		return fmt.Errorf("append revision %d of activity %d: %w", a.Revision, a.ID, err)
	}
	return nil
}

// writeError turns a unique violation on the live Provider Activity ID,
// which only a concurrent change can cause once the rules have passed, into
// the rejection the rules would have given.
func (s *ActivityService) writeError(err error, a *cmex.Activity) error {
	if s.db.dialect.IsUniqueViolation(err) {
		var ps cmex.Problems
		ps.Add(cmex.RuleActivityExists, cmex.Args{Entry: a.Entry()})
		return cmex.Rejected(ps)
	}
	return fmt.Errorf("write activity %d: %w", a.ID, err)
}

// FindActivities implements cmex.ActivityService.
func (s *ActivityService) FindActivities(ctx context.Context, f cmex.ActivityFilter) ([]*cmex.Activity, error) {
	if f.ProviderID == "" {
		return nil, cmex.Errorf(cmex.EINVALID, "no provider")
	}
	where := []string{"o.provider_id = ?", "NOT a.deleted"}
	args := []any{string(f.ProviderID)}
	if f.ID != 0 {
		where, args = append(where, "a.id = ?"), append(args, f.ID)
	}
	if !f.StartDate.IsZero() {
		where, args = append(where, "a.start_date = ?"), append(args, f.StartDate)
	}
	if f.Type != "" {
		t := f.Type
		if c, ok := cmex.ActivityTypes.Lookup(t); ok {
			t = c
		}
		where, args = append(where, "a.activity_type = ?"), append(args, t)
	}
	if f.ProviderActivityID != "" {
		where, args = append(where, "a.provider_activity_id = ?"), append(args, f.ProviderActivityID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultActivityLimit
	}
	rows, err := s.db.read().query(ctx, `SELECT `+prefixed("a.", activityColumns)+`
		FROM activities a JOIN organizations o ON o.id = a.organization_id
		WHERE `+strings.Join(where, " AND ")+` ORDER BY a.id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("find activities: %w", err)
	}
	defer rows.Close()
	var out []*cmex.Activity
	for rows.Next() {
		row, err := scanActivityRow(rows)
		if err != nil {
			return nil, fmt.Errorf("find activities: %w", err)
		}
		out = append(out, row.activity)
	}
	return out, rows.Err()
}

// ActivityHistory implements cmex.ActivityService.
func (s *ActivityService) ActivityHistory(ctx context.Context, provider cmex.ProviderID, id cmex.ActivityID) ([]*cmex.ActivityRevision, error) {
	rows, err := s.db.read().query(ctx, `SELECT r.activity_id, r.revision, r.action, r.recorded_at, r.recorded_by, r.document
		FROM activity_revisions r
		JOIN activities a ON a.id = r.activity_id
		JOIN organizations o ON o.id = a.organization_id
		WHERE r.activity_id = ? AND o.provider_id = ?
		ORDER BY r.revision`, id, string(provider))
	if err != nil {
		return nil, fmt.Errorf("activity history: %w", err)
	}
	defer rows.Close()
	var out []*cmex.ActivityRevision
	for rows.Next() {
		var r cmex.ActivityRevision
		var at time.Time
		var doc string
		if err := rows.Scan(&r.ActivityID, &r.Revision, &r.Action, &at, &r.RecordedBy, &doc); err != nil {
			return nil, fmt.Errorf("activity history: %w", err)
		}
		r.RecordedAt = at.UTC()
		r.Activity = new(cmex.Activity)
		if err := json.Unmarshal([]byte(doc), r.Activity); err != nil {
			return nil, fmt.Errorf("activity history: decode revision %d: %w", r.Revision, err)
		}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("activity history: %w", err)
	}
	if len(out) == 0 {
		return nil, cmex.Errorf(cmex.ENOTFOUND, "activity %s not found", id)
	}
	return out, nil
}

const activityColumns = "id, organization_id, document"

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

type activityRow struct {
	org      cmex.OrganizationID
	activity *cmex.Activity
}

// scanActivityRow reads activityColumns. The document is the whole record;
// the other columns exist to be searched and joined on.
func scanActivityRow(row scanner) (activityRow, error) {
	var r activityRow
	var id cmex.ActivityID
	var doc string
	if err := row.Scan(&id, &r.org, &doc); err != nil {
		return r, err
	}
	r.activity = new(cmex.Activity)
	if err := json.Unmarshal([]byte(doc), r.activity); err != nil {
		return r, fmt.Errorf("decode activity %d: %w", id, err)
	}
	if r.activity.ID != id {
		return r, errors.New("activity document does not match its row")
	}
	return r, nil
}

// Holds reports whether the registry already holds what ch would make:
// an Add or Update whose activity, judged as new, is the live activity it
// names, or a Delete of an activity already deleted. Batch imports use it
// so that a file imported twice changes nothing the second time.
func (s *ActivityService) Holds(ctx context.Context, ch cmex.ActivityChange) (bool, error) {
	if ch.Activity == nil {
		return false, nil
	}
	org := ch.By.Organization.ID
	a := ch.Activity
	var where string
	var args []any
	switch {
	case a.ID != 0:
		where, args = `id = ?`, []any{a.ID}
	case a.ProviderActivityID != "":
		where, args = `provider_activity_id = ?`, []any{a.ProviderActivityID}
	default:
		return false, nil
	}
	rows, err := s.db.read().query(ctx, `SELECT `+activityColumns+` FROM activities WHERE organization_id = ? AND `+where+` ORDER BY deleted, id DESC`, append([]any{org}, args...)...)
	if err != nil {
		return false, fmt.Errorf("activity held: %w", err)
	}
	var live, gone *cmex.Activity
	for rows.Next() {
		row, err := scanActivityRow(rows)
		if err != nil {
			rows.Close()
			return false, err
		}
		switch {
		case !row.activity.Deleted && live == nil:
			live = row.activity
		case row.activity.Deleted && gone == nil:
			gone = row.activity
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	action, _ := cmex.ParseActivityAction(ch.Action)
	switch action {
	case cmex.ActionDelete:
		return live == nil && gone != nil, nil
	case cmex.ActionAdd, cmex.ActionUpdate:
		if live == nil {
			return false, nil
		}
		// Judge a copy as a new activity, so that it is normalised as the
		// stored one was, then compare all but the bookkeeping.
		b, err := json.Marshal(a)
		if err != nil {
			return false, err
		}
		cp := new(cmex.Activity)
		if err := json.Unmarshal(b, cp); err != nil {
			return false, err
		}
		cp.ID, cp.ProviderID = 0, ch.By.Organization.ProviderID
		if cp.ProviderActivityID == "" {
			cp.ProviderActivityID = live.ProviderActivityID
		}
		probe := ch
		probe.Action, probe.Activity = string(cmex.ActionAdd), cp
		if cmex.CheckActivityChange(&probe, cmex.ActivityState{}, cmex.DateOf(s.db.now())).HasErrors() {
			return false, nil
		}
		cp.ID, cp.Revision, cp.Deleted, cp.CreatedAt, cp.UpdatedAt = live.ID, live.Revision, live.Deleted, live.CreatedAt, live.UpdatedAt
		cp.Closed = ch.Close || live.Closed && action == cmex.ActionUpdate
		x, err := json.Marshal(cp)
		if err != nil {
			return false, err
		}
		y, err := json.Marshal(live)
		if err != nil {
			return false, err
		}
		return string(x) == string(y), nil
	}
	return false, nil
}

// EachActivity calls fn with each of the provider's live activities, by
// id, a page at a time.
func (s *ActivityService) EachActivity(ctx context.Context, provider cmex.ProviderID, fn func(*cmex.Activity) error) error {
	var last cmex.ActivityID
	for {
		rows, err := s.db.read().query(ctx, `SELECT `+prefixed("a.", activityColumns)+` FROM activities a JOIN organizations o ON o.id = a.organization_id
			WHERE o.provider_id = ? AND NOT a.deleted AND a.id > ? ORDER BY a.id LIMIT ?`, string(provider), last, exportPage)
		if err != nil {
			return fmt.Errorf("export activities: %w", err)
		}
		var page []*cmex.Activity
		for rows.Next() {
			row, err := scanActivityRow(rows)
			if err != nil {
				rows.Close()
				return err
			}
			page = append(page, row.activity)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, a := range page {
			if err := fn(a); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		last = page[len(page)-1].ID
	}
}
