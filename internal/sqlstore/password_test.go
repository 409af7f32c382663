package sqlstore_test

import (
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// A full HashLimit refuses hashes, checks and burns alike with EBUSY after
// its wait, asking to retry in a second; a check remembered from before
// needs no slot.
func TestHashLimit(t *testing.T) {
	h := &sqlstore.PasswordHasher{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16,
		Limit: sqlstore.NewHashLimit(1, 20*time.Millisecond)}
	hash, err := h.Hash("remembered password")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Verify(hash, "remembered password"); !ok || err != nil {
		t.Fatalf("verify: %v, %v", ok, err)
	}
	release, err := h.Limit.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	busy := func(what string, err error) {
		t.Helper()
		if cmex.ErrorCode(err) != cmex.EBUSY || cmex.RetryAfter(err) != 1 {
			t.Errorf("%s with no slot: %v (retry after %d)", what, err, cmex.RetryAfter(err))
		}
	}
	start := time.Now()
	_, err = h.Hash("another password")
	busy("hash", err)
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("refused after %v, before the wait", d)
	}
	_, err = h.Verify(hash, "a wrong password")
	busy("verify", err)
	busy("burn", h.Burn("a password"))
	if ok, err := h.Verify(hash, "remembered password"); !ok || err != nil {
		t.Errorf("a remembered check with no slot: %v, %v", ok, err)
	}
	if got := h.Limit.Refused.Load(); got != 3 {
		t.Errorf("refused %d, want 3", got)
	}
	release()
	if _, err := h.Hash("another password"); err != nil {
		t.Errorf("hash with the slot back: %v", err)
	}
	if n := sqlstore.NewHashLimit(0, 0).Size(); n != 1 {
		t.Errorf("a limit of 0 has %d slots, want 1", n)
	}
}
