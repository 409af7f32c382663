package main_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestKillUnderLoad kills the server with SIGKILL while sixteen clients
// report completions, starts it again, and checks that every record it
// acknowledged (Accepted) is in the ledger exactly once.
func TestKillUnderLoad(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "cmex.db")
	env := []string{"CMEX_DB=sqlite:" + db}
	s := startServer(t, env, "-sandbox", "-matching", "passthrough")
	load := newLearnerLoad(t, s)

	var mu sync.Mutex
	var acknowledged []string // CreditIDs answered Accepted
	var wg sync.WaitGroup
	killed := make(chan struct{})
	hc := &http.Client{Timeout: 10 * time.Second}
	for c := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-killed:
					return
				default:
				}
				body, ids := load.report(c, i)
				resp, err := hc.Post(s.base+saveLearnerPath, "application/xml; charset=utf-8", bytes.NewReader(body))
				if err != nil {
					continue // the server is gone
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if bytes.Contains(out, []byte("Accepted")) {
					mu.Lock()
					acknowledged = append(acknowledged, ids...)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.done
	close(killed)
	wg.Wait()
	if len(acknowledged) < 30 {
		t.Fatalf("only %d records acknowledged before the kill", len(acknowledged))
	}

	// Start again on the same file: it recovers, and holds every
	// acknowledged record exactly once.
	s = startServer(t, env, "-sandbox", "-matching", "passthrough")
	s.stop()
	d := openTestDB(t, "sqlite:"+db)
	defer d.Close()
	held := heldOnce(t, d, acknowledged)
	t.Logf("%d records acknowledged before SIGKILL, %d held after restart", len(acknowledged), len(held))
}

// learnerLoad is SaveLearnerActivity traffic for a load test: the
// examples' completion of their MOC activity, three credits a report.
type learnerLoad struct{ template string }

// newLearnerLoad registers the examples' MOC activity on s for the reports.
func newLearnerLoad(t *testing.T, s *server) learnerLoad {
	t.Helper()
	raw := s.postRaw(savePath, mustRead(t, "../../examples/save-moc-activity.xml"))
	m := regexp.MustCompile(`entry&quot;&gt;([0-9]{9})`).FindStringSubmatch(raw)
	if m == nil {
		t.Fatalf("save-moc-activity.xml: no activity id in %.300s", raw)
	}
	return learnerLoad{strings.ReplaceAll(string(mustRead(t, "../../examples/save-learner.xml")), "ACTIVITY_ID", m[1])}
}

// report is client c's report i, and its CreditIDs, which no other report
// has (they begin ccid:aaatestorganization.org:k). Each is of a learner of
// its own: one learner's second completion of the activity on the same
// day is a duplicate.
func (l learnerLoad) report(c, i int) ([]byte, []string) {
	tag := fmt.Sprintf("k%d-%d-", c, i)
	learner := fmt.Sprintf("%02d%04d", c, i)
	body := strings.NewReplacer(":v2026-", ":"+tag, "MD999902", "MD"+learner, "&gt;999902&lt;", "&gt;"+learner+"&lt;").Replace(l.template)
	ids := make([]string, 3)
	for n := range ids {
		ids[n] = fmt.Sprintf("ccid:aaatestorganization.org:%s%d", tag, n+1)
	}
	return []byte(body), ids
}

// heldOnce checks that the ledger db holds each acknowledged record
// exactly once, and every load record (its CreditID begins
// ccid:aaatestorganization.org:k) no more than once, and returns how often
// it holds each.
func heldOnce(t *testing.T, db *sql.DB, acknowledged []string) map[string]int {
	t.Helper()
	held := heldRecords(t, db, "ccid:aaatestorganization.org:k%")
	missing := 0
	for _, id := range acknowledged {
		if held[id] != 1 {
			if missing++; missing <= 5 {
				t.Errorf("acknowledged %s is held %d times", id, held[id])
			}
		}
	}
	for id, n := range held {
		if n != 1 {
			t.Errorf("%s is held %d times", id, n)
		}
	}
	return held
}

// heldRecords counts the learner records the database holds by CreditID,
// of the CreditIDs LIKE pattern (a test's constant, written into the
// statement because the two engines' drivers number parameters
// differently), deleted ones included.
func heldRecords(t *testing.T, db *sql.DB, pattern string) map[string]int {
	t.Helper()
	rows, err := db.Query(`SELECT credit_id FROM learner_records WHERE credit_id LIKE '` + strings.ReplaceAll(pattern, "'", "''") + `'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	held := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		held[id]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return held
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
