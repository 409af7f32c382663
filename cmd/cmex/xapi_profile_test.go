package main_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
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
	s := startServer(t, []string{"CMEX_DB=" + db}, "-sandbox", "-sandbox-board-delay", "300ms")
	d := around(time.Now())
	r := s.post(savePath, submit(mocActivity(d, "xapi-e2e"), providerA, d.start[:4]))
	if r.StatusCode != "Accepted" {
		t.Fatalf("register the MOC activity: %+v", r)
	}
	act := activityID(t, r)

	const first = "6a3e1b52-5c1d-4b7e-9f0a-000000000001"
	code, b := s.xapiDo("PUT", "/xapi/statements?statementId="+first, cmi5Passed(first, act, d.completed,
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
	if o := s.xapiOutcome(first); o.Outcome != "voided" {
		t.Errorf("outcome of the voided statement: %+v", o)
	}
	s.stop()
}
