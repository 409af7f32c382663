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
