package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cmexhub/cmex/internal/pars"
	"github.com/cmexhub/cmex/internal/server"
)

func newServer(t *testing.T, health func(context.Context) error) (http.Handler, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	logger := slog.New(server.LogHandler(slog.NewJSONHandler(&logs, nil)))
	s := server.New(server.Config{Logger: logger, Health: health, PARS: &pars.Handler{Logger: logger}})
	return s.Handler(), &logs
}

// /healthz says the process serves; /readyz that the database answers.
func TestHealth(t *testing.T) {
	h, _ := newServer(t, func(context.Context) error { return nil })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"ready"`) {
		t.Errorf("ready: %d %s", rec.Code, rec.Body)
	}
	h, logs := newServer(t, func(context.Context) error { return errors.New("database is locked") })
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "locked") {
		t.Errorf("not ready: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"ok"`) {
		t.Errorf("alive while the database is down: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "database is locked") {
		t.Error("the cause of an unhealthy answer is not logged")
	}
}

func TestRequestIDs(t *testing.T) {
	h, logs := newServer(t, nil)
	for in, keep := range map[string]bool{"": false, "abc-123_x.y": true, "bad id\n": false, strings.Repeat("a", 65): false} {
		req := httptest.NewRequest(http.MethodGet, "/healthz?password=hunter2", nil)
		if in != "" {
			req.Header.Set("X-Request-Id", in)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-Id")
		if keep && got != in || !keep && (got == "" || got == in) {
			t.Errorf("X-Request-Id %q answered %q", in, got)
		}
		if !strings.Contains(logs.String(), `"request_id":"`+got+`"`) {
			t.Errorf("access log lacks request_id %q:\n%s", got, logs)
		}
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Error("the access log contains a query string")
	}
}

func TestUnknownPath(t *testing.T) {
	h, _ := newServer(t, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/services/Nope.svc/X", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("unknown path: %d", rec.Code)
	}
}

// TestPanicsStayInside: a handler that panics (here, a PARS handler with
// no user service) answers a bare 500 with no stack, and the stack is
// logged.
func TestPanicsStayInside(t *testing.T) {
	h, logs := newServer(t, nil)
	req := httptest.NewRequest(http.MethodPost, pars.PathSaveActivity,
		strings.NewReader(`<SubmitMessage xmlns="`+pars.NSService+`"><Data>x</Data><Password>p</Password><ProviderId>1</ProviderId><ReportingYear>2025</ReportingYear><User>u</User></SubmitMessage>`))
	req.Header.Set("Content-Type", "application/xml")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "goroutine") || strings.Contains(rec.Body.String(), ".go:") {
		t.Errorf("panic answered %d %q", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "panic serving request") || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("the panic and its stack are not logged:\n%s", logs)
	}
}

// X-Forwarded-For is believed only from a trusted proxy: the access log's
// remote address is the client's then, the peer's otherwise.
func TestTrustedProxies(t *testing.T) {
	trusted, err := server.ParseTrustedProxies("127.0.0.1, 10.0.0.0/8")
	if err != nil || len(trusted) != 2 {
		t.Fatalf("parse: %v, %v", trusted, err)
	}
	if _, err := server.ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Error("a bad range is accepted")
	}
	for _, c := range []struct {
		trusted    string
		peer, xff  string
		wantRemote string
	}{
		{"", "127.0.0.1:5000", "203.0.113.9", "127.0.0.1:5000"},                                             // nobody trusted: the header is ignored
		{"127.0.0.1", "127.0.0.1:5000", "203.0.113.9", "203.0.113.9:0"},                                     // the proxy names the client
		{"127.0.0.1, 10.0.0.0/8", "127.0.0.1:5000", "198.51.100.7, 203.0.113.9, 10.1.2.3", "203.0.113.9:0"}, // the right-most untrusted hop
		{"127.0.0.1", "192.0.2.1:5000", "203.0.113.9", "192.0.2.1:5000"},                                    // a client is not a proxy
	} {
		var logs bytes.Buffer
		logger := slog.New(server.LogHandler(slog.NewJSONHandler(&logs, nil)))
		nets, _ := server.ParseTrustedProxies(c.trusted)
		h := server.New(server.Config{Logger: logger, PARS: &pars.Handler{Logger: logger}, TrustedProxies: nets}).Handler()
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.RemoteAddr = c.peer
		req.Header.Set("X-Forwarded-For", c.xff)
		h.ServeHTTP(httptest.NewRecorder(), req)
		if !strings.Contains(logs.String(), `"remote":"`+c.wantRemote+`"`) {
			t.Errorf("trusted %q, peer %s, X-Forwarded-For %q: log %s; want remote %s", c.trusted, c.peer, c.xff, logs.String(), c.wantRemote)
		}
	}
}

// /metrics counts requests by surface and status class and times them.
func TestRequestMetrics(t *testing.T) {
	h, _ := newServer(t, func(context.Context) error { return nil })
	for _, path := range []string{"/healthz", "/healthz", "/services/ACCMEService.svc/IACCMEServiceREST/Nothing", "/api/v1/nothing", "/no/such/page"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`cmex_http_requests_total{surface="ops",class="2xx"} 2`,
		`cmex_http_requests_total{surface="pars",class="4xx"} 1`,
		`cmex_http_requests_total{surface="api",class="4xx"} 1`,
		`cmex_http_requests_total{surface="portal",class="4xx"} 1`,
		`cmex_http_request_duration_seconds_bucket{surface="ops",le="+Inf"} 2`,
		`cmex_http_request_duration_seconds_count{surface="pars"} 1`,
		"# TYPE cmex_http_request_duration_seconds histogram",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}

// HSTS is sent over TLS and behind a trusted proxy saying https, never
// over plain HTTP nor on an untrusted client's say-so (issue 16).
func TestHSTS(t *testing.T) {
	proxies, err := server.ParseTrustedProxies("10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	h := server.New(server.Config{Logger: logger, PARS: &pars.Handler{Logger: logger}, TrustedProxies: proxies}).Handler()
	for _, c := range []struct {
		name   string
		remote string
		proto  string
		tls    bool
		want   bool
	}{
		{"plain HTTP", "203.0.113.5:4000", "", false, false},
		{"TLS", "203.0.113.5:4000", "", true, true},
		{"a client saying https", "203.0.113.5:4000", "https", false, false},
		{"a trusted proxy saying https", "10.0.0.1:4000", "https", false, true},
		{"a trusted proxy saying http", "10.0.0.1:4000", "http", false, false},
	} {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.RemoteAddr = c.remote
		if c.proto != "" {
			req.Header.Set("X-Forwarded-Proto", c.proto)
		}
		if c.tls {
			req.TLS = &tls.ConnectionState{}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Strict-Transport-Security"); (got == server.HSTS) != c.want || c.want && got != "max-age=63072000; includeSubDomains" {
			t.Errorf("%s: Strict-Transport-Security %q", c.name, got)
		}
	}
}
