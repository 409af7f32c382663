package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cmexhub/cmex"
)

// NonceService implements cmex.NonceService over the used_nonces table.
type NonceService struct {
	db    *DB
	calls atomic.Int64
	// Now is the clock expiry is judged by; time.Now if nil.
	Now func() time.Time
}

var _ cmex.NonceService = (*NonceService)(nil)

// NewNonceService returns the nonce service of db.
func NewNonceService(db *DB) *NonceService { return &NonceService{db: db} }

// sweepEvery is how many uses go between deletions of expired nonces.
const sweepEvery = 256

// UseNonce implements cmex.NonceService. Nonces are stored by their
// SHA-256, so the table holds nothing that could be used again.
func (s *NonceService) UseNonce(ctx context.Context, nonce string, expires time.Time) error {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	sum := sha256.Sum256([]byte(nonce))
	key := hex.EncodeToString(sum[:])
	var used bool
	err := s.db.writeTurn(func() error {
		var err error
		used, err = s.use(ctx, key, expires, now)
		return err
	})
	if err != nil {
		return err
	}
	if used {
		return cmex.Errorf(cmex.ECONFLICT, "this value was already used")
	}
	return nil
}

// use records key until expires, unless it is recorded and unexpired at
// now; it reports whether it was.
func (s *NonceService) use(ctx context.Context, key string, expires, now time.Time) (used bool, err error) {
	if s.calls.Add(1)%sweepEvery == 1 {
		if _, err := s.db.read().exec(ctx, `DELETE FROM used_nonces WHERE expires_at < ?`, now.UTC()); err != nil {
			return false, fmt.Errorf("sweep nonces: %w", err)
		}
	}
	res, err := s.db.read().exec(ctx, `INSERT INTO used_nonces (nonce, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING`,
		key, expires.UTC().Truncate(time.Microsecond))
	if err != nil {
		return false, fmt.Errorf("use nonce: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("use nonce: %w", err)
	} else if n == 1 {
		return false, nil
	}
	// Used before: refused unless that use has expired (a sweep not yet
	// run), in which case this use takes its place.
	res, err = s.db.read().exec(ctx, `UPDATE used_nonces SET expires_at = ? WHERE nonce = ? AND expires_at < ?`,
		expires.UTC().Truncate(time.Microsecond), key, now.UTC())
	if err != nil {
		return false, fmt.Errorf("use nonce: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return false, nil
	}
	return true, nil
}
