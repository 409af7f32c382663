package api_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/api"
)

// TestAccountClaims: a physician claims her registry person through the
// JSON API: an exact claim is linked, a claim with a wrong birth date is
// pending and told what any waiting claim is told; the listing shows
// neither candidates nor an operator's refusal; bad evidence is 422 with
// the field of each problem; waiting claims are limited (429).
func TestAccountClaims(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	guard := cmex.DefaultLoginGuard()
	guard.Now = f.store.Clock.Now
	guarded := cmex.Guarded{Guard: guard}
	mux := http.NewServeMux()
	(&api.Handler{Users: f.store.Users, Persons: f.store.Persons, Accounts: guarded.Accounts(f.store.Gateway), Claims: guarded.Claims(f.store.Claims),
		Logger: slog.New(slog.DiscardHandler), Now: time.Now}).Register(mux)
	f.h = mux
	for _, u := range []string{"helen", "mallory"} {
		if err := f.store.Gateway.CreateAccount(ctx, &cmex.Account{Username: u, GivenName: "H", FamilyName: "M"}, "a long password"); err != nil {
			t.Fatal(err)
		}
	}
	helen, mallory := basic("helen", "a long password"), basic("mallory", "a long password")
	helenEvidence := map[string]any{"givenName": "Helen", "familyName": "Markman", "birthDate": "1970-09-26", "kind": "npi", "identifier": "1234567890"}

	code, body := f.do(t, mallory, "POST", "/api/v1/account/claims", map[string]any{"givenName": "Helen", "familyName": "Markman", "birthDate": "1970-09-27", "kind": "npi", "identifier": "1234567890"})
	pending := body["message"]
	if code != http.StatusAccepted || body["state"] != "pending" || !strings.Contains(pending.(string), "waiting for review") {
		t.Fatalf("a wrong birth date: %d %v", code, body)
	}
	code, body = f.do(t, mallory, "POST", "/api/v1/account/claims", map[string]any{"givenName": "No", "familyName": "Body", "birthDate": "1980-01-01", "kind": "npi", "identifier": "9999999999"})
	if code != http.StatusAccepted || body["state"] != "pending" || body["message"] != pending {
		t.Errorf("a claim of nobody: %d %v", code, body)
	}
	code, body = f.do(t, helen, "POST", "/api/v1/account/claims", helenEvidence)
	if code != http.StatusAccepted || body["state"] != "linked" {
		t.Fatalf("the exact claim: %d %v", code, body)
	}
	if code, body := f.do(t, helen, "POST", "/api/v1/account/claims", helenEvidence); code != http.StatusConflict {
		t.Errorf("claiming again: %d %v", code, body)
	}
	code, body = f.do(t, helen, "GET", "/api/v1/account/claims", nil)
	if link, _ := body["link"].(map[string]any); code != 200 || link == nil || link["via"] != "claim" {
		t.Errorf("helen's claims: %d %v", code, body)
	}

	// An operator refuses mallory's claim: he sees it pending still, and
	// never the candidates.
	cs, _ := f.store.Claims.AccountClaims(ctx, 2)
	if err := f.store.Claims.RefuseClaim(ctx, cs[0].ID, "not him"); err != nil {
		t.Fatal(err)
	}
	code, body = f.do(t, mallory, "GET", "/api/v1/account/claims", nil)
	claims, _ := body["claims"].([]any)
	if code != 200 || body["link"] != nil || len(claims) != 1 {
		t.Fatalf("mallory's claims: %d %v", code, body)
	}
	c := claims[0].(map[string]any)
	if c["state"] != "pending" || c["message"] != pending || c["candidates"] != nil || c["reason"] != nil {
		t.Errorf("a refused claim as mallory sees it: %v", c)
	}

	code, body = f.do(t, mallory, "POST", "/api/v1/account/claims", map[string]any{"givenName": "", "familyName": "B", "birthDate": "1980-01-01", "kind": "board", "scope": "XYZ", "identifier": "1"})
	var fields []string
	for _, p := range body["error"].(map[string]any)["problems"].([]any) {
		fields = append(fields, p.(map[string]any)["field"].(string))
	}
	if code != http.StatusUnprocessableEntity || strings.Join(fields, ",") != "givenName,scope" {
		t.Errorf("bad evidence: %d %v", code, body)
	}
	if code, _ := f.do(t, mallory, "POST", "/api/v1/account/claims", `{"birthDate": "26/09/1970"}`); code != http.StatusBadRequest {
		t.Errorf("an unreadable birth date: %d", code)
	}
	for range 3 {
		f.do(t, mallory, "POST", "/api/v1/account/claims", map[string]any{"givenName": "No", "familyName": "Body", "birthDate": "1980-01-01", "kind": "npi", "identifier": "9999999999"})
	}
	if code, body := f.do(t, mallory, "POST", "/api/v1/account/claims", helenEvidence); code != http.StatusTooManyRequests || body["error"].(map[string]any)["code"] != cmex.ETOOMANY {
		t.Errorf("the sixth claim: %d %v", code, body)
	}
}
