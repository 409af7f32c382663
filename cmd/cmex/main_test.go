package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/cmextest"
)

// bin is the cmex binary the tests run, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cmex-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "cmex")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build cmex: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	cmextest.StopPostgres()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running `cmex serve`.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	logs *bytes.Buffer
	done chan error
}

// startServer runs cmex serve on 127.0.0.1:0 and waits for the line that
// says where it listens.
func startServer(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	s, err := spawnServer(t, env, args...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// spawnServer is startServer for any goroutine: it says what went wrong
// instead of failing the test. The process is killed at the test's end
// if it still runs.
func spawnServer(t *testing.T, env []string, args ...string) (*server, error) {
	cmd := exec.Command(bin, append([]string{"serve", "-addr", "127.0.0.1:0", "-log-format", "json"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{t: t, cmd: cmd, logs: &bytes.Buffer{}, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.logs.WriteString(line + "\n")
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "cmex listening" {
				addr <- rec.Addr
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		s.base = "http://" + a
	case err := <-s.done:
		return nil, fmt.Errorf("cmex serve exited: %v\n%s", err, s.logs)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-s.done
		return nil, fmt.Errorf("cmex serve did not start\n%s", s.logs)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.done
		}
	})
	return s, nil
}

// stop sends SIGTERM and expects a clean exit.
func (s *server) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Fatalf("cmex serve exited with %v after SIGTERM\n%s", err, s.logs)
		}
	case <-time.After(30 * time.Second):
		s.t.Fatalf("cmex serve did not stop after SIGTERM")
	}
	if !strings.Contains(s.logs.String(), `"msg":"cmex stopped"`) {
		s.t.Errorf("no clean-stop log line:\n%s", s.logs)
	}
}

type parsResponse struct {
	HTTPStatus int
	// Data is nil when the response's Data is absent or i:nil.
	Data          *string   `xml:"-"`
	RawData       *nillable `xml:"Data"`
	ErrorMessages []struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"ErrorMessages>ErrorMessage"`
	StatusCode string `xml:"StatusCode"`
}

type nillable struct {
	Nil  string `xml:"http://www.w3.org/2001/XMLSchema-instance nil,attr"`
	Text string `xml:",chardata"`
}

func (r parsResponse) codes() []string {
	var cs []string
	for _, e := range r.ErrorMessages {
		cs = append(cs, e.Code)
	}
	return cs
}

func (r parsResponse) has(code string) bool {
	for _, c := range r.codes() {
		if c == code {
			return true
		}
	}
	return false
}

const (
	savePath = "/services/ACCMEService.svc/IACCMEServiceREST/SaveActivity"
	getPath  = "/services/ACCMEService.svc/IACCMEServiceREST/GetActivity"
	bllNS    = "http://schemas.datacontract.org/2004/07/BLL.Service"
)

func (s *server) post(path string, body []byte) parsResponse {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.base+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 {
		s.t.Fatalf("POST %s: status %d\n%.500s", path, res.StatusCode, b)
	}
	var r parsResponse
	if err := xml.Unmarshal(b, &r); err != nil {
		s.t.Fatalf("POST %s: not XML (%v): %.500s", path, err, b)
	}
	r.HTTPStatus = res.StatusCode
	if r.RawData != nil && r.RawData.Nil != "true" {
		r.Data = &r.RawData.Text
	}
	return r
}

// activityDoc returns the seed's sample activity (testdata of package
// pars) with its Provider Activity ID, title and action replaced.
func activityDoc(t *testing.T, providerActivityID, title, action string) string {
	t.Helper()
	b, err := os.ReadFile("../../internal/pars/testdata/wire/save-seed-sample.xml")
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Data string `xml:"Data"`
	}
	if err := xml.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	doc := env.Data
	doc = strings.Replace(doc, ">addactivityexample<", ">"+providerActivityID+"<", 1)
	doc = strings.Replace(doc, ">Internal Medicine Manuscript<", ">"+title+"<", 1)
	doc = strings.Replace(doc, ">Add</ex:activityRecordAction>", ">"+action+"</ex:activityRecordAction>", 1)
	return doc
}

type creds struct{ provider, user, password string }

var (
	providerA = creds{"1234567", "webserviceuser@yourdomain.org", "sandbox"}
	providerB = creds{"7654321", "otheruser@example.org", "sandbox"}
)

func submit(doc string, c creds, year string) []byte {
	var b bytes.Buffer
	b.WriteString(`<SubmitMessage xmlns="` + bllNS + `"><Data>`)
	xml.EscapeText(&b, []byte(doc))
	b.WriteString(`</Data><Password>`)
	xml.EscapeText(&b, []byte(c.password))
	b.WriteString(`</Password><ProviderId>` + c.provider + `</ProviderId><ReportingYear>` + year + `</ReportingYear><User>` + c.user + `</User></SubmitMessage>`)
	return b.Bytes()
}

func search(c creds, criteria map[string]string) []byte {
	members := map[string]string{"Password": c.password, "ProviderId": c.provider, "SchemaVersion": "3", "User": c.user}
	for k, v := range criteria {
		members[k] = v
	}
	names := make([]string, 0, len(members))
	for k := range members {
		names = append(names, k)
	}
	// Ordinal order, as WCF requires.
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if names[j] < names[i] {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
	var b bytes.Buffer
	b.WriteString(`<SearchCriteria xmlns="` + bllNS + `">`)
	for _, n := range names {
		b.WriteString("<" + n + ">")
		xml.EscapeText(&b, []byte(members[n]))
		b.WriteString("</" + n + ">")
	}
	b.WriteString(`</SearchCriteria>`)
	return b.Bytes()
}

var activityIDRE = regexp.MustCompile(`ACCME Activity ID</lom:catalog><lom:entry uniqueElementName="entry">(\d{9})<`)

func activityID(t *testing.T, r parsResponse) string {
	t.Helper()
	if r.Data == nil {
		t.Fatal("no Data")
	}
	m := activityIDRE.FindStringSubmatch(*r.Data)
	if m == nil {
		t.Fatalf("no ACCME Activity ID in %s", *r.Data)
	}
	return m[1]
}

func TestEndToEndSQLite(t *testing.T) {
	endToEnd(t, "sqlite:"+filepath.Join(t.TempDir(), "cmex.db"))
}

func TestEndToEndPostgres(t *testing.T) {
	endToEnd(t, cmextest.PostgresURL(t))
}

func endToEnd(t *testing.T, db string) {
	s := startServer(t, []string{"CMEX_DB=" + db}, "-sandbox")

	// Health, and the request id that ties a response to its log lines.
	req, _ := http.NewRequest(http.MethodGet, s.base+"/healthz", nil)
	req.Header.Set("X-Request-Id", "e2e-health-1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) || res.Header.Get("X-Request-Id") != "e2e-health-1" {
		t.Fatalf("healthz: %d %s %q", res.StatusCode, body, res.Header.Get("X-Request-Id"))
	}

	// Add.
	r := s.post(savePath, submit(activityDoc(t, "e2e-1", "Internal Medicine Manuscript", "Add"), providerA, "2021"))
	if r.StatusCode != "Accepted" || len(r.ErrorMessages) != 0 {
		t.Fatalf("Add: %+v", r)
	}
	id := activityID(t, r)

	// Duplicate Add.
	r = s.post(savePath, submit(activityDoc(t, "e2e-1", "Internal Medicine Manuscript", "Add"), providerA, "2021"))
	if r.StatusCode != "Rejected" || !r.has("476") {
		t.Fatalf("duplicate Add: %+v", r)
	}

	// Update, naming the activity by its ACCME Activity ID.
	upd := strings.Replace(activityDoc(t, "e2e-1", "Revised Manuscript", "Update"),
		`<lom:entry></lom:entry>`, `<lom:entry>`+id+`</lom:entry>`, 1)
	r = s.post(savePath, submit(upd, providerA, "2021"))
	if r.StatusCode != "Accepted" || activityID(t, r) != id {
		t.Fatalf("Update: %+v", r)
	}

	// Get, by each criterion.
	for _, crit := range []map[string]string{
		{"ActivityID": id},
		{"ProviderActivityId": "e2e-1"},
		{"ActivityStartDate": "2021-01-30T00:00:00", "ActivityTypeName": "Manuscript Review"},
	} {
		r = s.post(getPath, search(providerA, crit))
		if r.Data == nil || activityID(t, r) != id || !strings.Contains(*r.Data, "Revised Manuscript") {
			t.Fatalf("Get %v: %+v", crit, r)
		}
	}

	// Another provider cannot read it: not found.
	r = s.post(getPath, search(providerB, map[string]string{"ActivityID": id}))
	if r.Data != nil || len(r.ErrorMessages) != 0 {
		t.Fatalf("provider B reads A's activity: %+v", r)
	}
	// Nor change it.
	r = s.post(savePath, submit(upd, providerB, "2021"))
	if !r.has("104") {
		t.Fatalf("provider B updates A's activity: %+v", r)
	}

	// Bad credentials.
	r = s.post(savePath, submit(activityDoc(t, "e2e-2", "T", "Add"), creds{"1234567", providerA.user, "wrong"}, "2021"))
	if r.StatusCode != "Rejected" || r.codes()[0] != "451" || len(r.codes()) != 1 {
		t.Fatalf("bad password: %+v", r)
	}
	r = s.post(getPath, search(creds{"1234567", "nobody@example.org", "sandbox"}, map[string]string{"ActivityID": id}))
	if !r.has("451") || r.Data != nil {
		t.Fatalf("unknown user: %+v", r)
	}

	// Appendix A rejections, one fault at a time.
	good := activityDoc(t, "e2e-3", "A Title", "Add")
	for _, tc := range []struct {
		name, code string
		body       []byte
	}{
		{"missing action", "101", submit(strings.Replace(good, "<ex:activityRecordAction>Add</ex:activityRecordAction>", "", 1), providerA, "2021")},
		{"invalid action", "102", submit(strings.Replace(good, ">Add<", ">Insert<", 1), providerA, "2021")},
		{"update unknown", "104", submit(strings.Replace(good, ">Add<", ">Update<", 1), providerA, "2021")},
		{"delete unknown", "105", submit(strings.Replace(strings.Replace(good, ">Add<", ">Delete<", 1), "<lom:entry></lom:entry>", "<lom:entry>399999999</lom:entry>", 1), providerA, "2021")},
		{"missing title", "203", submit(strings.Replace(good, "<lom:string>A Title</lom:string>", "", 1), providerA, "2021")},
		{"missing provider activity id", "216", submit(strings.Replace(good, ">e2e-3<", "><", 1), providerA, "2021")},
		{"bad start date", "315", submit(strings.Replace(good, ">2021-01-30<", ">30/01/2021<", 1), providerA, "2021")},
		{"bad activity type", "459", submit(strings.Replace(good, ">Manuscript Review<", ">Podcast<", 1), providerA, "2021")},
		{"end before start", "469", submit(strings.Replace(good, ">2021-12-30<", ">2021-01-02<", 1), providerA, "2021")},
		{"MOC points not in quarters", "319", submit(strings.Replace(good, "<ex:mocPoints>2.0<", "<ex:mocPoints>2.1<", 1), providerA, "2021")},
		{"bad reporting year", "452", submit(good, providerA, "21")},
		{"reporting year not the start year", "462", submit(good, providerA, "2020")},
		{"two activities", "454", submit(strings.Replace(good, "</accme:ACCMEActivities>", good[strings.Index(good, "<MedicalEducationMetrics>"):], 1), providerA, "2021")},
		{"data not an activity", "453", submit("<Course/>", providerA, "2021")},
		{"unknown element", "463", submit(strings.Replace(good, "</lom:general>", "<lom:language>en</lom:language></lom:general>", 1), providerA, "2021")},
		{"internal id is the provider id", "474", submit(strings.Replace(good, ">e2e-3<", ">1234567<", 1), providerA, "2021")},
		{"claim date before end", "475", submit(strings.Replace(good, "<ex:CreditClaimDate>2021-12-31<", "<ex:CreditClaimDate>2021-06-30<", 1), providerA, "2021")},
	} {
		r := s.post(savePath, tc.body)
		if r.StatusCode != "Rejected" || !r.has(tc.code) {
			t.Errorf("%s: want %s, got %d %s %v", tc.name, tc.code, r.HTTPStatus, r.StatusCode, r.ErrorMessages)
		}
	}
	// None of them stored anything.
	r = s.post(getPath, search(providerA, map[string]string{"ActivityTypeName": "Manuscript Review"}))
	if n := strings.Count(*r.Data, "<MedicalEducationMetrics>"); n != 1 {
		t.Fatalf("%d Manuscript Reviews stored, want 1", n)
	}

	// Bad envelopes get PARS-shaped 4xx answers, never a 5xx.
	for name, body := range map[string][]byte{
		"malformed":    []byte(`<SubmitMessage xmlns="` + bllNS + `"><Data>`),
		"wrong root":   []byte(`<Activity/>`),
		"out of order": []byte(`<SubmitMessage xmlns="` + bllNS + `"><User>u</User><Data>x</Data></SubmitMessage>`),
	} {
		if r := s.post(savePath, body); r.HTTPStatus != 400 || r.codes()[0] != "455" {
			t.Errorf("%s: %d %v", name, r.HTTPStatus, r.codes())
		}
	}
	big := bytes.Repeat([]byte("x"), 11<<20)
	if r := s.post(savePath, big); r.HTTPStatus != http.StatusRequestEntityTooLarge || r.codes()[0] != "453" {
		t.Errorf("11 MiB body: %d %v", r.HTTPStatus, r.codes())
	}

	// Delete, then the activity is gone.
	del := strings.Replace(activityDoc(t, "e2e-1", "Revised Manuscript", "Delete"), `<lom:entry></lom:entry>`, `<lom:entry>`+id+`</lom:entry>`, 1)
	if r := s.post(savePath, submit(del, providerA, "2021")); r.StatusCode != "Accepted" {
		t.Fatalf("Delete: %+v", r)
	}
	if r := s.post(getPath, search(providerA, map[string]string{"ActivityID": id})); r.Data != nil {
		t.Fatalf("deleted activity still found")
	}

	// An activity added now survives a restart: acknowledged is durable.
	r = s.post(savePath, submit(activityDoc(t, "e2e-durable", "Kept", "Add"), providerA, "2021"))
	if r.StatusCode != "Accepted" {
		t.Fatalf("Add before restart: %+v", r)
	}
	kept := activityID(t, r)
	if strings.Contains(s.logs.String(), "sandbox") && strings.Contains(s.logs.String(), `"password"`) {
		t.Errorf("a password made it into the log")
	}
	s.stop()

	s = startServer(t, []string{"CMEX_DB=" + db}, "-sandbox")
	if r := s.post(getPath, search(providerA, map[string]string{"ActivityID": kept})); r.Data == nil {
		t.Fatalf("activity %s lost across a restart", kept)
	}
	if strings.Contains(s.logs.String(), "sandbox provider created") {
		t.Errorf("-sandbox re-created fixtures on a second start:\n%s", s.logs)
	}
	s.stop()
}

// runCLI runs a cmex command line with stdin and returns its output and
// exit status.
func runCLI(t *testing.T, env []string, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func TestCLIAdministration(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	out, code := runCLI(t, env, "", "provider", "add", "-id", "0012345", "-name", "Lakeside CME")
	if code != 0 || !strings.Contains(out, "provider 12345") {
		t.Fatalf("provider add: %d %s", code, out)
	}
	if out, code := runCLI(t, env, "", "provider", "add", "-id", "12345", "-name", "Again"); code != 1 || !strings.Contains(out, "already exists") {
		t.Errorf("duplicate provider add: %d %s", code, out)
	}
	out, code = runCLI(t, env, "correct horse battery\n", "user", "add", "-provider", "12345", "-user", "lms@lakeside.example")
	if code != 0 || strings.Contains(out, "correct horse") {
		t.Fatalf("user add: %d %s", code, out)
	}
	if out, code := runCLI(t, env, "short\n", "user", "add", "-provider", "12345", "-user", "b@lakeside.example"); code != 1 || !strings.Contains(out, "at least 8") {
		t.Errorf("short password: %d %s", code, out)
	}
	if out, code := runCLI(t, env, "", "user", "add", "-provider", "12345", "-user", "x", "-password", "p"); code != 2 || !strings.Contains(out, "-password") {
		t.Errorf("a password flag must not exist: %d %s", code, out)
	}
	if out, _ := runCLI(t, env, "", "provider", "list"); !strings.Contains(out, "12345") || !strings.Contains(out, "Lakeside CME") {
		t.Errorf("provider list: %s", out)
	}
	if out, _ := runCLI(t, env, "", "user", "list", "-provider", "12345"); !strings.Contains(out, "lms@lakeside.example") {
		t.Errorf("user list: %s", out)
	}
	// Flags after the arguments count, as the usage lines write them (and
	// the environment's -db is not the one used); after "--", they are
	// arguments.
	other := filepath.Join(t.TempDir(), "other.db")
	if out, code := runCLI(t, env, "", "learners", "show", "1", "-db", "sqlite:"+other); code != 1 || !strings.Contains(out, "person 1 not found") {
		t.Errorf("learners show 1 -db …: %d %s", code, out)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("learners show 1 -db FILE did not open FILE: %v", err)
	}
	if out, code := runCLI(t, env, "", "learners", "show", "--", "-db"); code != 2 || !strings.Contains(out, "person id") {
		t.Errorf("learners show -- -db: %d %s", code, out)
	}

	// Portal staff accounts: the provider's, and an administrator.
	if out, code := runCLI(t, env, "a long staff password\n", "staff", "add", "-username", "olga", "-name", "Olga Staff", "-role", "provider-staff", "-provider", "12345"); code != 0 || strings.Contains(out, "a long staff") {
		t.Errorf("staff add: %d %s", code, out)
	}
	if out, code := runCLI(t, env, "a long admin password\n", "staff", "add", "-username", "root", "-name", "Rita Root", "-role", "admin"); code != 0 {
		t.Errorf("staff add admin: %d %s", code, out)
	}
	for _, bad := range [][]string{
		{"-username", "x", "-name", "X", "-role", "provider-staff"},                          // no provider
		{"-username", "y", "-name", "Y", "-role", "admin", "-provider", "12345"},             // an admin of nothing
		{"-username", "OLGA", "-name", "Z", "-role", "provider-admin", "-provider", "12345"}, // taken
	} {
		if out, code := runCLI(t, env, "a long staff password\n", append([]string{"staff", "add"}, bad...)...); code != 1 {
			t.Errorf("staff add %v: %d %s", bad, code, out)
		}
	}
	if out, code := runCLI(t, env, "", "staff", "add", "-username", "w", "-name", "W", "-role", "physician"); code != 2 {
		t.Errorf("staff add with a physician's role: %d %s", code, out)
	}
	if out, _ := runCLI(t, env, "", "staff", "list"); strings.Count(out, "\n") != 3 || !strings.Contains(out, "olga") || !strings.Contains(out, "provider 12345") || !strings.Contains(out, "root") {
		t.Errorf("staff list: %s", out)
	}

	// The new user works against the server started on the same database.
	s := startServer(t, env)
	lake := creds{"12345", "lms@lakeside.example", "correct horse battery"}
	if r := s.post(savePath, submit(activityDoc(t, "lake-1", "Lakeside Grand Rounds", "Add"), lake, "2021")); r.StatusCode != "Accepted" {
		t.Errorf("CLI-made user cannot save: %+v", r)
	}
	s.stop()
}

func TestCLIValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.xml")
	bad := filepath.Join(dir, "bad.xml")
	os.WriteFile(good, submit(activityDoc(t, "v-1", "T", "Add"), providerA, "2021"), 0o644)
	doc := activityDoc(t, "v-2", "T", "Add")
	doc = strings.Replace(doc, "><lom:lom>", ">\n<lom:lom>", 1)
	doc = strings.Replace(doc, ">Manuscript Review<", ">Podcast<", 1)
	os.WriteFile(bad, []byte(doc), 0o644)

	if out, code := runCLI(t, nil, "", "validate", good); code != 0 || out != "" {
		t.Errorf("validate good: %d %q", code, out)
	}
	out, code := runCLI(t, nil, "", "validate", good, bad)
	if code != 1 || out != bad+":2: 459 MEMS Element: entry: v-2, Element name: mem:ActivityDescription/lom:lom/hx:healthcareMetadata/hx:healthcareEducation/hx:activityFormat - Invalid data value for Activity Type: Podcast\n" {
		t.Errorf("validate bad: %d %q", code, out)
	}
	out, code = runCLI(t, nil, "", "validate", "-format", "json", bad)
	var findings []struct {
		File, Code, Severity string
		Line                 int
	}
	if err := json.Unmarshal([]byte(out), &findings); err != nil || code != 1 || len(findings) != 1 || findings[0].Code != "459" || findings[0].Line != 2 || findings[0].Severity != "error" {
		t.Errorf("validate -format json: %d %v %s", code, err, out)
	}
	if _, code := runCLI(t, nil, "", "validate"); code != 2 {
		t.Errorf("validate with no file: exit %d, want 2", code)
	}
}

func TestCLIHelpAndVersion(t *testing.T) {
	if out, code := runCLI(t, nil, "", "version"); code != 0 || !strings.HasPrefix(out, "cmex ") {
		t.Errorf("version: %d %q", code, out)
	}
	out, code := runCLI(t, nil, "", "help")
	if code != 0 {
		t.Errorf("help: exit %d", code)
	}
	for _, c := range []string{"serve", "provider", "user", "learners", "apikey", "keys", "validate", "version", "help"} {
		if !strings.Contains(out, "  "+c+" ") {
			t.Errorf("help does not list %s:\n%s", c, out)
		}
		h, code := runCLI(t, nil, "", c, "-h")
		if code != 0 || !strings.Contains(h, "usage: cmex "+c) || !strings.Contains(h, "example:") {
			t.Errorf("%s -h: exit %d\n%s", c, code, h)
		}
	}
	// Every summary starts in one column, the longest name's.
	col := -1
	for _, line := range strings.Split(out, "\n") {
		name, _, ok := strings.Cut(strings.TrimPrefix(line, "  "), " ")
		if !strings.HasPrefix(line, "  ") || !ok || strings.HasPrefix(name, "cmex") {
			continue
		}
		at := len(line) - len(strings.TrimLeft(strings.TrimPrefix(line, "  "+name), " "))
		if col == -1 {
			col = at
		} else if at != col {
			t.Errorf("help: %q's summary starts at column %d, the others' at %d", name, at, col)
		}
	}
	if !strings.Contains(out, "validate      Check PARS activity and learner documents") {
		t.Errorf("help: validate's summary:\n%s", out)
	}
	if out, code := runCLI(t, nil, "", "frobnicate"); code != 2 || !strings.Contains(out, "unknown command") {
		t.Errorf("unknown command: %d %s", code, out)
	}
	if out, code := runCLI(t, []string{"CMEX_MAX_BODY=lots"}, "", "serve"); code != 2 || !strings.Contains(out, "CMEX_MAX_BODY") {
		t.Errorf("bad environment value: %d %s", code, out)
	}
}
