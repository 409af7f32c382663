package main_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// TestStatementsImportExportSQLite (and Postgres): cmex import reads xAPI statements as JSON
// lines into the sandbox's database, as POST /xapi/statements stores
// them: good lines stored, a bad line, a conflict and a line that is not
// JSON refused on their lines with the xAPI error, a duplicate present, a
// cmi5 passed statement for Jane with the CME credits becoming her record,
// forwarded to the simulated board until it approves. Importing the file
// again stores nothing; cmex export writes the statements as stored,
// voided ones too, and that export imported into a new database exports
// the same bytes.
func TestStatementsImportExportSQLite(t *testing.T) {
	dir := t.TempDir()
	statementsImportExport(t, "sqlite:"+filepath.Join(dir, "cmex.db"), "sqlite:"+filepath.Join(dir, "fresh.db"))
}

func TestStatementsImportExportPostgres(t *testing.T) {
	statementsImportExport(t, cmextest.PostgresURL(t), cmextest.PostgresURL(t))
}

func statementsImportExport(t *testing.T, db, fresh string) {
	dir := t.TempDir()
	env := []string{"CMEX_DB=" + db}
	s := startServer(t, env, "-sandbox", "-sandbox-board-delay", "300ms")
	d := around(time.Now())
	r := s.post(savePath, submit(mocActivity(d, "xapi-import"), providerA, d.start[:4]))
	if r.StatusCode != "Accepted" {
		t.Fatalf("register the MOC activity: %+v", r)
	}
	act := activityID(t, r)

	const plain, passed = "5c0e2a8e-0f4e-4c43-9a55-000000000001", "5c0e2a8e-0f4e-4c43-9a55-000000000002"
	line := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	attempted := func(id, course string) map[string]any {
		st := map[string]any{"actor": map[string]any{"mbox": "mailto:jane@example.org"}, "verb": map[string]any{"id": "http://adlnet.gov/expapi/verbs/attempted"},
			"object": map[string]any{"id": "https://lms.example.org/" + course}}
		if id != "" {
			st["id"] = id
		}
		return st
	}
	conflict := attempted(plain, "course")
	conflict["verb"] = map[string]any{"id": "http://adlnet.gov/expapi/verbs/experienced"}
	void := map[string]any{"actor": map[string]any{"mbox": "mailto:lms@example.org"}, "verb": map[string]any{"id": "http://adlnet.gov/expapi/verbs/voided"},
		"object": map[string]any{"objectType": "StatementRef", "id": plain}}
	lines := []string{
		line(attempted(plain, "course")), // 1: stored
		`{"actor":{"mbox":"mailto:jane@example.org"},"verb":{"id":"not an IRI"},"object":{"id":"https://lms.example.org/x"}}`, // 2: invalid xAPI
		"",                               // 3: blank, skipped
		line(attempted("", "no-id")),     // 4: stored, given an id
		line(attempted(plain, "course")), // 5: the same again: present
		line(conflict),                   // 6: another statement under line 1's id
		line(cmi5Passed(passed, act, d.completed, xapiCredit("AMA PRA Category 1", 2, "ccid:xapi-import:1"), xapiCredit("ABIM Medical Knowledge", 1.5, "ccid:xapi-import:2"))), // 7
		line(void), // 8: voids line 1's
		`{oops`,    // 9: not JSON
	}
	file := filepath.Join(dir, "statements.jsonl")
	os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	report := filepath.Join(dir, "report.csv")
	out, code := runCLI(t, env, "", "import", "-provider", "1234567", "-matching", "registry", "-report", report, file)
	if code != 1 || !strings.Contains(out, "8 statements: 4 accepted, 1 already present, 3 rejected") {
		t.Fatalf("import: %d %s", code, out)
	}
	b, _ := os.ReadFile(report)
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) != 9 {
		t.Fatalf("report: %v\n%s", err, b)
	}
	want := []struct{ line, outcome, message string }{
		{"1", "accepted", ""}, {"2", "rejected", "verb.id"}, {"4", "accepted", ""}, {"5", "present", ""},
		{"6", "rejected", "differs from this one"}, {"7", "accepted", ""}, {"8", "accepted", ""}, {"9", "rejected", "not JSON"},
	}
	for i, w := range want {
		row := rows[i+1] // file,position,line,id,outcome,codes,messages
		if row[2] != w.line || row[4] != w.outcome || !strings.Contains(row[6], w.message) || (w.message == "" && row[6] != "") {
			t.Errorf("report line %d: %v, want line %s %s with %q", i+1, row, w.line, w.outcome, w.message)
		}
	}
	if rows[3][3] == "" || rows[6][3] != passed {
		t.Errorf("report ids: %v %v", rows[3], rows[6])
	}

	// Jane's records, as over HTTP: the outcome, the board's approval
	// through the outbox, the statement with the import's authority.
	if o := s.xapiOutcome(passed); o.Outcome != "accepted" || len(o.CreditIDs) != 2 {
		t.Errorf("outcome of the imported completion: %+v", o)
	}
	seen := map[string]bool{}
	s.waitFor(byCreditPath, statusByCredit("ccid:xapi-import:2", providerA), "ccid:xapi-import:2", "Approved", seen)
	code, got := s.xapiDo("GET", "/xapi/statements?statementId="+passed, nil)
	if code != 200 || !strings.Contains(string(got), `"homePage":"urn:cmex:provider:1234567","name":"import"`) {
		t.Errorf("the imported completion over HTTP: %d %s", code, got)
	}
	if code, _ := s.xapiDo("GET", "/xapi/statements?voidedStatementId="+plain, nil); code != 200 {
		t.Errorf("line 1's statement is not voided: %d", code)
	}
	if l := readLedger(t, db); l.credits["ccid:xapi-import:1"] == "" || l.credits["ccid:xapi-import:2"] == "" {
		t.Errorf("no learner records of the completion: %v", l.credits)
	}

	// Again: every statement present, nothing stored.
	count := func(db string) int {
		var n int
		if err := openStore(db, func(s *sqlstore.DB) error {
			return s.SQL().QueryRow(`SELECT count(*) FROM xapi_statements`).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count(db)
	if out, code := runCLI(t, env, "", "import", "-provider", "1234567", "-matching", "registry", file); code != 1 || !strings.Contains(out, "8 statements: 0 accepted, 5 already present, 3 rejected") {
		t.Errorf("import again: %d %s", code, out)
	}
	if after := count(db); after != before || before != 4 {
		t.Errorf("statements: %d before importing again, %d after; want 4 and 4", before, after)
	}

	// Export, voided included, as stored; into a new database and out.
	exported := filepath.Join(dir, "export.jsonl")
	if out, code := runCLI(t, env, "", "export", "statements", "-provider", "1234567", "-o", exported); code != 0 {
		t.Fatalf("export: %d %s", code, out)
	}
	b, _ = os.ReadFile(exported)
	exLines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(exLines) != 4 || !strings.Contains(exLines[0], plain) || !strings.Contains(exLines[2], passed) {
		t.Fatalf("export: %d lines\n%s", len(exLines), b)
	}
	for _, l := range exLines {
		var st map[string]any
		if err := json.Unmarshal([]byte(l), &st); err != nil || st["stored"] == nil || st["authority"] == nil || st["version"] != "2.0.0" {
			t.Errorf("an exported line lacks what the store set: %v %s", err, l)
		}
	}
	// The export into its own database: all present.
	if out, code := runCLI(t, env, "", "import", "-provider", "1234567", exported); code != 0 || !strings.Contains(out, "4 statements: 0 accepted, 4 already present") {
		t.Errorf("the export imported into its own database: %d %s", code, out)
	}
	if out, code := runCLI(t, env, "", "export", "statements", "-provider", "1234567", "-since", "2999-01-01"); code != 0 || out != "" {
		t.Errorf("export -since a future date: %d %q", code, out)
	}
	if out, code := runCLI(t, nil, "", "provider", "add", "-db", fresh, "-id", "1234567", "-name", "AAA Test Organization"); code != 0 {
		t.Fatalf("provider add: %s", out)
	}
	freshReport := filepath.Join(dir, "fresh.csv")
	if out, code := runCLI(t, nil, "", "import", "-db", fresh, "-provider", "1234567", "-report", freshReport, exported); code != 0 || !strings.Contains(out, "4 statements: 4 accepted") {
		t.Fatalf("import the export: %d %s", code, out)
	}
	// The new database has no such activity: the completion is stored,
	// its refusal on its report line.
	b3, _ := os.ReadFile(freshReport)
	if rows, _ := csv.NewReader(bytes.NewReader(b3)).ReadAll(); len(rows) != 5 || rows[3][3] != passed || rows[3][4] != "accepted" ||
		rows[3][5] == "" || !strings.Contains(rows[3][6], "warning: the completion was refused: ") {
		t.Errorf("the completion's refusal in the new database's report:\n%s", b3)
	}
	again := filepath.Join(dir, "again.jsonl")
	if out, code := runCLI(t, nil, "", "export", "statements", "-db", fresh, "-provider", "1234567", "-o", again); code != 0 {
		t.Fatalf("export the new database: %d %s", code, out)
	}
	if b2, _ := os.ReadFile(again); !bytes.Equal(b, b2) {
		t.Errorf("the round trip changed the statements:\n%s\n---\n%s", b, b2)
	}
	var voided bool
	if err := openStore(fresh, func(s *sqlstore.DB) error {
		return s.SQL().QueryRow(`SELECT voided FROM xapi_statements WHERE statement_id = '` + plain + `'`).Scan(&voided)
	}); err != nil || !voided {
		t.Errorf("line 1's statement in the new database: voided %v, %v", voided, err)
	}
	s.stop()
}

// TestStatementsManyPages: a file of more statements than a transaction
// holds (500) and an export page returns (500) comes back whole, in the
// file's order, and the same file again is all present.
func TestStatementsManyPages(t *testing.T) {
	dir := t.TempDir()
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(dir, "cmex.db")}
	if out, code := runCLI(t, env, "", "provider", "add", "-id", "1234567", "-name", "AAA Test Organization"); code != 0 {
		t.Fatalf("provider add: %s", out)
	}
	const n = 1201
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"actor":{"mbox":"mailto:jane@example.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/attempted"},"object":{"id":"https://lms.example.org/course-%d"}}`+"\n", i)
	}
	file := filepath.Join(dir, "many.jsonl")
	os.WriteFile(file, []byte(b.String()), 0o644)
	if out, code := runCLI(t, env, "", "import", "-provider", "1234567", file); code != 0 || !strings.Contains(out, fmt.Sprintf("%d statements: %d accepted", n, n)) {
		t.Fatalf("import: %d %s", code, out)
	}
	if out, code := runCLI(t, env, "", "import", "-provider", "1234567", file); code != 0 || !strings.Contains(out, fmt.Sprintf("%d statements: 0 accepted, %d already present", n, n)) {
		t.Errorf("import again: %d %s", code, out)
	}
	out, code := runCLI(t, env, "", "export", "statements", "-provider", "1234567")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != n {
		t.Fatalf("export: %d, %d lines", code, len(lines))
	}
	for i, l := range lines {
		if !strings.Contains(l, fmt.Sprintf(`"https://lms.example.org/course-%d"`, i)) {
			t.Fatalf("export line %d is not the file's line %d: %s", i+1, i+1, l)
		}
	}
}
