package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// ssrfForms are the addresses a destination or a remote society may not
// be at, each with a word of its refusal.
var ssrfForms = []struct{ name, url, word string }{
	{"loopback v4", "http://127.0.0.1:8081/hook", "127.0.0.1 is a loopback address"},
	{"loopback v6", "http://[::1]:8081/hook", "::1 is a loopback address"},
	{"cloud metadata", "http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"},
	{"private 10.x", "http://10.1.2.3/hook", "10.1.2.3 is a private address"},
	{"private 192.168.x", "http://192.168.1.10/hook", "192.168.1.10 is a private address"},
	{"a name that resolves to loopback", "http://localhost:8081/hook", "localhost names loopback addresses"},
	{"IPv4-mapped IPv6", "http://[::ffff:127.0.0.1]:8081/hook", "::ffff:127.0.0.1 is a loopback address"},
	{"CGNAT", "http://100.64.1.2/hook", "100.64.1.2 is a shared (CGNAT) address"},
	{"unspecified", "http://0.0.0.0:8081/hook", "0.0.0.0 is an unspecified address"},
	{"link-local v6", "http://[fe80::1%25eth0]/hook", "is a link-local address"},
	{"a number for 127.0.0.1", "http://2130706433/hook", "is not a host name"},
}

// apiError is the JSON API's problem answer.
type apiError struct {
	Error struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		Problems []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"problems"`
	} `json:"error"`
}

func basicAuth(c creds) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(c.user, c.password) }
}

// TestSSRFRefusedAtCreation: a destination (JSON API and CLI) or a remote
// society (JSON API and CLI) at any form of a loopback, link-local,
// private, shared, unspecified address is refused with a message naming
// the rule, and nothing is stored; a public one is still taken.
func TestSSRFRefusedAtCreation(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db"), "CMEX_SECRET_KEY=e2e-secret-key-0123456789"}
	s := startServer(t, env, "-sandbox", "-sandbox-board-delay", "1h")
	defer s.stop()
	opToken, code := runCLI(t, env, "", "apikey", "add", "-operator", "-name", "ssrf")
	if code != 0 {
		t.Fatalf("apikey add -operator: %s", opToken)
	}
	opToken = strings.TrimSpace(strings.Split(opToken, "\n")[0])
	operator := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+opToken) }

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range ssrfForms {
		t.Run(f.name, func(t *testing.T) {
			var e apiError
			st := s.apiCall("POST", "/api/v1/destinations", basicAuth(providerA), map[string]any{"name": fmt.Sprintf("hook-%d", i), "kind": "webhook", "url": f.url,
				"secrets": map[string]string{"webhookSecret": "s"}}, &e)
			if st != http.StatusUnprocessableEntity || e.Error.Code != cmex.EINVALID || len(e.Error.Problems) != 1 || e.Error.Problems[0].Field != "url" ||
				!strings.Contains(e.Error.Problems[0].Message, f.word) {
				t.Errorf("POST /api/v1/destinations %s: %d %+v", f.url, st, e)
			}
			if f.name == "cloud metadata" && !strings.Contains(string(readme), `"message": "`+e.Error.Message+`"`) {
				t.Errorf("the README's Forwarding section does not show the refusal as it is: %q", e.Error.Message)
			}
			st = s.apiCall("POST", "/api/v1/societies", operator, map[string]string{"code": fmt.Sprintf("SSRF%d", i), "name": "S", "bindingUrl": f.url,
				"orderUrl": "https://society.example.invalid/ceu_order"}, &e)
			if st != http.StatusUnprocessableEntity || len(e.Error.Problems) != 1 || e.Error.Problems[0].Field != "bindingUrl" || !strings.Contains(e.Error.Problems[0].Message, f.word) {
				t.Errorf("POST /api/v1/societies %s: %d %+v", f.url, st, e)
			}
			if out, code := runCLI(t, env, "whsec\n", "destinations", "add", "-provider", "1234567", "-name", fmt.Sprintf("cli-%d", i), "-kind", "webhook", "-url", f.url); code != 1 ||
				!strings.Contains(out, f.word) {
				t.Errorf("cmex destinations add %s: exit %d %s", f.url, code, out)
			}
			if out, code := runCLI(t, env, "", "society", "add", "-code", fmt.Sprintf("CLI%d", i), "-name", "S", "-binding-url", "https://society.example.invalid/customer_binding",
				"-order-url", f.url); code != 1 || !strings.Contains(out, f.word) {
				t.Errorf("cmex society add %s: exit %d %s", f.url, code, out)
			}
		})
	}
	// PARS sends the upstream password: not over plain http.
	var e apiError
	if st := s.apiCall("POST", "/api/v1/destinations", basicAuth(providerA), map[string]any{"name": "accme", "kind": "pars", "url": "http://pars.example.invalid",
		"secrets": map[string]string{"username": "u", "password": "p"}, "settings": map[string]string{"providerId": "1234567"}}, &e); st != http.StatusUnprocessableEntity ||
		!strings.Contains(e.Error.Message, "must be https") {
		t.Errorf("PARS over http: %d %+v", st, e)
	}
	if out, code := runCLI(t, env, "pw\n", "destinations", "add", "-provider", "1234567", "-name", "accme", "-kind", "pars", "-url", "https://pars.example.invalid",
		"-learner-url", "http://parsii.example.invalid", "-username", "u", "-upstream-provider", "1234567"); code != 1 ||
		!strings.Contains(out, "the destination's settings.learnerUrl is refused: a PARS destination sends the upstream password with every request, so it must be https") {
		t.Errorf("cmex destinations add, PARS learner URL over http: exit %d %s", code, out)
	}

	// Nothing refused was stored; a public destination and society are.
	var dests struct{ Destinations []cmex.Destination }
	if st := s.apiCall("POST", "/api/v1/destinations", basicAuth(providerA), map[string]any{"name": "public", "kind": "webhook", "url": "https://hooks.example.invalid/cmex",
		"secrets": map[string]string{"webhookSecret": "s"}}, nil); st != http.StatusCreated {
		t.Errorf("a public destination: %d", st)
	}
	if st := s.apiCall("GET", "/api/v1/destinations", basicAuth(providerA), nil, &dests); st != 200 || len(dests.Destinations) != 1 || dests.Destinations[0].Name != "public" {
		t.Errorf("destinations stored: %d %+v", st, dests)
	}
	if out, code := runCLI(t, env, "", "society", "add", "-code", "PUBLIC", "-name", "P", "-binding-url", "https://society.example.invalid/customer_binding",
		"-order-url", "https://society.example.invalid/ceu_order"); code != 0 {
		t.Errorf("a public society: %s", out)
	}
	if out, _ := runCLI(t, env, "", "society", "list"); strings.Contains(out, "SSRF") || strings.Contains(out, "CLI") || !strings.Contains(out, "PUBLIC") {
		t.Errorf("societies stored:\n%s", out)
	}
}

// countingReceiver answers 204 and counts the connections made to it.
func countingReceiver(t *testing.T, network, addr string) (*httptest.Server, *atomic.Int64, string) {
	t.Helper()
	var conns atomic.Int64
	l, err := net.Listen(network, addr)
	if err != nil && network == "tcp6" {
		t.Logf("no IPv6 loopback on this machine (%v): the [::1] form is checked without a receiver", err)
		return nil, &conns, "1"
	} else if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	srv.Listener.Close()
	srv.Listener = l
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return srv, &conns, port
}

type deliveryJSON struct {
	ID          int64             `json:"id"`
	Destination string            `json:"destination"`
	State       string            `json:"state"`
	Attempts    int               `json:"attempts"`
	LastError   string            `json:"lastError"`
	RemoteCodes []cmex.RemoteCode `json:"remoteCodes"`
}

// waitAttempted waits until there are want deliveries of provider A and
// each has the outcome of at least one attempt, and returns them with the raw
// answer of GET /api/v1/deliveries.
func (s *server) waitAttempted(want int) ([]deliveryJSON, string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, s.base+"/api/v1/deliveries?limit=1000", nil)
		req.SetBasicAuth(providerA.user, providerA.password)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		var raw json.RawMessage
		_ = json.NewDecoder(res.Body).Decode(&raw)
		res.Body.Close()
		var out struct{ Deliveries []deliveryJSON }
		_ = json.Unmarshal(raw, &out)
		done := len(out.Deliveries) == want
		for _, d := range out.Deliveries {
			// A claimed delivery counts its attempt before the answer.
			done = done && d.Attempts > 0 && (d.State != "pending" || d.LastError != "")
		}
		if done {
			return out.Deliveries, string(raw)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("deliveries not all attempted:\n%s", raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSSRFRefusedAtDialTime: destinations and a remote society added
// while the server ran with -allow-private-destinations, and destinations
// stored before the check existed (written straight into the database),
// are refused when cmex connects once the server runs without the flag:
// the receivers listening there see no connection, and what the provider
// and the physician are told is the refusal.
func TestSSRFRefusedAtDialTime(t *testing.T) {
	_, conns4, port4 := countingReceiver(t, "tcp4", "127.0.0.1:0")
	_, conns6, port6 := countingReceiver(t, "tcp6", "[::1]:0")
	db := "sqlite:" + filepath.Join(t.TempDir(), "cmex.db")
	env := []string{"CMEX_DB=" + db, "CMEX_SECRET_KEY=e2e-secret-key-0123456789"}
	args := []string{"-sandbox", "-sandbox-board-delay", "1h", "-outbox-lease", "1s"}

	forms := map[string]struct{ url, word string }{
		"lo4":    {"http://127.0.0.1:" + port4 + "/hook", "127.0.0.1 is a loopback address"},
		"lo6":    {"http://[::1]:" + port6 + "/hook", "::1 is a loopback address"},
		"name":   {"http://localhost:" + port4 + "/hook", "127.0.0.1 is a loopback address"},
		"mapped": {"http://[::ffff:127.0.0.1]:" + port4 + "/hook", "127.0.0.1 is a loopback address"},
		"ten":    {"http://10.1.2.3/hook", "10.1.2.3 is a private address"},
		"home":   {"http://192.168.1.10/hook", "192.168.1.10 is a private address"},
		"cgnat":  {"http://100.64.1.2/hook", "100.64.1.2 is a shared (CGNAT) address"},
	}
	// Never allowed, even with the flag: written into the database as an
	// older cmex would have stored them.
	stored := map[string]struct{ url, word string }{
		"metadata": {"http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"},
		"zero":     {"http://0.0.0.0:" + port4 + "/hook", "0.0.0.0 is an unspecified address"},
	}

	s := startServer(t, env, append(args, "-allow-private-destinations")...)
	opToken, code := runCLI(t, env, "", "apikey", "add", "-operator", "-name", "ssrf")
	if code != 0 {
		t.Fatalf("apikey add -operator: %s", opToken)
	}
	opToken = strings.TrimSpace(strings.Split(opToken, "\n")[0])
	for name, f := range forms {
		var e apiError
		if st := s.apiCall("POST", "/api/v1/destinations", basicAuth(providerA), map[string]any{"name": name, "kind": "webhook", "url": f.url,
			"secrets": map[string]string{"webhookSecret": "s"}}, &e); st != http.StatusCreated {
			t.Fatalf("%s under -allow-private-destinations: %d %+v", f.url, st, e)
		}
	}
	for _, f := range stored {
		var e apiError
		if st := s.apiCall("POST", "/api/v1/destinations", basicAuth(providerA), map[string]any{"name": "x", "kind": "webhook", "url": f.url,
			"secrets": map[string]string{"webhookSecret": "s"}}, &e); st != http.StatusUnprocessableEntity {
			t.Errorf("%s is taken under -allow-private-destinations: %d %+v", f.url, st, e)
		}
	}
	if out, code := runCLI(t, env, "", "society", "add", "-allow-private-destinations", "-code", "LOOP", "-name", "Loopback Society",
		"-binding-url", "http://127.0.0.1:"+port4+"/customer_binding", "-order-url", "http://127.0.0.1:"+port4+"/ceu_order"); code != 0 {
		t.Fatalf("society add -allow-private-destinations: %s", out)
	}
	s.stop()

	err := openStore(db, func(d *sqlstore.DB) error {
		var err error
		if d.Secrets, err = sqlstore.NewSecretBox("e2e-secret-key-0123456789"); err != nil {
			return err
		}
		org, err := sqlstore.NewOrganizationService(d).FindOrganizationByProviderID(context.Background(), "1234567")
		if err != nil {
			return err
		}
		for name, f := range stored {
			if err := sqlstore.NewDeliveryService(d).CreateDestination(context.Background(), &cmex.Destination{OrganizationID: org.ID, Name: name, Kind: cmex.DestWebhook,
				URL: f.url, Secrets: cmex.DestinationSecrets{WebhookSecret: "s"}, Enabled: true}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	s = startServer(t, env, args...)
	defer s.stop()
	before4, before6 := conns4.Load(), conns6.Load()
	reportSandboxLearner(t, s, nil) // three credits to each of the nine destinations
	deliveries, _ := s.waitAttempted(3 * (len(forms) + len(stored)))
	for _, d := range deliveries {
		f, ok := forms[d.Destination]
		if !ok {
			f = stored[d.Destination]
		}
		if d.State != "pending" || !strings.Contains(d.LastError, "the destination was not called: ") || !strings.Contains(d.LastError, f.word) || len(d.RemoteCodes) != 0 {
			t.Errorf("delivery %d to %s: %s, %q %v; want the refusal saying %q, and no remote answer", d.ID, d.Destination, d.State, d.LastError, d.RemoteCodes, f.word)
		}
	}
	if out, _ := runCLI(t, env, "", "deliveries", "list", "-provider", "1234567"); !strings.Contains(out, "the destination was not called: 169.254.169.254 is a link-local address") {
		t.Errorf("cmex deliveries list:\n%s", out)
	}

	// A physician binding the loopback society is told why it was not
	// called.
	var e apiError
	ned := func(r *http.Request) { r.SetBasicAuth("ned.baker", "sandbox") }
	if st := s.apiCall("POST", "/api/v1/account/bindings", ned, map[string]string{"society": "LOOP", "username": "ned", "password": "pw"}, &e); st != http.StatusBadGateway ||
		!strings.Contains(e.Error.Message, "it was not called: 127.0.0.1 is a loopback address") {
		t.Errorf("binding the loopback society: %d %+v", st, e)
	}
	if n4, n6 := conns4.Load()-before4, conns6.Load()-before6; n4 != 0 || n6 != 0 {
		t.Errorf("the receivers saw %d (127.0.0.1) and %d (::1) connections from a server without -allow-private-destinations", n4, n6)
	}
}

// TestRemoteBodiesNeverShown: receivers that answer with bodies that are
// not their protocol's answer (an error page, some other service's JSON)
// get their status shown, never the body: not in the JSON API, the CLI,
// the portal, nor the server's log. A webhook receiver that proves it
// speaks the protocol (an Ack echoing the api_id) has its message shown.
func TestRemoteBodiesNeverShown(t *testing.T) {
	const secret = "SECRET-BODY"
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hook":
			http.Error(w, "<html><body>"+secret+" from an internal service</body></html>", http.StatusBadRequest)
		case "/hook-ack":
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprintf(w, `{"api_id":"someone-else","result":"error","message":"%s"}`, secret)
		case "/hook-proto":
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprint(w, `{"api_id":"a1","result":"error","message":"PROTOCOL-MESSAGE: licence inconnue, déjà signalée"}`)
		case "/cebroker":
			http.Error(w, secret, http.StatusBadRequest)
		case "/cebroker-200":
			fmt.Fprint(w, `{"internal":"`+secret+`"}`)
		default: // PARS
			http.Error(w, "<html>"+secret+"</html>", http.StatusBadRequest)
		}
	}))
	defer recv.Close()
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db"), "CMEX_SECRET_KEY=e2e-secret-key-0123456789"}
	s := startServer(t, env, "-sandbox", "-sandbox-board-delay", "1h", "-allow-private-destinations")
	defer s.stop()
	for _, d := range []map[string]any{
		{"name": "hook", "kind": "webhook", "url": recv.URL + "/hook", "secrets": map[string]string{"webhookSecret": "s"}},
		{"name": "hook-ack", "kind": "webhook", "url": recv.URL + "/hook-ack", "secrets": map[string]string{"webhookSecret": "s", "apiId": "a1"}},
		{"name": "hook-proto", "kind": "webhook", "url": recv.URL + "/hook-proto", "secrets": map[string]string{"webhookSecret": "s", "apiId": "a1"}},
		{"name": "cebroker", "kind": "cebroker", "url": recv.URL + "/cebroker", "secrets": map[string]string{"uploadKey": "k"}, "settings": map[string]string{"parentProviderId": "5087"}},
		{"name": "cebroker-200", "kind": "cebroker", "url": recv.URL + "/cebroker-200", "secrets": map[string]string{"uploadKey": "k"}, "settings": map[string]string{"parentProviderId": "5087"}},
		{"name": "pars", "kind": "pars", "url": recv.URL, "secrets": map[string]string{"username": "u", "password": "p"}, "settings": map[string]string{"providerId": "1234567"}},
	} {
		var e apiError
		if st := s.apiCall("POST", "/api/v1/destinations", basicAuth(providerA), d, &e); st != http.StatusCreated {
			t.Fatalf("destination %s: %d %+v", d["name"], st, e)
		}
	}
	reportSandboxLearner(t, s, nil)
	deliveries, raw := s.waitAttempted(3 * 6)
	if !strings.Contains(raw, "PROTOCOL-MESSAGE: licence inconnue, déjà signalée") {
		t.Errorf("the protocol's own message is not shown:\n%s", raw)
	}
	for _, d := range deliveries {
		if d.Destination == "hook" && (d.State != "rejected" || len(d.RemoteCodes) != 1 || d.RemoteCodes[0].Code != "400") {
			t.Errorf("the webhook's refusal: %+v", d)
		}
	}
	surfaces := map[string]string{"GET /api/v1/deliveries": raw, "server log": s.logs.String()}
	surfaces["cmex deliveries list"], _ = runCLI(t, env, "", "deliveries", "list", "-provider", "1234567")
	for _, d := range deliveries {
		out, _ := runCLI(t, env, "", "deliveries", "show", fmt.Sprint(d.ID))
		surfaces["cmex deliveries show"] += out
	}
	_, surfaces["portal /provider/deliveries"] = s.page(s.signIn("aaa.staff", "sandbox"), "/provider/deliveries")
	for where, text := range surfaces {
		if strings.Contains(text, secret) {
			t.Errorf("%s shows a receiver's body:\n%s", where, text)
		}
	}
	if !strings.Contains(surfaces["portal /provider/deliveries"], "HTTP 400") {
		t.Errorf("the portal does not show the refusals' status:\n%s", surfaces["portal /provider/deliveries"])
	}
}
