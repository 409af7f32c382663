package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/cmextest"
)

// TestXAPIConcurrentCreditIDSQLite (and Postgres): completion statements
// of different activities naming the same CreditID, POSTed at once, end
// as they do one after the other: all stored (200), one accepted, the
// others refused with 603 (the duplicate CreditID), never a 5xx.
func TestXAPIConcurrentCreditIDSQLite(t *testing.T) {
	xapiConcurrentCreditID(t, "sqlite:"+filepath.Join(t.TempDir(), "cmex.db"))
}

func TestXAPIConcurrentCreditIDPostgres(t *testing.T) {
	xapiConcurrentCreditID(t, cmextest.PostgresURL(t))
}

func xapiConcurrentCreditID(t *testing.T, db string) {
	env := []string{"CMEX_DB=" + db}
	s := startServer(t, env, "-sandbox")
	// An API key, not a password: checking a password takes long enough
	// (argon2id) to set the requests apart.
	out, code := runCLI(t, env, "", "apikey", "add", "-provider", "1234567", "-name", "race")
	key := regexp.MustCompile(`cmex_[A-Za-z0-9_-]+`).FindString(out)
	if code != 0 || key == "" {
		t.Fatalf("apikey add: %d %s", code, out)
	}
	post := func(st map[string]any) (int, []byte) {
		b, _ := json.Marshal(st)
		req, _ := http.NewRequest("POST", s.base+"/xapi/statements", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("X-Experience-API-Version", "2.0.0")
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, []byte(err.Error())
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, body
	}
	d := around(time.Now())
	const rounds, racers = 6, 3
	for round := range rounds {
		credit := fmt.Sprintf("ccid:xapi-race:%d", round)
		// An activity of its own for each statement: statements of one
		// activity are judged one after the other (its row is locked), and
		// Jane's completing an activity again would be a repeat
		// participation (751).
		acts := make([]string, racers)
		for i := range racers {
			r := s.post(savePath, submit(mocActivity(d, fmt.Sprintf("xapi-race-%d-%d", round, i)), providerA, d.start[:4]))
			if r.StatusCode != "Accepted" {
				t.Fatalf("register an activity: %+v", r)
			}
			acts[i] = activityID(t, r)
		}
		ids := make([]string, racers)
		codes := make([]int, racers)
		bodies := make([][]byte, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			ids[i] = fmt.Sprintf("7b3e1b52-5c1d-4b7e-9f0a-%06d%06d", round, i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				st := cmi5Passed(ids[i], acts[i], d.completed, xapiCredit("AMA PRA Category 1", 1, credit))
				// Activity IRIs of their own too: storing one activity's
				// definition locks its row.
				st["object"].(map[string]any)["id"] = fmt.Sprintf("https://lms.example.org/au/race-%d-%d", round, i)
				codes[i], bodies[i] = post(st)
			}()
		}
		close(start)
		wg.Wait()
		accepted := 0
		for i := range racers {
			if codes[i] != http.StatusOK || !strings.Contains(string(bodies[i]), ids[i]) {
				t.Fatalf("round %d: POST %d: %d %s\n%s", round, i, codes[i], bodies[i], s.logs)
			}
			switch o := s.xapiOutcome(ids[i]); {
			case o.Outcome == "accepted":
				accepted++
			case o.Outcome != "rejected" || !slices.ContainsFunc(o.Problems, func(p struct{ Code, Message string }) bool { return p.Code == "603" }):
				t.Errorf("round %d: statement %d: outcome %+v, want accepted or rejected with 603", round, i, o)
			}
			if code, b := s.xapiDo("GET", "/xapi/statements?statementId="+ids[i], nil); code != 200 {
				t.Errorf("round %d: statement %d is not stored: %d %s", round, i, code, b)
			}
		}
		if accepted != 1 {
			t.Errorf("round %d: %d statements accepted, want 1", round, accepted)
		}
	}
	s.stop()
}
