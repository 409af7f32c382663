package cmex

import (
	"context"
	"time"
)

// NonceService remembers values that may be used once, such as Process
// Synchronization's secure tokens, until they could no longer be accepted
// anyway. It is kept in the database so that a replay is refused by every
// replica and after a restart.
type NonceService interface {
	// UseNonce records nonce as used until expires. It returns ECONFLICT
	// when nonce was used before and has not expired.
	UseNonce(ctx context.Context, nonce string, expires time.Time) error
}
