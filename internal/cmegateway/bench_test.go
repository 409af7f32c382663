package cmegateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
)

// benchGateway binds one account to n simulated remote societies, each
// answering after delay with 10 credits.
func benchGateway(b *testing.B, n int, delay time.Duration) (*env, cmex.AccountID) {
	e := newEnv(b)
	ctx := context.Background()
	a := e.account(b, "ned")
	for i := range n {
		code := fmt.Sprintf("S%02d", i)
		var credits []cmex.CEU
		for j := range 10 {
			credits = append(credits, ceu(code, fmt.Sprintf("%s course %d", code, j), "2026-01-15", 100))
		}
		s := e.remote(b, code, &simSociety{code: code, memberID: "M-1", credits: credits, delay: delay})
		if err := e.store.Gateway.SaveBinding(ctx, &cmex.Binding{AccountID: a.ID, SocietyID: s.ID, MemberID: "M-1"}); err != nil {
			b.Fatal(err)
		}
	}
	return e, a.ID
}

// BenchmarkTranscript20Societies asks 20 societies that each take 200 ms:
// the transcript takes as long as the slowest, not the sum (4 s).
func BenchmarkTranscript20Societies(b *testing.B) {
	e, id := benchGateway(b, 20, 200*time.Millisecond)
	e.gateway.CacheTTL = 0 // ask every time
	e.gateway.Now = time.Now
	b.ResetTimer()
	for b.Loop() {
		tr, err := e.gateway.Transcript(context.Background(), id)
		if err != nil || len(tr.Credits) != 200 || len(tr.Failed()) != 0 {
			b.Fatalf("transcript: %v, %d credits, failed %+v", err, len(tr.Credits), tr.Failed())
		}
	}
}

// BenchmarkTranscript20SocietiesCached repeats a transcript whose 20
// answers are all fresh in the cache.
func BenchmarkTranscript20SocietiesCached(b *testing.B) {
	e, id := benchGateway(b, 20, 200*time.Millisecond)
	e.gateway.CacheTTL = time.Hour
	if _, err := e.gateway.Transcript(context.Background(), id); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		tr, err := e.gateway.Transcript(context.Background(), id)
		if err != nil || len(tr.Credits) != 200 || tr.Sources[0].Status != cmex.SourceCached {
			b.Fatalf("transcript: %v, %d credits, %+v", err, len(tr.Credits), tr.Sources[0])
		}
	}
}
