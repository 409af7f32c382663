package main_test

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/webhook"
)

// faultyServeArgs are the flags of every cmex serve in the faulty-receiver
// test, in one place (the receiver is on loopback: a server that refuses
// private destinations needs its flag for them here).
var faultyServeArgs = []string{"-sandbox", "-sandbox-board-delay", "1h", "-allow-private-destinations"}

// The faulty receiver's schedule: per attempt, 40% of failures of five
// kinds, 8% each, and otherwise a proper acknowledgement.
const (
	faultyRecords    = 300
	faultyLatency    = 20 * time.Millisecond // every answer's processing time
	faultyStall      = 3 * time.Second
	faultyAPIID      = "api-faulty"
	faultySecret     = "whsec-faulty"
	faultyDefaultKey = 16 // the seed of the schedule (CMEX_TEST_FAULTY_SEED overrides it)
)

// faultyAnswer is what the receiver does with attempt n (0, 1…) of a
// delivery: a function of the seed, the delivery and n only, so that a run
// meets the same faults whatever the timing.
func faultyAnswer(seed uint64, delivery int64, n int) string {
	r := mrand.New(mrand.NewPCG(seed, uint64(delivery)<<20|uint64(n))).Float64()
	switch {
	case r < 0.08:
		return "500"
	case r < 0.16:
		return "429" // Retry-After: 1
	case r < 0.24:
		return "drop" // the connection closed without an answer
	case r < 0.32:
		return "stall" // 3 s (the receiver's stall), then the connection closed without an answer
	case r < 0.40:
		return "garbage" // a 200 that is not an acknowledgement, with the api_id in it
	}
	return "ack"
}

// faultyRequest is one request the receiver handled.
type faultyRequest struct {
	delivery        int64
	run             int // the server run that sent it (1, 2, 3)
	answer          string
	start, answered time.Time
}

// faultyReceiver is a webhook endpoint that fails on schedule, checks every
// signature and event, and keeps every request, with the acknowledgements
// it gave by Cmex-Delivery id.
type faultyReceiver struct {
	seed uint64
	gate chan struct{} // closed once every record is reported: the drain starts then
	// latency is every answer's processing time; stall, how long a stall
	// holds the connection before it closes it.
	latency, stall time.Duration

	mu           sync.Mutex
	run          int // the server run now sending
	attempts     map[int64]int
	requests     []*faultyRequest
	acks         map[int64][]*faultyRequest
	active       int
	lastStart    time.Time
	badSignature int
	badEvent     []string
}

func (rc *faultyReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	<-rc.gate
	body, _ := io.ReadAll(r.Body)
	id, _ := strconv.ParseInt(r.Header.Get(webhook.HeaderDelivery), 10, 64)
	var e webhook.Event
	rc.mu.Lock()
	if !webhook.Verify(faultySecret, body, r.Header.Get(webhook.HeaderSignature)) {
		rc.badSignature++
	}
	if err := json.Unmarshal(body, &e); err != nil || int64(e.DeliveryID) != id || id == 0 || e.APIID != faultyAPIID || e.CreditID == "" ||
		r.Header.Get(webhook.HeaderEvent) != "learner-record.add" {
		rc.badEvent = append(rc.badEvent, fmt.Sprintf("%s %s", r.Header.Get(webhook.HeaderDelivery), body))
	}
	req := &faultyRequest{delivery: id, run: rc.run, answer: faultyAnswer(rc.seed, id, rc.attempts[id]), start: time.Now()}
	rc.attempts[id]++
	rc.requests = append(rc.requests, req)
	rc.active++
	rc.lastStart = req.start
	rc.mu.Unlock()
	defer func() {
		rc.mu.Lock()
		rc.active--
		rc.mu.Unlock()
	}()

	time.Sleep(rc.latency)
	hangUp := func() {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}
	switch req.answer {
	case "500":
		http.Error(w, "internal error", http.StatusInternalServerError)
	case "429":
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	case "drop":
		hangUp()
	case "stall":
		time.Sleep(rc.stall)
		hangUp()
	case "garbage":
		// The api_id echoed, but not the acknowledgement the webhook
		// contract asks for (result "success", as JSON).
		garbage := []string{`{"api_id":"` + faultyAPIID + `","result":"queued"}`, `{"api_id":"` + faultyAPIID + `","result":"succ`,
			`<html><body>api_id=` + faultyAPIID + ` result=success</body></html>`}
		w.Write([]byte(garbage[rc.attemptsOf(id)%len(garbage)]))
	default:
		// The event is taken before the answer is written: an answer the
		// server never reads still leaves the event received.
		rc.mu.Lock()
		req.answered = time.Now()
		rc.acks[id] = append(rc.acks[id], req)
		rc.mu.Unlock()
		json.NewEncoder(w).Encode(webhook.Ack{APIID: faultyAPIID, Result: "success"})
	}
}

// newFaultyReceiver is a receiver failing on the schedule of seed, holding
// every request until its gate is closed.
func newFaultyReceiver(seed uint64) *faultyReceiver {
	return &faultyReceiver{seed: seed, gate: make(chan struct{}), latency: faultyLatency, stall: faultyStall,
		attempts: map[int64]int{}, acks: map[int64][]*faultyRequest{}}
}

// seedFromEnv is the seed named by the environment variable name, or def
// when it is not set.
func seedFromEnv(t *testing.T, name string, def uint64) uint64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

func (rc *faultyReceiver) attemptsOf(id int64) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.attempts[id]
}

// acknowledged is how many deliveries the receiver acknowledged at least
// once.
func (rc *faultyReceiver) acknowledged() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.acks)
}

// quiesce waits until no request is being handled and none has arrived
// for half a second: after a kill, every request the killed server sent
// has then been answered, so none is counted against the next run.
func (rc *faultyReceiver) quiesce(t *testing.T) {
	t.Helper()
	end := time.Now().Add(30 * time.Second)
	for {
		rc.mu.Lock()
		idle := rc.active == 0 && time.Since(rc.lastStart) > 500*time.Millisecond
		rc.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(end) {
			t.Fatal("the receiver did not go quiet after the kill")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// faultyKill is what one SIGKILL left behind.
type faultyKill struct {
	// claimed are the deliveries the killed server had claimed and not
	// answered: their leases were still held in the database.
	claimed map[int64]bool
	// unrecorded are the deliveries the receiver acknowledged to the killed
	// server (during its run) that the database does not hold as delivered:
	// each will be sent again, so each may be one duplicate. Of them, open
	// were being handled when the kill came, before were answered before
	// it, and late arrived after it (bytes the dead server had written).
	unrecorded             map[int64]bool
	open, before, late     int
	releasedAtNextStart    int
	acknowledgedBeforeKill int
}

// openTestDB opens the database of dbSpec (sqlite:PATH or a postgres://
// URL) straight, as the tests read what cmex wrote.
func openTestDB(t *testing.T, dbSpec string) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", dbSpec
	if path, ok := strings.CutPrefix(dbSpec, "sqlite:"); ok {
		driver, dsn = "sqlite", "file:"+path
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// outboxState reads the deliveries' states and leases straight from the
// database, with the server stopped.
func outboxState(t *testing.T, dbSpec string) (delivered, leased map[int64]bool) {
	t.Helper()
	db := openTestDB(t, dbSpec)
	defer db.Close()
	rows, err := db.Query(`SELECT id, state, leased_by FROM deliveries`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	delivered, leased = map[int64]bool{}, map[int64]bool{}
	for rows.Next() {
		var id int64
		var state, by string
		if err := rows.Scan(&id, &state, &by); err != nil {
			t.Fatal(err)
		}
		delivered[id] = state == "delivered"
		leased[id] = state == "pending" && by != ""
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for id := range delivered {
		if !delivered[id] {
			delete(delivered, id)
		}
		if !leased[id] {
			delete(leased, id)
		}
	}
	return delivered, leased
}

// releasedLeases is the count the server's start-up log gives of the
// leases it released (SQLite), 0 without the line. Read once the server
// has exited, so that its log is complete.
func releasedLeases(t *testing.T, s *server) int {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(s.logs.String()))
	for sc.Scan() {
		var rec struct {
			Msg        string
			Deliveries int
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && strings.HasPrefix(rec.Msg, "outbox: released") {
			return rec.Deliveries
		}
	}
	return 0
}

// The two runs mostly wait (for backoffs, a stall, PostgreSQL's leases to
// lapse), so they run side by side, after the package's other tests.
func TestFaultyReceiverSQLite(t *testing.T) {
	t.Parallel()
	testFaultyReceiver(t, "sqlite:"+filepath.Join(t.TempDir(), "cmex.db"))
}

func TestFaultyReceiverPostgres(t *testing.T) {
	t.Parallel()
	testFaultyReceiver(t, cmextest.PostgresURL(t))
}

// testFaultyReceiver reports 300 records to a cmex whose provider forwards
// every record to a webhook receiver that fails 40% of its attempts (500,
// 429 with Retry-After: 1, a dropped connection, a 3 s stall, a 200 of
// garbage with the api_id in it), kills the server twice with SIGKILL
// mid-drain, and starts it again on the same database each time. Every
// record must be acknowledged within 60 s of the last restart, every
// signature valid, and the duplicates no more than the deliveries in
// flight at the kills: each duplicate is a delivery the receiver
// acknowledged to a server killed before it recorded the answer.
func testFaultyReceiver(t *testing.T, dbSpec string) {
	seed := seedFromEnv(t, "CMEX_TEST_FAULTY_SEED", faultyDefaultKey)
	rc := newFaultyReceiver(seed)
	rc.run = 1
	hook := httptest.NewServer(rc)
	defer hook.Close()

	env := []string{"CMEX_DB=" + dbSpec, "CMEX_SECRET_KEY=e2e-secret-key-0123456789"}
	s := startServer(t, env, faultyServeArgs...)
	d := around(time.Now())
	if out, code := runCLI(t, env, faultySecret+"\n", "destinations", "add", "-allow-private-destinations", "-provider", "1234567", "-name", "hook", "-kind", "webhook",
		"-url", hook.URL, "-api-id", faultyAPIID); code != 0 {
		t.Fatalf("destinations add: %s", out)
	}
	// 100 completions of three credits each: 300 records, 300 deliveries,
	// each made in the transaction that accepts its record. The receiver
	// holds the first attempts until all are in.
	for i := range faultyRecords / 3 {
		r := s.post(savePath, submit(mocActivity(d, fmt.Sprintf("faulty-%d", i)), providerA, d.start[:4]))
		if r.StatusCode != "Accepted" {
			t.Fatalf("activity %d: %+v", i, r)
		}
		doc := learnerDoc(jane, activityID(t, r), d.completed, "add", credit{"AMA PRA Category 1", "2", fmt.Sprintf("ccid:faulty:%d-1", i)},
			credit{"ABIM Medical Knowledge", "1", fmt.Sprintf("ccid:faulty:%d-2", i)}, credit{"ABIM Patient Safety", "1", fmt.Sprintf("ccid:faulty:%d-3", i)})
		if r := s.post(saveLearnerPath, learnerSubmit(doc, providerA)); r.StatusCode != "Accepted" {
			t.Fatalf("completion %d: %+v", i, r)
		}
	}
	close(rc.gate)

	// Two kills mid-drain: once a third, then two thirds, are acknowledged.
	var kills []*faultyKill
	for i, at := range []int{faultyRecords / 3, 2 * faultyRecords / 3} {
		end := time.Now().Add(60 * time.Second)
		for rc.acknowledged() < at {
			if time.Now().After(end) {
				t.Fatalf("run %d: %d of %d acknowledged after 60 s", i+1, rc.acknowledged(), faultyRecords)
			}
			time.Sleep(5 * time.Millisecond)
		}
		killedAt := time.Now()
		if err := s.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-s.done
		if i > 0 {
			kills[i-1].releasedAtNextStart = releasedLeases(t, s)
		}
		rc.quiesce(t)
		delivered, leased := outboxState(t, dbSpec)
		if len(delivered) == faultyRecords {
			t.Fatalf("kill %d: every delivery was recorded before it; the kill proves nothing", i+1)
		}
		k := &faultyKill{claimed: leased, unrecorded: map[int64]bool{}}
		rc.mu.Lock()
		for id, acks := range rc.acks {
			for _, a := range acks {
				if a.run != i+1 || delivered[id] {
					continue
				}
				k.unrecorded[id] = true
				switch {
				case a.start.After(killedAt):
					k.late++
				case a.answered.After(killedAt):
					k.open++
				default:
					k.before++
				}
			}
			if acks[0].answered.Before(killedAt) {
				k.acknowledgedBeforeKill++
			}
		}
		rc.run = i + 2
		rc.mu.Unlock()
		kills = append(kills, k)
		s = startServer(t, env, faultyServeArgs...)
	}

	// The last run: every record acknowledged within 60 s of its start.
	restarted := time.Now()
	end := restarted.Add(60 * time.Second)
	for rc.acknowledged() < faultyRecords {
		if time.Now().After(end) {
			t.Fatalf("%d of %d acknowledged 60 s after the last restart", rc.acknowledged(), faultyRecords)
		}
		time.Sleep(10 * time.Millisecond)
	}
	allAcked := time.Since(restarted)
	// …and recorded as delivered.
	var listed string
	for {
		out, code := runCLI(t, env, "", "deliveries", "list", "-state", "delivered", "-limit", "20000")
		if code != 0 {
			t.Fatalf("deliveries list: %s", out)
		}
		if listed = out; strings.Count(out, "ccid:faulty:") == faultyRecords {
			break
		}
		if time.Now().After(end.Add(10 * time.Second)) {
			t.Fatalf("not every delivery is recorded as delivered:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A limit over the cap is held to the cap (the 300 are listed, not 100), and said so.
	if !strings.Contains(listed, "-limit 20000 is over the cap; listing at most 10000 deliveries") {
		t.Errorf("deliveries list -limit 20000 did not say it capped the limit:\n%.300s", listed)
	}
	s.stop()
	kills[len(kills)-1].releasedAtNextStart = releasedLeases(t, s)

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.badSignature != 0 || len(rc.badEvent) != 0 {
		t.Errorf("%d requests with a bad signature, %d bad events: %.500q", rc.badSignature, len(rc.badEvent), rc.badEvent)
	}
	duplicates, duplicated := 0, []int64{}
	inFlight := map[int64]int{} // delivery → how many kills it was unrecorded at
	unrecorded, claimed := 0, 0
	for _, k := range kills {
		unrecorded, claimed = unrecorded+len(k.unrecorded), claimed+len(k.claimed)
		for id := range k.unrecorded {
			inFlight[id]++
			if !k.claimed[id] {
				t.Errorf("delivery %d was acknowledged, unrecorded and not claimed at a kill", id)
			}
		}
	}
	for id, acks := range rc.acks {
		if n := len(acks) - 1; n > 0 {
			duplicates += n
			duplicated = append(duplicated, id)
			if n > inFlight[id] {
				t.Errorf("delivery %d was acknowledged %d times but unrecorded at %d kills", id, len(acks), inFlight[id])
			}
		}
	}
	slices.Sort(duplicated)
	if duplicates > unrecorded {
		t.Errorf("%d duplicates, more than the %d deliveries acknowledged in flight at the kills", duplicates, unrecorded)
	}
	if len(rc.acks) != faultyRecords {
		t.Errorf("%d deliveries acknowledged, want %d", len(rc.acks), faultyRecords)
	}
	answers := map[string]int{}
	for _, r := range rc.requests {
		answers[r.answer]++
	}
	if strings.HasPrefix(dbSpec, "sqlite:") {
		for i, k := range kills {
			if k.releasedAtNextStart != len(k.claimed) {
				t.Errorf("kill %d left %d deliveries claimed; the next start released %d", i+1, len(k.claimed), k.releasedAtNextStart)
			}
		}
	}
	t.Logf("seed %d: %d records acknowledged, all %v after the last restart; %d requests (%v); %d duplicates (deliveries %v); %d signatures invalid",
		seed, len(rc.acks), allAcked.Round(10*time.Millisecond), len(rc.requests), answers, duplicates, duplicated, rc.badSignature)
	for i, k := range kills {
		t.Logf("kill %d (%d acknowledged before it): %d deliveries claimed by the killed server (%d released at the next start); %d of them acknowledged but unrecorded: %d answered before the kill, %d being answered at it, %d arrived after it",
			i+1, k.acknowledgedBeforeKill, len(k.claimed), k.releasedAtNextStart, len(k.unrecorded), k.before, k.open, k.late)
	}
	var last *faultyRequest
	for _, acks := range rc.acks {
		if last == nil || acks[0].answered.After(last.answered) {
			last = acks[0]
		}
	}
	var history []string
	for _, r := range rc.requests {
		if r.delivery == last.delivery {
			history = append(history, fmt.Sprintf("%s at +%v (run %d)", r.answer, r.start.Sub(restarted).Round(100*time.Millisecond), r.run))
		}
	}
	t.Logf("the last acknowledged, delivery %d, after the last restart: %s", last.delivery, strings.Join(history, ", "))
	t.Logf("in flight at the kills: %d claimed, %d acknowledged but unrecorded (the bound on duplicates); %d duplicates", claimed, unrecorded, duplicates)
}
