package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/netguard"
)

// listener is a receiver that counts the connections it accepts.
type listener struct {
	srv   *httptest.Server
	conns atomic.Int64
	port  string
}

func listen(t *testing.T, network, addr string) *listener {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil && network == "tcp6" {
		return nil
	} else if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	rc := &listener{}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	rc.srv.Listener.Close()
	rc.srv.Listener = l
	rc.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			rc.conns.Add(1)
		}
	}
	rc.srv.Start()
	t.Cleanup(rc.srv.Close)
	_, rc.port, _ = net.SplitHostPort(l.Addr().String())
	return rc
}

func post(ctx context.Context, c *http.Client, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("{}"))
	res, err := c.Do(req)
	if err == nil {
		res.Body.Close()
	}
	return err
}

// TestDialRefusesEveryForm: every form of a forbidden address is refused
// when the connection is made, before it is made: the receiver listening
// there never sees a connection. With private destinations allowed, the
// loopback forms do connect, so the receivers are reachable and the
// refusals are the dialer's.
func TestDialRefusesEveryForm(t *testing.T) {
	v4 := listen(t, "tcp4", "127.0.0.1:0")
	v6 := listen(t, "tcp6", "[::1]:0")
	if v6 == nil {
		t.Log("no IPv6 loopback on this machine: the [::1] form is checked without a receiver")
		v6 = &listener{port: "1"}
	}
	strict := netguard.Client(cmex.TargetPolicy{})
	open := netguard.Client(cmex.TargetPolicy{AllowPrivate: true})
	for _, tc := range []struct {
		name, url string
		rc        *listener // where the URL leads, when something listens there
		class     cmex.AddressClass
		allowable bool
	}{
		{"loopback v4", "http://127.0.0.1:" + v4.port + "/hook", v4, cmex.ClassLoopback, true},
		{"loopback v6", "http://[::1]:" + v6.port + "/hook", v6, cmex.ClassLoopback, true},
		{"a name that resolves to loopback", "http://localhost:" + v4.port + "/hook", v4, cmex.ClassLoopback, true},
		{"IPv4-mapped IPv6", "http://[::ffff:127.0.0.1]:" + v4.port + "/hook", v4, cmex.ClassLoopback, true},
		{"unspecified, which Linux connects to the host itself", "http://0.0.0.0:" + v4.port + "/hook", v4, cmex.ClassUnspecified, false},
		{"cloud metadata", "http://169.254.169.254/latest/meta-data/", nil, cmex.ClassLinkLocal, false},
		{"private 10.x", "http://10.1.2.3/hook", nil, cmex.ClassPrivate, true},
		{"private 192.168.x", "http://192.168.1.10/hook", nil, cmex.ClassPrivate, true},
		{"CGNAT", "http://100.64.1.2/hook", nil, cmex.ClassShared, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := int64(0)
			if tc.rc != nil && tc.rc.srv != nil {
				before = tc.rc.conns.Load()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			err := post(ctx, strict, tc.url)
			var ae *cmex.AddressError
			if !errors.As(err, &ae) || ae.Class != tc.class {
				t.Fatalf("POST %s: %v, want a refused %s address", tc.url, err, tc.class)
			}
			if time.Since(start) > time.Second {
				t.Errorf("the refusal took %v: it should come before any connection", time.Since(start))
			}
			if tc.rc == nil || tc.rc.srv == nil {
				return
			}
			if n := tc.rc.conns.Load() - before; n != 0 {
				t.Errorf("the receiver saw %d connections", n)
			}
			if !tc.allowable {
				return
			}
			if err := post(ctx, open, tc.url); err != nil {
				t.Fatalf("with private destinations allowed: %v", err)
			}
			if tc.rc.conns.Load() == before {
				t.Errorf("with private destinations allowed, the receiver saw no connection")
			}
		})
	}
}

// TestLinkLocalStaysRefused: -allow-private-destinations does not open
// link-local, unspecified or multicast addresses.
func TestLinkLocalStaysRefused(t *testing.T) {
	c := netguard.Client(cmex.TargetPolicy{AllowPrivate: true})
	for _, u := range []string{"http://169.254.169.254/", "http://[fe80::1%25lo]/", "http://0.0.0.0/", "http://[::ffff:169.254.169.254]/", "http://224.0.0.1/"} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := post(ctx, c, u)
		cancel()
		if _, ok := errors.AsType[*cmex.AddressError](err); !ok {
			t.Errorf("POST %s with private destinations allowed: %v, want a refusal", u, err)
		}
	}
}

// TestNoRedirectNoProxy: a redirect is handed back, not followed, so a
// public receiver cannot send cmex's POST on; and no proxy from the
// environment is used, since a proxy makes the connection where the
// dialer cannot see it.
func TestNoRedirectNoProxy(t *testing.T) {
	target := listen(t, "tcp4", "127.0.0.1:0")
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:"+target.port+"/", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	c := netguard.Client(cmex.TargetPolicy{AllowPrivate: true})
	req, _ := http.NewRequest(http.MethodPost, redirect.URL, strings.NewReader("{}"))
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTemporaryRedirect || target.conns.Load() != 0 {
		t.Errorf("redirect: %s, target saw %d connections", res.Status, target.conns.Load())
	}
	if tr := netguard.Transport(cmex.TargetPolicy{}); tr.Proxy != nil {
		t.Errorf("the transport takes a proxy")
	}
}

// TestControlRefusesWhatIsNotAnAddress: the dialer hands Control the
// resolved address; anything else is refused, not let through.
func TestControlRefusesWhatIsNotAnAddress(t *testing.T) {
	ctl := netguard.Control(cmex.TargetPolicy{})
	if err := ctl("tcp", "example.org:80", nil); err == nil {
		t.Error("a name passed Control")
	}
	if err := ctl("tcp", "93.184.215.14:443", nil); err != nil {
		t.Errorf("a public address: %v", err)
	}
	if err := ctl("tcp6", "[::ffff:7f00:1]:80", nil); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("an IPv4-mapped loopback address: %v", err)
	}
}
