package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/cmexhub/cmex"
)

// LeaseService implements cmex.LeaseService over the leases table: one
// code path for both engines, with no session to keep open (an advisory
// lock dies with its connection, a row outlives a killed process only
// until it expires).
type LeaseService struct{ db *DB }

var _ cmex.LeaseService = (*LeaseService)(nil)

// NewLeaseService returns the leases of db.
func NewLeaseService(db *DB) *LeaseService { return &LeaseService{db: db} }

// leaseTime is t as both engines store and compare it.
func leaseTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// TryAcquire implements cmex.LeaseService. The upsert takes the row only
// when its WHERE holds on the row as it stands when locked, so of two
// replicas trying at once one changes it and the other changes nothing.
func (s *LeaseService) TryAcquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	var n int64
	err := s.db.writeTurn(func() error {
		res, err := s.db.read().exec(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
			name, holder, leaseTime(now.Add(ttl)), leaseTime(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	return n == 1, nil
}

// Renew implements cmex.LeaseService.
func (s *LeaseService) Renew(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	var n int64
	err := s.db.writeTurn(func() error {
		res, err := s.db.read().exec(ctx, `UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ?`, leaseTime(now.Add(ttl)), name, holder)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("renew lease %s: %w", name, err)
	}
	return n == 1, nil
}

// Release implements cmex.LeaseService.
func (s *LeaseService) Release(ctx context.Context, name, holder string) error {
	err := s.db.writeTurn(func() error {
		_, err := s.db.read().exec(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}
