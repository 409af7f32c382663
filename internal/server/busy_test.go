package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/api"
	"github.com/cmexhub/cmex/internal/cmegateway"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/pars"
	"github.com/cmexhub/cmex/internal/portal"
	"github.com/cmexhub/cmex/internal/server"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// everySurface is a server of every surface that checks passwords, over
// one store, wired as cmex serve wires them.
func everySurface(t *testing.T) (*cmextest.Store, http.Handler) {
	t.Helper()
	store := cmextest.NewStore(t, time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC))
	ctx := context.Background()
	if err := store.Gateway.CreateAccount(ctx, &cmex.Account{Username: "jane.accme", GivenName: "Jane", FamilyName: "ACCME"}, "jane's long password"); err != nil {
		t.Fatal(err)
	}
	local := &cmex.Society{Code: "EXAMPLE", Name: "Example Society", Kind: cmex.SocietyLocal}
	if err := store.Societies.CreateSociety(ctx, local); err != nil {
		t.Fatal(err)
	}
	if err := store.Societies.SetFeedLogin(ctx, local.ID, "example-admin", "feed password"); err != nil {
		t.Fatal(err)
	}
	if err := store.Societies.AddMember(ctx, &cmex.Member{SocietyID: local.ID, MemberID: "01234567", Username: "NedBaker", GivenName: "Ned", FamilyName: "Baker"}, "mYpAsSwOrD"); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	guarded := cmex.Guarded{Guard: cmex.DefaultLoginGuard()}
	gw := cmegateway.New(guarded.Societies(store.Societies), store.Gateway, logger)
	srv := server.New(server.Config{
		Logger: logger,
		PARS: &pars.Handler{Users: guarded.Users(store.Users), Activities: store.Activities, Learners: store.Learners, Persons: store.Persons,
			Logger: logger, MaxBody: pars.DefaultMaxBody},
		API: &api.Handler{Users: guarded.Users(store.Users), APIKeys: guarded.APIKeys(sqlstore.NewAPIKeyService(store.DB)), Learners: store.Learners,
			Persons: store.Persons, Societies: store.Societies, Accounts: guarded.Accounts(store.Gateway), Transcripts: gw, Plans: store.Plans,
			Deliveries: store.Deliveries, Now: time.Now, Logger: logger, MaxBody: api.DefaultMaxBody},
		Portal: &portal.Handler{Portal: guarded.Portal(store.Portal), Transcripts: gw, Accounts: store.Gateway, Plans: store.Plans, Societies: store.Societies,
			Organizations: store.Organizations, Activities: store.Activities, Learners: store.Learners, Deliveries: store.Deliveries, Logger: logger, Now: time.Now},
		CMEGateway: &cmegateway.Handler{Societies: guarded.Societies(store.Societies), Gateway: gw, Logger: logger, Now: time.Now,
			MaxBody: cmegateway.DefaultMaxBody},
	})
	return store, srv.Handler()
}

// busyCase is one surface's request that checks or hashes a password, and
// what its answer says when the server has no slot for it.
type busyCase struct {
	name string
	req  func() *http.Request
	// ok recognises the answer with a slot; busy the answer without one,
	// beyond the 503 and Retry-After every surface gives.
	ok, busy string
}

func busyCases(t *testing.T) []busyCase {
	wire := func(name string) string {
		b, err := os.ReadFile("../pars/testdata/wire/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	xmlPost := func(path, body string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/xml; charset=utf-8")
			return r
		}
	}
	form := func(method, path string, v url.Values) func() *http.Request {
		return func() *http.Request {
			var r *http.Request
			if method == http.MethodGet {
				r = httptest.NewRequest(method, path+"?"+v.Encode(), nil)
			} else {
				r = httptest.NewRequest(method, path, strings.NewReader(v.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			return r
		}
	}
	basic := func(path, user, password string, header ...string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, path, nil)
			r.SetBasicAuth(user, password)
			for i := 0; i+1 < len(header); i += 2 {
				r.Header.Set(header[i], header[i+1])
			}
			return r
		}
	}
	return []busyCase{
		{"PARS GetActivity", xmlPost(pars.PathGetActivity, wire("get-by-type.xml")), "<SearchResult", "Invalid User: Access Denied"},
		{"PARS LearnerMatch", xmlPost(pars.PathLearnerMatch, wire("match-helen.xml")), "<MatchedLearnerCount>", "Invalid User: Access Denied"},
		{"JSON API, web-service user", basic("/api/v1/destinations", "webserviceuser@yourdomain.org", cmextest.Password, "Cmex-Provider-Id", string(cmextest.ProviderA)), "[", `"busy"`},
		{"JSON API, gateway account", basic("/api/v1/account", "jane.accme", "jane's long password"), `"jane.accme"`, `"busy"`},
		{"JSON API, sign-up", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/api/v1/accounts", strings.NewReader(`{"username":"new.doctor","password":"a long password","givenName":"N","familyName":"D"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, "sign in with it", `"busy"`},
		{"portal sign-in", func() *http.Request {
			r := form(http.MethodPost, "/signin", url.Values{"username": {"jane.accme"}, "password": {"jane's long password"}})()
			r.Header.Set("Origin", "http://example.com")
			return r
		}, "", "busy checking passwords"},
		{"customer_binding", form(http.MethodPost, "/cmegateway/customer_binding", url.Values{"customer_username_crypt": {"NedBaker"},
			"customer_password_crypt": {"mYpAsSwOrD"}, "customer_binding_crypt_method": {"plaintext"}}), "<STATUS>OK</STATUS>", "<STATUS>The server is busy"},
		{"credit feed", form(http.MethodGet, "/cmegateway/credit_feed", url.Values{"username": {"example-admin"}, "password": {"feed password"}, "customer": {"01234567"}}),
			"<CEU_ORDER>", "<STATUS>The server is busy"},
	}
}

// TestBusyHashing holds the server's one password-hashing slot: every
// surface that hashes or checks a password then answers, at once, 503 with
// Retry-After in its own shape (issue 16); with the slot free, the same
// requests succeed.
func TestBusyHashing(t *testing.T) {
	store, h := everySurface(t)
	store.DB.Hasher.Limit = sqlstore.NewHashLimit(1, 10*time.Millisecond)
	serve := func(r *http.Request) (int, http.Header, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, rec.Header(), string(b)
	}
	release, err := store.DB.Hasher.Limit.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range busyCases(t) {
		code, hd, body := serve(c.req())
		if code != http.StatusServiceUnavailable || hd.Get("Retry-After") != "1" || !strings.Contains(body, c.busy) {
			t.Errorf("%s, busy: %d Retry-After %q\n%.600s", c.name, code, hd.Get("Retry-After"), body)
		}
	}
	if n := store.DB.Hasher.Limit.Refused.Load(); n < int64(len(busyCases(t))) {
		t.Errorf("%d computations refused, want one per surface at least", n)
	}
	release()
	for _, c := range busyCases(t) {
		code, _, body := serve(c.req())
		if code >= 400 || !strings.Contains(body, c.ok) {
			t.Errorf("%s, free: %d\n%.600s", c.name, code, body)
		}
	}
}
