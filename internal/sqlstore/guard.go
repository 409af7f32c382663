package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cmexhub/cmex"
)

// GuardStore implements cmex.GuardStore over the login_guard table, so that
// every cmex on one database shares one login guard's state. It keeps rows
// and nothing more: what they mean, and how a failure or an action changes
// them, is the guard's (cmex.LoginGuard).
type GuardStore struct {
	db *DB

	pruneMu  sync.Mutex
	prunedAt time.Time
}

var _ cmex.GuardStore = (*GuardStore)(nil)

// NewGuardStore returns the login guard state of db.
func NewGuardStore(db *DB) *GuardStore { return &GuardStore{db: db} }

const (
	// guardPruneEvery is how often a store deletes expired rows, on a
	// write: rows are only added by writes, so the table stays bounded by
	// what is written between two prunes and what has not yet expired.
	guardPruneEvery = time.Minute
	// guardPruneGrace keeps a row a little past its expiry, so that a
	// replica whose clock is behind does not see a row it still counts
	// vanish and come back as new.
	guardPruneGrace = time.Minute
)

const guardColumns = `failures, tokens, counted_at, locked_until, expires_at, version`

// UpdateGuard implements cmex.GuardStore. Each row is locked by an upsert
// that inserts it empty when it is missing and otherwise touches it,
// returning it either way: a missing row cannot be locked by SELECT … FOR
// UPDATE, and two replicas inserting the same new key would both read
// nothing. The rows are locked in the order of their keys, so that two
// updates of the same two keys do not deadlock. On SQLite the transaction
// holds the database's write lock from its start (_txlock=immediate).
func (s *GuardStore) UpdateGuard(ctx context.Context, now time.Time, keys []string, update func([]cmex.GuardRecord)) ([]cmex.GuardRecord, error) {
	now = now.UTC().Truncate(time.Microsecond)
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case keys[a] < keys[b]:
			return -1
		case keys[a] > keys[b]:
			return 1
		}
		return 0
	})
	var out []cmex.GuardRecord
	err := s.db.writeTurn(func() error {
		return s.db.inTx(ctx, func(tx conn) error {
			rs := make([]cmex.GuardRecord, len(keys))
			for _, i := range order {
				r, err := scanGuard(keys[i], tx.queryRow(ctx, `INSERT INTO login_guard (guard_key, failures, tokens, counted_at, locked_until, expires_at, updated_at, version)
					VALUES (?, 0, 0, ?, ?, ?, ?, 0)
					ON CONFLICT (guard_key) DO UPDATE SET version = login_guard.version
					RETURNING `+guardColumns, keys[i], time.Time{}, time.Time{}, time.Time{}, now))
				if err != nil {
					return fmt.Errorf("lock guard record: %w", err)
				}
				rs[i] = r
			}
			versions := make([]int64, len(rs))
			for i, r := range rs {
				versions[i] = r.Version
			}
			update(rs)
			for _, i := range order {
				r := &rs[i]
				r.Key, r.Version = keys[i], versions[i]+1
				if _, err := tx.exec(ctx, `UPDATE login_guard SET failures = ?, tokens = ?, counted_at = ?, locked_until = ?, expires_at = ?, updated_at = ?, version = ?
					WHERE guard_key = ?`, r.Failures, r.Tokens, guardTime(r.At), guardTime(r.Until), guardTime(r.Expires), now, r.Version, r.Key); err != nil {
					return fmt.Errorf("store guard record: %w", err)
				}
			}
			out = rs
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if err := s.prune(ctx, now); err != nil {
		return nil, err
	}
	return out, nil
}

// GuardChanges implements cmex.GuardStore.
func (s *GuardStore) GuardChanges(ctx context.Context, since, now time.Time) ([]cmex.GuardRecord, error) {
	rows, err := s.db.read().query(ctx, `SELECT guard_key, `+guardColumns+` FROM login_guard WHERE updated_at > ? AND expires_at > ?`,
		guardTime(since), guardTime(now))
	if err != nil {
		return nil, fmt.Errorf("guard changes: %w", err)
	}
	defer rows.Close()
	var out []cmex.GuardRecord
	for rows.Next() {
		var key string
		r, err := scanGuard("", rows, &key)
		if err != nil {
			return nil, fmt.Errorf("guard changes: %w", err)
		}
		r.Key = key
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("guard changes: %w", err)
	}
	return out, nil
}

// prune deletes the rows expired for a while, at most once per
// guardPruneEvery in this process.
func (s *GuardStore) prune(ctx context.Context, now time.Time) error {
	s.pruneMu.Lock()
	due := s.prunedAt.IsZero() || now.Sub(s.prunedAt) >= guardPruneEvery || now.Before(s.prunedAt)
	if due {
		s.prunedAt = now
	}
	s.pruneMu.Unlock()
	if !due {
		return nil
	}
	return s.db.writeTurn(func() error {
		if _, err := s.db.read().exec(ctx, `DELETE FROM login_guard WHERE expires_at < ?`, now.Add(-guardPruneGrace)); err != nil {
			return fmt.Errorf("prune guard records: %w", err)
		}
		return nil
	})
}

// guardTime is t as the table keeps it: UTC, to the microsecond.
func guardTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// scanGuard reads guardColumns, after any of before, into a record of key.
func scanGuard(key string, row interface{ Scan(...any) error }, before ...any) (cmex.GuardRecord, error) {
	r := cmex.GuardRecord{Key: key}
	err := row.Scan(append(before, &r.Failures, &r.Tokens, &r.At, &r.Until, &r.Expires, &r.Version)...)
	r.At, r.Until, r.Expires = r.At.UTC(), r.Until.UTC(), r.Expires.UTC()
	return r, err
}
