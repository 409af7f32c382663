package main_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/webhook"
)

// xapiDo sends an xAPI request as provider A.
func (s *server) xapiDo(method, path string, body any) (int, []byte) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, r)
	req.SetBasicAuth(providerA.user, providerA.password)
	req.Header.Set("X-Experience-API-Version", "2.0.0")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// cmi5Passed is a cmi5 passed statement for Jane (sandbox, ABIM 999902)
// with the CME result extension, of the activity of ACCME Activity ID act.
func cmi5Passed(id, act, completed string, credits ...map[string]any) map[string]any {
	return map[string]any{
		"id":        id,
		"actor":     map[string]any{"objectType": "Agent", "name": "Jane ACCME", "mbox": "mailto:jane@example.org"},
		"verb":      map[string]any{"id": cmex.XAPIVerbCmi5Passed, "display": map[string]string{"en-US": "passed"}},
		"timestamp": completed + "T15:04:05Z",
		"object": map[string]any{"objectType": "Activity", "id": "https://lms.example.org/au/im-update",
			"definition": map[string]any{"name": map[string]string{"en-US": "Internal Medicine Update"},
				"extensions": map[string]any{cmex.GuessXAPIActivityExtension: act}}},
		"result": map[string]any{"success": true, "completion": true,
			"extensions": map[string]any{cmex.GuessXAPICreditsExtension: credits}},
		"context": map[string]any{"extensions": map[string]any{cmex.GuessXAPILearnerExtension: map[string]any{
			"givenName": "Jane", "familyName": "ACCME", "birthDate": "1904-10-30",
			"uniqueIds": []map[string]string{{"domain": "ABIM", "value": "999902"}}}}},
	}
}

func xapiCredit(cert string, points float64, id string) map[string]any {
	return map[string]any{"certification": cert, "points": points, "creditId": id}
}

type xapiOutcome struct {
	StatementID string
	Outcome     string
	CreditIDs   []string
	Problems    []struct{ Code, Message string }
}

func (s *server) xapiOutcome(id string) xapiOutcome {
	s.t.Helper()
	code, b := s.xapiDo("GET", "/api/v1/xapi/outcomes/"+id, nil)
	var o xapiOutcome
	if err := json.Unmarshal(b, &o); err != nil || code != 200 {
		s.t.Fatalf("outcome of %s: %d %s", id, code, b)
	}
	return o
}

// TestXAPICompletionsSQLite (and Postgres): a cmi5 passed statement with the CME result
// extension becomes Jane's learner records, reaching Approved through the
// simulated board; one the rules refuse is still stored, its refusal
// readable with its PARS code; voiding the first deletes its records.
func TestXAPICompletionsSQLite(t *testing.T) {
	xapiCompletions(t, "sqlite:"+filepath.Join(t.TempDir(), "cmex.db"))
}

func TestXAPICompletionsPostgres(t *testing.T) {
	xapiCompletions(t, cmextest.PostgresURL(t))
}

func xapiCompletions(t *testing.T, db string) {
	var mu sync.Mutex
	events := map[string][]string{} // by CreditID
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !webhook.Verify("whsec-xapi", body, r.Header.Get(webhook.HeaderSignature)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e webhook.Event
		json.Unmarshal(body, &e)
		mu.Lock()
		events[string(e.CreditID)] = append(events[string(e.CreditID)], e.Event)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	waitEvents := func(id string, n int) []string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			got := append([]string(nil), events[id]...)
			mu.Unlock()
			if len(got) >= n || time.Now().After(deadline) {
				return got
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	env := []string{"CMEX_DB=" + db, "CMEX_SECRET_KEY=xapi-secret-key-0123456789"}
	s := startServer(t, env, "-sandbox", "-sandbox-board-delay", "300ms", "-allow-private-destinations")
	if out, code := runCLI(t, env, "whsec-xapi\n", "destinations", "add", "-allow-private-destinations", "-provider", "1234567", "-name", "hook", "-kind", "webhook", "-url", hook.URL); code != 0 {
		t.Fatalf("destinations add: %s", out)
	}
	d := around(time.Now())
	r := s.post(savePath, submit(mocActivity(d, "xapi-e2e"), providerA, d.start[:4]))
	if r.StatusCode != "Accepted" {
		t.Fatalf("register the MOC activity: %+v", r)
	}
	act := activityID(t, r)

	// A profile: a table of activity IRIs, default credits, and a table
	// of learners by mbox; a problem is refused with its line.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{\n  \"activity\": {\"table\": {\"https://lms.example.org/au/table\": \"12\"}}\n}\n"), 0o600)
	if out, code := runCLI(t, env, "", "xapi", "profile", "load", "-provider", "1234567", bad); code != 1 || !strings.Contains(out, "bad.json:2: ") {
		t.Errorf("a bad profile: %d %s", code, out)
	}
	good := filepath.Join(dir, "profile.json")
	os.WriteFile(good, []byte(`{
  "activity": {"table": {"https://lms.example.org/au/table": "`+act+`"}},
  "credits": {"defaults": {"`+act+`": [{"certification": "AMA PRA Category 1", "points": 1}]}},
  "learner": {"table": {"mbox:mailto:helen@example.org": {"givenName": "Helen", "familyName": "Markman", "birthDate": "1970-09-26", "uniqueIds": [{"domain": "NPI", "value": "1234567890"}]}}},
  "creditIdDomain": "lms.example.org"
}`), 0o600)
	if out, code := runCLI(t, env, "", "xapi", "profile", "load", "-provider", "1234567", good); code != 0 {
		t.Fatalf("profile load: %s", out)
	}
	const helen = "6a3e1b52-5c1d-4b7e-9f0a-000000000004"
	code, b := s.xapiDo("POST", "/xapi/statements", map[string]any{"id": helen, "timestamp": d.completed + "T10:00:00Z",
		"actor": map[string]any{"mbox": "mailto:helen@example.org"}, "verb": map[string]any{"id": cmex.XAPIVerbADLCompleted},
		"object": map[string]any{"id": "https://lms.example.org/au/table"}})
	if code != 200 {
		t.Fatalf("Helen's statement: %d %s", code, b)
	}
	if o := s.xapiOutcome(helen); o.Outcome != "accepted" || len(o.CreditIDs) != 1 || o.CreditIDs[0] != "ccid:lms.example.org:"+helen+"-1" {
		t.Errorf("Helen's outcome: %+v", o)
	}

	if g, r := units(t, s.getRoleData("999902", "LearningPlan")); g != "0" || r != "0" {
		t.Fatalf("Jane's progress before any statement: granted %s, requested %s", g, r)
	}

	const first = "6a3e1b52-5c1d-4b7e-9f0a-000000000001"
	code, b = s.xapiDo("PUT", "/xapi/statements?statementId="+first, cmi5Passed(first, act, d.completed,
		xapiCredit("AMA PRA Category 1", 2, "ccid:xapi-e2e:1"), xapiCredit("ABIM Medical Knowledge", 1.5, "ccid:xapi-e2e:2")))
	if code != http.StatusNoContent {
		t.Fatalf("PUT the passed statement: %d %s", code, b)
	}
	if o := s.xapiOutcome(first); o.Outcome != "accepted" || len(o.CreditIDs) != 2 || len(o.Problems) != 0 {
		t.Fatalf("outcome of the passed statement: %+v", o)
	}
	seen := map[string]bool{}
	s.waitFor(byCreditPath, statusByCredit("ccid:xapi-e2e:1", providerA), "ccid:xapi-e2e:1", "Accepted", seen)
	s.waitFor(byCreditPath, statusByCredit("ccid:xapi-e2e:2", providerA), "ccid:xapi-e2e:2", "Approved", seen)
	if ev := waitEvents("ccid:xapi-e2e:2", 1); len(ev) == 0 {
		t.Errorf("ccid:xapi-e2e:2 never reached the webhook")
	}
	// Her Process Synchronization progress: everything granted once the
	// board approved.
	approved, requested := units(t, s.getRoleData("999902", "LearningPlan"))
	if approved != "3.5" || requested != "3.5" {
		t.Errorf("Jane's progress after the statement: granted %s, requested %s; want 3.5 and 3.5", approved, requested)
	}
	// On her transcript (the sandbox account jane.accme is her registry
	// person's).
	transcript := func() string {
		req, _ := http.NewRequest(http.MethodGet, s.base+"/api/v1/account/transcript", nil)
		req.SetBasicAuth("jane.accme", "sandbox")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("her transcript: %d %s", res.StatusCode, b)
		}
		return string(b)
	}
	onTranscript := regexp.MustCompile(`"shortName": "` + act + `"`)
	if tr := transcript(); !onTranscript.MatchString(tr) || !strings.Contains(tr, `"Medical Knowledge"`) {
		t.Errorf("her transcript lacks the record:\n%s", tr)
	}

	// The same CreditID again: 603, and the statement stored all the same.
	const second = "6a3e1b52-5c1d-4b7e-9f0a-000000000002"
	code, b = s.xapiDo("POST", "/xapi/statements", []any{cmi5Passed(second, act, d.completed, xapiCredit("AMA PRA Category 1", 1, "ccid:xapi-e2e:1"))})
	if code != http.StatusOK || !strings.Contains(string(b), second) {
		t.Fatalf("POST the refused statement: %d %s", code, b)
	}
	if code, b := s.xapiDo("GET", "/xapi/statements?statementId="+second, nil); code != 200 || !strings.Contains(string(b), second) {
		t.Errorf("the refused statement is not stored: %d %s", code, b)
	}
	code, b = s.xapiDo("GET", "/api/v1/xapi/outcomes?outcome=rejected", nil)
	var list struct{ Outcomes []xapiOutcome }
	if err := json.Unmarshal(b, &list); err != nil || code != 200 || len(list.Outcomes) != 1 || list.Outcomes[0].StatementID != second ||
		len(list.Outcomes[0].Problems) == 0 || list.Outcomes[0].Problems[0].Code != "603" {
		t.Fatalf("refusals: %d %s\n%s", code, b, s.logs)
	}

	// A statement of another verb is stored and makes no record.
	const attempted = "6a3e1b52-5c1d-4b7e-9f0a-000000000003"
	st := cmi5Passed(attempted, act, d.completed, xapiCredit("AMA PRA Category 1", 1, "ccid:xapi-e2e:3"))
	st["verb"] = map[string]any{"id": "http://adlnet.gov/expapi/verbs/attempted"}
	if code, b := s.xapiDo("POST", "/xapi/statements", st); code != 200 {
		t.Fatalf("POST attempted: %d %s", code, b)
	}
	if code, _ := s.xapiDo("GET", "/api/v1/xapi/outcomes/"+attempted, nil); code != 404 {
		t.Errorf("an attempted statement has an outcome: %d", code)
	}
	if a := s.status(byCreditPath, statusByCredit("ccid:xapi-e2e:3", providerA)); len(a.Messages) != 1 || a.Messages[0].ErrorMessages[0].Code != "605" {
		t.Errorf("an attempted statement made a record: %+v", a)
	}

	// Voiding the first deletes its records, as a PARS delete does.
	void := map[string]any{"actor": map[string]any{"mbox": "mailto:lms@example.org"}, "verb": map[string]any{"id": "http://adlnet.gov/expapi/verbs/voided"},
		"object": map[string]any{"objectType": "StatementRef", "id": first}}
	if code, b := s.xapiDo("POST", "/xapi/statements", void); code != 200 {
		t.Fatalf("void: %d %s", code, b)
	}
	for _, id := range []string{"ccid:xapi-e2e:1", "ccid:xapi-e2e:2"} {
		if a := s.status(byCreditPath, statusByCredit(id, providerA)); len(a.Messages) != 1 || a.Messages[0].ErrorMessages[0].Code != "605" {
			t.Errorf("%s after voiding: %+v", id, a)
		}
	}
	if g, _ := units(t, s.getRoleData("999902", "LearningPlan")); g != "0" {
		t.Errorf("Jane's progress after voiding: granted %s, want 0", g)
	}
	if tr := transcript(); onTranscript.MatchString(tr) {
		t.Errorf("her transcript keeps the voided record:\n%s", tr)
	}
	if o := s.xapiOutcome(first); o.Outcome != "voided" {
		t.Errorf("outcome of the voided statement: %+v", o)
	}
	// No credits in the statement nor the profile: those the activity offers.
	r = s.post(savePath, submit(mocActivity(d, "xapi-e2e-offered"), providerA, d.start[:4]))
	if r.StatusCode != "Accepted" {
		t.Fatalf("register the second activity: %+v", r)
	}
	const offered = "6a3e1b52-5c1d-4b7e-9f0a-000000000007"
	st = cmi5Passed(offered, activityID(t, r), d.completed)
	delete(st["result"].(map[string]any), "extensions")
	if code, b := s.xapiDo("POST", "/xapi/statements", st); code != 200 {
		t.Fatalf("POST without credits: %d %s", code, b)
	}
	if a := s.status(byCreditPath, statusByCredit("ccid:lms.example.org:"+offered+"-1", providerA)); len(a.Messages) != 1 || a.Messages[0].StatusCode != "Accepted" {
		t.Errorf("the activity's credits: %+v", a)
	}

	// A completion voided in its own batch, or by a voiding statement
	// stored before it, makes no record.
	const inBatch, early = "6a3e1b52-5c1d-4b7e-9f0a-000000000005", "6a3e1b52-5c1d-4b7e-9f0a-000000000006"
	voidOf := func(id string) map[string]any {
		return map[string]any{"actor": map[string]any{"mbox": "mailto:lms@example.org"}, "verb": map[string]any{"id": "http://adlnet.gov/expapi/verbs/voided"},
			"object": map[string]any{"objectType": "StatementRef", "id": id}}
	}
	if code, b := s.xapiDo("POST", "/xapi/statements", []any{cmi5Passed(inBatch, act, d.completed, xapiCredit("AMA PRA Category 1", 1, "ccid:xapi-e2e:5")), voidOf(inBatch)}); code != 200 {
		t.Fatalf("batch: %d %s", code, b)
	}
	if code, b := s.xapiDo("POST", "/xapi/statements", voidOf(early)); code != 200 {
		t.Fatalf("early void: %d %s", code, b)
	}
	if code, b := s.xapiDo("POST", "/xapi/statements", cmi5Passed(early, act, d.completed, xapiCredit("AMA PRA Category 1", 1, "ccid:xapi-e2e:6"))); code != 200 {
		t.Fatalf("target of the early void: %d %s", code, b)
	}
	for _, id := range []string{"ccid:xapi-e2e:5", "ccid:xapi-e2e:6"} {
		if a := s.status(byCreditPath, statusByCredit(id, providerA)); len(a.Messages) != 1 || a.Messages[0].ErrorMessages[0].Code != "605" {
			t.Errorf("%s of a voided statement: %+v", id, a)
		}
	}
	for _, id := range []string{inBatch, early} {
		if code, _ := s.xapiDo("GET", "/api/v1/xapi/outcomes/"+id, nil); code != 404 {
			t.Errorf("voided statement %s has an outcome: %d", id, code)
		}
	}
	if ev := waitEvents("ccid:xapi-e2e:1", 2); len(ev) != 2 || !strings.HasSuffix(ev[1], "delete") && !strings.HasSuffix(ev[1], "deleted") {
		t.Errorf("webhook events of ccid:xapi-e2e:1: %v", ev)
	}
	s.stop()
}
