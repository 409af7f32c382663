package main_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/cmextest"
)

// TestLockoutAcrossReplicas runs two cmex serve on one PostgreSQL
// database, as behind a load balancer (issue 18): a PARS user locked by
// wrong passwords through replica A is refused the right password by
// replica B, in PARS's shape, within a second of the lock; the address it
// signed in from through A is exempt on B; and an address's allowance of
// failures is one, whichever replicas its failures go through.
func TestLockoutAcrossReplicas(t *testing.T) {
	const password = "Replica-Sandbox-Pa55"
	env := []string{"CMEX_DB=" + cmextest.PostgresURL(t)}
	args := []string{"-sandbox", "-sandbox-password", password, "-trusted-proxies", "127.0.0.1",
		"-lockout-after", "3", "-address-failures", "4"}
	a := startServer(t, env, args...)
	b := startServer(t, env, args...)
	pars := lockoutSurfaces(t)[0]
	send := func(s *server, user, password, from string) (int, string) {
		t.Helper()
		return sendFrom(t, pars.request(s.base, user, password), from)
	}
	locked := func(st int, body string) bool {
		return pars.locked(st, body) && strings.Contains(body, "Invalid User: Access Denied")
	}
	const known, attacker, other = "198.51.100.7", "203.0.113.66", "203.0.113.67"

	// The user signs in through both first: B's copy of the shared state
	// is read before the lock, and must be read again to see it.
	if st, body := send(a, pars.user, password, known); !pars.ok(st, body) {
		t.Fatalf("A, right password: %d %.400s", st, body)
	}
	if st, body := send(b, pars.user, password, other); !pars.ok(st, body) {
		t.Fatalf("B, right password: %d %.400s", st, body)
	}
	for i := range 3 {
		if st, body := send(a, pars.user, "Wrong-Guess-"+string(rune('a'+i)), attacker); !pars.wrong(st, body) {
			t.Fatalf("A, wrong password %d: %d %.400s", i+1, st, body)
		}
	}
	lockedAt := time.Now()
	if st, body := send(a, pars.user, password, "203.0.113.68"); !locked(st, body) {
		t.Fatalf("A, right password after three wrong ones: %d %.400s", st, body)
	}
	// A replica reads the shared state again once its copy is a second
	// old: B's was read before the lock.
	time.Sleep(time.Until(lockedAt.Add(time.Second)))
	if st, body := send(b, pars.user, password, "203.0.113.69"); !locked(st, body) {
		t.Errorf("B, right password a second after the lock through A: %d %.400s", st, body)
	}
	if st, body := send(b, pars.user, password, known); !pars.ok(st, body) {
		t.Errorf("B, from the address the user signed in from through A: %d %.400s", st, body)
	}

	// Four failures from one address, two through each replica, spend its
	// allowance on both.
	const spender = "192.0.2.44"
	for i, s := range []*server{a, b, a, b} {
		if st, body := send(s, "nobody-replica-"+string(rune('a'+i)), "Wrong-Guess", spender); !pars.wrong(st, body) {
			t.Fatalf("failure %d from %s: %d %.400s", i+1, spender, st, body)
		}
	}
	time.Sleep(time.Second)
	if st, body := send(a, "nobody-replica-e", "Wrong-Guess", spender); !locked(st, body) {
		t.Errorf("A, a fifth attempt from %s after two failures through A and two through B: %d %.400s", spender, st, body)
	}
}
