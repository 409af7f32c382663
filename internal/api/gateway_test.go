package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/api"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// fakeTranscripts binds to local societies only and builds transcripts
// from self-attested credits: the API's part is routing, authentication
// and error mapping; package cmegateway tests the gateway itself.
type fakeTranscripts struct{ store *cmextest.Store }

func (f fakeTranscripts) Bind(ctx context.Context, account cmex.AccountID, code, username, password string) (*cmex.Binding, error) {
	s, err := f.store.Societies.SocietyByCode(ctx, code)
	if err != nil {
		return nil, err
	}
	if s.Kind == cmex.SocietyRemote {
		return nil, cmex.Errorf(cmex.EUNAVAILABLE, "society %s: it could not be reached", s.Code)
	}
	m, err := f.store.Societies.AuthenticateMember(ctx, s.ID, username, password)
	if err != nil {
		return nil, err
	}
	b := &cmex.Binding{AccountID: account, SocietyID: s.ID, SocietyCode: s.Code, MemberID: m.MemberID}
	return b, f.store.Gateway.SaveBinding(ctx, b)
}

func (f fakeTranscripts) Transcript(ctx context.Context, id cmex.AccountID) (*cmex.Transcript, error) {
	a, err := f.store.Gateway.Account(ctx, id)
	if err != nil {
		return nil, err
	}
	self, err := f.store.Gateway.SelfCredits(ctx, id)
	if err != nil {
		return nil, err
	}
	return cmex.BuildTranscript(*a, time.Now(), nil, self), nil
}

func (f fakeTranscripts) HeldTranscript(ctx context.Context, id cmex.AccountID) (*cmex.Transcript, error) {
	return f.Transcript(ctx, id)
}

func newGatewayFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	store := cmextest.NewStore(t, today)
	ctx := t.Context()
	soc := &cmex.Society{Code: "EXAMPLE", Name: "Example Society", Kind: cmex.SocietyLocal}
	if err := store.Societies.CreateSociety(ctx, soc); err != nil {
		t.Fatal(err)
	}
	if err := store.Societies.AddMember(ctx, &cmex.Member{SocietyID: soc.ID, MemberID: "01234567", Username: "NedBaker", GivenName: "Ned", FamilyName: "Baker"}, "mYpAsSwOrD"); err != nil {
		t.Fatal(err)
	}
	keys := sqlstore.NewAPIKeyService(store.DB)
	op := &cmex.Organization{Kind: cmex.OrgOperator, Name: "operator"}
	if err := store.Organizations.CreateOrganization(ctx, op); err != nil {
		t.Fatal(err)
	}
	_, opToken, err := keys.CreateAPIKey(ctx, op.ID, "ops")
	if err != nil {
		t.Fatal(err)
	}
	provider, err := store.Organizations.FindOrganizationByProviderID(ctx, cmextest.ProviderA)
	if err != nil {
		t.Fatal(err)
	}
	_, lmsToken, err := keys.CreateAPIKey(ctx, provider.ID, "lms")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	(&api.Handler{Users: store.Users, APIKeys: keys, Learners: store.Learners, Persons: store.Persons,
		Societies: store.Societies, Accounts: store.Gateway, Transcripts: fakeTranscripts{store},
		Logger: slog.New(slog.DiscardHandler)}).Register(mux)
	return &fixture{h: mux, store: store, token: lmsToken}, opToken
}

func TestGatewayAPI(t *testing.T) {
	f, opToken := newGatewayFixture(t)
	ned := basic("ned.baker", "gateway-pw")

	steps := []struct {
		name         string
		auth         auth
		method, path string
		body         any
		code         int
	}{
		{"sign up", nil, "POST", "/api/v1/accounts", map[string]any{"username": "ned.baker", "password": "gateway-pw", "givenName": "Ned", "familyName": "Baker"}, 202},
		{"sign up again", nil, "POST", "/api/v1/accounts", map[string]any{"username": "Ned.Baker", "password": "x", "givenName": "N", "familyName": "B"}, 202},
		{"sign up without password", nil, "POST", "/api/v1/accounts", map[string]any{"username": "x", "givenName": "N", "familyName": "B"}, 400},
		{"sign up with an unknown field", nil, "POST", "/api/v1/accounts", map[string]any{"username": "x", "admin": true}, 400},
		{"account without login", nil, "GET", "/api/v1/account", nil, 401},
		{"account with a wrong password", basic("ned.baker", "nope"), "GET", "/api/v1/account", nil, 401},
		{"account", ned, "GET", "/api/v1/account", nil, 200},
		{"societies", nil, "GET", "/api/v1/societies", nil, 200},
		{"add society without key", nil, "POST", "/api/v1/societies", map[string]any{"code": "ACR", "name": "ACR"}, 401},
		{"add society as a provider", bearer(f.token), "POST", "/api/v1/societies", map[string]any{"code": "ACR", "name": "ACR"}, 403},
		{"add remote society", bearer(opToken), "POST", "/api/v1/societies",
			map[string]any{"code": "ACR", "name": "American College of Radiology", "bindingUrl": "https://acr.example/b", "orderUrl": "https://acr.example/o"}, 201},
		{"add society with a bad URL", bearer(opToken), "POST", "/api/v1/societies", map[string]any{"code": "BAD", "name": "B", "kind": "remote", "bindingUrl": "x"}, 400},
		{"operator key on provider operations", bearer(opToken), "GET", "/api/v1/learner-records?activityId=1", nil, 403},
		{"bind with a wrong password", ned, "POST", "/api/v1/account/bindings", map[string]any{"society": "EXAMPLE", "username": "NedBaker", "password": "no"}, 401},
		{"bind to an unknown society", ned, "POST", "/api/v1/account/bindings", map[string]any{"society": "NOPE", "username": "a", "password": "b"}, 404},
		{"bind to a society that is down", ned, "POST", "/api/v1/account/bindings", map[string]any{"society": "ACR", "username": "a", "password": "b"}, 502},
		{"bind", ned, "POST", "/api/v1/account/bindings", map[string]any{"society": "example", "username": "NedBaker", "password": "mYpAsSwOrD"}, 201},
		{"bindings", ned, "GET", "/api/v1/account/bindings", nil, 200},
		{"self credit", ned, "POST", "/api/v1/account/self-credits", map[string]any{"title": "Journal reading", "date": "2026-01-05",
			"details": []map[string]any{{"type": "CME", "credits": 1.5, "category": "CAT1"}}}, 201},
		{"self credit without details", ned, "POST", "/api/v1/account/self-credits", map[string]any{"title": "T", "date": "2026-01-05"}, 400},
		{"transcript", ned, "GET", "/api/v1/account/transcript", nil, 200},
		{"delete an unknown self credit", ned, "DELETE", "/api/v1/account/self-credits/999", nil, 404},
		{"unbind", ned, "DELETE", "/api/v1/account/bindings/EXAMPLE", nil, 204},
		{"unbind again", ned, "DELETE", "/api/v1/account/bindings/EXAMPLE", nil, 404},
	}
	for _, s := range steps {
		code, body := f.do(t, s.auth, s.method, s.path, s.body)
		if code != s.code {
			t.Errorf("%s: %d %v, want %d", s.name, code, body, s.code)
			continue
		}
		switch s.name {
		case "bind":
			if body["memberId"] != "01234567" || body["society"] != "EXAMPLE" {
				t.Errorf("bind: %v", body)
			}
		case "societies":
			if list, _ := body["societies"].([]any); len(list) != 1 {
				t.Errorf("societies: %v", body)
			} else if s := list[0].(map[string]any); s["bindingUrl"] != nil {
				t.Errorf("the public list shows URLs: %v", s)
			}
		case "transcript":
			totals, _ := body["totals"].(map[string]any)
			credits, _ := body["credits"].([]any)
			if totals["category1"] != "1.50" || totals["selfAttestedCategory1"] != "1.50" || len(credits) != 1 {
				t.Errorf("transcript: %v", body)
			}
		case "account":
			if body["username"] != "ned.baker" || body["password"] != nil {
				t.Errorf("account: %v", body)
			}
		}
	}
}

// TestSignUpTakenName: a sign-up answers the same for a free username, one
// a physician holds and one a member of staff holds (issue 16), and
// changes nothing for a taken one; a sign-up refused for its fields is
// refused alike whether its name is free or taken.
func TestSignUpTakenName(t *testing.T) {
	f, _ := newGatewayFixture(t)
	ctx := t.Context()
	provider, err := f.store.Organizations.FindOrganizationByProviderID(ctx, cmextest.ProviderA)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Portal.CreateStaff(ctx, &cmex.Staff{Username: "olga.admin", Name: "Olga", Role: cmex.RoleProviderAdmin, Organization: provider.ID}, "olga's long password"); err != nil {
		t.Fatal(err)
	}
	signUp := func(username, password string) (int, map[string]any) {
		return f.do(t, nil, "POST", "/api/v1/accounts", map[string]any{"username": username, "password": password, "givenName": "Ann", "familyName": "Other"})
	}
	code, first := signUp("ann.other", "ann's long password")
	if code != http.StatusAccepted {
		t.Fatalf("sign up: %d %v", code, first)
	}
	for _, name := range []string{"Ann.Other", "OLGA.ADMIN"} {
		code, body := signUp(name, "the attacker's password")
		if code != http.StatusAccepted || body["message"] != first["message"] || len(body) != len(first) || body["username"] != name {
			t.Errorf("sign up as taken %s: %d %v, want the answer to a free name: %v", name, code, body, first)
		}
	}
	if code, body := f.do(t, basic("ann.other", "ann's long password"), "GET", "/api/v1/account", nil); code != 200 || body["familyName"] != "Other" {
		t.Errorf("the first sign-up's account: %d %v", code, body)
	}
	if code, _ := f.do(t, basic("ann.other", "the attacker's password"), "GET", "/api/v1/account", nil); code != 401 {
		t.Errorf("a second sign-up of a taken name changed its password: %d", code)
	}
	if code, _ := f.do(t, basic("olga.admin", "the attacker's password"), "GET", "/api/v1/account", nil); code != 401 {
		t.Errorf("a sign-up with a staff member's username made an account: %d", code)
	}
	if _, err := f.store.Portal.Authenticate(ctx, "olga.admin", "olga's long password"); err != nil {
		t.Errorf("the staff account after a sign-up with its name: %v", err)
	}
	freeCode, freeBody := signUp("nobody.yet", "")
	takenCode, takenBody := signUp("olga.admin", "")
	if freeCode != 400 || takenCode != freeCode || takenBody["error"].(map[string]any)["message"] != freeBody["error"].(map[string]any)["message"] {
		t.Errorf("a sign-up without a password: free name %d %v, staff name %d %v", freeCode, freeBody, takenCode, takenBody)
	}
}
