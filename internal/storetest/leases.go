package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/sqlstore"
)

func init() { extra = append(extra, named{"Leases", testLeases}) }

// A named lease is one holder's at a time, even among holders trying at
// once; its holder extends it; it passes to another when it expires or is
// released, and not before.
func testLeases(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	s := sqlstore.NewLeaseService(e.db)
	const ttl = 10 * time.Second
	acquire := func(name, holder string) bool {
		t.Helper()
		ok, err := s.TryAcquire(ctx, name, holder, e.clock.Now(), ttl)
		if err != nil {
			t.Fatalf("TryAcquire(%s, %s): %v", name, holder, err)
		}
		return ok
	}

	// Eight replicas try at once: one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []string
	for i := range 8 {
		wg.Go(func() {
			holder := fmt.Sprintf("replica-%d", i)
			ok, err := s.TryAcquire(ctx, "status:1", holder, e.clock.Now(), ttl)
			if err != nil {
				t.Errorf("TryAcquire by %s: %v", holder, err)
			}
			if ok {
				mu.Lock()
				winners = append(winners, holder)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("8 holders at once: %v won, want one", winners)
	}
	a, b := winners[0], "replica-other"
	if !acquire("status:1", a) {
		t.Error("the holder trying again does not hold it")
	}
	if acquire("status:1", b) {
		t.Error("another holder took a lease that has not expired")
	}
	if !acquire("status:2", b) {
		t.Error("a lease of another name is not free")
	}

	// Renewal keeps it past its first expiry.
	e.clock.Advance(ttl - time.Second)
	if ok, err := s.Renew(ctx, "status:1", a, e.clock.Now(), ttl); err != nil || !ok {
		t.Fatalf("Renew by the holder = %v, %v", ok, err)
	}
	e.clock.Advance(2 * time.Second)
	if acquire("status:1", b) {
		t.Error("another holder took a renewed lease at its first expiry")
	}
	if ok, _ := s.Renew(ctx, "status:1", b, e.clock.Now(), ttl); ok {
		t.Error("Renew by a holder that does not hold it succeeded")
	}

	// Expiry hands it over, and the old holder's renewal then fails.
	e.clock.Advance(ttl)
	if !acquire("status:1", b) {
		t.Fatal("an expired lease did not pass to another holder")
	}
	if ok, err := s.Renew(ctx, "status:1", a, e.clock.Now(), ttl); err != nil || ok {
		t.Errorf("Renew by the old holder after the hand-over = %v, %v; want false", ok, err)
	}
	if acquire("status:1", a) {
		t.Error("the old holder took it back from the new one")
	}

	// Release by another changes nothing; by the holder, frees it at once.
	if err := s.Release(ctx, "status:1", a); err != nil {
		t.Fatal(err)
	}
	if acquire("status:1", a) {
		t.Error("a release by one that did not hold the lease freed it")
	}
	if err := s.Release(ctx, "status:1", b); err != nil {
		t.Fatal(err)
	}
	if !acquire("status:1", a) {
		t.Error("a released lease is not free")
	}
	if ok, _ := s.Renew(ctx, "status:1", b, e.clock.Now(), ttl); ok {
		t.Error("Renew after releasing succeeded")
	}
}
