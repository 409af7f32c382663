package main_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/processsync"
	"github.com/cmexhub/cmex/internal/webhook"
)

// restartClients report completions side by side through every restart.
const restartClients = 8

// restartAnswer is what one SaveLearnerActivity request got.
type restartAnswer struct {
	start, end time.Time
	status     int    // 0: no answer (a transport error)
	outcome    string // the PARS StatusCode
	message    string // the first ErrorMessage's
	retryAfter string
	ids        []string
}

// outageShapes checks that each surface other than PARS answers a request
// it needs the database for 503 in its own shape while the database is
// down: the JSON API's busy error and a SOAP Server fault with Retry-After,
// the portal's sign-in page and the gateway's STATUS text.
func outageShapes(t *testing.T, s *server) {
	t.Helper()
	api, _ := http.NewRequest(http.MethodGet, s.base+"/api/v1/learner-records", nil)
	api.SetBasicAuth(providerA.user, providerA.password)
	api.Header.Set("Cmex-Provider-Id", providerA.provider)
	ts := nextTokenSecond()
	soapBody := `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tem="http://tempuri.org/"><soapenv:Header/><soapenv:Body><tem:GetRoleData>` +
		`<tem:Version>7.8.0</tem:Version><tem:TimeStamp>` + ts + `</tem:TimeStamp><tem:Role>Practitioner</tem:Role><tem:UniqueId>999902</tem:UniqueId>` +
		`<tem:RequestDepth>Role</tem:RequestDepth><tem:RequestType>Summary</tem:RequestType><tem:Token>` + processsync.Token("999902", ts, "sandbox-secret") + `</tem:Token>` +
		`</tem:GetRoleData></soapenv:Body></soapenv:Envelope>`
	ps, _ := http.NewRequest(http.MethodPost, s.base+processsync.Path, strings.NewReader(soapBody))
	ps.Header.Set("Content-Type", "text/xml; charset=utf-8")
	for _, c := range []struct {
		surface    string
		req        *http.Request
		body       string
		retryAfter bool
	}{
		{"JSON API", api, `"message": "The service cannot reach its database just now; try again shortly."`, true},
		{"GetRoleData", ps, "<faultcode>s:Server</faultcode><faultstring xml:lang=\"en-US\">The service cannot reach its database just now; try again shortly.", true},
		{"portal sign-in", formRequest(s.base, "/signin", url.Values{"username": {"aaa.staff"}, "password": {"sandbox"}}), "The service cannot reach its database just now; try again shortly.", true},
		{"customer_binding", formRequest(s.base, "/cmegateway/customer_binding", url.Values{"customer_username_crypt": {"ned.baker"}, "customer_password_crypt": {"sandbox"},
			"customer_binding_crypt_method": {"plaintext"}}), "<STATUS>The service is unavailable; try again later.</STATUS>", false},
	} {
		res, err := http.DefaultClient.Do(c.req)
		if err != nil {
			t.Errorf("%s with the database down: %v", c.surface, err)
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if c.surface == "JSON API" && !strings.Contains(string(b), `"code": "busy"`) {
			t.Errorf("the JSON API with the database down: not its busy error: %s", b)
		}
		if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), c.body) || c.retryAfter && res.Header.Get("Retry-After") != "2" {
			t.Errorf("%s with the database down: %d, Retry-After %q, want 503 saying %s:\n%.600s", c.surface, res.StatusCode, res.Header.Get("Retry-After"), c.body, b)
		}
	}
}

// sendReport sends client c's report i to s, as a client does that
// cannot fail the test from its own goroutine.
func sendReport(hc *http.Client, s *server, load learnerLoad, c, i int) restartAnswer {
	body, ids := load.report(c, i)
	a := restartAnswer{start: time.Now(), ids: ids}
	resp, err := hc.Post(s.base+saveLearnerPath, "application/xml; charset=utf-8", bytes.NewReader(body))
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
		var r parsResponse
		if xml.Unmarshal(b, &r) == nil {
			a.outcome = r.StatusCode
			if len(r.ErrorMessages) > 0 {
				a.message = r.ErrorMessages[0].Message
			}
		}
	}
	a.end = time.Now()
	return a
}

// readyAnswer is what one /readyz request got.
type readyAnswer struct {
	start  time.Time
	took   time.Duration
	status int
}

// TestPostgresRestart restarts PostgreSQL twice under a cmex serve taking
// SaveLearnerActivity from eight clients and forwarding every record to a
// webhook: once with pg_ctl stop -m fast (sessions told and closed), once
// with -m immediate (the server killed; its next start recovers). It shows
// that cmex needs no restart of its own: every record answered Accepted is
// in the ledger exactly once; while the database is down requests are
// answered 503 in PARS's shape with Retry-After, never another 5xx, and
// /readyz answers 503 within its 2 s bound; once the database is back,
// /readyz is ready and reports are accepted again within seconds, and the
// outbox delivers every record.
func TestPostgresRestart(t *testing.T) {
	pc := cmextest.NewPostgresCluster(t)
	var hookMu sync.Mutex
	acked := map[int64]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseInt(r.Header.Get(webhook.HeaderDelivery), 10, 64)
		hookMu.Lock()
		acked[id]++
		hookMu.Unlock()
		json.NewEncoder(w).Encode(webhook.Ack{APIID: "api-restart", Result: "success"})
	}))
	defer hook.Close()

	env := []string{"CMEX_DB=" + pc.URL(), "CMEX_SECRET_KEY=e2e-secret-key-0123456789"}
	args := []string{"-sandbox", "-sandbox-board-delay", "1h", "-matching", "passthrough", "-allow-private-destinations", "-db-max-conns", "12"}
	s := startServer(t, env, args...)
	if out, code := runCLI(t, env, "whsec-restart\n", "destinations", "add", "-allow-private-destinations", "-provider", "1234567", "-name", "hook", "-kind", "webhook",
		"-url", hook.URL, "-api-id", "api-restart"); code != 0 {
		t.Fatalf("destinations add: %s", out)
	}
	load := newLearnerLoad(t, s)

	var mu sync.Mutex
	var answers []restartAnswer
	var ready []readyAnswer
	done := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 30 * time.Second}
	for c := range restartClients {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				// A report answered 503 is not sent again: the next one is
				// new, so that Accepted is the only evidence a record is
				// owed to the ledger.
				a := sendReport(hc, s, load, c, i)
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
				if a.status != http.StatusOK {
					time.Sleep(20 * time.Millisecond) // as a client backs off, less than Retry-After
				}
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			a := readyAnswer{start: time.Now()}
			if resp, err := hc.Get(s.base + "/readyz"); err == nil {
				resp.Body.Close()
				a.status = resp.StatusCode
			}
			a.took = time.Since(a.start)
			mu.Lock()
			ready = append(ready, a)
			mu.Unlock()
		}
	})
	accepted := func(after time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, a := range answers {
			if a.outcome == "Accepted" && a.start.After(after) {
				n++
			}
		}
		return n
	}
	waitAccepted := func(after time.Time, n int, what string) time.Duration {
		for accepted(after) < n {
			if time.Since(after) > 30*time.Second {
				t.Fatalf("%s: %d reports accepted in 30 s, want %d\n%s", what, accepted(after), n, s.logs)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Since(after)
	}

	type outage struct {
		mode                      string
		stopped, started, resumed time.Time
	}
	var outages []*outage
	waitAccepted(time.Now(), 100, "before the first restart")
	for _, mode := range []string{"fast", "immediate"} {
		o := &outage{mode: mode}
		pc.Stop(t, mode)
		o.stopped = time.Now()
		if mode == "fast" {
			outageShapes(t, s)
		}
		time.Sleep(time.Until(o.stopped.Add(1500 * time.Millisecond))) // requests and readiness checks meet the database down
		pc.Start(t)
		o.started = time.Now()
		waitAccepted(o.started, 1, "after pg_ctl start -m "+mode)
		o.resumed = time.Now()
		outages = append(outages, o)
		waitAccepted(o.resumed, 100, "after the restart")
	}
	close(done)
	wg.Wait()

	// What the clients were told.
	statuses := map[string]int{}
	var ackedIDs []string
	for _, a := range answers {
		statuses[fmt.Sprintf("%d %s", a.status, a.outcome)]++
		switch {
		case a.status == http.StatusOK && a.outcome == "Accepted":
			ackedIDs = append(ackedIDs, a.ids...)
		case a.status == http.StatusServiceUnavailable && a.outcome == "Rejected":
			if a.retryAfter != "2" || !strings.Contains(a.message, "(The service cannot reach its database just now; try again shortly.)") {
				t.Errorf("a 503 with Retry-After %q and the message %q", a.retryAfter, a.message)
			}
		}
	}
	for k, n := range statuses {
		if k != "200 Accepted" && k != "503 Rejected" {
			t.Errorf("%d answers %q: want only 200 Accepted and 503 Rejected (PARS's shape), with no transport error; the server's errors:\n%s", n, k, logLevel(s, "ERROR"))
		}
	}
	if statuses["503 Rejected"] == 0 {
		t.Errorf("no report was answered 503: the database was never seen down")
	}
	for i, o := range outages {
		// Readiness: 503 while down, answered within its bound, and ready
		// again after the restart.
		var down, upAfter int
		var firstUp time.Time
		mu.Lock()
		for _, r := range ready {
			if r.status != http.StatusOK && r.status != http.StatusServiceUnavailable {
				t.Errorf("/readyz answered %d", r.status)
			}
			if r.took > 5*time.Second {
				t.Errorf("/readyz took %v, over its 2 s bound and the margin", r.took)
			}
			if r.start.After(o.stopped) && r.start.Add(r.took).Before(o.started) && r.status == http.StatusServiceUnavailable {
				down++
			}
			if r.start.After(o.started) && r.status == http.StatusOK {
				upAfter++
				if firstUp.IsZero() || r.start.Before(firstUp) {
					firstUp = r.start.Add(r.took)
				}
			}
		}
		mu.Unlock()
		if down == 0 {
			t.Errorf("restart %d (-m %s): /readyz never answered 503 while PostgreSQL was down", i+1, o.mode)
		}
		if upAfter == 0 {
			t.Errorf("restart %d (-m %s): /readyz never ready after PostgreSQL started", i+1, o.mode)
		}
		if took := o.resumed.Sub(o.started); took > 10*time.Second {
			t.Errorf("restart %d (-m %s): the first report accepted %v after PostgreSQL started, want within 10 s", i+1, o.mode, took)
		}
		t.Logf("restart %d (-m %s): %d readiness checks 503 while down; ready %v and a report accepted %v after pg_ctl start returned",
			i+1, o.mode, down, firstUp.Sub(o.started).Round(time.Millisecond), o.resumed.Sub(o.started).Round(time.Millisecond))
	}

	// The ledger holds every acknowledged record exactly once, and the
	// outbox delivers each record it holds.
	db, err := sql.Open("pgx", pc.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	held := heldOnce(t, db, ackedIDs)
	var deliveries, delivered int
	end := time.Now().Add(60 * time.Second)
	for {
		if err := db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE state = 'delivered') FROM deliveries`).Scan(&deliveries, &delivered); err != nil {
			t.Fatal(err)
		}
		if delivered == deliveries || time.Now().After(end) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if deliveries != len(held) || delivered != deliveries {
		t.Errorf("%d records held, %d deliveries scheduled, %d delivered 60 s after the load", len(held), deliveries, delivered)
	}
	// A delivery is sent twice only when its outcome could not be
	// recorded within its lease (the outbox tries again while the
	// database is down), and the log says so.
	hookMu.Lock()
	duplicates := 0
	for _, n := range acked {
		duplicates += n - 1
	}
	if len(acked) != deliveries {
		t.Errorf("the webhook acknowledged %d deliveries, want %d", len(acked), deliveries)
	}
	hookMu.Unlock()
	unrecorded := strings.Count(s.logs.String(), `"msg":"outbox: record outcome"`)
	if duplicates > unrecorded {
		t.Errorf("%d deliveries sent twice, more than the %d outcomes the log says were not recorded", duplicates, unrecorded)
	}
	if strings.Contains(s.logs.String(), "panic") {
		t.Errorf("the server's log tells of a panic")
	}
	s.stop()
	keys := make([]string, 0, len(statuses))
	for k := range statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var told []string
	for _, k := range keys {
		told = append(told, fmt.Sprintf("%s: %d", k, statuses[k]))
	}
	t.Logf("%d reports (%s); %d records acknowledged, %d held (%d committed but answered 503), %d delivered (%d twice; %d outcomes recorded late, %d not)",
		len(answers), strings.Join(told, ", "), len(ackedIDs), len(held), len(held)-len(ackedIDs), delivered, duplicates,
		strings.Count(s.logs.String(), `"msg":"outbox: outcome not recorded yet; trying again"`), unrecorded)
}

// logLevel is the lines of s's log at level.
func logLevel(s *server, level string) string {
	var out []string
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(line, `"level":"`+level+`"`) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestPostgresPoolAndUpgrade: two processes starting together on a new
// database migrate it once between them (the advisory lock); serve's pool
// flags reach the pool (no more connections than -db-max-conns under
// sixteen clients, the statement timeout on the server's sessions); and
// once a newer cmex has migrated the database, this one refuses to start
// on it, while a server already running goes on serving.
func TestPostgresPoolAndUpgrade(t *testing.T) {
	url := cmextest.PostgresURL(t)
	env := []string{"CMEX_DB=" + url}
	var wg sync.WaitGroup
	outs := make([]string, 2)
	codes := make([]int, 2)
	for i := range outs {
		wg.Go(func() {
			cmd := exec.Command(bin, "provider", "list")
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.CombinedOutput()
			outs[i] = string(out)
			if ee, ok := err.(*exec.ExitError); ok {
				codes[i] = ee.ExitCode()
			} else if err != nil {
				codes[i] = -1
			}
		})
	}
	wg.Wait()
	for i := range outs {
		if codes[i] != 0 {
			t.Fatalf("process %d of two starting together: exit %d\n%s", i+1, codes[i], outs[i])
		}
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	shipped, err := filepath.Glob("../../internal/postgres/migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var rows, versions, latest int
	if err := db.QueryRow(`SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations`).Scan(&rows, &versions, &latest); err != nil {
		t.Fatal(err)
	}
	if rows != len(shipped) || versions != len(shipped) || latest != len(shipped) {
		t.Errorf("schema_migrations holds %d rows of %d versions up to %d; want each of the %d shipped once", rows, versions, latest, len(shipped))
	}

	s := startServer(t, env, "-sandbox", "-sandbox-board-delay", "1h", "-matching", "passthrough", "-db-max-conns", "3", "-db-statement-timeout", "4s")
	var pool struct {
		Msg              string
		MaxConns         int    `json:"max_conns"`
		StatementTimeout string `json:"statement_timeout"`
	}
	for _, line := range strings.Split(s.logs.String(), "\n") {
		if json.Unmarshal([]byte(line), &pool) == nil && pool.Msg == "postgres connections" {
			break
		}
	}
	if pool.MaxConns != 3 || pool.StatementTimeout != "4s" {
		t.Errorf("the server's connections: %+v; want 3 at most, a 4s statement timeout", pool)
	}
	load := newLearnerLoad(t, s)
	stop := make(chan struct{})
	var clients sync.WaitGroup
	var accepted, failed atomic.Int64
	hc := &http.Client{Timeout: 30 * time.Second}
	for c := range 16 {
		clients.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if a := sendReport(hc, s, load, c, i); a.outcome == "Accepted" {
					accepted.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	most := 0
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		most = max(most, n)
	}
	close(stop)
	clients.Wait()
	if accepted.Load() < 16 || failed.Load() > 0 {
		t.Fatalf("%d reports accepted under load, %d not", accepted.Load(), failed.Load())
	}
	if most > 3 {
		t.Errorf("the server held %d connections to the database, over -db-max-conns 3", most)
	}
	res, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(metrics), "\ncmex_db_connections_max 3\n") || !strings.Contains(string(metrics), "# TYPE cmex_db_connection_waits_total counter") {
		t.Errorf("/metrics does not show the pool of 3:\n%s", metrics)
	}
	t.Logf("%d reports accepted from 16 clients on 3 connections at most (%d seen at once)", accepted.Load(), most)

	// A newer cmex's migration: this binary refuses the database, and
	// the server already running is not stopped by it.
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, 'from_a_newer_cmex.sql', 'x', '2030-01-01T00:00:00Z')`, latest+1); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, env, "", "serve", "-addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(out, fmt.Sprintf("the database has migration %d but this cmex knows only %d: it was written by a newer cmex", latest+1, latest)) {
		t.Errorf("serve on a database a newer cmex migrated: exit %d\n%s", code, out)
	}
	body, _ := load.report(99, 0)
	if r := s.post(saveLearnerPath, body); r.StatusCode != "Accepted" {
		t.Errorf("the running server after a newer migration: %+v", r)
	}
	s.stop()
}
