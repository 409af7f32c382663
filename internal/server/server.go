// Package server composes cmex's HTTP surfaces into one handler: the routes
// of every protocol adapter, health, and the middleware every request goes
// through (request id, access log, panic recovery). It also runs the HTTP
// server with graceful shutdown.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/api"
	"github.com/cmexhub/cmex/internal/cmegateway"
	"github.com/cmexhub/cmex/internal/credential"
	"github.com/cmexhub/cmex/internal/pars"
	"github.com/cmexhub/cmex/internal/portal"
	"github.com/cmexhub/cmex/internal/processsync"
	"github.com/cmexhub/cmex/internal/xapi"
)

// Config holds what the server serves.
type Config struct {
	Logger *slog.Logger
	// Health reports whether the server can do its work (the database answers).
	Health func(context.Context) error
	// Metrics are the counters served at /metrics, in Prometheus' text format.
	Metrics func() []Metric
	// PARS serves the ACCME PARS activity, learner and match services.
	PARS *pars.Handler
	// API serves the JSON API under /api/v1/.
	API *api.Handler
	// CMEGateway serves customer_binding and ceu_order for the local
	// societies, and the credit feed, under /cmegateway/.
	CMEGateway *cmegateway.Handler
	// ProcessSync serves LearningBuilder's Process Synchronization
	// (GetRoleData) and its WSDL.
	ProcessSync *processsync.Handler
	// Portal serves the web portal at /.
	Portal *portal.Handler
	// XAPI serves the xAPI learning record store under /xapi/.
	XAPI *xapi.Handler
	// Credentials serves the issuer's DID document and status lists.
	Credentials *credential.Handler
	// TrustedProxies are the proxies whose X-Forwarded-For and
	// X-Forwarded-Proto are believed; other clients' are removed.
	TrustedProxies []*net.IPNet
	// TLS, when set, serves HTTPS with it (see TLSConfig).
	TLS *tls.Config
}

// Server is cmex's HTTP surface.
type Server struct {
	cfg     Config
	handler http.Handler
	stats   requestStats
}

// New returns the server for cfg.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg}
	// The protocol handlers report the codes they refuse with.
	if cfg.PARS != nil && cfg.PARS.OnReject == nil {
		cfg.PARS.OnReject = func(code string) { s.stats.reject("pars", code) }
	}
	if cfg.API != nil && cfg.API.OnReject == nil {
		cfg.API.OnReject = func(code string) { s.stats.reject("api", code) }
	}
	s.handler = s.withProxies(s.withHSTS(s.withRequestID(s.withAccessLog(s.withRecovery(s.routes())))))
	return s
}

// Handler returns the composed handler.
func (s *Server) Handler() http.Handler { return s.handler }

// routes declares every route cmex serves.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /metrics", s.metrics)
	s.cfg.PARS.Register(mux)
	if s.cfg.API != nil {
		s.cfg.API.Register(mux)
	}
	if s.cfg.CMEGateway != nil {
		s.cfg.CMEGateway.Register(mux)
	}
	if s.cfg.ProcessSync != nil {
		s.cfg.ProcessSync.Register(mux)
	}
	if s.cfg.Portal != nil {
		s.cfg.Portal.Register(mux)
	}
	if s.cfg.XAPI != nil {
		s.cfg.XAPI.Register(mux)
	}
	if s.cfg.Credentials != nil {
		s.cfg.Credentials.Register(mux)
	}
	return mux
}

// healthz is liveness: the process serves requests. It asks nothing of
// the database, so that a database outage does not get every replica
// restarted; readyz says whether to send it traffic.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, `{"status":"ok"}`)
}

// readyz is readiness: the database answers within 2 seconds.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if s.cfg.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Health(ctx); err != nil {
			s.cfg.Logger.WarnContext(r.Context(), "readiness check failed", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"status":"unavailable"}`)
			return
		}
	}
	fmt.Fprintln(w, `{"status":"ready"}`)
}

// Metric is one value of /metrics: a counter unless Gauge, with optional
// labels (`destination="hook"`). Metrics of one name come together, the
// first carrying the help.
type Metric struct {
	Name, Help string
	Gauge      bool
	Labels     string
	Value      float64
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if s.cfg.Metrics != nil {
		seen := map[string]bool{}
		for _, m := range s.cfg.Metrics() {
			if !seen[m.Name] {
				seen[m.Name] = true
				kind := "counter"
				if m.Gauge {
					kind = "gauge"
				}
				fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", m.Name, m.Help, m.Name, kind)
			}
			if m.Labels != "" {
				fmt.Fprintf(w, "%s{%s} %g\n", m.Name, m.Labels, m.Value)
			} else {
				fmt.Fprintf(w, "%s %g\n", m.Name, m.Value)
			}
		}
	}
	s.stats.write(w)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(w, "# HELP cmex_go_heap_inuse_bytes Bytes of the Go heap in use.\n# TYPE cmex_go_heap_inuse_bytes gauge\ncmex_go_heap_inuse_bytes %d\n", ms.HeapInuse)
	fmt.Fprintf(w, "# HELP cmex_goroutines Goroutines that exist.\n# TYPE cmex_goroutines gauge\ncmex_goroutines %d\n", runtime.NumGoroutine())
}

type requestIDKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestID gives every request an id, taken from a well-formed
// X-Request-Id header or made up, returned in the response and attached to
// every log line written with the request's context. The context also
// carries the client's address, for the login guard and the audit log.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		// After withProxies, RemoteAddr is the client's own address.
		ctx = cmex.WithClientAddr(ctx, hostOf(r.RemoteAddr))
		// A request acts as nobody until it authenticates, whatever the
		// context the server was started with says.
		ctx = cmex.WithActor(ctx, "")
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withAccessLog logs one line per request: never its body or query, which
// may carry credentials.
func (s *Server) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.stats.observe(r.URL.Path, sw.status, time.Since(start))
		s.cfg.Logger.InfoContext(r.Context(), "request",
			"method", r.Method, "path", r.URL.Path, "status", sw.status, "bytes", sw.bytes,
			"duration", time.Since(start).Round(time.Microsecond), "remote", r.RemoteAddr)
	})
}

// withRecovery turns a panic into a logged error and a bare 500: the stack
// goes to the log, never to the client.
func (s *Server) withRecovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.cfg.Logger.ErrorContext(r.Context(), "panic serving request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			http.Error(w, "Internal error.", http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, r)
	})
}

// Serve accepts connections on l until ctx is done, then stops accepting,
// lets requests in flight finish for up to grace, and returns.
func (s *Server) Serve(ctx context.Context, l net.Listener, grace time.Duration) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	if s.cfg.TLS != nil {
		hs.TLSConfig = s.cfg.TLS
		go func() { errc <- hs.ServeTLS(l, "", "") }()
	} else {
		go func() { errc <- hs.Serve(l) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.cfg.Logger.Info("shutting down", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// LogHandler wraps h so that records logged with a request's context carry
// its request id.
func LogHandler(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
