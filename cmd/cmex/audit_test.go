package main_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmexhub/cmex"
)

// TestAuditLog: a PARS change from a client behind a trusted proxy, a
// JSON API change as a physician, and a destination added on the command
// line each appear in the audit log with who, from where and what;
// operators read it through the JSON API and the CLI, providers may not.
func TestAuditLog(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db"), "CMEX_SECRET_KEY=e2e-secret-key-0123456789"}
	s := startServer(t, env, "-sandbox", "-trusted-proxies", "127.0.0.1")

	req, _ := http.NewRequest(http.MethodPost, s.base+savePath, bytes.NewReader(submit(activityDoc(t, "audit-1", "Audited Rounds", "Add"), providerA, "2021")))
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	req.Header.Set("X-Forwarded-For", "198.51.100.23")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("SaveActivity: %v", err)
	}
	var credit map[string]any
	if st := s.apiCall("POST", "/api/v1/account/self-credits", func(r *http.Request) {
		r.SetBasicAuth("ned.baker", "sandbox")
		r.Header.Set("X-Forwarded-For", "192.0.2.7")
	}, map[string]any{"sponsor": "Grand Rounds", "title": "Audited Reading", "date": "2026-10-01",
		"details": []map[string]any{{"type": "CME", "credits": 1, "category": "CAT1"}}}, &credit); st != 201 {
		t.Fatalf("self-credit: %d %v", st, credit)
	}
	if out, code := runCLI(t, env, "whsec-audit\n", "destinations", "add", "-provider", "1234567", "-name", "hook", "-kind", "webhook", "-url", "https://hooks.example.invalid/cmex"); code != 0 {
		t.Fatalf("destinations add: %s", out)
	}

	opToken, code := runCLI(t, env, "", "apikey", "add", "-operator", "-name", "auditor")
	if code != 0 {
		t.Fatalf("apikey add: %s", opToken)
	}
	opToken = strings.TrimSpace(strings.Split(opToken, "\n")[0])
	var log struct{ Entries []cmex.AuditEntry }
	if st := s.apiCall("GET", "/api/v1/audit?limit=1000", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+opToken) }, nil, &log); st != 200 {
		t.Fatalf("GET /api/v1/audit: %d", st)
	}
	find := func(action string) *cmex.AuditEntry {
		for i := range log.Entries {
			if log.Entries[i].Action == action {
				return &log.Entries[i]
			}
		}
		t.Errorf("no %s entry in %+v", action, log.Entries)
		return &cmex.AuditEntry{}
	}
	if e := find("activity.add"); e.Actor != "user:1234567/webserviceuser@yourdomain.org" || e.Address != "198.51.100.23" {
		t.Errorf("activity.add: %+v", e)
	}
	if e := find("self-credit.add"); e.Actor != "account:ned.baker" || e.Address != "192.0.2.7" {
		t.Errorf("self-credit.add: %+v", e)
	}
	if e := find("destination.add"); !strings.HasPrefix(e.Actor, "cli:") || e.Address != "" || e.Subject != "hook" {
		t.Errorf("destination.add: %+v", e)
	}
	find("api-key.add")

	out, code := runCLI(t, env, "", "audit", "-action", "activity.", "-json")
	var e cmex.AuditEntry
	if code != 0 || json.Unmarshal([]byte(strings.Split(out, "\n")[0]), &e) != nil || e.Action != "activity.add" || e.Address != "198.51.100.23" {
		t.Errorf("cmex audit -action activity. -json: %d %s", code, out)
	}
	if out, _ := runCLI(t, env, "", "audit", "-action", "destination.add"); !strings.Contains(out, "destination.add") || !strings.Contains(out, "ACTOR") {
		t.Errorf("cmex audit: %s", out)
	}

	// A provider's key is not an operator's.
	key, _ := runCLI(t, env, "", "apikey", "add", "-provider", "1234567", "-name", "lms")
	key = strings.TrimSpace(strings.Split(key, "\n")[0])
	if st := s.apiCall("GET", "/api/v1/audit", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) }, nil, nil); st != http.StatusForbidden {
		t.Errorf("a provider's key reads the audit log: %d", st)
	}
}
