package main_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/processsync"
)

// The cluster test's shape: three replicas, four SIGKILLs a few seconds
// apart, PARS clients paced to about 20 reports a second. The pace bounds
// the duplicates: a kill duplicates the deliveries its replica had sent
// and not yet recorded, about a 20 ms window on a loaded two-core
// machine; at twice the pace, runs met up to three at one kill.
const (
	clusterReplicas  = 3
	clusterKills     = 4
	clusterSavers    = 4
	clusterSaveEvery = 160 * time.Millisecond // each saver's pause between reports
	clusterLease     = "5s"                   // -outbox-lease: a killed replica's claims come back within it
	clusterDrain     = 60 * time.Second       // how long the outbox may take to drain once the load stops
	clusterKey       = "cluster-secret-key-0123456789"
	clusterPSKey     = "cluster-processsync-key"
	replicaHeader    = "X-Cluster-Replica"
)

// clusterServeArgs are every replica's flags: the faulty receiver's, with
// identities left to the registry downstream (each report is a learner of
// its own), the test as the trusted proxy (so that X-Forwarded-For names
// the client), three failures to a lockout, and a short outbox lease.
var clusterServeArgs = append(slices.Clip(faultyServeArgs), "-matching", "passthrough", "-trusted-proxies", "127.0.0.1",
	"-lockout-after", "3", "-outbox-lease", clusterLease)

// replica is one cmex serve process of the cluster.
type replica struct {
	name  string // r1, r2…: every process its own, a restart a new one
	srv   *server
	proxy *httputil.ReverseProxy
	// dying is set just before the replica is killed: what it answers
	// from then on is excused.
	dying    atomic.Bool
	answered atomic.Int64
	// saving counts the SaveLearnerActivity requests in flight at it.
	saving atomic.Int64
}

// balancedAnswer is what the balancer saw of one request.
type balancedAnswer struct {
	replica, method, path string
	status                int    // as the client got it: 502 when the replica gave no answer
	err                   string // why the replica gave no (whole) answer
	dying                 bool   // the replica was being killed
}

func (a balancedAnswer) failed() bool { return a.status >= 500 || a.err != "" }

// balancer is the cluster's load balancer: round-robin over the replicas
// in rotation, recording which replica gave every answer.
type balancer struct {
	transport *http.Transport

	mu       sync.Mutex
	rotation []*replica
	all      []*replica // every replica there has been, killed ones too
	next     int
	answers  []balancedAnswer
}

func newBalancer() *balancer {
	return &balancer{transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}
}

// add puts a started replica into the rotation.
func (b *balancer) add(name string, s *server) *replica {
	target, err := url.Parse(s.base)
	if err != nil {
		panic(err)
	}
	rep := &replica{name: name, srv: s}
	rep.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // as a load balancer does: the portal's origin check sees the address the client used
			pr.SetXForwarded()
		},
		Transport: b.transport,
		ErrorLog:  log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if sw, ok := w.(*statusWriter); ok {
				sw.err = err.Error()
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	b.mu.Lock()
	b.rotation = append(b.rotation, rep)
	b.all = append(b.all, rep)
	b.mu.Unlock()
	return rep
}

// remove takes rep out of the rotation.
func (b *balancer) remove(rep *replica) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rotation = slices.DeleteFunc(b.rotation, func(r *replica) bool { return r == rep })
}

func (b *balancer) live() []*replica {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.rotation)
}

func (b *balancer) pick() *replica {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.rotation) == 0 {
		return nil
	}
	b.next++
	return b.rotation[b.next%len(b.rotation)]
}

func (b *balancer) record(a balancedAnswer) {
	b.mu.Lock()
	b.answers = append(b.answers, a)
	b.mu.Unlock()
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := b.pick()
	if rep == nil {
		b.record(balancedAnswer{replica: "(none)", method: r.Method, path: r.URL.Path, status: http.StatusServiceUnavailable, err: "no replica in rotation"})
		http.Error(w, "no replica in rotation", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set(replicaHeader, rep.name)
	sw := &statusWriter{ResponseWriter: w}
	if r.URL.Path == saveLearnerPath {
		rep.saving.Add(1)
		defer rep.saving.Add(-1)
	}
	// A replica that dies in the middle of its answer makes the proxy
	// abort the client's connection with a panic; the answer is recorded
	// all the same.
	defer func() {
		a := balancedAnswer{replica: rep.name, method: r.Method, path: r.URL.Path, status: sw.status, err: sw.err, dying: rep.dying.Load()}
		v := recover()
		if v != nil {
			a.err = fmt.Sprintf("answer cut off (%v)", v)
		}
		b.record(a)
		rep.answered.Add(1)
		if v != nil {
			panic(v)
		}
	}()
	rep.proxy.ServeHTTP(sw, r)
}

// statusWriter keeps the status of the answer written through it.
type statusWriter struct {
	http.ResponseWriter
	status int
	err    string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// clusterDriver runs the clients of the cluster test against the
// balancer and keeps what they were told.
type clusterDriver struct {
	base     string // the balancer's
	client   *http.Client
	activity string
	d        dates
	stop     chan struct{}
	wg       sync.WaitGroup

	mu           sync.Mutex
	rng          *mrand.Rand
	acknowledged map[string]string // CreditID → the replica that answered Accepted
	ackOrder     []string
	requests     map[string]int   // by kind
	unanswered   map[string]int   // by kind: the balancer gave no whole answer (counted there)
	problems     []string         // wrong answers from replicas that were not being killed
	psLast       map[string]int64 // the last GetRoleData TimeStamp signed, by UniqueId
}

func (dr *clusterDriver) stopped() bool {
	select {
	case <-dr.stop:
		return true
	default:
		return false
	}
}

// pause waits d unless the driver is stopped first.
func (dr *clusterDriver) pause(d time.Duration) bool {
	select {
	case <-dr.stop:
		return false
	case <-time.After(d):
		return true
	}
}

func (dr *clusterDriver) problem(format string, args ...any) {
	dr.mu.Lock()
	dr.problems = append(dr.problems, fmt.Sprintf(format, args...))
	dr.mu.Unlock()
}

// send makes one request of kind through the balancer. ok is false when
// the balancer gave no whole answer or a 5xx: the balancer counts those
// against the replica that gave them.
func (dr *clusterDriver) send(kind string, c *http.Client, req *http.Request) (rep string, status int, body string, ok bool) {
	dr.mu.Lock()
	dr.requests[kind]++
	dr.mu.Unlock()
	res, err := c.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(res.Body)
		res.Body.Close()
		rep, status, body = res.Header.Get(replicaHeader), res.StatusCode, string(b)
	}
	if err != nil || status >= 500 {
		dr.mu.Lock()
		dr.unanswered[kind]++
		dr.mu.Unlock()
		return rep, status, body, false
	}
	return rep, status, body, true
}

func (dr *clusterDriver) post(kind, path string, body []byte) (rep string, status int, answer string, ok bool) {
	req, err := http.NewRequest(http.MethodPost, dr.base+path, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	return dr.send(kind, dr.client, req)
}

// save reports completions, one CreditID each, until stopped: each
// report is a learner of its own, so that none repeats another.
func (dr *clusterDriver) save(client int) {
	for i := 0; !dr.stopped(); i++ {
		id := fmt.Sprintf("ccid:cluster:%d-%d", client, i)
		n := fmt.Sprintf("%d%05d", client+1, i)
		l := learner{"Casey", "Cluster", "1980-02-02", [][2]string{{"ME", "MD" + n}, {"ABIM", n}}}
		body := learnerSubmit(learnerDoc(l, dr.activity, dr.d.completed, "add", credit{"AMA PRA Category 1", "1", id}), providerA)
		rep, status, answer, ok := dr.post("SaveLearnerActivity", saveLearnerPath, body)
		if ok {
			var r parsResponse
			if err := xml.Unmarshal([]byte(answer), &r); err != nil || status != http.StatusOK || r.StatusCode != "Accepted" {
				dr.problem("SaveLearnerActivity %s on %s: %d %s %v %.200s", id, rep, status, r.StatusCode, r.ErrorMessages, answer)
			} else {
				dr.mu.Lock()
				dr.acknowledged[id] = rep
				dr.ackOrder = append(dr.ackOrder, id)
				dr.mu.Unlock()
			}
		}
		if !dr.pause(clusterSaveEvery) {
			return
		}
	}
}

// status asks for the status of records already acknowledged: whichever
// replica answers holds each as Accepted.
func (dr *clusterDriver) status() {
	for dr.pause(50 * time.Millisecond) {
		dr.mu.Lock()
		id := ""
		if n := len(dr.ackOrder); n > 0 {
			id = dr.ackOrder[dr.rng.IntN(n)]
		}
		dr.mu.Unlock()
		if id == "" {
			continue
		}
		rep, status, answer, ok := dr.post("GetLearnerStatusByCreditId", byCreditPath, statusByCredit(id, providerA))
		if !ok {
			continue
		}
		var a statusArray
		if err := xml.Unmarshal([]byte(answer), &a); err != nil || status != http.StatusOK || len(a.Messages) != 1 ||
			!strings.Contains(a.Messages[0].Data, id) || a.Messages[0].StatusCode != "Accepted" {
			dr.problem("status of acknowledged %s on %s: %d %.300s", id, rep, status, answer)
		}
	}
}

// getRoleData asks for Jane ACCME's progress by both her identifiers,
// each request with a token of its own: a TimeStamp this identifier has
// not signed yet, now or a little ahead.
func (dr *clusterDriver) getRoleData() {
	for i := 0; dr.pause(100 * time.Millisecond); i++ {
		uid := []string{"999902", "MD999902"}[i%2]
		dr.mu.Lock()
		ts := max(time.Now().Unix(), dr.psLast[uid]+1)
		dr.psLast[uid] = ts
		dr.mu.Unlock()
		tss := fmt.Sprint(ts)
		body := `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tem="http://tempuri.org/"><soapenv:Header/><soapenv:Body><tem:GetRoleData>` +
			`<tem:Version>7.8.0</tem:Version><tem:TimeStamp>` + tss + `</tem:TimeStamp><tem:Role>Practitioner</tem:Role><tem:UniqueId>` + uid + `</tem:UniqueId>` +
			`<tem:RequestDepth>LearningPlan</tem:RequestDepth><tem:RequestType>Summary</tem:RequestType><tem:Token>` + processsync.Token(uid, tss, clusterPSKey) + `</tem:Token>` +
			`</tem:GetRoleData></soapenv:Body></soapenv:Envelope>`
		req, _ := http.NewRequest(http.MethodPost, dr.base+processsync.Path, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		rep, status, answer, ok := dr.send("GetRoleData", dr.client, req)
		if ok && (status != http.StatusOK || !strings.Contains(answer, "<a:Success>0</a:Success>") || !planUnits.MatchString(answer)) {
			dr.problem("GetRoleData %s on %s: %d %.300s", uid, rep, status, answer)
		}
	}
}

// signIn signs in to the portal as Jane ACCME and follows the redirect to
// her home page, which the next replica in the rotation may serve: the
// session is the database's, not the replica's.
func (dr *clusterDriver) signIn() {
	for dr.pause(150 * time.Millisecond) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: dr.client.Timeout}
		rep, status, page, ok := dr.send("portal sign-in", c, formRequest(dr.base, "/signin", url.Values{"username": {"jane.accme"}, "password": {"sandbox"}}))
		if ok && (status != http.StatusOK || !strings.Contains(page, "Welcome, ")) {
			dr.problem("portal sign-in, the page after it from %s: %d %.300s", rep, status, page)
		}
	}
}

// clusterKill is one SIGKILL of the chaos loop.
type clusterKill struct {
	victim, successor string
	at, back          time.Duration // since the load started: the kill, the successor in the rotation
	saving            int64         // SaveLearnerActivity requests in flight at the victim when it was killed
}

// TestCluster runs three cmex serve replicas on one PostgreSQL database
// behind a load balancer in the test, and drives them with PARS reports
// and status queries, GetRoleData, portal sign-ins and forwarding to a
// webhook receiver that fails 40% of its attempts, while it SIGKILLs a
// replica and starts another in its place, four times. It ends by
// checking that every record acknowledged is held exactly once; that
// every delivery of those records reached the receiver, with no more
// duplicates than kills; that an account locked through one replica is
// refused by every other, restarted ones included; and that no replica
// answered 5xx except one being killed. The seed (logged;
// CMEX_TEST_CLUSTER_SEED sets it) chooses the victims, the intervals and
// the receiver's faults; timings still differ from run to run.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("the cluster test takes about a minute; skipped under -short")
	}
	dbSpec := cmextest.PostgresURL(t)
	seed := seedFromEnv(t, "CMEX_TEST_CLUSTER_SEED", uint64(time.Now().UnixNano()%1_000_000))
	t.Logf("seed %d (CMEX_TEST_CLUSTER_SEED=%d replays its choices)", seed, seed)
	rng := mrand.New(mrand.NewPCG(seed, 1))
	began := time.Now()

	rc := newFaultyReceiver(seed)
	// Quicker than the single-server test's receiver: a shorter answer is
	// a shorter window in which a killed replica leaves an acknowledged
	// delivery unrecorded, and a shorter stall keeps the drain short.
	rc.latency, rc.stall = 5*time.Millisecond, 1500*time.Millisecond
	close(rc.gate)
	hook := httptest.NewServer(rc)
	defer hook.Close()

	env := []string{"CMEX_DB=" + dbSpec, "CMEX_SECRET_KEY=" + clusterKey, "CMEX_PROCESSSYNC_KEY=" + clusterPSKey}
	// The three start together on the empty database, as replicas of a
	// new deployment do: one migrates and loads the sandbox, the others
	// wait for it or find it done.
	b := newBalancer()
	started := startReplicas(t, clusterReplicas, env, clusterServeArgs...)
	for i, s := range started {
		b.add(fmt.Sprintf("r%d", i+1), s)
	}
	lb := httptest.NewServer(b)
	defer lb.Close()
	t.Logf("%d replicas up in %v", clusterReplicas, time.Since(began).Round(10*time.Millisecond))

	if out, code := runCLI(t, env, faultySecret+"\n", "destinations", "add", "-allow-private-destinations", "-provider", "1234567", "-name", "hook", "-kind", "webhook",
		"-url", hook.URL, "-api-id", faultyAPIID); code != 0 {
		t.Fatalf("destinations add: %s", out)
	}
	d := around(time.Now())
	r := started[0].post(savePath, submit(mocActivity(d, "cluster-1"), providerA, d.start[:4]))
	if r.StatusCode != "Accepted" {
		t.Fatalf("the activity: %+v", r)
	}

	// An account locked through one replica, before the load.
	locker := b.live()[0]
	locked := lockAccount(t, locker.srv.base)

	dr := &clusterDriver{base: lb.URL, client: &http.Client{Timeout: 30 * time.Second}, activity: activityID(t, r), d: d, stop: make(chan struct{}),
		rng: mrand.New(mrand.NewPCG(seed, 2)), acknowledged: map[string]string{}, requests: map[string]int{}, unanswered: map[string]int{}, psLast: map[string]int64{}}
	for c := range clusterSavers {
		dr.wg.Go(func() { dr.save(c) })
	}
	dr.wg.Go(dr.status)
	dr.wg.Go(dr.getRoleData)
	dr.wg.Go(dr.signIn)
	load := time.Now()
	stopLoad := sync.OnceFunc(func() { close(dr.stop); dr.wg.Wait() })
	defer stopLoad()

	// The chaos: a few seconds of load, then a random replica SIGKILLed
	// in the middle of its requests and taken out of the rotation once it
	// is gone, as a balancer's health check would, and another started in
	// its place on a new port, which joins the rotation once it listens.
	var kills []clusterKill
	next := len(started) + 1
	for range clusterKills {
		<-time.After(time.Duration(6000+rng.IntN(4000)) * time.Millisecond)
		live := b.live()
		victim := live[rng.IntN(len(live))]
		// Killed in the middle of a report when one comes within a
		// second: the answers it loses are the point of the kill.
		for end := time.Now().Add(time.Second); victim.saving.Load() == 0 && time.Now().Before(end); {
			time.Sleep(200 * time.Microsecond)
		}
		k := clusterKill{victim: victim.name, at: time.Since(load), saving: victim.saving.Load()}
		victim.dying.Store(true)
		if err := victim.srv.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-victim.srv.done
		b.remove(victim)
		s := startServer(t, env, clusterServeArgs...)
		k.successor = fmt.Sprintf("r%d", next)
		next++
		last := b.add(k.successor, s)
		k.back = time.Since(load)
		kills = append(kills, k)
		if len(kills) == clusterKills {
			// The load goes on until the last one has served some of it.
			waitUntil(t, 30*time.Second, func() bool { return last.answered.Load() >= 20 },
				func() string { return fmt.Sprintf("%s answered %d requests in 30 s", last.name, last.answered.Load()) })
		}
	}
	stopLoad()
	loadFor := time.Since(load)

	// Every replica in the rotation refuses the locked account's right
	// password, but the one it was locked through.
	for i, rep := range b.live() {
		if rep == locker {
			continue
		}
		st, body := parsSignIn(t, rep.srv.base, locked, fmt.Sprintf("198.51.100.%d", 30+i))
		if st != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins") {
			t.Errorf("%s answered %d to the right password of %s, locked through %s before the load: a lockout must hold on every replica (%.300s)",
				rep.name, st, locked.user, locker.name, body)
		}
	}

	// The outbox drains: every delivery of the test's records delivered.
	db := openTestDB(t, dbSpec)
	defer db.Close()
	type delivery struct {
		id           int64
		credit       string
		state        string
		attemptsInDB int
	}
	var ds []delivery
	readDeliveries := func() (pending int) {
		rows, err := db.Query(`SELECT id, credit_id, state, attempts FROM deliveries WHERE credit_id LIKE 'ccid:cluster:%'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		ds = ds[:0]
		for rows.Next() {
			var dl delivery
			if err := rows.Scan(&dl.id, &dl.credit, &dl.state, &dl.attemptsInDB); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, dl)
			if dl.state != "delivered" {
				pending++
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return pending
	}
	drainFrom := time.Now()
	waitUntil(t, clusterDrain, func() bool { return readDeliveries() == 0 }, func() string {
		states := map[string]int{}
		for _, dl := range ds {
			states[dl.state]++
		}
		return fmt.Sprintf("the outbox did not drain in %v after the load stopped: deliveries by state %v", clusterDrain, states)
	})
	drained := time.Since(drainFrom)

	// Every acknowledged record held exactly once, with one delivery,
	// delivered; the receiver acknowledged each, and duplicates are no
	// more than the kills.
	held := heldRecords(t, db, "ccid:cluster:%")
	deliveriesOf := map[string][]delivery{}
	for _, dl := range ds {
		deliveriesOf[dl.credit] = append(deliveriesOf[dl.credit], dl)
	}
	dr.mu.Lock()
	acknowledged := slices.Sorted(maps.Keys(dr.acknowledged))
	dr.mu.Unlock()
	var wrong []string
	for _, id := range acknowledged {
		if n := held[id]; n != 1 {
			wrong = append(wrong, fmt.Sprintf("%s (acknowledged by %s) is held %d times", id, dr.acknowledged[id], n))
		}
		if n := len(deliveriesOf[id]); n != 1 {
			wrong = append(wrong, fmt.Sprintf("%s (acknowledged by %s) has %d deliveries, want 1", id, dr.acknowledged[id], n))
		}
	}
	unacknowledged := 0
	for id, n := range held {
		if n > 1 {
			wrong = append(wrong, fmt.Sprintf("%s is held %d times", id, n))
		}
		if _, ok := dr.acknowledged[id]; !ok {
			unacknowledged++ // committed by a replica killed before its answer reached the client
		}
	}
	rc.mu.Lock()
	duplicates, duplicated, attempts := 0, []string{}, 0
	for _, dl := range ds {
		acks := rc.acks[dl.id]
		if len(acks) == 0 {
			wrong = append(wrong, fmt.Sprintf("delivery %d of %s is recorded %s but the receiver never acknowledged it", dl.id, dl.credit, dl.state))
		}
		if len(acks) > 1 {
			// Each said with its acknowledgements' times and the kill
			// nearest the first: a duplicate is a delivery a killed
			// replica sent and did not live to record.
			duplicates += len(acks) - 1
			var at []string
			for _, a := range acks {
				at = append(at, fmt.Sprintf("+%v", a.start.Sub(load).Round(time.Millisecond)))
			}
			first, near := acks[0].start.Sub(load), clusterKill{}
			for _, k := range kills {
				if near.victim == "" || (k.at-first).Abs() < (near.at-first).Abs() {
					near = k
				}
			}
			duplicated = append(duplicated, fmt.Sprintf("delivery %d acknowledged at %s, the nearest kill %s at +%v", dl.id, strings.Join(at, ", "), near.victim, near.at.Round(time.Millisecond)))
		}
		attempts += rc.attempts[dl.id]
	}
	answers := map[string]int{}
	for _, r := range rc.requests {
		answers[r.answer]++
	}
	badSignature, badEvent := rc.badSignature, slices.Clone(rc.badEvent)
	rc.mu.Unlock()
	if len(wrong) > 0 {
		t.Errorf("%d records or deliveries wrong:\n%s", len(wrong), strings.Join(firstOf(wrong, 20), "\n"))
	}
	if badSignature != 0 || len(badEvent) != 0 {
		t.Errorf("%d requests with a bad signature, %d bad events: %.500q", badSignature, len(badEvent), badEvent)
	}
	if duplicates > len(kills) {
		t.Errorf("%d deliveries acknowledged more than once by the receiver, more than the %d kills:\n%s", duplicates, len(kills), strings.Join(duplicated, "\n"))
	}

	// No 5xx, and no answer cut off, but from a replica being killed.
	type tally struct{ answers, failed, excused int }
	tallies := map[string]*tally{}
	var offenders []string
	b.mu.Lock()
	for _, a := range b.answers {
		tl := tallies[a.replica]
		if tl == nil {
			tl = &tally{}
			tallies[a.replica] = tl
		}
		tl.answers++
		switch {
		case a.failed() && a.dying:
			tl.excused++
		case a.failed():
			tl.failed++
			offenders = append(offenders, fmt.Sprintf("%s %s %s: %d %s", a.replica, a.method, a.path, a.status, a.err))
		}
	}
	totalAnswers := len(b.answers)
	b.mu.Unlock()
	if len(offenders) > 0 {
		t.Errorf("%d answers 5xx or cut off from replicas not being killed:\n%s", len(offenders), strings.Join(firstOf(offenders, 20), "\n"))
	}
	dr.mu.Lock()
	problems, requests, unanswered := slices.Clone(dr.problems), dr.requests, dr.unanswered
	dr.mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("%d wrong answers:\n%s", len(problems), strings.Join(firstOf(problems, 20), "\n"))
	}

	// Every replica still running stops cleanly; what they logged as
	// errors is shown.
	var logged []string
	for _, rep := range b.live() {
		rep.srv.stop()
	}
	b.mu.Lock()
	all := slices.Clone(b.all)
	b.mu.Unlock()
	for _, rep := range all {
		for _, line := range strings.Split(rep.srv.logs.String(), "\n") {
			var rec struct{ Level string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "ERROR" {
				logged = append(logged, rep.name+": "+line)
			}
		}
	}

	byReplica := []string{}
	for _, name := range slices.Sorted(maps.Keys(tallies)) {
		tl := tallies[name]
		byReplica = append(byReplica, fmt.Sprintf("%s %d answers, %d 5xx/cut off while killed, %d otherwise", name, tl.answers, tl.excused, tl.failed))
	}
	t.Logf("load %v, outbox drained %v after it, %v in all; %d requests through the balancer: %v; no whole answer: %v",
		loadFor.Round(100*time.Millisecond), drained.Round(100*time.Millisecond), time.Since(began).Round(100*time.Millisecond), totalAnswers, requests, unanswered)
	t.Logf("%d records acknowledged, %d held (%d committed without an answer the client got); %d deliveries, %d attempts at the receiver (%v); %d duplicates %q",
		len(acknowledged), len(held), unacknowledged, len(ds), attempts, answers, duplicates, duplicated)
	for _, k := range kills {
		t.Logf("kill: %s SIGKILLed at +%v with %d reports in flight, %s in the rotation at +%v", k.victim, k.at.Round(100*time.Millisecond), k.saving, k.successor, k.back.Round(100*time.Millisecond))
	}
	t.Logf("by replica: %s", strings.Join(byReplica, "; "))
	// CMEX_TEST_CLUSTER_LOGS=DIR keeps every replica's log in DIR/SEED.
	if dir := os.Getenv("CMEX_TEST_CLUSTER_LOGS"); dir != "" {
		dir = filepath.Join(dir, fmt.Sprint(seed))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Error(err)
		}
		for _, rep := range all {
			if err := os.WriteFile(filepath.Join(dir, rep.name+".log"), rep.srv.logs.Bytes(), 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	if len(logged) > 0 {
		t.Logf("%d error lines in the replicas' logs, the first:\n%s", len(logged), strings.Join(firstOf(logged, 10), "\n"))
	}
}

// startReplicas starts n cmex serve with args together on one database,
// as the replicas of a new deployment do.
func startReplicas(t *testing.T, n int, env []string, args ...string) []*server {
	t.Helper()
	started, errs := make([]*server, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { started[i], errs[i] = spawnServer(t, env, args...) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d of %d started together: %v", i+1, n, err)
		}
	}
	return started
}

// TestReplicasStartTogether: three -sandbox replicas started at once on a
// new PostgreSQL database all start (one migrates and loads the fixtures,
// the others wait and find them loaded), and the fixtures are there once.
func TestReplicasStartTogether(t *testing.T) {
	dbSpec := cmextest.PostgresURL(t)
	for _, s := range startReplicas(t, 3, []string{"CMEX_DB=" + dbSpec}, "-sandbox") {
		if r := s.post(getPath, search(providerA, map[string]string{"ActivityID": "399999999"})); r.has("451") {
			t.Errorf("the sandbox user is refused at %s: %+v", s.base, r)
		}
		s.stop()
	}
	db := openTestDB(t, dbSpec)
	defer db.Close()
	var providers, users, leases int
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM organizations WHERE provider_id IN ('1234567', '7654321')), (SELECT count(*) FROM web_service_users), (SELECT count(*) FROM leases)`).Scan(&providers, &users, &leases); err != nil {
		t.Fatal(err)
	}
	if providers != 2 || users != 2 {
		t.Errorf("%d sandbox providers and %d users after three starts, want 2 and 2", providers, users)
	}
	if leases != 0 {
		t.Errorf("%d leases left after every replica stopped, want 0 (each releases its own)", leases)
	}
}

// lockAccount locks the other sandbox provider's web-service user through
// the replica at base, with three wrong passwords from an attacker's
// address, and checks that the replica then refuses the right one.
func lockAccount(t *testing.T, base string) creds {
	t.Helper()
	c := providerB
	for i := range 3 {
		wrong := creds{c.provider, c.user, fmt.Sprintf("Wrong-Cluster-Guess-%d", i)}
		if st, body := parsSignIn(t, base, wrong, "203.0.113.66"); st != http.StatusOK || !strings.Contains(body, "Access Denied") {
			t.Fatalf("wrong password %d for %s: %d %.300s", i+1, c.user, st, body)
		}
	}
	if st, body := parsSignIn(t, base, c, "198.51.100.29"); st != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins") {
		t.Fatalf("the right password after three wrong ones, on the replica that counted them: %d %.300s", st, body)
	}
	return c
}

// parsSignIn asks the replica at base, as a client at addr, for a
// record's status with c: the cheapest PARS request that signs in.
func parsSignIn(t *testing.T, base string, c creds, addr string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+byCreditPath, bytes.NewReader(statusByCredit("ccid:cluster:none", c)))
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	return sendFrom(t, req, addr)
}

// waitUntil polls cond until it holds, and fails the test with what
// says why when it does not within limit.
func waitUntil(t *testing.T, limit time.Duration, cond func() bool, why func() string) {
	t.Helper()
	end := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(end) {
			t.Fatal(why())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func firstOf(s []string, n int) []string {
	if len(s) > n {
		return append(slices.Clone(s[:n]), fmt.Sprintf("… and %d more", len(s)-n))
	}
	return s
}
