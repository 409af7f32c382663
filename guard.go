package cmex

import (
	"context"
	"fmt"
	"net"
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
//     that fails LockAfter times in a row is locked for LockFor. Addresses
//     the account signed in from successfully in the last day are exempt,
//     so an attacker guessing a PARS user's password cannot cut off the
//     LMS that uses it.
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
// The state is in memory: each replica keeps its own, so behind a load
// balancer of n replicas an attacker gets at most n times the limits.
type LoginGuard struct {
	LockAfter int
	LockFor   time.Duration
	AddrBurst int
	AddrEvery time.Duration
	// SignUps and Verifications are what one address may do of each.
	SignUps       Rate
	Verifications Rate
	Now           func() time.Time

	mu       sync.Mutex
	accounts map[string]*accountFailures
	addrs    map[string]*addrFailures
	known    map[knownPair]time.Time
	actions  map[actionKey]*action
}

// Rate is an allowance: Burst at once, then one more each Every. A zero
// Burst is no limit.
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

type accountFailures struct {
	n      int
	until  time.Time // locked until
	recent time.Time
}

type addrFailures struct {
	tokens float64 // failures still allowed
	at     time.Time
}

type knownPair struct{ account, addr string }

type actionKey struct{ kind, addr string }

type action struct {
	tokens float64
	at     time.Time
	full   time.Time // when the allowance is whole again, for pruning
}

const (
	knownFor     = 24 * time.Hour
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

// Attempt runs check, the password or key check of account on one surface
// (surface:username, or "" when only the address is known), unless account
// or the client address of ctx is locked out; it counts check's EUNAUTHORIZED
// answers as failures and a success as clearing the account's count.
func (g *LoginGuard) Attempt(ctx context.Context, account string, check func() error) error {
	return g.attempt(ctx, account, "failed sign-ins", check)
}

// attempt is Attempt, whose refusal names what failed too often.
func (g *LoginGuard) attempt(ctx context.Context, account, what string, check func() error) error {
	if g == nil {
		return check()
	}
	account = strings.ToLower(account)
	addr := addrKey(ClientAddr(ctx))
	if wait := g.wait(account, addr); wait > 0 {
		return &Error{Code: ETOOMANY, RetryAfter: wait,
			Message: fmt.Sprintf("Too many %s for this account or from this address; try again in %s.", what, roundUp(wait))}
	}
	err := check()
	switch ErrorCode(err) {
	case "":
		g.succeeded(account, addr)
	case EUNAUTHORIZED:
		g.failed(account, addr)
	}
	return err
}

func roundUp(d time.Duration) string {
	if d <= time.Minute {
		return fmt.Sprintf("%d seconds", int((d+time.Second-1)/time.Second))
	}
	return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
}

func (g *LoginGuard) init() {
	if g.accounts == nil {
		g.accounts, g.addrs, g.known = map[string]*accountFailures{}, map[string]*addrFailures{}, map[knownPair]time.Time{}
		g.actions = map[actionKey]*action{}
	}
}

// Limit counts one action of kind (ActionSignUp, ActionVerify) by the
// client address of ctx, and refuses it with ETOOMANY and a RetryAfter
// once the address has used its allowance of that kind under rate. Every
// call counts, refused ones excepted.
func (g *LoginGuard) Limit(ctx context.Context, kind string, rate Rate) error {
	if g == nil || rate.Burst <= 0 {
		return nil
	}
	k := actionKey{kind, addrKey(ClientAddr(ctx))}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	now := g.Now()
	g.prune(now)
	a := g.actions[k]
	if a == nil {
		a = &action{tokens: float64(rate.Burst), at: now}
		g.actions[k] = a
	}
	if rate.Every > 0 {
		a.tokens += float64(now.Sub(a.at)) / float64(rate.Every)
	}
	a.tokens, a.at = min(a.tokens, float64(rate.Burst)), now
	if a.tokens < 1 {
		wait := time.Duration((1 - a.tokens) * float64(rate.Every))
		if rate.Every <= 0 {
			wait = time.Hour // a burst that never refills: a fixed allowance
		}
		return &Error{Code: ETOOMANY, RetryAfter: wait,
			Message: fmt.Sprintf("Too many %ss from this address; try again in %s.", kind, roundUp(wait))}
	}
	a.tokens--
	a.full = now.Add(time.Duration((float64(rate.Burst) - a.tokens) * float64(rate.Every)))
	return nil
}

// refill brings a's allowance up to date.
func (g *LoginGuard) refill(a *addrFailures, now time.Time) {
	if g.AddrEvery > 0 {
		a.tokens += float64(now.Sub(a.at)) / float64(g.AddrEvery)
	}
	a.tokens = min(a.tokens, float64(g.AddrBurst))
	a.at = now
}

// wait is how long account and addr must wait before trying, or 0.
func (g *LoginGuard) wait(account, addr string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	now := g.Now()
	var wait time.Duration
	if a := g.addrs[addr]; a != nil && g.AddrBurst > 0 {
		g.refill(a, now)
		if a.tokens < 1 {
			wait = time.Duration((1 - a.tokens) * float64(g.AddrEvery))
		}
	}
	if f := g.accounts[account]; f != nil && account != "" && now.Before(f.until) {
		if exp, ok := g.known[knownPair{account, addr}]; !ok || now.After(exp) {
			wait = max(wait, f.until.Sub(now))
		}
	}
	return wait
}

func (g *LoginGuard) failed(account, addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	now := g.Now()
	g.prune(now)
	if g.AddrBurst > 0 {
		a := g.addrs[addr]
		if a == nil {
			a = &addrFailures{tokens: float64(g.AddrBurst), at: now}
			g.addrs[addr] = a
		}
		g.refill(a, now)
		a.tokens--
	}
	if account == "" || g.LockAfter <= 0 {
		return
	}
	f := g.accounts[account]
	if f == nil {
		f = &accountFailures{}
		g.accounts[account] = f
	}
	f.recent = now
	if now.Before(f.until) {
		return // a known address failing while the account is locked to others
	}
	f.n++
	if f.n >= g.LockAfter {
		f.n, f.until = 0, now.Add(g.LockFor)
	}
}

func (g *LoginGuard) succeeded(account, addr string) {
	if account == "" {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	now := g.Now()
	g.prune(now)
	if f := g.accounts[account]; f != nil {
		f.n = 0
	}
	g.known[knownPair{account, addr}] = now.Add(knownFor)
}

// prune forgets what no longer changes an answer once a map grows large,
// so an attacker cycling through usernames or addresses cannot exhaust
// memory.
func (g *LoginGuard) prune(now time.Time) {
	if len(g.accounts) >= guardMaxKeys {
		for k, f := range g.accounts {
			if now.After(f.until) && now.Sub(f.recent) > g.LockFor {
				delete(g.accounts, k)
			}
		}
	}
	if len(g.addrs) >= guardMaxKeys {
		for k, a := range g.addrs {
			g.refill(a, now)
			if a.tokens >= float64(g.AddrBurst) {
				delete(g.addrs, k)
			}
		}
	}
	if len(g.known) >= guardMaxKeys {
		for k, exp := range g.known {
			if now.After(exp) {
				delete(g.known, k)
			}
		}
	}
	if len(g.actions) >= guardMaxKeys {
		for k, a := range g.actions {
			if now.After(a.full) {
				delete(g.actions, k)
			}
		}
	}
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
