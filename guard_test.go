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
