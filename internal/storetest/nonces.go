package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func init() { extra = append(extra, named{"Nonces", testNonces}) }

// A nonce is accepted once until it expires, even by many concurrent
// callers; after it expires it may be used again.
func testNonces(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	s := sqlstore.NewNonceService(e.db)
	s.Now = e.clock.Now
	exp := e.clock.Now().Add(5 * time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for range 8 {
		wg.Go(func() {
			err := s.UseNonce(ctx, "token-1", exp)
			mu.Lock()
			codes[cmex.ErrorCode(err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[""] != 1 || codes[cmex.ECONFLICT] != 7 {
		t.Fatalf("8 concurrent uses of one nonce: %v, want one success and 7 conflicts", codes)
	}
	if err := s.UseNonce(ctx, "token-2", exp); err != nil {
		t.Errorf("another nonce: %v", err)
	}
	e.clock.Advance(6 * time.Minute)
	if err := s.UseNonce(ctx, "token-1", e.clock.Now().Add(5*time.Minute)); err != nil {
		t.Errorf("an expired nonce used again: %v", err)
	}
	if err := s.UseNonce(ctx, "token-1", e.clock.Now().Add(5*time.Minute)); cmex.ErrorCode(err) != cmex.ECONFLICT {
		t.Errorf("its second use: %v", err)
	}
}
