package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func init() {
	extra = append(extra, named{"GuardRecords", testGuardRecords}, named{"GuardConcurrentUpdates", testGuardConcurrent},
		named{"GuardPrune", testGuardPrune})
}

// A guard record is stored as the update left it and read back the same,
// by UpdateGuard and by GuardChanges, which returns what changed after a
// time and has not expired.
func testGuardRecords(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	s := sqlstore.NewGuardStore(e.db)
	t0 := e.clock.Now()
	lock := t0.Add(15*time.Minute + 123456*time.Microsecond)
	var seen []cmex.GuardRecord
	got, err := s.UpdateGuard(ctx, t0, []string{"b-account", "a-address"}, func(rs []cmex.GuardRecord) {
		seen = append([]cmex.GuardRecord(nil), rs...)
		rs[0].Failures, rs[0].At, rs[0].Until, rs[0].Expires = 2, t0, lock, lock
		rs[1].Tokens, rs[1].At, rs[1].Expires = 18.25, t0, t0.Add(2*time.Minute)
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []cmex.GuardRecord{{Key: "b-account"}, {Key: "a-address"}}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("new keys were given %v, want %v", seen, want)
	}
	account := cmex.GuardRecord{Key: "b-account", Failures: 2, At: t0, Until: lock, Expires: lock, Version: 1}
	address := cmex.GuardRecord{Key: "a-address", Tokens: 18.25, At: t0, Expires: t0.Add(2 * time.Minute), Version: 1}
	if len(got) != 2 || !sameRecord(got[0], account) || !sameRecord(got[1], address) {
		t.Fatalf("stored %v, want %v and %v", got, account, address)
	}

	// Read back, in the order asked, by another store on the database.
	other := sqlstore.NewGuardStore(e.db)
	_, err = other.UpdateGuard(ctx, t0, []string{"a-address", "b-account"}, func(rs []cmex.GuardRecord) {
		seen = append([]cmex.GuardRecord(nil), rs...)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || !sameRecord(seen[0], address) || !sameRecord(seen[1], account) {
		t.Errorf("read back %v, want %v and %v", seen, address, account)
	}

	changes := func(since, now time.Time) map[string]cmex.GuardRecord {
		t.Helper()
		rs, err := s.GuardChanges(ctx, since, now)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]cmex.GuardRecord{}
		for _, r := range rs {
			m[r.Key] = r
		}
		return m
	}
	if m := changes(time.Time{}, t0); len(m) != 2 || !sameRecord(m["b-account"], cmex.GuardRecord{Key: "b-account", Failures: 2, At: t0, Until: lock, Expires: lock, Version: 2}) {
		t.Errorf("all changes: %v", m)
	}
	if m := changes(t0, t0); len(m) != 0 {
		t.Errorf("changes after the last one: %v", m)
	}
	t1 := t0.Add(time.Minute)
	if _, err := s.UpdateGuard(ctx, t1, []string{"b-account"}, func(rs []cmex.GuardRecord) { rs[0].Failures = 3 }); err != nil {
		t.Fatal(err)
	}
	if m := changes(t0, t1); len(m) != 1 || m["b-account"].Failures != 3 || m["b-account"].Version != 3 {
		t.Errorf("changes since the first update: %v", m)
	}
	// Past its expiry a record is no longer a change anyone reads.
	if m := changes(time.Time{}, t0.Add(3*time.Minute)); len(m) != 1 || m["a-address"].Key != "" {
		t.Errorf("changes once the address expired: %v", m)
	}
}

func sameRecord(a, b cmex.GuardRecord) bool {
	return a.Key == b.Key && a.Failures == b.Failures && a.Tokens == b.Tokens && a.At.Equal(b.At) && a.Until.Equal(b.Until) &&
		a.Expires.Equal(b.Expires) && a.Version == b.Version
}

// Updates of the same records by many callers, as by several replicas,
// each take their turn: none is lost, and two callers locking the same
// two keys in opposite orders do not deadlock.
func testGuardConcurrent(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	now := e.clock.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		s := sqlstore.NewGuardStore(e.db) // a replica's own
		keys := []string{"one", "two"}
		if i%2 == 1 {
			keys = []string{"two", "one"}
		}
		wg.Go(func() {
			for range 10 {
				_, err := s.UpdateGuard(ctx, now, keys, func(rs []cmex.GuardRecord) {
					for j := range rs {
						rs[j].Failures++
						rs[j].Expires = now.Add(time.Hour)
					}
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rs, err := sqlstore.NewGuardStore(e.db).GuardChanges(ctx, time.Time{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Failures != 80 || rs[1].Failures != 80 || rs[0].Version != 80 {
		t.Errorf("after 80 concurrent increments: %v", rs)
	}
}

// Expired records are deleted by later writes, so that an attacker
// cycling through usernames or addresses cannot grow the table without
// bound; records that still count are kept.
func testGuardPrune(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	s := sqlstore.NewGuardStore(e.db)
	now := e.clock.Now()
	set := func(at time.Time, key string, expires time.Time) {
		t.Helper()
		if _, err := s.UpdateGuard(ctx, at, []string{key}, func(rs []cmex.GuardRecord) { rs[0].Expires = expires }); err != nil {
			t.Fatal(err)
		}
	}
	set(now, "lasting", now.Add(time.Hour))
	for i := range 200 {
		set(now, fmt.Sprintf("attempt-%d", i), now.Add(time.Minute))
	}
	if n := count(t, e.db, "login_guard"); n != 201 {
		t.Fatalf("%d rows, want 201", n)
	}
	later := now.Add(5 * time.Minute)
	set(later, "new", later.Add(time.Minute))
	if n := count(t, e.db, "login_guard"); n != 2 {
		t.Errorf("%d rows after the expired ones were pruned, want 2 (lasting, new)", n)
	}
}
