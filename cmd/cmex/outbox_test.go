package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/webhook"
)

// TestEndToEndOutboxSurvivesSIGKILL reports completions to a cmex whose
// provider forwards every record to a webhook, kills cmex (SIGKILL) while
// deliveries are in flight, starts it again, and checks that every record
// reached the receiver and that each has one delivery, delivered.
func TestEndToEndOutboxSurvivesSIGKILL(t *testing.T) {
	var mu sync.Mutex
	acked := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !webhook.Verify("whsec-e2e", body, r.Header.Get(webhook.HeaderSignature)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		time.Sleep(400 * time.Millisecond)
		var e webhook.Event
		json.Unmarshal(body, &e)
		mu.Lock()
		acked[string(e.CreditID)]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db"), "CMEX_SECRET_KEY=e2e-secret-key-0123456789"}
	// The receiver is on 127.0.0.1: the server and the CLI allow it.
	args := []string{"-sandbox", "-outbox-lease", "1s", "-sandbox-board-delay", "1h", "-allow-private-destinations"}
	s := startServer(t, env, args...)
	if out, code := runCLI(t, env, "whsec-e2e\n", "destinations", "add", "-allow-private-destinations", "-provider", "1234567", "-name", "hook", "-kind", "webhook", "-url", srv.URL, "-concurrency", "2"); code != 0 {
		t.Fatalf("destinations add: %s", out)
	}
	d := around(time.Now())
	var credits []string
	for i := range 8 {
		r := s.post(savePath, submit(mocActivity(d, fmt.Sprintf("ob-%d", i)), providerA, d.start[:4]))
		if r.StatusCode != "Accepted" {
			t.Fatalf("activity %d: %+v", i, r)
		}
		cs := []credit{{"AMA PRA Category 1", "2", fmt.Sprintf("ccid:ob:%d-1", i)}, {"ABIM Medical Knowledge", "1.5", fmt.Sprintf("ccid:ob:%d-2", i)}}
		if r := s.post(saveLearnerPath, learnerSubmit(learnerDoc(jane, activityID(t, r), d.completed, "add", cs...), providerA)); r.StatusCode != "Accepted" {
			t.Fatalf("report %d: %+v", i, r)
		}
		credits = append(credits, cs[0].id, cs[1].id)
	}
	// Kill it once some, not all, deliveries have arrived.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.cmd.Process.Kill()
	<-s.done
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	if before >= len(credits) {
		t.Fatalf("all %d deliveries arrived before the kill; the test proves nothing", before)
	}

	s = startServer(t, env, args...)
	defer s.stop()
	deadline = time.Now().Add(60 * time.Second)
	for {
		out, _ := runCLI(t, env, "", "deliveries", "list", "-state", "delivered", "-limit", "1000")
		if strings.Count(out, "ccid:ob:") == len(credits) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every delivery was delivered after the restart:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	res, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(metrics), "# TYPE cmex_outbox_delivered_total counter") || strings.Contains(string(metrics), "cmex_outbox_delivered_total 0\n") {
		t.Errorf("/metrics after the restart's deliveries:\n%s", metrics)
	}
	out, _ := runCLI(t, env, "", "deliveries", "list", "-limit", "1000")
	if n := strings.Count(out, "ccid:ob:"); n != len(credits) {
		t.Errorf("%d deliveries for %d credits: something was duplicated or lost\n%s", n, len(credits), out)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range credits {
		if acked[c] == 0 {
			t.Errorf("%s never reached the receiver", c)
		}
	}
	t.Logf("%d of %d had arrived before the kill", before, len(credits))
}

// TestEndToEndUpstreamPARS runs two cmex servers: a provider reports to the
// first, which forwards the activity and the completion to the second as
// to the ACCME's PARS; the second's simulated ABIM approves the MOC credit,
// and the first's own PARS status query shows the approval.
func TestEndToEndUpstreamPARS(t *testing.T) {
	upEnv := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "up.db")}
	up := startServer(t, upEnv, "-sandbox", "-sandbox-board-delay", "300ms")
	defer up.stop()
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "down.db"), "CMEX_SECRET_KEY=e2e-secret-key-0123456789"}
	// The upstream is on 127.0.0.1 over plain http: the server and the
	// CLI allow it.
	s := startServer(t, env, "-sandbox", "-sandbox-board-delay", "1h", "-outbox-status-every", "300ms", "-allow-private-destinations")
	defer s.stop()
	if out, code := runCLI(t, env, "sandbox\n", "destinations", "add", "-allow-private-destinations", "-provider", "1234567", "-name", "upstream", "-kind", "pars", "-url", up.base,
		"-username", "webserviceuser@yourdomain.org", "-upstream-provider", "1234567", "-forward-activities"); code != 0 {
		t.Fatalf("destinations add: %s", out)
	}
	// The upstream has registered another activity first, so its ids differ.
	d := around(time.Now())
	if r := up.post(savePath, submit(mocActivity(d, "someone-else"), providerA, d.start[:4])); r.StatusCode != "Accepted" {
		t.Fatalf("upstream activity: %+v", r)
	}
	r := s.post(savePath, submit(mocActivity(d, "fwd"), providerA, d.start[:4]))
	if r.StatusCode != "Accepted" {
		t.Fatalf("activity: %+v", r)
	}
	act := activityID(t, r)
	credits := []credit{{"AMA PRA Category 1", "2", "ccid:up:1"}, {"ABIM Medical Knowledge", "1.5", "ccid:up:2"}}
	if r := s.post(saveLearnerPath, learnerSubmit(learnerDoc(jane, act, d.completed, "add", credits...), providerA)); r.StatusCode != "Accepted" {
		t.Fatalf("completion: %+v", r)
	}
	seen := map[string]bool{}
	s.waitFor(byCreditPath, statusByCredit("ccid:up:2", providerA), "ccid:up:2", "Submitted", seen)
	s.waitFor(byCreditPath, statusByCredit("ccid:up:2", providerA), "ccid:up:2", "Approved", seen)
	upStatus := up.status(byCreditPath, statusByCredit("ccid:up:2", providerA))
	if len(upStatus.Messages) != 1 || strings.Contains(upStatus.Messages[0].Data, "Activity Id: "+act) {
		t.Errorf("upstream holds the record under its own activity id: %+v", upStatus)
	}
	out, _ := runCLI(t, env, "", "deliveries", "list")
	if strings.Count(out, "delivered") != 3 {
		t.Errorf("deliveries: %s", out)
	}
}
