package cmex_test

import (
	"context"
	"fmt"
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
