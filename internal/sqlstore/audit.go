package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// AuditService implements cmex.AuditService.
type AuditService struct{ db *DB }

var _ cmex.AuditService = (*AuditService)(nil)

// NewAuditService returns the audit log of db.
func NewAuditService(db *DB) *AuditService { return &AuditService{db: db} }

// auditRow is an entry about to be appended.
type auditRow struct {
	actor, address          string
	action, subject, detail string
}

// auditFrom is an entry for a change made in ctx: its actor (or
// fallback when ctx names none) and client address.
func auditFrom(ctx context.Context, fallback, action, subject, detail string) auditRow {
	actor := cmex.Actor(ctx)
	if actor == "" {
		actor = fallback
	}
	if actor == "" {
		actor = "unknown"
	}
	return auditRow{actor: actor, address: cmex.ClientAddr(ctx), action: action, subject: subject, detail: detail}
}

// audit appends an entry for a change made in ctx, in the change's
// transaction tx.
func (db *DB) audit(ctx context.Context, tx conn, action, subject, detail string) error {
	return db.appendAudit(ctx, tx, []auditRow{auditFrom(ctx, "", action, subject, detail)})
}

// appendAudit appends rows in one statement.
func (db *DB) appendAudit(ctx context.Context, tx conn, rows []auditRow) error {
	if len(rows) == 0 {
		return nil
	}
	at := db.now().UTC().Truncate(time.Microsecond)
	var q strings.Builder
	q.WriteString(`INSERT INTO audit_log (at, actor, address, action, subject, detail) VALUES `)
	args := make([]any, 0, 6*len(rows))
	for i, r := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?)")
		args = append(args, at, r.actor, r.address, r.action, r.subject, r.detail)
	}
	// Nothing reads the entry back in its transaction: it is sent with the
	// next statement or the commit.
	return tx.later(ctx, func(err error) error { return fmt.Errorf("append to the audit log: %w", err) }, q.String(), args...)
}

// AuditLog implements cmex.AuditService.
func (s *AuditService) AuditLog(ctx context.Context, f cmex.AuditFilter) ([]*cmex.AuditEntry, error) {
	q := `SELECT id, at, actor, address, action, subject, detail FROM audit_log WHERE id > ?`
	args := []any{f.AfterID}
	if f.BeforeID > 0 {
		q += ` AND id < ?`
		args = append(args, f.BeforeID)
	}
	if !f.Since.IsZero() {
		q += ` AND at >= ?`
		args = append(args, f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q += ` AND at < ?`
		args = append(args, f.Until.UTC())
	}
	if f.Actor != "" {
		q += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	if f.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if a, ok := strings.CutSuffix(f.Action, "."); ok {
		q += ` AND substr(action, 1, ?) = ?`
		args = append(args, len(a)+1, a+".")
	} else if f.Action != "" {
		q += ` AND action = ?`
		args = append(args, f.Action)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = cmex.DefaultAuditLimit
	}
	order := ` ORDER BY id`
	if f.Newest {
		order = ` ORDER BY id DESC`
	}
	q += order + ` LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.read().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var out []*cmex.AuditEntry
	for rows.Next() {
		e := &cmex.AuditEntry{}
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Address, &e.Action, &e.Subject, &e.Detail); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		e.At = e.At.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// change runs fn, a change, in a transaction, and appends to the audit log
// the entry fn describes it with, in the same transaction: an entry is
// there if and only if its change is.
func (db *DB) change(ctx context.Context, fn func(tx conn) (action, subject, detail string, err error)) error {
	return db.inTx(ctx, func(tx conn) error {
		action, subject, detail, err := fn(tx)
		if err != nil {
			return err
		}
		return db.audit(ctx, tx, action, subject, detail)
	})
}
