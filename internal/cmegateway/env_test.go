package cmegateway_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmegateway"
	"github.com/cmexhub/cmex/internal/cmextest"
)

// today is when the tests' conversations take place.
var today = time.Date(2026, time.November, 2, 10, 0, 0, 0, time.UTC)

// env is a cmex holding the seed's example society, serving the protocol.
type env struct {
	store   *cmextest.Store
	gateway *cmegateway.Gateway
	handler *cmegateway.Handler
	server  *httptest.Server
	example *cmex.Society
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(tb testing.TB) *env {
	tb.Helper()
	s := cmextest.NewStore(tb, today)
	ex, _, err := cmegateway.LoadExample(context.Background(), s.Societies)
	if err != nil {
		tb.Fatal(err)
	}
	// The tests' gateway calls from this machine.
	if _, err := s.Societies.AllowOrdersFrom(context.Background(), ex.ID, "127.0.0.1"); err != nil {
		tb.Fatal(err)
	}
	g := cmegateway.New(s.Societies, s.Gateway, quietLogger())
	g.Now = s.Clock.Now
	h := &cmegateway.Handler{Societies: s.Societies, Gateway: g, Logger: quietLogger(), Now: s.Clock.Now, MaxBody: cmegateway.DefaultMaxBody}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return &env{store: s, gateway: g, handler: h, server: srv, example: ex}
}

// post sends a form to the env's server and returns the status and body.
func (e *env) post(tb testing.TB, path string, form url.Values) (int, string) {
	tb.Helper()
	resp, err := http.PostForm(e.server.URL+path, form)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (e *env) get(tb testing.TB, path string) (int, string) {
	tb.Helper()
	resp, err := http.Get(e.server.URL + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// account makes a gateway account.
func (e *env) account(tb testing.TB, username string) *cmex.Account {
	tb.Helper()
	a := &cmex.Account{Username: username, GivenName: "Ned", FamilyName: "Baker", Email: username + "@example.org"}
	if err := e.store.Gateway.CreateAccount(context.Background(), a, "gateway-password"); err != nil {
		tb.Fatal(err)
	}
	return a
}

// remote registers a remote society served by h and returns it.
func (e *env) remote(tb testing.TB, code string, h http.Handler) *cmex.Society {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	s := &cmex.Society{Code: code, Name: code + " Society", Kind: cmex.SocietyRemote,
		BindingURL: srv.URL + "/customer_binding", OrderURL: srv.URL + "/ceu_order"}
	if err := e.store.Societies.CreateSociety(context.Background(), s); err != nil {
		tb.Fatal(err)
	}
	return s
}

// simSociety is a simulated remote society: one member, whose credits it
// serves after delay.
type simSociety struct {
	code, username, password, memberID string
	credits                            []cmex.CEU
	delay                              time.Duration
	// tableSpelling reads the password only from the field the seed's
	// parameter table names, cusomter_password_crypt, as a society that
	// followed the table does.
	tableSpelling bool
}

func (s *simSociety) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "text/xml")
	switch r.URL.Path {
	case "/customer_binding":
		b := &cmegateway.BindingResponse{Source: s.code, Date: cmex.DateOf(today), CryptMethod: "plaintext",
			Username: r.FormValue("customer_username_crypt"), Status: "User record not found."}
		password := r.FormValue("customer_password_crypt")
		if s.tableSpelling {
			password = r.FormValue("cusomter_password_crypt")
		}
		if r.FormValue("customer_username_crypt") == s.username && password == s.password {
			b.Status, b.MemberID = "OK", s.memberID
		}
		_ = cmegateway.WriteBinding(w, b)
	case "/ceu_order":
		o := &cmegateway.OrderResponse{Source: s.code, Date: cmex.DateOf(today), Status: "User record not found."}
		if r.FormValue("customer_id") == s.memberID {
			o.Status = "OK"
			o.Customer = &cmex.Customer{ID: s.memberID, GivenName: "Ned", FamilyName: "Baker", CEUs: s.credits}
		}
		_ = cmegateway.WriteOrder(w, o)
	default:
		http.NotFound(w, r)
	}
}

// ceu is a one-detail CME credit in CAT1.
func ceu(sponsor, title, date string, credits cmex.Points) cmex.CEU {
	return cmex.CEU{Sponsor: sponsor, Title: title, Date: cmex.MustParseDate(date), ActivityType: "Group Learning",
		Details: []cmex.CEUDetail{{Type: cmex.DetailCME, Credits: credits, Category: cmex.CategoryAMA1}}}
}

func mustContain(tb testing.TB, body string, want ...string) {
	tb.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			tb.Errorf("answer lacks %q:\n%s", w, body)
		}
	}
}
