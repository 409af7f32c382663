package main_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cmex test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServeTLS serves HTTPS with -tls-cert and -tls-key: TLS 1.2 and 1.3
// are spoken, TLS 1.1 is refused, and the two flags go together.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db"), "CMEX_TLS_KEY=" + keyFile}
	if out, code := runCLI(t, env[:1], "", "serve", "-addr", "127.0.0.1:0", "-tls-cert", certFile); code != 2 || !strings.Contains(out, "-tls-cert and -tls-key go together") {
		t.Errorf("-tls-cert alone: %d %s", code, out)
	}
	if out, code := runCLI(t, env[:1], "", "serve", "-addr", "127.0.0.1:0", "-tls-cert", keyFile, "-tls-key", keyFile); code != 2 || !strings.Contains(out, "TLS key pair") {
		t.Errorf("a key as certificate: %d %s", code, out)
	}
	s := startServer(t, env, "-tls-cert", certFile) // the key from CMEX_TLS_KEY
	defer s.stop()
	base := strings.Replace(s.base, "http://", "https://", 1)
	for _, c := range []struct {
		max  uint16
		want bool
	}{{tls.VersionTLS13, true}, {tls.VersionTLS12, true}, {tls.VersionTLS11, false}} {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: c.max}}}
		resp, err := hc.Get(base + "/healthz")
		if got := err == nil && resp.StatusCode == 200; got != c.want {
			t.Errorf("TLS up to %x: answered %v (%v), want %v", c.max, got, err, c.want)
		}
		if err == nil {
			if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" {
				t.Errorf("HSTS over TLS: %q", got)
			}
			resp.Body.Close()
		}
	}

	// Plain HTTP on the TLS port is not served.
	if resp, err := http.Get(s.base + "/healthz"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered on the TLS port")
		}
		resp.Body.Close()
	}
}

// TestBehindTLSProxy (issue 16): behind a trusted proxy saying
// X-Forwarded-Proto: https, answers carry HSTS and the portal's session
// cookie is __Host-cmex_session (Secure, Path=/, no Domain); over plain
// HTTP neither, and the cookie is cmex_session; a client that is not a
// trusted proxy saying https is not believed.
func TestBehindTLSProxy(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox", "-trusted-proxies", "127.0.0.1")
	untrusted := startServer(t, []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "other.db")}, "-sandbox")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		name, base, proto, cookie, hsts string
	}{
		{"trusted proxy, https", s.base, "https", "__Host-cmex_session=", "max-age=63072000; includeSubDomains"},
		{"trusted proxy, http", s.base, "http", "cmex_session=", ""},
		{"plain HTTP", s.base, "", "cmex_session=", ""},
		{"untrusted client saying https", untrusted.base, "https", "cmex_session=", ""},
	} {
		req := formRequest(c.base, "/signin", url.Values{"username": {"jane.accme"}, "password": {"sandbox"}})
		if c.proto != "" {
			req.Header.Set("X-Forwarded-Proto", c.proto)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cookie := resp.Header.Get("Set-Cookie")
		secure := strings.Contains(cookie, "; Secure")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(cookie, c.cookie) || secure != (c.hsts != "") || strings.Contains(strings.ToLower(cookie), "domain=") {
			t.Errorf("%s: sign in %d, cookie %q", c.name, resp.StatusCode, cookie)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != c.hsts {
			t.Errorf("%s: Strict-Transport-Security %q, want %q", c.name, got, c.hsts)
		}
	}
}
