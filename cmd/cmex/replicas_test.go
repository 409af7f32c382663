package main_test

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/processsync"
	"github.com/cmexhub/cmex/internal/webhook"
)

// replicaArgs are the flags of the replicas of these tests: the sandbox's
// fixtures, boards that do not move records on their own, and receivers
// on loopback.
var replicaArgs = []string{"-sandbox", "-sandbox-board-delay", "1h", "-allow-private-destinations"}

var replicaName = regexp.MustCompile(`"msg":"cmex listening"[^\n]*"replica":"([^"]+)"`)

// replica is the name a running server takes leases by, from its log.
func (s *server) replica() string {
	s.t.Helper()
	m := replicaName.FindStringSubmatch(s.logs.String())
	if m == nil {
		s.t.Fatalf("no replica name in the listening line:\n%s", s.logs)
	}
	return m[1]
}

// TestReplicasSeeChanges runs two replicas on one PostgreSQL database and
// shows that what is changed through one (or through the CLI on the same
// database) is what the other answers with at its next request: an
// activity revised, a plan set loaded, a user and an API key disabled,
// a destination's URL and signing secret changed.
func TestReplicasSeeChanges(t *testing.T) {
	env := []string{"CMEX_DB=" + cmextest.PostgresURL(t), "CMEX_SECRET_KEY=replica-secret-key-0123456789"}
	rs := startReplicas(t, 2, env, replicaArgs...)
	a, b := rs[0], rs[1]
	defer a.stop()
	defer b.stop()

	t.Run("activity", func(t *testing.T) {
		d := around(time.Now())
		r := a.post(savePath, submit(mocActivity(d, "rep-1"), providerA, d.start[:4]))
		if r.StatusCode != "Accepted" {
			t.Fatalf("activity through A: %+v", r)
		}
		act := activityID(t, r)
		credits := []credit{{"AMA PRA Category 1", "2", "ccid:rep:1"}, {"ABIM Medical Knowledge", "1.5", "ccid:rep:2"}}
		if r := a.post(saveLearnerPath, learnerSubmit(learnerDoc(jane, act, d.completed, "add", credits...), providerA)); r.StatusCode != "Accepted" {
			t.Fatalf("Jane's completion through A: %+v", r)
		}
		// B reads Jane's credits with their activities (and keeps the
		// decoded activity, by its revision).
		if ans := b.getRoleData("999902", "Activity"); !strings.Contains(ans, "<a:ActivityTitle>Internal Medicine Update</a:ActivityTitle>") {
			t.Fatalf("B's GetRoleData before the revision:\n%s", ans)
		}
		upd := strings.Replace(strings.Replace(mocActivity(d, "rep-1"), "<lom:string>Internal Medicine Update</lom:string>", "<lom:string>Internal Medicine Revised</lom:string>", 1),
			">Add</ex:activityRecordAction>", ">Update</ex:activityRecordAction>", 1)
		if r := a.post(savePath, submit(upd, providerA, d.start[:4])); r.StatusCode != "Accepted" {
			t.Fatalf("the revision through A: %+v", r)
		}
		ans := b.getRoleData("999902", "Activity")
		if !strings.Contains(ans, "<a:ActivityTitle>Internal Medicine Revised</a:ActivityTitle>") || strings.Contains(ans, "Internal Medicine Update") {
			t.Errorf("B's GetRoleData after the revision through A:\n%s", ans)
		}
		if r := b.post(getPath, search(providerA, map[string]string{"ActivityID": act})); r.Data == nil || !strings.Contains(*r.Data, "Internal Medicine Revised") {
			t.Errorf("B's GetActivity after the revision through A: %+v", r)
		}
	})

	t.Run("plans", func(t *testing.T) {
		wsdl := func() string {
			res, err := http.Get(b.base + processsync.Path + "?wsdl")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			return string(body)
		}
		if w := wsdl(); strings.Contains(w, "ReplicaField") || !strings.Contains(w, "CertificationNumber") {
			t.Fatalf("B's WSDL before the load:\n%.2000s", w)
		}
		if ans := b.getRoleData("999902", "LearningPlan"); !strings.Contains(ans, "Internal Medicine Maintenance of Certification") {
			t.Fatalf("B's GetRoleData before the load:\n%s", ans)
		}
		plans, err := os.ReadFile("sandbox-plans.yaml")
		if err != nil {
			t.Fatal(err)
		}
		changed := strings.NewReplacer("name: Internal Medicine Maintenance of Certification", "name: Replica Maintenance Plan",
			"extrinsicFields: [CertificationNumber]", "extrinsicFields: [CertificationNumber, ReplicaField]").Replace(string(plans))
		if changed == string(plans) {
			t.Fatal("the plan file did not change")
		}
		file := filepath.Join(t.TempDir(), "plans.yaml")
		if err := os.WriteFile(file, []byte(changed), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, code := runCLI(t, env, "", "plans", "load", file); code != 0 {
			t.Fatalf("plans load: %s", out)
		}
		if w := wsdl(); !strings.Contains(w, "ReplicaField") {
			t.Errorf("B's WSDL after the load has no ReplicaField:\n%.2000s", w)
		}
		if ans := b.getRoleData("999902", "LearningPlan"); !strings.Contains(ans, "Replica Maintenance Plan") || strings.Contains(ans, "Internal Medicine Maintenance of Certification") {
			t.Errorf("B's GetRoleData after the load:\n%s", ans)
		}
	})

	t.Run("credentials", func(t *testing.T) {
		key, code := runCLI(t, env, "", "apikey", "add", "-provider", "1234567", "-name", "replica-key")
		if code != 0 {
			t.Fatal(key)
		}
		key = strings.TrimSpace(strings.Split(key, "\n")[0])
		bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) }
		if st := b.apiCall("GET", "/api/v1/destinations", bearer, nil, nil); st != http.StatusOK {
			t.Fatalf("B with the key: %d", st)
		}
		if out, code := runCLI(t, env, "", "apikey", "disable", "-provider", "1234567", "-name", "replica-key"); code != 0 {
			t.Fatal(out)
		}
		if st := b.apiCall("GET", "/api/v1/destinations", bearer, nil, nil); st != http.StatusUnauthorized {
			t.Errorf("B with the disabled key: %d, want 401", st)
		}

		get := search(providerA, map[string]string{"ProviderActivityId": "rep-1"})
		if r := b.post(getPath, get); r.Data == nil {
			t.Fatalf("B with the user's password: %+v", r)
		}
		// Through the operator's console on A (whose session B honours too).
		op := a.signIn("cmex.admin", "sandbox")
		if st, _ := b.page(op, "/admin/providers"); st != http.StatusOK {
			t.Errorf("B with the operator's session from A: %d", st)
		}
		if st, body := a.adminPost(op, "/admin/providers/1234567/users/disable", url.Values{"username": {providerA.user}}); st != http.StatusSeeOther {
			t.Fatalf("disable through A's console: %d %.500s", st, body)
		}
		if r := b.post(getPath, get); !r.has("451") || r.Data != nil {
			t.Errorf("B with a user disabled through A: %+v", r)
		}
		if out, code := runCLI(t, env, "", "user", "enable", "-provider", "1234567", "-user", providerA.user); code != 0 {
			t.Fatal(out)
		}
		if r := b.post(getPath, get); r.Data == nil {
			t.Errorf("B with the user enabled again: %+v", r)
		}
	})

	t.Run("destination", func(t *testing.T) {
		type hit struct{ url, credit string }
		var mu sync.Mutex
		var hits []hit
		receiver := func(name, secret string) *httptest.Server {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if !webhook.Verify(secret, body, r.Header.Get(webhook.HeaderSignature)) {
					http.Error(w, "bad signature", http.StatusUnauthorized)
					name += "(bad signature)"
				}
				var e webhook.Event
				json.Unmarshal(body, &e)
				mu.Lock()
				hits = append(hits, hit{name, string(e.CreditID)})
				mu.Unlock()
			}))
			t.Cleanup(srv.Close)
			return srv
		}
		before, after := receiver("before", "whsec-before"), receiver("after", "whsec-after")
		if out, code := runCLI(t, env, "whsec-before\n", "destinations", "add", "-allow-private-destinations", "-provider", "1234567", "-name", "hook", "-kind", "webhook", "-url", before.URL); code != 0 {
			t.Fatalf("destinations add: %s", out)
		}
		arrived := func(credit string) hit {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				mu.Lock()
				for _, h := range hits {
					if h.credit == credit {
						mu.Unlock()
						return h
					}
				}
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
			t.Fatalf("%s never arrived (%v)", credit, hits)
			return hit{}
		}
		report := func(s *server, tag string) string {
			t.Helper()
			d := around(time.Now())
			r := s.post(savePath, submit(mocActivity(d, "rep-"+tag), providerA, d.start[:4]))
			if r.StatusCode != "Accepted" {
				t.Fatalf("activity %s: %+v", tag, r)
			}
			id := "ccid:rep:" + tag
			if r := s.post(saveLearnerPath, learnerSubmit(learnerDoc(jane, activityID(t, r), d.completed, "add", credit{"AMA PRA Category 1", "2", id}), providerA)); r.StatusCode != "Accepted" {
				t.Fatalf("completion %s: %+v", tag, r)
			}
			return id
		}
		// A is paused, so that B's worker makes every attempt: first with
		// the destination as it was, then, at its next attempt, as it
		// was changed.
		if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		defer a.cmd.Process.Signal(syscall.SIGCONT)
		if h := arrived(report(b, "d1")); h.url != "before" {
			t.Fatalf("the first delivery reached %s", h.url)
		}
		if out, code := runCLI(t, env, "whsec-after\n", "destinations", "update", "-allow-private-destinations", "-provider", "1234567", "-name", "hook", "-url", after.URL, "-credential"); code != 0 {
			t.Fatalf("destinations update: %s", out)
		}
		if h := arrived(report(b, "d2")); h.url != "after" {
			t.Errorf("the delivery after the change reached %s, want the new URL with the new secret (%v)", h.url, hits)
		}
		if out, code := runCLI(t, env, "", "destinations", "update", "-allow-private-destinations", "-provider", "1234567", "-name", "hook", "-enabled=false"); code != 0 {
			t.Fatalf("destinations update -enabled=false: %s", out)
		}
		report(b, "d3") // makes no delivery: the destination takes none now
		time.Sleep(time.Second)
		mu.Lock()
		if len(hits) != 2 {
			t.Errorf("a disabled destination was sent to: %v", hits)
		}
		mu.Unlock()
	})
}

// TestReplicasPollStatusOnce runs two replicas on one PostgreSQL database
// forwarding to an upstream PARS (another cmex, behind a proxy that counts
// its status queries) and checking statuses every second: the upstream is
// asked about the waiting MOC record about once a second, not twice; when
// the replica that polls is killed, the other takes over within the
// lease.
func TestReplicasPollStatusOnce(t *testing.T) {
	up := startServer(t, []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "up.db")}, "-sandbox", "-sandbox-board-delay", "1h")
	defer up.stop()
	upURL, _ := url.Parse(up.base)
	var mu sync.Mutex
	var asked []time.Time
	proxy := httputil.NewSingleHostReverseProxy(upURL)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == byCreditPath {
			mu.Lock()
			asked = append(asked, time.Now())
			mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	since := func(t0 time.Time) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, at := range asked {
			if at.After(t0) {
				n++
			}
		}
		return n
	}

	dbURL := cmextest.PostgresURL(t)
	env := []string{"CMEX_DB=" + dbURL, "CMEX_SECRET_KEY=replica-secret-key-0123456789"}
	const every = time.Second
	rs := startReplicas(t, 2, env, append(replicaArgs, "-outbox-status-every", every.String())...)
	a, b := rs[0], rs[1]
	if out, code := runCLI(t, env, "sandbox\n", "destinations", "add", "-allow-private-destinations", "-provider", "1234567", "-name", "upstream", "-kind", "pars", "-url", front.URL,
		"-username", "webserviceuser@yourdomain.org", "-upstream-provider", "1234567", "-forward-activities"); code != 0 {
		t.Fatalf("destinations add: %s", out)
	}
	d := around(time.Now())
	r := a.post(savePath, submit(mocActivity(d, "poll-1"), providerA, d.start[:4]))
	if r.StatusCode != "Accepted" {
		t.Fatalf("activity: %+v", r)
	}
	credits := []credit{{"AMA PRA Category 1", "2", "ccid:poll:1"}, {"ABIM Medical Knowledge", "1.5", "ccid:poll:2"}}
	if r := a.post(saveLearnerPath, learnerSubmit(learnerDoc(jane, activityID(t, r), d.completed, "add", credits...), providerA)); r.StatusCode != "Accepted" {
		t.Fatalf("completion: %+v", r)
	}
	deadline := time.Now().Add(30 * time.Second)
	for since(time.Time{}) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the upstream was never asked for the record's status")
		}
		time.Sleep(50 * time.Millisecond)
	}

	const window = 8 * time.Second
	start := time.Now()
	time.Sleep(window)
	// One poll a second, and one to spare; two replicas polling on their
	// own would ask about sixteen times.
	n := since(start)
	if n > int(window/every)+1 || n < 3 {
		t.Errorf("the upstream was asked %d times in %v with -outbox-status-every %v and two replicas; want 3 to %d", n, window, every, int(window/every)+1)
	}
	t.Logf("the upstream was asked %d times in %v", n, window)

	// Kill the holder of the destination's lease: the other polls it
	// within StatusTTL (1.5 s) and one interval more.
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var holder string
	if err := db.QueryRow(`SELECT holder FROM leases WHERE name LIKE 'outbox:status:%'`).Scan(&holder); err != nil {
		t.Fatal(err)
	}
	victim, other := a, b
	if holder == b.replica() {
		victim, other = b, a
	} else if holder != a.replica() {
		t.Fatalf("the lease is held by %q, neither %q nor %q", holder, a.replica(), b.replica())
	}
	victim.cmd.Process.Kill()
	<-victim.done
	killed := time.Now()
	deadline = killed.Add(20 * time.Second)
	for since(killed) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the other replica never took the polling over")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the other replica polled %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	if err := db.QueryRow(`SELECT holder FROM leases WHERE name LIKE 'outbox:status:%'`).Scan(&holder); err != nil || holder != other.replica() {
		t.Errorf("the lease after the kill: %q, %v; want %q", holder, err, other.replica())
	}
	other.stop()
}
