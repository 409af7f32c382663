// Package netguard owns the connections cmex makes to the URLs providers
// and operators give it: every forwarder (PARS, CMaRS, CE Broker,
// webhooks), the PARS status poller and the CME Gateway's calls to remote
// societies go through its HTTP client. Its dialer checks, on every
// connection, the address actually being connected to against
// cmex.TargetPolicy (net.Dialer.Control runs after the name is resolved and
// before the connection is made), so that a name which resolved to a
// public address when the destination was added and resolves to 127.0.0.1
// now (DNS rebinding) is refused, as is a destination stored before the
// policy existed or one added under -allow-private-destinations when the
// server now runs without it.
//
// The client does not follow redirects (a POST must not turn into a GET
// elsewhere; each hop would be checked anyway) and uses no proxy from the
// environment (HTTP_PROXY, HTTPS_PROXY): a proxy would make the connection
// for cmex, where the dialer cannot see its address.
//
// Only cmd/cmex imports this package; it hands the client to each adapter
// through the adapter's own *http.Client field, so adapters do not import
// one another.
package netguard

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/cmexhub/cmex"
)

// Timeouts of the guarded client's connections.
const (
	DialTimeout         = 10 * time.Second
	TLSHandshakeTimeout = 10 * time.Second
	IdleConnTimeout     = 90 * time.Second
)

// Control is a net.Dialer.Control that refuses a connection to an
// address p refuses, with the *cmex.AddressError, before it is made.
func Control(p cmex.TargetPolicy) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			// The dialer passes the resolved address; anything else is
			// not something to connect to.
			return fmt.Errorf("netguard: %s %q is not an address", network, address)
		}
		return p.CheckAddr(ap.Addr())
	}
}

// Dialer returns a dialer that refuses the connections p refuses.
func Dialer(p cmex.TargetPolicy) *net.Dialer {
	return &net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second, Control: Control(p)}
}

// Transport returns an HTTP transport over Dialer(p), without a proxy,
// speaking TLS 1.2 or later to https:// URLs.
func Transport(p cmex.TargetPolicy) *http.Transport {
	d := Dialer(p)
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       IdleConnTimeout,
		TLSHandshakeTimeout:   TLSHandshakeTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// Client returns the HTTP client of every outbound call: Transport(p),
// and redirects returned to the caller, not followed.
func Client(p cmex.TargetPolicy) *http.Client {
	return &http.Client{
		Transport:     Transport(p),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
