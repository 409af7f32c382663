package main_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readmeBlock is one ```sh block of the README, with what the README
// says of running it in an HTML comment just before it
// (<!-- readme-test: … -->, invisible on the rendered page).
type readmeBlock struct {
	line       int // of the opening fence
	text       string
	directives string
}

// readmeBlocks returns every sh block of the README, in order, those
// indented in a list item too (their indentation taken off).
func readmeBlocks(t *testing.T, readme string) []readmeBlock {
	var out []readmeBlock
	var cur *readmeBlock
	indent, last := "", ""
	sc := bufio.NewScanner(strings.NewReader(readme))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```sh":
			cur = &readmeBlock{line: n}
			indent = line[:strings.Index(line, "```")]
			if d, ok := strings.CutPrefix(strings.TrimSpace(last), "<!-- readme-test:"); ok {
				cur.directives = strings.TrimSpace(strings.TrimSuffix(d, "-->"))
			}
		case cur != nil && strings.TrimSpace(line) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += strings.TrimPrefix(line, indent) + "\n"
		}
		if strings.TrimSpace(line) != "" {
			last = line
		}
	}
	if cur != nil {
		t.Fatalf("README: the sh block at line %d is not closed", cur.line)
	}
	return out
}

// readmeCheck is what one block must print: found by a line of the block,
// it names strings its output must hold, or patterns it must match.
type readmeCheck struct {
	key  string
	want []string
	// after checks what the text around the block says of it, beyond its
	// output, against the sandbox at base.
	after func(t *testing.T, base, repo string)
}

// readmeChecks hold the README's claims about what its examples print.
// Every sh block must have one, so that a new example is checked too.
var readmeChecks = []readmeCheck{
	{"go run ./cmd/cmex serve -sandbox", nil, nil},
	{"--data-binary @examples/save-activity.xml", []string{"<StatusCode>Accepted</StatusCode>", "entry&quot;&gt;300000001&lt;"}, nil},
	{"--data-binary @examples/update-activity.xml", []string{"<StatusCode>Accepted</StatusCode>", "Internal Medicine Manuscript (revised)"}, nil},
	{"validate examples/activity.xml", []string{"examples/activity.xml:25: 468 MEMS Element: entry: GR-2025-11, - Invalid data value/format for Credits Offered: 1.10."},
		func(t *testing.T, _, repo string) {
			// "make it 1.25 and the file passes"
			fixed := filepath.Join(t.TempDir(), "activity.xml")
			b, _ := os.ReadFile(filepath.Join(repo, "examples", "activity.xml"))
			os.WriteFile(fixed, bytes.Replace(b, []byte(">1.1<"), []byte(">1.25<"), 1), 0o644)
			if out, code := runCLI(t, nil, "", "validate", fixed); code != 0 {
				t.Errorf("with 1.25 credits, as the README says: %d %s", code, out)
			}
		}},
	{"@examples/save-moc-activity.xml $B/", []string{"&lt;/accme:ACCMELearnerReports&gt;</Data><ErrorMessages/><StatusCode>Accepted</StatusCode>", "Credit Id: ccid:aaatestorganization.org:v2026-2; Status: Accepted",
		"Learner Id: 1; Credit Id: ccid:aaatestorganization.org:v2026-1", "<MatchedLearnerCount>1</MatchedLearnerCount>", `re:(?m)^\d{9}$`},
		func(t *testing.T, base, repo string) {
			// "each MOC credit is Pending … then Submitted when the simulated
			// ABIM takes it) until the board approves it": 3 s a step.
			body, _ := os.ReadFile(filepath.Join(repo, "examples", "learner-status-by-credit.xml"))
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
				res, err := http.Post(base+byCreditPath, "application/xml; charset=utf-8", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if strings.Contains(string(b), "Status: Approved") {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("the README's MOC credit never reached Approved: %s", b)
				}
			}
		}},
	{"customer_username_crypt=NedBaker", []string{"<STATUS>OK</STATUS>", `customer_id="01234567"`, "Symposium on Radiology of the Pneumoconioses",
		"Total Overall Category 1 Credits: 36.75", "Total Category 1 Subspecialties Credits: 22.75", "Chest CT: Interstitial Lung Disease Update",
		`"title": "Journal reading"`, `"selfAttested": true`}, nil},
	{"token -unique-id 999902", []string{"<a:Success>0</a:Success>", "<a:ActivitiesForTaskGroup>", "<!-- cmex's WSDL for LearningBuilder's Process Synchronization service"}, nil},
	{"/api/v1/learner-records/ccid:aaatestorganization.org:v2026-2", []string{`re:"creditId": ?"ccid:aaatestorganization.org:v2026-2"`, `re:"matchedLearnerCount": ?1`}, nil},
	{"society allow -society EXAMPLE -from", []string{"grant 1: gateways at 203.0.113.0/24 may call EXAMPLE's ceu_order", `re:(?m)^cmexgw_[0-9a-f]{64}$`,
		"re:(?m)^3 +- +acr-gateway", "grant 1 of EXAMPLE removed"}, nil},
	{"staff add -username olga", []string{"olga"}, nil},
	{"user disable -provider 7654321", []string{"user otheruser@example.org of provider 7654321 disabled", "re:otheruser@example.org +\\S+ +\\S+ \\S+ +disabled ",
		"user otheruser@example.org of provider 7654321 enabled"}, nil},
	{"society member-import -society EXAMPLE examples/society-members.csv", []string{"examples/society-members.csv: 3 members: 3 added, 0 updated, 0 unchanged",
		`re:(?m)^E-1001 +AnnSmith +[2-9a-z]{5}(-[2-9a-z]{5}){3}$`, `re:(?m)^E-1002 +BobJones +[2-9a-z]{5}(-[2-9a-z]{5}){3}$`,
		"examples/society-credits.csv: 3 credits: 3 accepted, 0 present, 0 rejected", "examples/society-credits.xml: 2 credits: 2 accepted, 0 present, 0 rejected"},
		func(t *testing.T, _, repo string) {
			// "run again, they add nothing"
			env := []string{"CMEX_DB=sqlite:" + filepath.Join(repo, "cmex.db")}
			ex := func(name string) string { return filepath.Join(repo, "examples", name) }
			if out, code := runCLI(t, env, "", "society", "member-import", "-society", "EXAMPLE", ex("society-members.csv")); code != 0 || !strings.Contains(out, "0 added, 0 updated, 3 unchanged") {
				t.Errorf("member-import again: %d %s", code, out)
			}
			if out, code := runCLI(t, env, "", "society", "import", "-society", "EXAMPLE", ex("society-credits.csv"), ex("society-credits.xml")); code != 0 ||
				!strings.Contains(out, "3 credits: 0 accepted, 3 present, 0 rejected") || !strings.Contains(out, "2 credits: 0 accepted, 2 present, 0 rejected") {
				t.Errorf("import again: %d %s", code, out)
			}
		}},
	{"learners invite -provider 1234567", []string{"invitation 1 from AAA Test Organization for Jane ACCME (person 1), to be opened once before",
		`re:(?m)^http://127\.0\.0\.1:\d+/invitation\?token=[A-Za-z0-9_-]{43}$`, "If this username was free", `re:"state": ?"linked"`, `"credentials": []`}, nil},
	{"169.254.169.254/latest/meta-data", []string{`"code": "invalid"`, "169.254.169.254 is a link-local address"}, nil},
	{"-name lan-hook", []string{"destination lan-hook (webhook) added"}, nil},
	{"destinations add -provider 1234567 -name hook", []string{"destination hook (webhook) added", "hook", "re:(?m)^\\d+ +hook +learner-record add +ccid:aaatestorganization.org:fwd2026-1 +pending"}, nil},
	{"./cmex provider add", []string{"provider 1234567", "listening"}, nil},
	{"bench generate -activities 10", []string{"10 accepted", "1000 accepted", "0 accepted, 1000 already present"}, nil},
	{"export statements -provider 1234567 -o $D/statements.jsonl", []string{`re:statements\.jsonl: [1-9]\d* statements: 1 accepted, [1-9]\d* already present, 0 rejected`,
		`re:statements\.jsonl: [2-9]\d* statements: 0 accepted, [2-9]\d* already present, 0 rejected`}, nil},
	{"X-Experience-API-Version: 2.0.0", []string{"204", `"stored":"`, `"authority":{`, "https://lms.example.org/courses/moc-2026"}, nil},
	{`credential?format=jwt" > credential.jwt`, []string{`"creditsEarned": 1.5`, `"cryptosuite": "eddsa-rdfc-2022"`, `"validFrom": "2026-11-02T00:00:00Z"`, `"OpenBadgeCredential"`,
		"re:(?m)^6$", `"verified": true`, `re:"id":"did:web:127\.0\.0\.1%3A\d+#key-1","type":"Multikey"`, `"type":["VerifiableCredential","BitstringStatusListCredential"]`,
	}, nil},
	{"audit -since", []string{"destination.add", `re:"actor": ?"user:1234567/webserviceuser@yourdomain.org"`}, nil},
}

// TestReadmeExamples runs every sh block of the README as written, in
// order, in a fresh copy of the repository, as a newcomer would: the
// Quick start's sandbox server keeps running underneath the sections
// after it, `go run ./cmd/cmex` is the binary TestMain built from this
// source, and each block's output must hold what readmeChecks says. A
// server a block starts is run in the background until it answers. The
// Quick start's test command is not run: it is what runs this test.
func TestReadmeExamples(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("the README's examples need curl: %v", err)
	}
	blocks := readmeBlocks(t, readme)
	if len(blocks) < len(readmeChecks) {
		t.Errorf("README has %d sh blocks, fewer than the %d checks", len(blocks), len(readmeChecks))
	}
	port := "8080"
	if l, err := net.Listen("tcp", "127.0.0.1:8080"); err != nil {
		// Something else holds 8080 here: the examples are run against a
		// free port instead, put in place of 8080 wherever they say it.
		port = freePort(t)
		t.Logf("127.0.0.1:8080 is taken on this machine; the examples run on port %s", port)
	} else {
		l.Close()
	}
	r := &readmeRunner{t: t, port: port, shim: goShim(t)}
	r.repo = freshClone(t)
	defer r.stopServers()
	for _, b := range blocks {
		var check *readmeCheck
		for i := range readmeChecks {
			if strings.Contains(b.text, readmeChecks[i].key) {
				check = &readmeChecks[i]
				break
			}
		}
		if check == nil {
			t.Errorf("README line %d: an sh block no check of readmeChecks names; add one:\n%s", b.line, b.text)
			continue
		}
		out := r.run(b)
		for _, w := range check.want {
			if re, ok := strings.CutPrefix(w, "re:"); ok {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("README line %d: the output does not match %s:\n%s", b.line, re, out)
				}
			} else if !strings.Contains(out, w) {
				t.Errorf("README line %d: the output lacks %q:\n%s", b.line, w, out)
			}
		}
		if check.after != nil && !t.Failed() {
			check.after(t, "http://127.0.0.1:"+r.port, r.repo)
		}
		if t.Failed() {
			break // the examples after it build on it
		}
	}
}

// readmeRunner runs README blocks in a shell, in the repository copy,
// keeping the servers they start.
type readmeRunner struct {
	t          *testing.T
	repo, shim string
	port       string
	servers    []*readmeServer
}

// readmeServer is a server a block started.
type readmeServer struct {
	cmd  *exec.Cmd
	done chan error
	logs *lockedBuffer
}

// serveLine is a line that starts a cmex server, which runs in the
// background.
var serveLine = regexp.MustCompile(`^(go run \./cmd/cmex|\./cmex) serve\b`)

func (r *readmeRunner) run(b readmeBlock) string {
	t := r.t
	text := strings.ReplaceAll(b.text, ":8080", ":"+r.port)
	dir, stdin, exit := r.repo, "", 0
	for _, d := range strings.Split(b.directives, ";") {
		d = strings.TrimSpace(d)
		switch {
		case d == "":
		case d == "sandbox stopped":
			// The block starts the sandbox server itself, with other
			// flags, on the same database: the running one stops first,
			// and the plain one starts again after.
			r.stopServers()
			defer func() {
				r.stopServers()
				r.startSandbox()
			}()
		case d == "fresh clone":
			// Run apart from the sandbox, as a new installation: the
			// sandbox server stops meanwhile (its port is wanted) and
			// starts again after, on the same database.
			dir = freshClone(t)
			r.stopServers()
			defer func() {
				r.stopServers()
				r.startSandbox()
			}()
		case strings.HasPrefix(d, "exits "):
			// The block ends with a command that fails by design (cmex
			// validate of a file with an error): its exit status.
			if _, err := fmt.Sscanf(d, "exits %d", &exit); err != nil {
				t.Fatalf("README line %d: %q: want exits N", b.line, d)
			}
		case strings.HasPrefix(d, "stdin:"):
			stdin = strings.TrimSpace(strings.TrimPrefix(d, "stdin:")) + "\n"
		default:
			t.Fatalf("README line %d: unknown readme-test directive %q", b.line, d)
		}
	}
	var out bytes.Buffer
	var script []string
	flush := func() {
		if len(script) == 0 {
			return
		}
		out.WriteString(r.shell(dir, strings.Join(script, "\n"), stdin, exit, b.line))
		script = nil
	}
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "go test ./...") || strings.HasPrefix(line, "go test -timeout"):
			t.Logf("README line %d: not running the test command from inside the tests: %s", b.line, line)
		case serveLine.MatchString(line):
			flush()
			out.WriteString(r.serve(dir, line, b.line))
		default:
			script = append(script, line)
		}
	}
	flush()
	return out.String()
}

// shell runs a script as bash runs a pasted block: line by line, stopping
// at the first command that fails.
func (r *readmeRunner) shell(dir, script, stdin string, exit, line int) string {
	t := r.t
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Dir, cmd.Stdin = dir, strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "PATH="+r.shim+string(os.PathListSeparator)+os.Getenv("PATH"), "CMEX_DB=", "CMEX_SECRET_KEY=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := cmd.ProcessState.ExitCode(); code != exit {
			t.Errorf("README line %d: the block exited with %d (%v), not %d:\n%s\n--- output:\n%s", line, code, err, exit, script, out.String())
		}
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Errorf("README line %d: the block did not finish in 3 minutes:\n%s", line, out.String())
	}
	return out.String()
}

// serve starts a server line in the background and waits until it
// answers /readyz.
func (r *readmeRunner) serve(dir, line string, at int) string {
	t := r.t
	cmd := exec.Command("bash", "-c", "exec "+line)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+r.shim+string(os.PathListSeparator)+os.Getenv("PATH"), "CMEX_DB=", "CMEX_LOG_FORMAT=json")
	srv := &readmeServer{cmd: cmd, done: make(chan error, 1), logs: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = srv.logs, srv.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { srv.done <- cmd.Wait() }()
	r.servers = append(r.servers, srv)
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-srv.done:
			srv.done <- err
			t.Fatalf("README line %d: %s exited (%v):\n%s", at, line, err, srv.logs.String())
		default:
		}
		// Its own line first: another process on the port (another test
		// run on the machine) must not pass for it.
		if !strings.Contains(srv.logs.String(), `"msg":"cmex listening"`) {
			continue
		}
		res, err := http.Get("http://127.0.0.1:" + r.port + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return "listening on 127.0.0.1:" + r.port + "\n"
			}
		}
	}
	t.Fatalf("README line %d: %s did not answer on port %s:\n%s", at, line, r.port, srv.logs.String())
	return ""
}

// startSandbox starts the Quick start's server again, on its database.
func (r *readmeRunner) startSandbox() {
	r.serve(r.repo, "go run ./cmd/cmex serve -sandbox", 0)
}

// stopServers stops the servers with SIGTERM; each must stop cleanly.
func (r *readmeRunner) stopServers() {
	for _, srv := range r.servers {
		srv.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-srv.done:
			if err != nil {
				r.t.Errorf("a README server exited with %v after SIGTERM:\n%s", err, srv.logs.String())
			}
		case <-time.After(30 * time.Second):
			srv.cmd.Process.Kill()
			<-srv.done
			r.t.Errorf("a README server did not stop after SIGTERM")
		}
	}
	r.servers = nil
}

// freshClone copies the repository's files (tracked, and new ones not
// ignored) into a new directory: what a clone of this change holds.
func freshClone(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	dir := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or not a file
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// goShim is a directory holding a `go` that runs `go run ./cmd/cmex …` as
// the binary TestMain built from this source (building it again for each
// example would take a minute), and hands anything else to the real go.
func goShim(t *testing.T) string {
	t.Helper()
	real, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := fmt.Sprintf("#!/usr/bin/env bash\nif [ \"$1\" = run ] && [ \"$2\" = ./cmd/cmex ]; then shift 2; exec %q \"$@\"; fi\nexec %q \"$@\"\n", bin, real)
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// lockedBuffer is a buffer a process writes to while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
