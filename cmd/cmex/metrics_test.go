package main_test

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestOutboxAndRejectionMetrics: /metrics shows the outbox's backlog by
// destination (how many wait, how old the oldest is) and the codes
// requests were refused with, by surface.
func TestOutboxAndRejectionMetrics(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db"), "CMEX_SECRET_KEY=e2e-secret-key-0123456789"}
	s := startServer(t, env, "-sandbox", "-sandbox-board-delay", "1h")
	// Nothing listens on port 9; the server, without -allow-private-destinations, does not even try.
	if out, code := runCLI(t, env, "whsec-metrics\n", "destinations", "add", "-allow-private-destinations", "-provider", "1234567", "-name", "down-hook", "-kind", "webhook", "-url", "http://127.0.0.1:9/hook"); code != 0 {
		t.Fatalf("destinations add: %s", out)
	}
	reportSandboxLearner(t, s, nil) // three credits, so three deliveries to a receiver that does not answer
	// An activity added twice: the second is refused with 476.
	r := s.post(savePath, submit(activityDoc(t, "metrics-1", "Metrics Rounds", "Add"), providerA, "2021"))
	if r.StatusCode != "Accepted" {
		t.Fatalf("activity: %+v", r)
	}
	if r := s.post(savePath, submit(activityDoc(t, "metrics-1", "Metrics Rounds", "Add"), providerA, "2021")); r.StatusCode != "Rejected" {
		t.Fatalf("the same activity again: %+v", r)
	}
	time.Sleep(1100 * time.Millisecond) // the oldest delivery is at least a second old
	res, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	metrics := string(b)
	pending := regexp.MustCompile(`cmex_outbox_pending\{provider="1234567",destination="down-hook"\} (\d+)`).FindStringSubmatch(metrics)
	if pending == nil || pending[1] == "0" {
		t.Errorf("no backlog for down-hook:\n%s", metrics)
	}
	age := regexp.MustCompile(`cmex_outbox_oldest_pending_age_seconds\{provider="1234567",destination="down-hook"\} ([0-9.e+]+)`).FindStringSubmatch(metrics)
	if age == nil {
		t.Errorf("no oldest age for down-hook:\n%s", metrics)
	} else if secs, _ := strconv.ParseFloat(age[1], 64); secs < 1 || secs > 120 {
		t.Errorf("oldest pending delivery is %s s old", age[1])
	}
	if !regexp.MustCompile(`cmex_rejections_total\{surface="pars",code="476"\} [1-9]`).MatchString(metrics) {
		t.Errorf("the duplicate activity's 476 is not counted:\n%s", metrics)
	}
	if !regexp.MustCompile(`# TYPE cmex_outbox_pending gauge`).MatchString(metrics) {
		t.Errorf("cmex_outbox_pending is not a gauge")
	}
}
