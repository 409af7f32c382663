package main

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/outbox"
)

// TestEveryForwarderDialsThroughTheGuard: the forwarders the server runs
// (all four kinds, and the PARS status poller) connect only where the
// policy allows. Against a receiver on 127.0.0.1, each attempt is refused
// before a connection is made and says why; with private destinations
// allowed, each reaches the receiver.
func TestEveryForwarderDialsThroughTheGuard(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	base := "https://127.0.0.1:" + port

	dests := map[cmex.DestinationKind]*cmex.Destination{
		cmex.DestPARS: {Kind: cmex.DestPARS, URL: base, Secrets: cmex.DestinationSecrets{Username: "u", Password: "p"},
			Settings: cmex.DestinationSettings{ProviderID: "1234567"}},
		cmex.DestWebhook:  {Kind: cmex.DestWebhook, URL: base + "/hook", Secrets: cmex.DestinationSecrets{WebhookSecret: "s"}},
		cmex.DestCEBroker: {Kind: cmex.DestCEBroker, URL: base + "/upload", Secrets: cmex.DestinationSecrets{UploadKey: "k"}},
		cmex.DestCMaRS:    {Kind: cmex.DestCMaRS, URL: base + "/records", Secrets: cmex.DestinationSecrets{Token: "t"}},
	}
	dl := &cmex.Delivery{ID: 1, Subject: cmex.SubjectLearnerRecord, Event: cmex.LearnerAdd, CreditID: "ccid:x:1", Snapshot: []byte(`{}`)}
	payload := []byte(`<rosters id_parent_provider="1"></rosters>`)

	strict := forwarders(nil, nil, targetPolicy(false))
	for kind, d := range dests {
		o := strict[kind].Send(context.Background(), d, dl, payload)
		if o.Result != cmex.DeliveryPending || !strings.Contains(o.Error, "was not called: 127.0.0.1 is a loopback address") {
			t.Errorf("%s: %+v", kind, o)
		}
	}
	if o := strict[cmex.DestPARS].(outbox.StatusChecker).Status(context.Background(), dests[cmex.DestPARS], dl); o.Status != "" {
		t.Errorf("PARS status: %+v", o)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("the receiver saw %d connections from forwarders that should not connect", n)
	}

	// With private destinations allowed each connects (the test server's
	// certificate is not trusted, so the TLS handshake fails after the
	// connection is made, which is all this needs).
	open := forwarders(nil, nil, targetPolicy(true))
	for kind, d := range dests {
		before := conns.Load()
		open[kind].Send(context.Background(), d, dl, payload)
		if conns.Load() == before {
			t.Errorf("%s with private destinations allowed: no connection", kind)
		}
	}
	before := conns.Load()
	open[cmex.DestPARS].(outbox.StatusChecker).Status(context.Background(), dests[cmex.DestPARS], dl)
	if conns.Load() == before {
		t.Errorf("PARS status with private destinations allowed: no connection")
	}
}

// TestPARSOverPlainHTTPIsNotCalled: a PARS destination at an http:// URL
// (stored before the rule, or added under -allow-private-destinations) is
// not sent the password once the flag is off.
func TestPARSOverPlainHTTPIsNotCalled(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	d := &cmex.Destination{Kind: cmex.DestPARS, URL: srv.URL, Secrets: cmex.DestinationSecrets{Username: "u", Password: "p"}, Settings: cmex.DestinationSettings{ProviderID: "1234567"}}
	dl := &cmex.Delivery{ID: 1, Subject: cmex.SubjectLearnerRecord, Event: cmex.LearnerAdd, CreditID: "ccid:x:1"}
	fwd := forwarders(nil, nil, targetPolicy(false))[cmex.DestPARS]
	if o := fwd.Send(context.Background(), d, dl, []byte("<x/>")); !strings.Contains(o.Error, "plain http") {
		t.Errorf("send: %+v", o)
	}
	fwd.(outbox.StatusChecker).Status(context.Background(), d, dl)
	if calls.Load() != 0 {
		t.Errorf("the http:// upstream was called %d times", calls.Load())
	}
	// The local test upstream, allowed.
	forwarders(nil, nil, targetPolicy(true))[cmex.DestPARS].Send(context.Background(), d, dl, []byte("<x/>"))
	if calls.Load() != 1 {
		t.Errorf("with -allow-private-destinations the local upstream was called %d times", calls.Load())
	}
}
