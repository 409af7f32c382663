package sqlstore

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"golang.org/x/crypto/argon2"

	"github.com/cmexhub/cmex"
)

// PasswordHasher hashes passwords with argon2id and checks them in constant
// time. Hashes are PHC strings ($argon2id$v=19$m=…,t=…,p=…$salt$key), so the
// parameters can be raised later without invalidating stored hashes.
type PasswordHasher struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
	SaltLen int

	// Limit, when set, bounds the argon2id computations running at once
	// (hashes, checks and burns alike); see HashLimit.
	Limit *HashLimit

	dummyOnce sync.Once
	dummy     string

	// verified remembers recent successful checks; see Verify.
	verified verifiedCache
}

// Verified checks are remembered for VerifiedTTL: PARS sends the password
// with every call, and argon2id at its production cost allows about 45
// checks a second per core, which would cap SaveLearnerActivity there.
// An entry is an HMAC of the stored hash and the password under a key
// that lives only in this process, so it reveals no password, and a new
// password (a new hash with a new salt) never matches an old entry: a
// password change takes effect at once, on every replica. Failed checks
// are never remembered.
const (
	VerifiedTTL    = 5 * time.Minute
	maxVerifiedLen = 10000
)

type verifiedCache struct {
	once    sync.Once
	key     [32]byte
	mu      sync.Mutex
	entries map[[32]byte]time.Time
	// flight shares one computation among concurrent checks of the same
	// hash and password: a client opening many connections at once would
	// otherwise pay for as many argon2id runs.
	flight singleflight.Group
}

func (c *verifiedCache) mac(hash, password string) [32]byte {
	c.once.Do(func() {
		if _, err := rand.Read(c.key[:]); err != nil {
			panic(err) // crypto/rand does not fail on supported systems
		}
		c.entries = map[[32]byte]time.Time{}
	})
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(hash))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

func (c *verifiedCache) seen(k [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.entries[k]
	if ok && now.After(exp) {
		delete(c.entries, k)
		return false
	}
	return ok
}

func (c *verifiedCache) remember(k [32]byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxVerifiedLen {
		for e, exp := range c.entries {
			if now.After(exp) || len(c.entries) >= maxVerifiedLen {
				delete(c.entries, e)
			}
		}
	}
	c.entries[k] = now.Add(VerifiedTTL)
}

// HashLimit bounds the argon2id computations one process runs at once:
// each holds Memory KiB (19 MiB by default) until it ends, so a flood of
// sign-ups or sign-ins, one computation each, would otherwise take as
// much memory as it has requests in flight. A computation waits up to
// Wait for a slot, then is refused with EBUSY and a RetryAfter, which each
// surface answers in its own shape (503 and Retry-After).
type HashLimit struct {
	slots chan struct{}
	wait  time.Duration
	// Refused counts the computations refused for want of a slot.
	Refused atomic.Int64
}

// DefaultHashWait is how long a computation waits for a slot of a
// HashLimit before it is refused.
const DefaultHashWait = 2 * time.Second

// HashRetryAfter is how long a caller refused by a full HashLimit is
// asked to wait.
const HashRetryAfter = time.Second

// NewHashLimit returns a limit of n computations at once (at least one),
// each waiting up to wait for its slot.
func NewHashLimit(n int, wait time.Duration) *HashLimit {
	return &HashLimit{slots: make(chan struct{}, max(n, 1)), wait: wait}
}

// Size is how many computations may run at once.
func (l *HashLimit) Size() int { return cap(l.slots) }

// Acquire takes a slot, waiting up to the limit's wait, and returns the
// function that gives it back; a nil limit never waits.
func (l *HashLimit) Acquire() (func(), error) {
	if l == nil {
		return func() {}, nil
	}
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return func() { <-l.slots }, nil
	case <-t.C:
		l.Refused.Add(1)
		return nil, &cmex.Error{Code: cmex.EBUSY, RetryAfter: HashRetryAfter,
			Message: "The server is busy checking passwords; try again in a second."}
	}
}

// DefaultPasswordHasher uses OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
func DefaultPasswordHasher() *PasswordHasher {
	return &PasswordHasher{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}
}

// Hash returns the PHC string of password with a fresh random salt, or
// EBUSY when Limit has no slot for it in time.
func (h *PasswordHasher) Hash(password string) (string, error) {
	release, err := h.Limit.Acquire()
	if err != nil {
		return "", err
	}
	defer release()
	return h.hash(password)
}

func (h *PasswordHasher) hash(password string) (string, error) {
	salt := make([]byte, h.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, h.Time, h.Memory, h.Threads, h.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.Memory, h.Time, h.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// Verify reports whether password matches the PHC string hash, using the
// parameters recorded in the hash; a match made within VerifiedTTL is
// remembered rather than computed again. A check Limit has no slot for in
// time is EBUSY; a remembered match needs no slot.
func (h *PasswordHasher) Verify(hash, password string) (bool, error) {
	k := h.verified.mac(hash, password)
	now := time.Now()
	if h.verified.seen(k, now) {
		return true, nil
	}
	v, err, _ := h.verified.flight.Do(string(k[:]), func() (any, error) {
		release, err := h.Limit.Acquire()
		if err != nil {
			return false, err
		}
		defer release()
		ok, err := h.verify(hash, password)
		if ok && err == nil {
			h.verified.remember(k, now)
		}
		return ok, err
	})
	return v.(bool), err
}

func (h *PasswordHasher) verify(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var memory, time uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil || threads == 0 || time == 0 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, time, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Burn spends the time a real verification would, for logins naming a user
// that does not exist, so that response times do not reveal which users do.
// It takes a slot of Limit as a real check does, and is EBUSY as one would
// be, so that a busy server's answers do not reveal them either.
func (h *PasswordHasher) Burn(password string) error {
	release, err := h.Limit.Acquire()
	if err != nil {
		return err
	}
	defer release()
	h.dummyOnce.Do(func() {
		h.dummy, _ = h.hash("cmex: no such user")
	})
	_, _ = h.verify(h.dummy, password)
	return nil
}

// checkLogin judges a login looked up by username: err is the lookup's
// error, hash the stored hash. It returns nil when password matches, the
// one EUNAUTHORIZED error when the user does not exist or the password is
// wrong (spending the time of a real check either way, so that response
// times do not tell which usernames exist), and any other failure wrapped
// with what.
func (db *DB) checkLogin(what string, err error, hash, password string) error {
	denied := cmex.Errorf(cmex.EUNAUTHORIZED, "invalid login")
	if err != nil && !isNoRows(err) {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err != nil || len(password) > cmex.MaxPasswordBytes {
		if err := db.Hasher.Burn(password[:min(len(password), cmex.MaxPasswordBytes)]); err != nil {
			return err
		}
		return denied
	}
	ok, err := db.Hasher.Verify(hash, password)
	if cmex.ErrorCode(err) == cmex.EBUSY {
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !ok {
		return denied
	}
	return nil
}
