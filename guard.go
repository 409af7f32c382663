package cmex

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ETOOMANY is the code of a sign-in refused before its password was
// checked, because the account or the address failed too often.
const ETOOMANY = "too_many_attempts"

// RetryAfter is how long, in whole seconds rounded up, the caller of a
// refused request should wait, when err says (an ETOOMANY or EBUSY
// error), and 0 otherwise: the value of an HTTP Retry-After header.
func RetryAfter(err error) int {
	if e, ok := errorAs(err); ok && e.RetryAfter > 0 {
		return int((e.RetryAfter + time.Second - 1) / time.Second)
	}
	return 0
}

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the address of the client a request
// came from (after trusted proxies), for the login guard and the audit log.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddr is the client address ctx carries, or "".
func ClientAddr(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}

// LoginGuard limits failed sign-ins on every surface that takes a password
// or a key. Two limits apply, both counted only on failures:
//
//   - an account (a username on one surface, whether or not it exists)
//     that fails LockAfter times in a row, each within LockFor of the one
//     before, is locked for LockFor. Addresses the account signed in from
//     successfully in the last day are exempt, so an attacker guessing a
//     PARS user's password cannot cut off the LMS that uses it.
//   - an address may fail AddrBurst times at once, then once per AddrEvery
//     (IPv6 addresses count by their /64).
//
// A refused attempt is answered at once, before any password is checked,
// and in the same words whether or not the account exists.
//
// The guard also limits, by address, public actions that cost the server
// whether or not they succeed (Limit): sign-ups (SignUps), each an
// argon2id hash, and transcript verifications (Verifications). These
// count every attempt, not only failures.
//
// Without a Store the state is this process's alone. With one, every
// replica on the Store shares it, so n replicas behind a load balancer
// allow what one does: a failure and a Limit call change the shared state
// atomically and learn it in the same step, and each replica decides on
// attempts from its copy of the shared state, read again when it is older
// than SyncEvery, so a lockout through one replica holds on all within
// SyncEvery. A successful sign-in, the common case (an LMS signs in on
// every request), costs no round trip to the Store while the copy is
// fresh: it writes only when the copy shows the account with failures to
// clear, or its address not recorded as known in the last hour.
type LoginGuard struct {
	LockAfter int
	LockFor   time.Duration
	AddrBurst int
	AddrEvery time.Duration
	// SignUps and Verifications are what one address may do of each.
	SignUps       Rate
	Verifications Rate
	Now           func() time.Time
	// Store, when set, holds the state the replicas on it share.
	Store GuardStore
	// SyncEvery is how old this replica's copy of Store's state may be
	// when it decides on an attempt; a second when zero.
	SyncEvery time.Duration

	mu sync.RWMutex
	// records are the state, by key: the whole of it without a Store, and
	// with one, the copy this replica decides from.
	records map[guardID]GuardRecord
	pruneAt int       // the size of records that prunes it next
	synced  time.Time // when the copy's last read from Store began
	// syncMu lets one caller at a time read Store, so that a stale copy
	// costs one query however many requests find it stale.
	syncMu sync.Mutex
}

// Rate is an allowance: Burst at once, then one more each Every. A zero
// Burst is no limit; a zero Every, an allowance that is whole again an
// hour after it was last used.
type Rate struct {
	Burst int
	Every time.Duration
}

// Kinds of action Limit counts.
const (
	ActionSignUp = "sign-up"
	ActionVerify = "verification"
)

// DefaultLoginGuard locks an account for 15 minutes after 5 failures in a
// row, and lets an address fail 20 times, then once a minute; sign up 10
// times, then once a minute; and look up 60 printed transcripts, then one
// a second.
func DefaultLoginGuard() *LoginGuard {
	return &LoginGuard{LockAfter: 5, LockFor: 15 * time.Minute, AddrBurst: 20, AddrEvery: time.Minute,
		SignUps: Rate{Burst: 10, Every: time.Minute}, Verifications: Rate{Burst: 60, Every: time.Second}, Now: time.Now}
}

// GuardRecord is one thing a LoginGuard counts, as a GuardStore keeps it:
// an account's failures and lock, an address's allowance of failures or of
// one kind of action, or an address an account signed in from. The guard
// alone gives the fields their meaning; a store only keeps them.
type GuardRecord struct {
	// Key names what is counted, by a digest of the account, the address
	// or both: a store holds no usernames, which people sometimes type
	// passwords into.
	Key string
	// Failures is an account's failures in a row.
	Failures int
	// Tokens is what an address may still do, as of At.
	Tokens float64
	// At is when Tokens were counted, or an account's latest failure.
	At time.Time
	// Until is when an account's lock ends.
	Until time.Time
	// Expires is when the record stops making a difference to any answer:
	// from then on it counts as no record, and a store may delete it.
	Expires time.Time
	// Version is the store's count of the record's updates, by which a
	// replica keeps the newer of two copies it read.
	Version int64
}

// A GuardStore keeps a LoginGuard's records where the replicas of cmex on
// one database share them. It loads and stores records atomically and
// nothing more: the rules that give them meaning are the guard's.
type GuardStore interface {
	// UpdateGuard loads the records of keys (distinct; one not held, or
	// deleted, as a GuardRecord of that Key alone), calls update with
	// them in keys' order, and stores what update leaves there, each
	// stamped now and with Version one more than it had, atomically: no
	// other UpdateGuard of any of those keys, by any replica, comes
	// between the load and the store. update may run more than once (a
	// store retrying) and depends on its records alone. It returns the
	// records stored.
	UpdateGuard(ctx context.Context, now time.Time, keys []string, update func([]GuardRecord)) ([]GuardRecord, error)
	// GuardChanges returns the records stored with a stamp after since
	// that have not expired at now.
	GuardChanges(ctx context.Context, since, now time.Time) ([]GuardRecord, error)
}

const (
	knownFor = 24 * time.Hour
	// knownRenew is how long a known address goes without being recorded
	// again: a replica that sees it recorded (by any replica) in the last
	// knownRenew does not write it on each sign-in, so the exemption lasts
	// from 23 to 24 hours after the latest sign-in from the address.
	knownRenew = time.Hour
	// syncOverlap is how far before the previous read each read of Store
	// reaches back: records are stamped by their writers' clocks, so a
	// write committed just after a read, or by a replica whose clock is a
	// little behind, is still read by the next one.
	syncOverlap = 5 * time.Second
	// neverRefills is how long an allowance that does not refill (a zero
	// Every) takes to be whole again after its last use.
	neverRefills = time.Hour
	guardMaxKeys = 100_000
)

// addrKey is the unit an address is limited by: the IP, or an IPv6 /64.
func addrKey(addr string) string {
	ip := net.ParseIP(addr)
	if ip == nil {
		return addr
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// guardID is a record's Key as the guard holds it: the digest itself, so
// that looking a record up on the hot path allocates nothing.
type guardID [16]byte

// Key is id as a GuardRecord's Key.
func (id guardID) Key() string { return hex.EncodeToString(id[:]) }

// parseGuardID is the guardID of Key k, if it is one.
func parseGuardID(k string) (id guardID, ok bool) {
	n, err := hex.Decode(id[:], []byte(k))
	return id, err == nil && n == len(id) && len(k) == 2*len(id)
}

// guardKey is the id of the record of kind about parts: a digest of them,
// each length-prefixed so that no two lists of parts share one.
func guardKey(kind string, parts ...string) guardID {
	var buf [192]byte
	b := append(buf[:0], kind...)
	for _, p := range parts {
		b = strconv.AppendInt(append(b, 0), int64(len(p)), 10)
		b = append(append(b, ':'), p...)
	}
	sum := sha256.Sum256(b)
	return guardID(sum[:16])
}

func accountKey(account string) guardID     { return guardKey("account", account) }
func failuresKey(addr string) guardID       { return guardKey("failures", addr) }
func knownKey(account, addr string) guardID { return guardKey("known", account, addr) }
func actionKey(kind, addr string) guardID   { return guardKey("action", kind, addr) }

// attemptKeys are the records an attempt of account from addr reads.
type attemptKeys struct {
	account, addr string
	// acct and failures are the ids of the account's and the address's
	// records; acct is unset without an account.
	acct, failures guardID
}

func keysOf(account, addr string) attemptKeys {
	k := attemptKeys{account: account, addr: addr, failures: failuresKey(addr)}
	if account != "" {
		k.acct = accountKey(account)
	}
	return k
}

// live is r as the rules count it at now: past its expiry, no record.
func live(r GuardRecord, now time.Time) GuardRecord {
	if now.Before(r.Expires) {
		return r
	}
	return GuardRecord{Key: r.Key, Version: r.Version}
}

// bucket is the arithmetic of an allowance (a Rate) kept in a record's
// Tokens and At.
type bucket Rate

// refill brings r's allowance up to now; no record is a whole allowance.
func (b bucket) refill(r *GuardRecord, now time.Time) {
	switch {
	case r.At.IsZero():
		r.Tokens = float64(b.Burst)
	case b.Every > 0:
		r.Tokens += float64(now.Sub(r.At)) / float64(b.Every)
	}
	r.Tokens, r.At = min(r.Tokens, float64(b.Burst)), now
}

// wait is how long r's refilled allowance lets nothing through, or 0.
func (b bucket) wait(r GuardRecord, now time.Time) time.Duration {
	switch {
	case r.Tokens >= 1:
		return 0
	case b.Every <= 0:
		return r.Expires.Sub(now)
	}
	return time.Duration((1 - r.Tokens) * float64(b.Every))
}

// take spends one of r's refilled allowance, which is whole again (and r
// of no more use) at its Expires.
func (b bucket) take(r *GuardRecord) {
	r.Tokens--
	if b.Every <= 0 {
		r.Expires = r.At.Add(neverRefills)
		return
	}
	r.Expires = r.At.Add(time.Duration((float64(b.Burst) - r.Tokens) * float64(b.Every)))
}

// Attempt runs check, the password or key check of account on one surface
// (surface:username, or "" when only the address is known), unless account
// or the client address of ctx is locked out; it counts check's EUNAUTHORIZED
// answers as failures and a success as clearing the account's count. An
// error of the Store is returned as it is.
func (g *LoginGuard) Attempt(ctx context.Context, account string, check func() error) error {
	return g.attempt(ctx, account, "failed sign-ins", check)
}

// attempt is Attempt, whose refusal names what failed too often.
func (g *LoginGuard) attempt(ctx context.Context, account, what string, check func() error) error {
	if g == nil {
		return check()
	}
	k := keysOf(strings.ToLower(account), addrKey(ClientAddr(ctx)))
	wait, err := g.wait(ctx, k)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &Error{Code: ETOOMANY, RetryAfter: wait,
			Message: fmt.Sprintf("Too many %s for this account or from this address; try again in %s.", what, roundUp(wait))}
	}
	err = check()
	switch ErrorCode(err) {
	case "":
		if err := g.succeeded(ctx, k); err != nil {
			return err
		}
	case EUNAUTHORIZED:
		if err := g.failed(ctx, k); err != nil {
			return err
		}
	}
	return err
}

func roundUp(d time.Duration) string {
	if d <= time.Minute {
		return fmt.Sprintf("%d seconds", int((d+time.Second-1)/time.Second))
	}
	return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
}

// Limit counts one action of kind (ActionSignUp, ActionVerify) by the
// client address of ctx, and refuses it with ETOOMANY and a RetryAfter
// once the address has used its allowance of that kind under rate. Every
// call counts, refused ones excepted.
func (g *LoginGuard) Limit(ctx context.Context, kind string, rate Rate) error {
	if g == nil || rate.Burst <= 0 {
		return nil
	}
	b, key, now := bucket(rate), actionKey(kind, addrKey(ClientAddr(ctx))), g.Now()
	tooMany := func(wait time.Duration) error {
		return &Error{Code: ETOOMANY, RetryAfter: wait,
			Message: fmt.Sprintf("Too many %ss from this address; try again in %s.", kind, roundUp(wait))}
	}
	// An allowance only refills with time, so one this replica's copy
	// shows spent is spent in the shared state too: refused without a
	// write, however fast an address asks.
	g.mu.RLock()
	r := live(g.records[key], now)
	g.mu.RUnlock()
	b.refill(&r, now)
	if wait := b.wait(r, now); wait > 0 {
		return tooMany(wait)
	}
	var wait time.Duration
	err := g.update(ctx, now, []guardID{key}, func(rs []GuardRecord) {
		r := live(rs[0], now)
		b.refill(&r, now)
		if wait = b.wait(r, now); wait == 0 {
			b.take(&r)
		}
		rs[0] = r
	})
	if err != nil {
		return err
	}
	if wait > 0 {
		return tooMany(wait)
	}
	return nil
}

// wait is how long k's account and address must wait before trying, or 0.
func (g *LoginGuard) wait(ctx context.Context, k attemptKeys) (time.Duration, error) {
	if err := g.sync(ctx); err != nil {
		return 0, err
	}
	now := g.Now()
	g.mu.RLock()
	defer g.mu.RUnlock()
	var wait time.Duration
	if g.AddrBurst > 0 {
		r, b := live(g.records[k.failures], now), g.addrBucket()
		b.refill(&r, now)
		wait = b.wait(r, now)
	}
	if k.account == "" {
		return wait, nil
	}
	if r := live(g.records[k.acct], now); now.Before(r.Until) {
		if known := live(g.records[knownKey(k.account, k.addr)], now); known.Expires.IsZero() {
			wait = max(wait, r.Until.Sub(now))
		}
	}
	return wait, nil
}

func (g *LoginGuard) addrBucket() bucket { return bucket{Burst: g.AddrBurst, Every: g.AddrEvery} }

func (g *LoginGuard) failed(ctx context.Context, k attemptKeys) error {
	var keys []guardID
	if g.AddrBurst > 0 {
		keys = append(keys, k.failures)
	}
	lock := k.account != "" && g.LockAfter > 0
	if lock {
		keys = append(keys, k.acct)
	}
	if len(keys) == 0 {
		return nil
	}
	now := g.Now()
	return g.update(ctx, now, keys, func(rs []GuardRecord) {
		if g.AddrBurst > 0 {
			r, b := live(rs[0], now), g.addrBucket()
			b.refill(&r, now)
			b.take(&r)
			rs[0] = r
		}
		if !lock {
			return
		}
		r := live(rs[len(rs)-1], now)
		r.At = now
		// A known address failing while the account is locked to others
		// does not count.
		if !now.Before(r.Until) {
			if r.Failures++; r.Failures >= g.LockAfter {
				r.Failures, r.Until = 0, now.Add(g.LockFor)
			}
		}
		r.Expires = g.accountExpires(r)
		rs[len(rs)-1] = r
	})
}

// accountExpires is when account record r stops counting: at the end of
// its lock, or LockFor after its latest failure, so that failures "in a
// row" are ones each within LockFor of the one before.
func (g *LoginGuard) accountExpires(r GuardRecord) time.Time {
	if end := r.At.Add(g.LockFor); end.After(r.Until) {
		return end
	}
	return r.Until
}

// succeeded clears account's failures and records addr as one it signs in
// from, each only when this replica's copy shows it is needed: a success
// is the hot path, and costs no write when there is nothing to change.
// The copy may be up to SyncEvery old, so a success may leave failures
// made through another replica in that time uncleared: the error is on
// the side of locking.
func (g *LoginGuard) succeeded(ctx context.Context, k attemptKeys) error {
	if k.account == "" {
		return nil
	}
	now := g.Now()
	known := knownKey(k.account, k.addr)
	g.mu.RLock()
	clear := live(g.records[k.acct], now).Failures > 0
	remember := live(g.records[known], now).Expires.Before(now.Add(knownFor - knownRenew))
	g.mu.RUnlock()
	var keys []guardID
	if clear {
		keys = append(keys, k.acct)
	}
	if remember {
		keys = append(keys, known)
	}
	if len(keys) == 0 {
		return nil
	}
	return g.update(ctx, now, keys, func(rs []GuardRecord) {
		if clear {
			r := live(rs[0], now)
			r.Failures = 0
			r.Expires = g.accountExpires(r)
			rs[0] = r
		}
		if remember {
			rs[len(rs)-1] = GuardRecord{Key: rs[len(rs)-1].Key, Expires: now.Add(knownFor)}
		}
	})
}

// update changes the records of keys with fn: in the shared state, and
// then in this replica's copy, or in this process's state alone without a
// Store.
func (g *LoginGuard) update(ctx context.Context, now time.Time, ids []guardID, fn func([]GuardRecord)) error {
	if g.Store == nil {
		g.mu.Lock()
		defer g.mu.Unlock()
		rs := make([]GuardRecord, len(ids))
		for i, id := range ids {
			rs[i] = g.records[id]
			rs[i].Key = id.Key()
		}
		fn(rs)
		g.keep(rs, now)
		return nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = id.Key()
	}
	rs, err := g.Store.UpdateGuard(ctx, now, keys, fn)
	if err != nil {
		return fmt.Errorf("login guard: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.keep(rs, now)
	return nil
}

// sync reads the shared state changed since the last read into this
// replica's copy, when the copy is older than SyncEvery.
func (g *LoginGuard) sync(ctx context.Context) error {
	if g.Store == nil {
		return nil
	}
	every := g.SyncEvery
	if every <= 0 {
		every = time.Second
	}
	stale := func(now time.Time) (bool, time.Time) {
		g.mu.RLock()
		defer g.mu.RUnlock()
		age := now.Sub(g.synced)
		return g.synced.IsZero() || age >= every || age < 0, g.synced
	}
	if s, _ := stale(g.Now()); !s {
		return nil
	}
	g.syncMu.Lock()
	defer g.syncMu.Unlock()
	start := g.Now()
	s, last := stale(start)
	if !s {
		return nil // read by the caller this one waited for
	}
	var since time.Time
	if !last.IsZero() {
		since = last.Add(-syncOverlap)
	}
	rs, err := g.Store.GuardChanges(ctx, since, start)
	if err != nil {
		return fmt.Errorf("login guard: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.keep(rs, start)
	g.synced = start
	return nil
}

// keep puts rs into g.records, each unless the copy there is newer (a
// read that began before a write this replica made, and ended after it).
func (g *LoginGuard) keep(rs []GuardRecord, now time.Time) {
	if g.records == nil {
		g.records = map[guardID]GuardRecord{}
	}
	for _, r := range rs {
		id, ok := parseGuardID(r.Key)
		if !ok {
			continue // not a record of this guard's
		}
		if old, ok := g.records[id]; !ok || r.Version >= old.Version || !now.Before(old.Expires) {
			g.records[id] = r
		}
	}
	// Forget what no longer changes an answer once the map grows large,
	// so that an attacker cycling through usernames or addresses cannot
	// exhaust memory; at most once each time it doubles, so that a map
	// of live records is not swept on every write.
	if len(g.records) < max(g.pruneAt, guardMaxKeys) {
		return
	}
	for k, r := range g.records {
		if !now.Before(r.Expires) {
			delete(g.records, k)
		}
	}
	g.pruneAt = 2 * len(g.records)
}

// Guarded wraps the services that check passwords and keys so that every
// check goes through g.
type Guarded struct{ Guard *LoginGuard }

// Users guards UserService.Authenticate (PARS and the JSON API's HTTP
// Basic) by provider and username: a username is a provider's own, and
// one provider's user failing does not lock another's of the same name.
// A sign-in naming no provider (LearnerMatch, the JSON API without
// Cmex-Provider-Id) counts for the username under no provider.
func (gd Guarded) Users(s UserService) UserService { return guardedUsers{s, gd.Guard} }

// APIKeys guards API keys by address only.
func (gd Guarded) APIKeys(s APIKeyService) APIKeyService { return guardedAPIKeys{s, gd.Guard} }

// Accounts guards gateway account logins (the JSON API's account routes),
// and limits sign-ups (CreateAccount) by address under SignUps.
func (gd Guarded) Accounts(s GatewayService) GatewayService { return guardedAccounts{s, gd.Guard} }

// Societies guards society member logins (customer_binding, binding a
// local society) and credit feed logins.
func (gd Guarded) Societies(s SocietyService) SocietyService { return guardedSocieties{s, gd.Guard} }

// Claims limits physicians' claims of registry persons as sign-ins are
// limited, so that they cannot be used to search the registry: a claim
// that does not link at once (ClaimPending, whatever the reason) counts
// as a failed sign-in of the account ("claim:ID": LockAfter in a row lock
// its claims for LockFor) and of the client address (whose allowance of
// failures it shares with sign-ins). A refused claim is answered ETOOMANY
// before any lookup.
func (gd Guarded) Claims(s ClaimService) ClaimService { return guardedClaims{s, gd.Guard} }

// Portal guards portal sign-ins, which share their accounts with the
// gateway account logins, and limits transcript verifications
// (Verification) by address under Verifications.
func (gd Guarded) Portal(s PortalService) PortalService { return guardedPortal{s, gd.Guard} }

// Credentials limits credential verifications (Verify) by address under
// Verifications, the allowance printed-transcript verifications use: a
// verification is JSON-LD processing anyone may ask for.
func (gd Guarded) Credentials(s CredentialService) CredentialService {
	return guardedCredentials{s, gd.Guard}
}

type guardedCredentials struct {
	CredentialService
	g *LoginGuard
}

func (s guardedCredentials) Verify(ctx context.Context, credential []byte) (*Verification, error) {
	if err := s.g.Limit(ctx, ActionVerify, s.g.rate(ActionVerify)); err != nil {
		return nil, err
	}
	return s.CredentialService.Verify(ctx, credential)
}

type guardedUsers struct {
	UserService
	g *LoginGuard
}

func (s guardedUsers) Authenticate(ctx context.Context, provider ProviderID, username, password string) (p *Principal, err error) {
	err = s.g.Attempt(ctx, "user:"+string(provider)+":"+username, func() error {
		p, err = s.UserService.Authenticate(ctx, provider, username, password)
		return err
	})
	return p, err
}

type guardedAPIKeys struct {
	APIKeyService
	g *LoginGuard
}

func (s guardedAPIKeys) AuthenticateAPIKey(ctx context.Context, token string) (p *Principal, err error) {
	err = s.g.Attempt(ctx, "", func() error {
		p, err = s.APIKeyService.AuthenticateAPIKey(ctx, token)
		return err
	})
	return p, err
}

type guardedAccounts struct {
	GatewayService
	g *LoginGuard
}

func (s guardedAccounts) AuthenticateAccount(ctx context.Context, username, password string) (a *Account, err error) {
	err = s.g.Attempt(ctx, "login:"+username, func() error {
		a, err = s.GatewayService.AuthenticateAccount(ctx, username, password)
		return err
	})
	return a, err
}

func (s guardedAccounts) CreateAccount(ctx context.Context, a *Account, password string) error {
	if err := s.g.Limit(ctx, ActionSignUp, s.g.rate(ActionSignUp)); err != nil {
		return err
	}
	return s.GatewayService.CreateAccount(ctx, a, password)
}

// rate is g's allowance of kind; none for a nil guard.
func (g *LoginGuard) rate(kind string) Rate {
	switch {
	case g == nil:
		return Rate{}
	case kind == ActionSignUp:
		return g.SignUps
	case kind == ActionVerify:
		return g.Verifications
	}
	return Rate{}
}

type guardedSocieties struct {
	SocietyService
	g *LoginGuard
}

func (s guardedSocieties) AuthenticateFeed(ctx context.Context, username, password string) (so *Society, err error) {
	err = s.g.Attempt(ctx, "feed:"+username, func() error {
		so, err = s.SocietyService.AuthenticateFeed(ctx, username, password)
		return err
	})
	return so, err
}

func (s guardedSocieties) AuthenticateMember(ctx context.Context, society SocietyID, username, password string) (m *Member, err error) {
	err = s.g.Attempt(ctx, fmt.Sprintf("member:%d:%s", society, username), func() error {
		m, err = s.SocietyService.AuthenticateMember(ctx, society, username, password)
		return err
	})
	return m, err
}

type guardedPortal struct {
	PortalService
	g *LoginGuard
}

func (s guardedPortal) Authenticate(ctx context.Context, username, password string) (u *PortalUser, err error) {
	err = s.g.Attempt(ctx, "login:"+username, func() error {
		u, err = s.PortalService.Authenticate(ctx, username, password)
		return err
	})
	return u, err
}

func (s guardedPortal) SignIn(ctx context.Context, username, password string, ttl time.Duration) (se *Session, err error) {
	err = s.g.Attempt(ctx, "login:"+username, func() error {
		se, err = s.PortalService.SignIn(ctx, username, password, ttl)
		return err
	})
	return se, err
}

func (s guardedPortal) Verification(ctx context.Context, code string) (*TranscriptVerification, error) {
	if err := s.g.Limit(ctx, ActionVerify, s.g.rate(ActionVerify)); err != nil {
		return nil, err
	}
	return s.PortalService.Verification(ctx, code)
}

type guardedClaims struct {
	ClaimService
	g *LoginGuard
}

// errClaimWaits marks, inside the guard, a claim that did not link.
var errClaimWaits = &Error{Code: EUNAUTHORIZED, Message: "the claim waits for review"}

func (s guardedClaims) ClaimPerson(ctx context.Context, account AccountID, e ClaimEvidence) (c *Claim, err error) {
	err = s.g.attempt(ctx, fmt.Sprintf("claim:%d", account), "claims", func() error {
		c, err = s.ClaimService.ClaimPerson(ctx, account, e)
		if err == nil && c.State != ClaimLinked {
			return errClaimWaits
		}
		return err
	})
	if err == errClaimWaits {
		err = nil
	}
	return c, err
}
