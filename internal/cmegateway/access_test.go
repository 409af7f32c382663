package cmegateway_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/cmexhub/cmex"
)

// TestOrderAccess (issue 16): a local society nobody allowed answers no
// gateway's ceu_order (403, the protocol's STATUS refusal), whatever
// member id it names; allowing an address range opens it to that range
// only; OpenOrders (the sandbox) opens every society. The gateway's own
// transcripts read a local society directly and never need a grant.
func TestOrderAccess(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	bare := &cmex.Society{Code: "BARE", Name: "Unconfigured Society", Kind: cmex.SocietyLocal}
	if err := e.store.Societies.CreateSociety(ctx, bare); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Societies.AddMember(ctx, &cmex.Member{SocietyID: bare.ID, MemberID: "1", Username: "ned", GivenName: "Ned", FamilyName: "Baker"}, "bare-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Societies.AddSocietyCredits(ctx, bare.ID, "1", []cmex.CEU{ceu("Unconfigured Society", "Rounds", "2026-01-10", 100)}); err != nil {
		t.Fatal(err)
	}
	order := func(id string) (int, string) {
		return e.post(t, "/cmegateway/BARE/ceu_order", url.Values{"customer_id": {id}})
	}
	for _, id := range []string{"1", "2", ""} {
		if st, body := order(id); st != http.StatusForbidden {
			t.Errorf("unconfigured society, customer %q: %d %s", id, st, body)
		} else {
			mustContain(t, body, "<STATUS>This gateway is not allowed to order credits from BARE.")
		}
	}
	if _, err := e.store.Societies.AllowOrdersFrom(ctx, bare.ID, "203.0.113.0/24"); err != nil {
		t.Fatal(err)
	}
	if st, _ := order("1"); st != http.StatusForbidden {
		t.Errorf("allowed for another range, from 127.0.0.1: %d", st)
	}
	g, err := e.store.Societies.AllowOrdersFrom(ctx, bare.ID, "127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	if st, body := order("1"); st != http.StatusOK {
		t.Errorf("allowed from 127.0.0.0/8: %d %s", st, body)
	} else {
		mustContain(t, body, "<STATUS>OK</STATUS>", "Rounds")
	}
	if err := e.store.Societies.RevokeOrderGrant(ctx, bare.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	if st, _ := order("1"); st != http.StatusForbidden {
		t.Errorf("after revoking: %d", st)
	}
	e.handler.OpenOrders = true
	if st, body := order("1"); st != http.StatusOK {
		t.Errorf("open orders: %d %s", st, body)
	}
	e.handler.OpenOrders = false

	// The gateway's own transcript of a member bound to BARE.
	a := e.account(t, "ned.bare")
	if _, err := e.gateway.Bind(ctx, a.ID, "BARE", "ned", "bare-password"); err != nil {
		t.Fatal(err)
	}
	tr, err := e.gateway.Transcript(ctx, a.ID)
	if err != nil || len(tr.Credits) != 1 || tr.Sources[0].Status != cmex.SourceOK {
		t.Errorf("transcript through a closed local society: %+v, %v", tr, err)
	}
}
