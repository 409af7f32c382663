package cmex_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
)

type guardClock struct{ now time.Time }

func newGuard(c *guardClock) *cmex.LoginGuard {
	g := &cmex.LoginGuard{LockAfter: 3, LockFor: 10 * time.Minute, AddrBurst: 5, AddrEvery: time.Minute}
	g.Now = func() time.Time { return c.now }
	return g
}

// attempt signs in as account from addr, the password being right or not.
func attempt(g *cmex.LoginGuard, addr, account string, right bool) string {
	ctx := cmex.WithClientAddr(context.Background(), addr)
	err := g.Attempt(ctx, account, func() error {
		if right {
			return nil
		}
		return cmex.Errorf(cmex.EUNAUTHORIZED, "invalid login")
	})
	return cmex.ErrorCode(err)
}

func TestLoginGuardLocksAnAccount(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	g := newGuard(c)
	if got := attempt(g, "198.51.100.7", "user:lms", true); got != "" {
		t.Fatalf("first sign-in: %q", got)
	}
	for i := range 3 {
		if got := attempt(g, "203.0.113.1", "user:LMS", false); got != cmex.EUNAUTHORIZED {
			t.Fatalf("failure %d: %q", i+1, got)
		}
	}
	// Locked: the right password is refused without being checked, from a
	// new address, in any letter case.
	ctx := cmex.WithClientAddr(context.Background(), "203.0.113.2")
	checked := false
	err := g.Attempt(ctx, "user:lms", func() error { checked = true; return nil })
	if cmex.ErrorCode(err) != cmex.ETOOMANY || checked || cmex.RetryAfter(err) != 600 {
		t.Fatalf("locked account: %v (checked %v, retry after %d)", err, checked, cmex.RetryAfter(err))
	}
	// The address it signed in from before is exempt.
	if got := attempt(g, "198.51.100.7", "user:lms", true); got != "" {
		t.Errorf("known address while locked: %q", got)
	}
	// Another account is not held up.
	if got := attempt(g, "203.0.113.3", "user:other", true); got != "" {
		t.Errorf("another account: %q", got)
	}
	c.now = c.now.Add(10*time.Minute + time.Second)
	if got := attempt(g, "203.0.113.2", "user:lms", true); got != "" {
		t.Errorf("after the lock: %q", got)
	}
}

// A username that does not exist is locked exactly like one that does, so
// the answers do not tell them apart.
func TestLoginGuardSameForUnknownAccounts(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	g := newGuard(c)
	var answers []string
	for _, account := range []string{"user:exists", "user:nobody"} {
		var seq string
		for i := range 4 {
			seq += attempt(g, fmt.Sprintf("203.0.113.%d", i), account, false) + " "
		}
		answers = append(answers, seq)
	}
	if answers[0] != answers[1] || answers[0] != "unauthorized unauthorized unauthorized too_many_attempts " {
		t.Errorf("answers differ or are not a lockout: %q", answers)
	}
}

func TestLoginGuardLimitsAnAddress(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	g := newGuard(c)
	for i := range 5 {
		if got := attempt(g, "2001:db8::1", fmt.Sprintf("user:u%d", i), false); got != cmex.EUNAUTHORIZED {
			t.Fatalf("failure %d: %q", i+1, got)
		}
	}
	// Another address in the same IPv6 /64 shares the limit; a key with
	// no account is limited too.
	if got := attempt(g, "2001:db8::2", "", true); got != cmex.ETOOMANY {
		t.Errorf("sixth failure from the /64: %q", got)
	}
	if got := attempt(g, "2001:db8:0:1::1", "user:u9", true); got != "" {
		t.Errorf("another /64: %q", got)
	}
	c.now = c.now.Add(time.Minute)
	if got := attempt(g, "2001:db8::1", "user:u9", false); got != cmex.EUNAUTHORIZED {
		t.Errorf("a minute later: %q", got)
	}
	if got := attempt(g, "2001:db8::1", "user:u9", true); got != cmex.ETOOMANY {
		t.Errorf("after spending the refill: %q", got)
	}
}

// A success clears the account's count of failures.
func TestLoginGuardSuccessResets(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	g := newGuard(c)
	g.AddrBurst = 0
	for range 3 {
		attempt(g, "203.0.113.1", "login:jane", false)
		attempt(g, "203.0.113.1", "login:jane", false)
		if got := attempt(g, "203.0.113.9", "login:jane", true); got != "" {
			t.Fatalf("success after two failures: %q", got)
		}
	}
}

// failingUsers refuses every password, counting the checks it made.
type failingUsers struct {
	cmex.UserService
	checked *int
}

func (f failingUsers) Authenticate(ctx context.Context, provider cmex.ProviderID, username, password string) (*cmex.Principal, error) {
	*f.checked++
	return nil, cmex.Errorf(cmex.EUNAUTHORIZED, "invalid user: access denied")
}

// A PARS username is its provider's own (issue 16): locking u under one
// provider does not lock u under another.
func TestLoginGuardScopesUsersByProvider(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	g := newGuard(c)
	g.AddrBurst = 0
	checked := 0
	users := cmex.Guarded{Guard: g}.Users(failingUsers{checked: &checked})
	ctx := cmex.WithClientAddr(context.Background(), "203.0.113.1")
	for range 3 {
		if _, err := users.Authenticate(ctx, "1234567", "u", "guess"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
			t.Fatalf("failure: %v", err)
		}
	}
	if _, err := users.Authenticate(ctx, "1234567", "U", "guess"); cmex.ErrorCode(err) != cmex.ETOOMANY || checked != 3 {
		t.Fatalf("u under 1234567 after 3 failures: %v (%d checks)", err, checked)
	}
	if _, err := users.Authenticate(ctx, "7654321", "u", "right"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED || checked != 4 {
		t.Errorf("u under 7654321 was not checked: %v (%d checks)", err, checked)
	}
}

// Limit counts every action of a kind by address, failures or not, and
// refuses beyond the allowance with a Retry-After; other addresses and
// other kinds keep theirs.
func TestLoginGuardLimitsActions(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	g := newGuard(c)
	rate := cmex.Rate{Burst: 2, Every: time.Minute}
	at := func(addr string) context.Context { return cmex.WithClientAddr(context.Background(), addr) }
	for i := range 2 {
		if err := g.Limit(at("203.0.113.1"), cmex.ActionSignUp, rate); err != nil {
			t.Fatalf("sign-up %d: %v", i+1, err)
		}
	}
	err := g.Limit(at("203.0.113.1"), cmex.ActionSignUp, rate)
	if cmex.ErrorCode(err) != cmex.ETOOMANY || cmex.RetryAfter(err) != 60 {
		t.Fatalf("third sign-up: %v (retry after %d)", err, cmex.RetryAfter(err))
	}
	if err := g.Limit(at("203.0.113.2"), cmex.ActionSignUp, rate); err != nil {
		t.Errorf("another address: %v", err)
	}
	if err := g.Limit(at("203.0.113.1"), cmex.ActionVerify, rate); err != nil {
		t.Errorf("another kind: %v", err)
	}
	if err := g.Limit(at("203.0.113.1"), cmex.ActionSignUp, cmex.Rate{}); err != nil {
		t.Errorf("no limit: %v", err)
	}
	c.now = c.now.Add(time.Minute)
	if err := g.Limit(at("203.0.113.1"), cmex.ActionSignUp, rate); err != nil {
		t.Errorf("a minute later: %v", err)
	}
	if err := g.Limit(at("203.0.113.1"), cmex.ActionSignUp, rate); cmex.ErrorCode(err) != cmex.ETOOMANY {
		t.Errorf("after spending the refill: %v", err)
	}
}

// countingAccounts and countingPortal count the calls the guard lets
// through.
type countingAccounts struct {
	cmex.GatewayService
	n *int
}

func (s countingAccounts) CreateAccount(context.Context, *cmex.Account, string) error {
	*s.n++
	return nil
}

type countingPortal struct {
	cmex.PortalService
	n *int
}

func (s countingPortal) Verification(context.Context, string) (*cmex.TranscriptVerification, error) {
	*s.n++
	return nil, cmex.Errorf(cmex.ENOTFOUND, "no such code")
}

// Sign-ups and transcript verifications are limited by address through
// the guard's wrappers (issue 16), before they cost anything.
func TestGuardedSignUpsAndVerifications(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	g := newGuard(c)
	g.SignUps, g.Verifications = cmex.Rate{Burst: 3, Every: time.Minute}, cmex.Rate{Burst: 4, Every: time.Second}
	var signUps, lookups int
	accounts := cmex.Guarded{Guard: g}.Accounts(countingAccounts{n: &signUps})
	portal := cmex.Guarded{Guard: g}.Portal(countingPortal{n: &lookups})
	ctx := cmex.WithClientAddr(context.Background(), "198.51.100.20")
	var refused []string
	for range 5 {
		if err := accounts.CreateAccount(ctx, &cmex.Account{}, "pw"); err != nil {
			refused = append(refused, cmex.ErrorCode(err))
		}
		if _, err := portal.Verification(ctx, "7KQ2-M9XD-4TPA"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
			refused = append(refused, cmex.ErrorCode(err))
		}
	}
	if signUps != 3 || lookups != 4 || len(refused) != 3 {
		t.Errorf("%d sign-ups and %d verifications let through, refused %v; want 3, 4 and 3 refusals", signUps, lookups, refused)
	}
}

// sharedGuardState is a cmex.GuardStore in memory, as a database is to
// the replicas on it, counting the calls the guards make.
type sharedGuardState struct {
	mu      sync.Mutex
	recs    map[string]stampedRecord
	updates int
	reads   int
	err     error
}

type stampedRecord struct {
	r  cmex.GuardRecord
	at time.Time
}

func (s *sharedGuardState) UpdateGuard(_ context.Context, now time.Time, keys []string, update func([]cmex.GuardRecord)) ([]cmex.GuardRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	s.updates++
	if s.recs == nil {
		s.recs = map[string]stampedRecord{}
	}
	rs := make([]cmex.GuardRecord, len(keys))
	for i, k := range keys {
		rs[i] = s.recs[k].r
		rs[i].Key = k
	}
	update(rs)
	for i, k := range keys {
		rs[i].Key, rs[i].Version = k, s.recs[k].r.Version+1
		s.recs[k] = stampedRecord{rs[i], now}
	}
	return rs, nil
}

func (s *sharedGuardState) GuardChanges(_ context.Context, since, now time.Time) ([]cmex.GuardRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	s.reads++
	var out []cmex.GuardRecord
	for _, st := range s.recs {
		if st.at.After(since) && now.Before(st.r.Expires) {
			out = append(out, st.r)
		}
	}
	return out, nil
}

// replicas returns two guards sharing one state, as two cmex replicas
// on one database, both on clock c.
func replicas(c *guardClock) (a, b *cmex.LoginGuard, shared *sharedGuardState) {
	shared = &sharedGuardState{}
	a, b = newGuard(c), newGuard(c)
	a.Store, b.Store = shared, shared
	a.SyncEvery, b.SyncEvery = time.Second, time.Second
	return a, b, shared
}

// A lockout made through one replica is refused by the other once its
// copy of the shared state is SyncEvery old, before the password is
// checked; the address the account signed in from through one replica
// is exempt on both.
func TestLoginGuardSharedLockout(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	a, b, _ := replicas(c)
	if got := attempt(b, "198.51.100.7", "user:lms", true); got != "" {
		t.Fatalf("first sign-in, through B: %q", got)
	}
	for i := range 3 {
		if got := attempt(a, "203.0.113.1", "user:lms", false); got != cmex.EUNAUTHORIZED {
			t.Fatalf("failure %d through A: %q", i+1, got)
		}
	}
	if got := attempt(a, "203.0.113.2", "user:lms", true); got != cmex.ETOOMANY {
		t.Errorf("A, at once: %q", got)
	}
	c.now = c.now.Add(time.Second)
	ctx := cmex.WithClientAddr(context.Background(), "203.0.113.2")
	checked := false
	err := b.Attempt(ctx, "user:LMS", func() error { checked = true; return nil })
	if cmex.ErrorCode(err) != cmex.ETOOMANY || checked || cmex.RetryAfter(err) != 599 {
		t.Errorf("B, a second later: %v (checked %v, retry after %d)", err, checked, cmex.RetryAfter(err))
	}
	for name, g := range map[string]*cmex.LoginGuard{"A": a, "B": b} {
		if got := attempt(g, "198.51.100.7", "user:lms", true); got != "" {
			t.Errorf("%s, from the address the account signed in from through B: %q", name, got)
		}
	}
	c.now = c.now.Add(10 * time.Minute)
	if got := attempt(b, "203.0.113.2", "user:lms", true); got != "" {
		t.Errorf("B, after the lock: %q", got)
	}
}

// An address's allowance of failures is one, whichever replicas its
// failures go through.
func TestLoginGuardSharedAddress(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	a, b, _ := replicas(c)
	for i := range 5 {
		g := a
		if i >= 3 {
			g = b
		}
		if got := attempt(g, "2001:db8::1", fmt.Sprintf("user:u%d", i), false); got != cmex.EUNAUTHORIZED {
			t.Fatalf("failure %d: %q", i+1, got)
		}
	}
	if got := attempt(b, "2001:db8::2", "user:u9", true); got != cmex.ETOOMANY {
		t.Errorf("B, which made the fifth failure: %q", got)
	}
	c.now = c.now.Add(time.Second)
	if got := attempt(a, "2001:db8::3", "user:u9", true); got != cmex.ETOOMANY {
		t.Errorf("A, which made three of the five, a second later: %q", got)
	}
}

// A success through one replica clears the failures made through another
// once its copy shows them; until then (at most SyncEvery) it does not,
// and errs on the side of locking.
func TestLoginGuardSharedSuccessResets(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	a, b, _ := replicas(c)
	a.AddrBurst, b.AddrBurst = 0, 0
	attempt(b, "203.0.113.9", "login:jane", true) // B's copy is read now
	attempt(a, "203.0.113.1", "login:jane", false)
	attempt(a, "203.0.113.1", "login:jane", false)
	c.now = c.now.Add(time.Second)
	if got := attempt(b, "203.0.113.9", "login:jane", true); got != "" {
		t.Fatalf("B's success: %q", got)
	}
	attempt(a, "203.0.113.1", "login:jane", false)
	attempt(a, "203.0.113.1", "login:jane", false)
	if locked(a, "203.0.113.5", "login:jane") {
		t.Errorf("locked after two failures, B's success and two more: want the count cleared by B")
	}
	// B's copy, read a moment ago, does not show the two new failures:
	// its success now leaves them, and the next failure locks.
	if got := attempt(b, "203.0.113.9", "login:jane", true); got != "" {
		t.Fatalf("B's second success: %q", got)
	}
	attempt(a, "203.0.113.1", "login:jane", false)
	if !locked(a, "203.0.113.5", "login:jane") {
		t.Errorf("not locked after a success through B that could not see the failures")
	}
}

// locked reports whether g refuses account from addr, without counting a
// failure or a success.
func locked(g *cmex.LoginGuard, addr, account string) bool {
	ctx := cmex.WithClientAddr(context.Background(), addr)
	err := g.Attempt(ctx, account, func() error { return cmex.Errorf(cmex.EINVALID, "neither") })
	return cmex.ErrorCode(err) == cmex.ETOOMANY
}

// Limit's allowance is shared: each call changes the shared state, and
// a replica whose copy still shows room asks the state before allowing.
func TestLoginGuardSharedLimit(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	a, b, shared := replicas(c)
	rate := cmex.Rate{Burst: 2, Every: time.Minute}
	ctx := cmex.WithClientAddr(context.Background(), "203.0.113.1")
	var codes []string
	for _, g := range []*cmex.LoginGuard{a, b, a, b} {
		codes = append(codes, cmex.ErrorCode(g.Limit(ctx, cmex.ActionSignUp, rate)))
	}
	if fmt.Sprint(codes) != "[  too_many_attempts too_many_attempts]" {
		t.Errorf("four sign-ups through A, B, A, B: %q", codes)
	}
	// Refused by a copy that shows the allowance spent, without a write.
	before := shared.updates
	for range 10 {
		if err := b.Limit(ctx, cmex.ActionSignUp, rate); cmex.ErrorCode(err) != cmex.ETOOMANY {
			t.Fatalf("spent allowance: %v", err)
		}
	}
	if shared.updates != before {
		t.Errorf("%d writes for refusals a copy could answer", shared.updates-before)
	}
}

// A successful sign-in, every request of an LMS, costs no call to the
// shared state while the replica's copy is fresh: one read a SyncEvery,
// and one write when the known address is due to be recorded again.
func TestLoginGuardSharedHotPath(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	a, _, shared := replicas(c)
	calls := func() [2]int { return [2]int{shared.reads, shared.updates} }
	attempt(a, "198.51.100.7", "user:lms", true)
	if got := calls(); got != [2]int{1, 1} {
		t.Fatalf("first sign-in: %v reads and writes, want one read and the known address written", got)
	}
	for range 1000 {
		attempt(a, "198.51.100.7", "user:lms", true)
	}
	if got := calls(); got != [2]int{1, 1} {
		t.Errorf("1,000 more sign-ins in the same second: %v reads and writes, want none more", got)
	}
	c.now = c.now.Add(time.Second)
	attempt(a, "198.51.100.7", "user:lms", true)
	attempt(a, "198.51.100.7", "user:lms", true)
	if got := calls(); got != [2]int{2, 1} {
		t.Errorf("a second later: %v, want one more read", got)
	}
	c.now = c.now.Add(61 * time.Minute)
	attempt(a, "198.51.100.7", "user:lms", true)
	if got := calls(); got != [2]int{3, 2} {
		t.Errorf("an hour later: %v, want one more read and the known address written again", got)
	}
}

// When the shared state cannot be read or written, an attempt fails
// with that error rather than being let through unchecked.
func TestLoginGuardSharedStoreDown(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	a, _, shared := replicas(c)
	shared.err = errors.New("database unreachable")
	ctx := cmex.WithClientAddr(context.Background(), "203.0.113.1")
	checked := false
	err := a.Attempt(ctx, "user:lms", func() error { checked = true; return nil })
	if !errors.Is(err, shared.err) || checked {
		t.Errorf("store down: %v (checked %v)", err, checked)
	}
	if err := a.Limit(ctx, cmex.ActionSignUp, cmex.Rate{Burst: 1}); !errors.Is(err, shared.err) {
		t.Errorf("Limit with the store down: %v", err)
	}
}

// BenchmarkLoginGuardSuccess measures the guard's part of a successful
// sign-in, the hot path (an LMS signs in on every PARS call), with its
// state in this process (memory) and shared (a store every replica uses,
// here in memory: what a success costs beyond its copy's lookups is one
// read of the store a second).
func BenchmarkLoginGuardSuccess(b *testing.B) {
	for _, state := range []string{"memory", "shared"} {
		b.Run(state, func(b *testing.B) {
			g := cmex.DefaultLoginGuard()
			if state == "shared" {
				g.Store = &sharedGuardState{}
			}
			ctx := cmex.WithClientAddr(context.Background(), "198.51.100.7")
			ok := func() error { return nil }
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := g.Attempt(ctx, "user:1234567:webserviceuser@yourdomain.org", ok); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// countingVerifier is a cmex.CredentialService counting verifications.
type countingVerifier struct {
	cmex.CredentialService
	n *int
}

func (c countingVerifier) Verify(context.Context, []byte) (*cmex.Verification, error) {
	*c.n++
	return &cmex.Verification{}, nil
}

// TestGuardedCredentialVerifications: credential verifications share the
// address's allowance with printed-transcript verifications.
func TestGuardedCredentialVerifications(t *testing.T) {
	c := &guardClock{now: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)}
	g := newGuard(c)
	g.Verifications = cmex.Rate{Burst: 4, Every: time.Second}
	var verified, lookups int
	creds := cmex.Guarded{Guard: g}.Credentials(countingVerifier{n: &verified})
	portal := cmex.Guarded{Guard: g}.Portal(countingPortal{n: &lookups})
	ctx := cmex.WithClientAddr(context.Background(), "198.51.100.21")
	if _, err := portal.Verification(ctx, "7KQ2-M9XD-4TPA"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Fatal(err)
	}
	var refused int
	for range 5 {
		if _, err := creds.Verify(ctx, []byte("{}")); cmex.ErrorCode(err) == cmex.ETOOMANY {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if verified != 3 || refused != 2 {
		t.Errorf("%d verifications let through, %d refused; want 3 and 2", verified, refused)
	}
	other := cmex.WithClientAddr(context.Background(), "198.51.100.99")
	if _, err := creds.Verify(other, []byte("{}")); err != nil {
		t.Errorf("another address: %v", err)
	}
}
