package main_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/postgres"
	"github.com/cmexhub/cmex/internal/sqlite"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// importFixture is a database with a provider and its activities, and a
// learner file of n records of which every 500th names no activity.
type importFixture struct {
	dir, db, file string
	acts          []cmex.ActivityID
	n             int
}

func newImportFixture(t *testing.T, n int) *importFixture {
	t.Helper()
	dir := t.TempDir()
	f := &importFixture{dir: dir, db: "sqlite:" + filepath.Join(dir, "ref.db"), n: n}
	f.acts = f.newDB(t, f.db)
	f.file = filepath.Join(dir, "learners.xml")
	if out, code := runCLI(t, nil, "", "bench", "generate", "-db", f.db, "-provider", "1234567", "-records", fmt.Sprint(n), "-reject-every", "500", f.file); code != 0 {
		t.Fatalf("generate: %s", out)
	}
	return f
}

// newDB makes a database with provider 1234567 and 10 activities,
// imported from an activity file by the binary, and returns their ids.
func (f *importFixture) newDB(t *testing.T, db string) []cmex.ActivityID {
	t.Helper()
	if out, code := runCLI(t, nil, "", "provider", "add", "-db", db, "-id", "1234567", "-name", "AAA Test Organization"); code != 0 {
		t.Fatalf("provider add: %s", out)
	}
	acts := filepath.Join(f.dir, "activities.xml")
	if out, code := runCLI(t, nil, "", "bench", "generate", "-activities", "10", acts); code != 0 {
		t.Fatalf("generate: %s", out)
	}
	if out, code := runCLI(t, nil, "", "import", "-db", db, "-provider", "1234567", acts); code != 0 || !strings.Contains(out, "10 accepted") {
		t.Fatalf("activity import: %d %s", code, out)
	}
	// Again: nothing changes.
	if out, code := runCLI(t, nil, "", "import", "-db", db, "-provider", "1234567", acts); code != 0 || !strings.Contains(out, "10 already present") {
		t.Fatalf("activity import again: %d %s", code, out)
	}
	var ids []cmex.ActivityID
	err := openStore(db, func(s *sqlstore.DB) error {
		as, err := sqlstore.NewActivityService(s).FindActivities(context.Background(), cmex.ActivityFilter{ProviderID: "1234567"})
		for _, a := range as {
			ids = append(ids, a.ID)
		}
		return err
	})
	if err != nil || len(ids) != 10 {
		t.Fatalf("activities: %v %v", ids, err)
	}
	return ids
}

func openStore(db string, fn func(*sqlstore.DB) error) error {
	var s *sqlstore.DB
	var err error
	if strings.HasPrefix(db, "postgres") {
		s, err = postgres.Open(context.Background(), db, postgres.Options{})
	} else {
		s, err = sqlite.Open(context.Background(), strings.TrimPrefix(db, "sqlite:"))
	}
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

// ledger is what a database holds: each live CreditID with its learner
// and activity, the number of records, and the number of status events.
type ledger struct {
	credits        map[string]string
	records, event int
}

func readLedger(t *testing.T, db string) ledger {
	t.Helper()
	l := ledger{credits: map[string]string{}}
	err := openStore(db, func(s *sqlstore.DB) error {
		rows, err := s.SQL().Query(`SELECT credit_id, learner_key, activity_id FROM learner_records WHERE NOT deleted`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, key string
			var act int64
			if err := rows.Scan(&id, &key, &act); err != nil {
				return err
			}
			if _, dup := l.credits[id]; dup {
				return fmt.Errorf("CreditID %s twice", id)
			}
			l.credits[id] = fmt.Sprint(key, " ", act)
		}
		if err := s.SQL().QueryRow(`SELECT count(*) FROM learner_records`).Scan(&l.records); err != nil {
			return err
		}
		return s.SQL().QueryRow(`SELECT count(*) FROM learner_record_events`).Scan(&l.event)
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func readReport(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != "file,position,line,id,outcome,codes,messages" {
		t.Fatalf("report header: %v", rows)
	}
	counts := map[string]int{}
	for _, r := range rows[1:] {
		counts[r[4]]++
		if r[4] == cmex.OutcomeRejected && r[5] == "" {
			t.Errorf("rejected without a code: %v", r)
		}
	}
	return counts
}

// TestImportIdempotentAndCrashSafe kills the real binary in the middle of
// imports, several times, then lets it finish: the ledger ends as after
// one clean run, and a further run changes nothing.
func TestImportIdempotentAndCrashSafe(t *testing.T) {
	f := newImportFixture(t, 20000)
	rejected := f.n / 500

	// The clean run.
	report := filepath.Join(f.dir, "clean.csv")
	out, code := runCLI(t, nil, "", "import", "-db", f.db, "-provider", "1234567", "-report", report, f.file)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("%d records: %d accepted, 0 already present, %d rejected", f.n, f.n-rejected, rejected)) {
		t.Fatalf("clean import: exit %d\n%s", code, out)
	}
	if c := readReport(t, report); c[cmex.OutcomeAccepted] != f.n-rejected || c[cmex.OutcomeRejected] != rejected {
		t.Fatalf("clean report: %v", c)
	}
	clean := readLedger(t, f.db)
	if len(clean.credits) != f.n-rejected || clean.records != len(clean.credits) || clean.event != clean.records {
		t.Fatalf("clean ledger: %d credits, %d records, %d events", len(clean.credits), clean.records, clean.event)
	}

	// Again: every record is present or rejected as before, nothing changes.
	out, code = runCLI(t, nil, "", "import", "-db", f.db, "-provider", "1234567", "-report", report, f.file)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("0 accepted, %d already present, %d rejected", f.n-rejected, rejected)) {
		t.Fatalf("repeated import: exit %d\n%s", code, out)
	}
	if again := readLedger(t, f.db); again.records != clean.records || again.event != clean.event {
		t.Fatalf("a repeated import changed the ledger: %+v", again)
	}

	// Killed runs against a second database.
	db := "sqlite:" + filepath.Join(f.dir, "killed.db")
	if acts := f.newDB(t, db); !slices.Equal(acts, f.acts) {
		t.Fatalf("activity ids differ: %v %v", acts, f.acts)
	}
	// Each run is killed once it has written more than the last run left
	// (so that every kill falls in the middle, however slow the machine is
	// today), a little later each time.
	midway := 0
	for attempt := 0; attempt < 6 && midway < 2; attempt++ {
		before := readLedger(t, db).records
		cmd := exec.Command(bin, "import", "-db", db, "-provider", "1234567", "-progress", "none", f.file)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		began := time.Now()
		for seen := false; !seen; {
			select {
			case <-exited:
				seen = true
			case <-time.After(20 * time.Millisecond):
				seen = ledgerRecords(t, db) > before
			}
		}
		time.Sleep(time.Duration(attempt) * 40 * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		l := readLedger(t, db)
		if l.event != l.records {
			t.Fatalf("after a kill: %d records but %d events", l.records, l.event)
		}
		if l.records > 0 && l.records < clean.records {
			midway++
			t.Logf("killed after %v with %d of %d records in", time.Since(began).Round(time.Millisecond), l.records, clean.records)
		}
	}
	if midway == 0 {
		t.Fatalf("no kill fell in the middle of an import")
	}
	report = filepath.Join(f.dir, "resumed.json")
	out, code = runCLI(t, nil, "", "import", "-db", db, "-provider", "1234567", "-report", report, f.file)
	if code != 1 {
		t.Fatalf("resumed import: exit %d\n%s", code, out)
	}
	resumed := readLedger(t, db)
	if resumed.records != clean.records || resumed.event != clean.event || len(resumed.credits) != len(clean.credits) {
		t.Fatalf("resumed ledger: %d records %d events, clean: %d %d", resumed.records, resumed.event, clean.records, clean.event)
	}
	for id, v := range clean.credits {
		if resumed.credits[id] != v {
			t.Fatalf("CreditID %s: %q after the kills, %q after a clean run", id, resumed.credits[id], v)
		}
	}
	var outcomes []struct {
		Outcome  string `json:"outcome"`
		Position int    `json:"position"`
		Problems []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"problems"`
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &outcomes); err != nil || len(outcomes) != f.n {
		t.Fatalf("JSON report: %d outcomes, %v", len(outcomes), err)
	}
	for i, o := range outcomes {
		if o.Position != i+1 || (o.Outcome == cmex.OutcomeRejected) != (i%500 == 499) || (o.Outcome == cmex.OutcomeRejected) != (len(o.Problems) > 0) {
			t.Fatalf("outcome %d: %+v", i, o)
		}
	}
}

// TestImportCSVAndRegistry: the learner-record CSV and the registry CSV.
func TestImportCSVAndRegistry(t *testing.T) {
	f := &importFixture{dir: t.TempDir()}
	f.db = "sqlite:" + filepath.Join(f.dir, "c.db")
	acts := f.newDB(t, f.db)
	registry := filepath.Join(f.dir, "registry.csv")
	os.WriteFile(registry, []byte("first_name,last_name,birth_date,license_state,license_id\nHelen,Markman,1970-09-26,OH,44861\nBad,Date,1970-13-01,,\n"), 0o644)
	out, code := runCLI(t, nil, "", "import", "-db", f.db, registry)
	if code != 1 || !strings.Contains(out, "0 accepted, 0 already present, 1 rejected") {
		t.Fatalf("registry with a bad row (nothing imported): %d %s", code, out)
	}
	os.WriteFile(registry, []byte("first_name,last_name,birth_date,license_state,license_id\nHelen,Markman,1970-09-26,OH,44861\n"), 0o644)
	if out, code := runCLI(t, nil, "", "import", "-db", f.db, registry); code != 0 || !strings.Contains(out, "1 accepted") {
		t.Fatalf("registry: %d %s", code, out)
	}
	if out, code := runCLI(t, nil, "", "import", "-db", f.db, registry); code != 0 || !strings.Contains(out, "1 already present") {
		t.Fatalf("registry again: %d %s", code, out)
	}
	records := filepath.Join(f.dir, "records.csv")
	y := benchYear()
	csvText := "credit_id,activity_id,completion_date,certification,points,first_name,last_name,birth_date,license_state,license_id\n" +
		fmt.Sprintf("ccid:x.org:1,%d,%d-01-03,AMA PRA Category 1,1.5,Helen,Markman,1970-09-26,OH,44861\n", acts[0], y) +
		fmt.Sprintf("ccid:x.org:2,%d,%d-01-03,AMA PRA Category 1,lots,Helen,Markman,1970-09-26,OH,44861\n", acts[1], y) +
		fmt.Sprintf("ccid:x.org:3,999999999,%d-01-03,AMA PRA Category 1,1,Helen,Markman,1970-09-26,OH,44861\n", y)
	os.WriteFile(records, []byte(csvText), 0o644)
	report := filepath.Join(f.dir, "r.csv")
	for i, want := range []string{"1 accepted, 0 already present, 2 rejected", "0 accepted, 1 already present, 2 rejected"} {
		out, code := runCLI(t, nil, "", "import", "-db", f.db, "-provider", "1234567", "-matching", "registry", "-report", report, records)
		if code != 1 || !strings.Contains(out, want) {
			t.Fatalf("run %d: %d %s", i, code, out)
		}
	}
	b, _ := os.ReadFile(report)
	for _, want := range []string{records + ",1,2,ccid:x.org:1,present,,", records + `,2,3,ccid:x.org:2,rejected,998,"General learner record processing error. points: ""lots""`, records + ",3,4,ccid:x.org:3,rejected,"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %q:\n%s", want, b)
		}
	}
	if out, code := runCLI(t, nil, "", "import", "-db", f.db, records); code != 2 || !strings.Contains(out, "-provider") {
		t.Errorf("no provider: %d %s", code, out)
	}
	os.WriteFile(records, []byte("what,is,this\n1,2,3\n"), 0o644)
	if out, code := runCLI(t, nil, "", "import", "-db", f.db, "-provider", "1234567", records); code == 0 || !strings.Contains(out, "not a batch file") {
		t.Errorf("unknown file: %d %s", code, out)
	}
}

// TestExportRoundTrip: what cmex export writes, cmex import reads back
// into the same ledger; the filters select what they say.
func TestExportRoundTrip(t *testing.T) {
	f := newImportFixture(t, 3000)
	if out, code := runCLI(t, nil, "", "import", "-db", f.db, "-provider", "1234567", f.file); code != 1 {
		t.Fatalf("import: %d %s", code, out)
	}
	orig := readLedger(t, f.db)
	exported := filepath.Join(f.dir, "export.xml")
	if out, code := runCLI(t, nil, "", "export", "learners", "-db", f.db, "-provider", "1234567", "-o", exported); code != 0 {
		t.Fatalf("export: %d %s", code, out)
	}
	db := "sqlite:" + filepath.Join(f.dir, "copy.db")
	f.newDB(t, db)
	out, code := runCLI(t, nil, "", "import", "-db", db, "-provider", "1234567", exported)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d accepted, 0 already present, 0 rejected", len(orig.credits))) {
		t.Fatalf("import of the export: %d %s", code, out)
	}
	if cp := readLedger(t, db); len(cp.credits) != len(orig.credits) {
		t.Fatalf("%d records after the round trip, want %d", len(cp.credits), len(orig.credits))
	} else {
		for id, v := range orig.credits {
			if cp.credits[id] != v {
				t.Fatalf("%s: %q, want %q", id, cp.credits[id], v)
			}
		}
	}
	// CSV carries the same records; a learner filter picks one; JSON is
	// one array.
	csvOut, code := runCLI(t, nil, "", "export", "learners", "-db", f.db, "-format", "csv")
	if code != 0 || strings.Count(csvOut, "\n") != len(orig.credits)+1 {
		t.Fatalf("csv export: %d, %d lines", code, strings.Count(csvOut, "\n"))
	}
	one, code := runCLI(t, nil, "", "export", "learners", "-db", f.db, "-learner", "MD0000007", "-format", "json")
	var recs []cmex.LearnerRecord
	if err := json.Unmarshal([]byte(one), &recs); code != 0 || err != nil || len(recs) != 1 || recs[0].CreditID != "ccid:bench.example.org:7" {
		t.Fatalf("learner export: %d %v %s", code, err, one)
	}
	none, code := runCLI(t, nil, "", "export", "learners", "-db", f.db, "-to", fmt.Sprintf("%d-12-31", benchYear()-1), "-format", "json")
	if code != 0 || strings.TrimSpace(none) != "[]" {
		t.Fatalf("export before the completions: %d %q", code, none)
	}
	acts, code := runCLI(t, nil, "", "export", "activities", "-db", f.db, "-provider", "1234567", "-format", "csv")
	if code != 0 || strings.Count(acts, "\n") != 11 || !strings.Contains(acts, fmt.Sprintf("bench-%d-0003", benchYear())) {
		t.Fatalf("activities export: %d %s", code, acts)
	}
	if out, code := runCLI(t, nil, "", "export", "transcript", "-db", f.db); code != 2 || !strings.Contains(out, "-person") {
		t.Errorf("transcript without a person: %d %s", code, out)
	}
}

// TestBenchCommand runs the benchmark small: every stage must work, every
// SaveLearnerActivity call under load must be accepted, and GetRoleData
// and the transcript must list every credit of the physician asked about.
func TestBenchCommand(t *testing.T) {
	out, code := runCLI(t, nil, "", "bench", "-records", "3000", "-clients", "8", "-duration", "1s",
		"-ledger", "20000", "-credits", "20", "-read-clients", "2", "-read-duration", "500ms")
	if code != 0 {
		t.Fatalf("bench: %d\n%s", code, out)
	}
	// The read measures check their first answers hold every credit.
	for _, want := range []string{"3000 records", "cmex import", "records/s", "peak memory", "SaveLearnerActivity, 8 clients", ", 0 not Accepted)", "p99",
		"ledger  ", "20000 learner records", "GetRoleData, Activity depth, 20 activities, 2 clients", "transcript of 20 credits", ", 0 failed)"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
}

// TestImportKeepsStatistics: an import filling an empty PostgreSQL ledger
// has its statistics brought up to date as it goes (ANALYZE once imports
// have added 10,000 records, and at every doubling after), since the
// planner would otherwise plan each batch's lookups for the empty table it
// last counted; a small import leaves them alone.
func TestImportKeepsStatistics(t *testing.T) {
	db := cmextest.PostgresURL(t)
	f := &importFixture{dir: t.TempDir(), db: db}
	f.newDB(t, db)
	analyses := func() int {
		var n int
		err := openStore(db, func(s *sqlstore.DB) error {
			return s.SQL().QueryRow(`SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'learner_records'`).Scan(&n)
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	imp := func(from, n int) {
		t.Helper()
		file := filepath.Join(f.dir, fmt.Sprintf("learners-%d.xml", from))
		if out, code := runCLI(t, nil, "", "bench", "generate", "-db", db, "-provider", "1234567", "-from", fmt.Sprint(from), "-records", fmt.Sprint(n), file); code != 0 {
			t.Fatalf("generate: %s", out)
		}
		if out, code := runCLI(t, nil, "", "import", "-db", db, "-provider", "1234567", "-progress", "none", file); code != 0 || !strings.Contains(out, fmt.Sprintf("%d accepted", n)) {
			t.Fatalf("import: %d %s", code, out)
		}
	}
	imp(0, 500)
	if n := analyses(); n != 0 {
		t.Errorf("a 500-record import analysed the ledger %d times", n)
	}
	imp(500, 12000)
	// The server counts an analysis once the connection that ran it has
	// reported, which the import's exit makes it do.
	deadline := time.Now().Add(10 * time.Second)
	for analyses() == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := analyses(); n < 1 {
		t.Errorf("a 12,000-record import into a 500-record ledger analysed it %d times, want 1 or more", n)
	}
}

// TestBenchReplicas runs the benchmark small against two cmex serve
// processes on one PostgreSQL database: both take the write and read
// loads, and the figures are the runs' totals.
func TestBenchReplicas(t *testing.T) {
	db := cmextest.PostgresURL(t)
	out, code := runCLI(t, nil, "", "bench", "-db", db, "-replicas", "2", "-records", "1000", "-clients", "8", "-duration", "1s",
		"-ledger", "3000", "-credits", "10", "-read-clients", "4", "-read-duration", "500ms")
	if code != 0 {
		t.Fatalf("bench: %d\n%s", code, out)
	}
	for _, want := range []string{"cmex serve replicas ", " 2 on one database", "SaveLearnerActivity, 8 clients, 2 replicas", ", 0 not Accepted)",
		"GetRoleData, Activity depth, 10 activities, 4 clients, 2 replicas", "transcript of 10 credits, 4 clients, 2 replicas", ", 0 failed)"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
	// Each replica answered some of the calls: "per replica A + B".
	var a, b int
	if i := strings.Index(out, "per replica "); i < 0 {
		t.Errorf("no per-replica split:\n%s", out)
	} else if _, err := fmt.Sscanf(out[i:], "per replica %d + %d", &a, &b); err != nil || a == 0 || b == 0 {
		t.Errorf("per-replica split %d + %d (%v):\n%s", a, b, err, out)
	}
}

// TestBenchReplicasNeedPostgres: several processes on one SQLite file are
// not what -replicas measures, so the bench refuses them before any work.
func TestBenchReplicasNeedPostgres(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-replicas", "2"},
		{"bench", "-replicas", "2", "-db", "sqlite:" + filepath.Join(t.TempDir(), "b.db")},
		{"bench", "-replicas", "0", "-db", "postgres://localhost/none"},
	} {
		out, code := runCLI(t, nil, "", args...)
		if code != 2 || !strings.Contains(out, "-replicas") || strings.Contains(out, "records/s") {
			t.Errorf("%v: exit %d, want 2 and a usage error naming -replicas:\n%s", args, code, out)
		}
	}
}

// benchYear is the year cmex bench generate writes by default: this year,
// or last year before 4 January.
func benchYear() int {
	now := time.Now()
	if now.Before(time.Date(now.Year(), time.January, 4, 0, 0, 0, 0, time.UTC)) {
		return now.Year() - 1
	}
	return now.Year()
}

// TestImportWithADestination: routing a record to a destination needs none
// of its credentials, so cmex import works once a destination with a
// credential exists, with or without the server key, and queues the
// records' deliveries.
func TestImportWithADestination(t *testing.T) {
	f := newImportFixture(t, 20)
	key := []string{"CMEX_SECRET_KEY=" + strings.Repeat("k", 32)}
	if out, code := runCLI(t, key, "a signing secret\n", "destinations", "add", "-db", f.db, "-provider", "1234567", "-name", "hook", "-kind", "webhook",
		"-url", "https://hooks.example.invalid/cmex"); code != 0 {
		t.Fatalf("destinations add: %s", out)
	}
	for i, env := range [][]string{nil, key} {
		f.file = filepath.Join(f.dir, fmt.Sprintf("learners-%d.xml", i))
		if out, code := runCLI(t, nil, "", "bench", "generate", "-db", f.db, "-provider", "1234567", "-records", "10", "-from", fmt.Sprint(1000+10*i), f.file); code != 0 {
			t.Fatalf("generate: %s", out)
		}
		out, code := runCLI(t, env, "", "import", "-db", f.db, "-provider", "1234567", f.file)
		if code != 0 || !strings.Contains(out, "10 accepted") || strings.Contains(out, "secret key") {
			t.Errorf("import (key given: %v): %d %s", env != nil, code, out)
		}
	}
	if out, code := runCLI(t, nil, "", "destinations", "list", "-db", f.db, "-provider", "1234567"); code != 0 || !strings.Contains(out, "hook") {
		t.Errorf("destinations list without the key: %d %s", code, out)
	}
	if out, code := runCLI(t, nil, "", "deliveries", "list", "-db", f.db, "-provider", "1234567"); code != 0 || strings.Count(out, "hook") != 20 {
		t.Errorf("deliveries list: %d %s", code, out)
	}
}

// ledgerRecords is how many learner records the database db holds.
func ledgerRecords(t *testing.T, db string) int {
	t.Helper()
	d := openTestDB(t, db)
	defer d.Close()
	var n int
	if err := d.QueryRow(`SELECT count(*) FROM learner_records`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
