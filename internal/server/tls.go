package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// TLSConfig returns the TLS configuration of a server with the key pair
// in certFile and keyFile: TLS 1.2 at least, as PARS requires, and for
// TLS 1.2 only forward-secret AEAD suites (TLS 1.3's are all of that kind
// and not configurable).
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS key pair %s, %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256},
	}, nil
}

// ParseTrustedProxies reads a comma-separated list of addresses and CIDR
// ranges (127.0.0.1, 10.0.0.0/8) of the proxies allowed to say who the
// client is.
func ParseTrustedProxies(s string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			ip := net.ParseIP(part)
			if ip == nil {
				return nil, fmt.Errorf("trusted proxy %q is not an address or a CIDR range", part)
			}
			bits := 32
			if ip.To4() == nil {
				bits = 128
			}
			part = fmt.Sprintf("%s/%d", ip, bits)
		}
		_, n, err := net.ParseCIDR(part)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an address or a CIDR range", part)
		}
		out = append(out, n)
	}
	return out, nil
}

// forwardedHeaders are what a proxy says of the client.
var forwardedHeaders = []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "X-Real-Ip"}

// withProxies believes X-Forwarded-For and X-Forwarded-Proto only from a
// trusted proxy: from one, the request's RemoteAddr becomes the client's
// address (the right-most address in X-Forwarded-For that is not a
// trusted proxy); from anyone else, the headers are removed, so that no
// handler acts on what a client says of itself.
func (s *Server) withProxies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.trusted(hostOf(r.RemoteAddr)) {
			for _, h := range forwardedHeaders {
				r.Header.Del(h)
			}
			next.ServeHTTP(w, r)
			return
		}
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop := strings.TrimSpace(hops[i])
			if net.ParseIP(hop) == nil {
				break
			}
			r.RemoteAddr = net.JoinHostPort(hop, "0")
			if !s.trusted(hop) {
				break
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) trusted(host string) bool {
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, n := range s.cfg.TrustedProxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// HSTS is the Strict-Transport-Security of answers given over TLS: two
// years, this host and its subdomains (a cmex host's subdomains are its
// own), not preloaded (an operator's choice, made at hstspreload.org).
const HSTS = "max-age=63072000; includeSubDomains"

// withHSTS tells browsers that reached cmex over TLS, directly or through
// a trusted proxy saying X-Forwarded-Proto: https, to come back only over
// TLS. Never on plain HTTP: a browser ignores it there, and an operator
// trying cmex on http://127.0.0.1 must not be locked out of it.
func (s *Server) withHSTS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if overTLS(r) {
			w.Header().Set("Strict-Transport-Security", HSTS)
		}
		next.ServeHTTP(w, r)
	})
}

// overTLS reports whether the client reached cmex over TLS. It runs after
// withProxies, which leaves X-Forwarded-Proto only on a trusted proxy's
// requests; the first value is the client-facing proxy's.
func overTLS(r *http.Request) bool {
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return r.TLS != nil || strings.EqualFold(strings.TrimSpace(proto), "https")
}
