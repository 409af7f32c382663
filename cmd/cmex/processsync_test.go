package main_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/processsync"
)

// lastTokenSecond is the TimeStamp getRoleData signed last: each call
// signs a later second than the one before (a token is single-use), now
// or, when calls come faster than one a second, a little ahead of it.
var lastTokenSecond struct {
	sync.Mutex
	ts int64
}

// nextTokenSecond is a TimeStamp no call has signed yet.
func nextTokenSecond() string {
	lastTokenSecond.Lock()
	defer lastTokenSecond.Unlock()
	lastTokenSecond.ts = max(time.Now().Unix(), lastTokenSecond.ts+1)
	return strconv.FormatInt(lastTokenSecond.ts, 10)
}

// getRoleData calls the running server's GetRoleData with a fresh token of
// the sandbox key.
func (s *server) getRoleData(uid, depth string) string {
	s.t.Helper()
	ts := nextTokenSecond()
	body := `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tem="http://tempuri.org/"><soapenv:Header/><soapenv:Body><tem:GetRoleData>` +
		`<tem:Version>7.8.0</tem:Version><tem:TimeStamp>` + ts + `</tem:TimeStamp><tem:Role>Practitioner</tem:Role><tem:UniqueId>` + uid + `</tem:UniqueId>` +
		`<tem:RequestDepth>` + depth + `</tem:RequestDepth><tem:RequestType>Summary</tem:RequestType><tem:Token>` + processsync.Token(uid, ts, "sandbox-secret") + `</tem:Token>` +
		`</tem:GetRoleData></soapenv:Body></soapenv:Envelope>`
	res, err := http.Post(s.base+processsync.Path, "text/xml; charset=utf-8", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

var planUnits = regexp.MustCompile(`(?s)<a:LearningPlanForRoleInstance>.*?<a:GrantedUnits>([0-9.]+)</a:GrantedUnits>.*?<a:RequestedUnits>([0-9.]+)</a:RequestedUnits>`)

// units returns the plan's granted and requested units in a GetRoleData
// answer at LearningPlan depth.
func units(t *testing.T, answer string) (granted, requested string) {
	t.Helper()
	m := planUnits.FindStringSubmatch(answer)
	if m == nil {
		t.Fatalf("no learning plan units in:\n%s", answer)
	}
	return m[1], m[2]
}

// TestEndToEndProcessSync: Jane's progress, as GetRoleData and the JSON API
// tell it, rises when a provider reports her completion, and again when
// the board approves its MOC credits.
func TestEndToEndProcessSync(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "cmex.db")
	env := []string{"CMEX_DB=" + db}
	s := startServer(t, env, "-sandbox", "-sandbox-board-delay", "300ms")

	before := s.getRoleData("999902", "LearningPlan")
	if !strings.Contains(before, "<a:Success>0</a:Success>") {
		t.Fatalf("GetRoleData for Jane: %s", before)
	}
	if g, r := units(t, before); g != "0" || r != "0" {
		t.Fatalf("before any report: granted %s, requested %s", g, r)
	}

	today := time.Now().Format("2006-01-02")
	d := around(time.Now())
	r := s.post(savePath, submit(mocActivity(d, "moc-ps"), providerA, d.start[:4]))
	if r.StatusCode != "Accepted" {
		t.Fatalf("register the MOC activity: %+v", r)
	}
	act := activityID(t, r)
	credits := []credit{{"AMA PRA Category 1", "2", "ccid:ps:1"}, {"ABIM Medical Knowledge", "1.5", "ccid:ps:2"}, {"ABIM Patient Safety", "1.5", "ccid:ps:3"}}
	if r := s.post(saveLearnerPath, learnerSubmit(learnerDoc(jane, act, today, "add", credits...), providerA)); r.StatusCode != "Accepted" {
		t.Fatalf("Jane's completion: %+v", r)
	}
	// At once: everything requested, the AMA credit granted.
	if g, r := units(t, s.getRoleData("MD999902", "LearningPlan")); g != "2" || r != "5" {
		t.Errorf("after the report: granted %s, requested %s; want 2 and 5", g, r)
	}
	// When the simulated ABIM approves the MOC credits, they are granted.
	deadline := time.Now().Add(20 * time.Second)
	for {
		g, _ := units(t, s.getRoleData("999902", "LearningPlan"))
		if g == "5" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the MOC credits were never granted (granted %s)", g)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The JSON API tells the same, to an operator.
	out, code := runCLI(t, env, "", "apikey", "add", "-operator", "-name", "mms")
	if code != 0 {
		t.Fatal(out)
	}
	token := strings.TrimSpace(strings.Split(out, "\n")[0])
	out, _ = runCLI(t, env, "", "learners", "list", "-name", "ACCME")
	m := regexp.MustCompile(`(?m)^\s*(\d+)\s+.*ACCME`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("Jane's id in: %s", out)
	}
	var body struct {
		Roles []struct {
			Role  string `json:"role"`
			Plans []struct {
				Granted    string `json:"grantedUnits"`
				Requested  string `json:"requestedUnits"`
				TaskGroups []struct {
					Name      string `json:"taskGroupName"`
					Requested string `json:"requestedUnits"`
				} `json:"taskGroups"`
			} `json:"learningPlans"`
		} `json:"roleInstances"`
	}
	if st := s.apiCall("GET", "/api/v1/learners/"+m[1]+"/progress", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, nil, &body); st != 200 {
		t.Fatalf("progress: %d", st)
	}
	if len(body.Roles) != 1 || body.Roles[0].Plans[0].Granted != "5.00" || body.Roles[0].Plans[0].TaskGroups[0].Requested != "1.50" {
		t.Errorf("progress = %+v", body)
	}
	out, _ = runCLI(t, env, "", "roles", "list", "-person", m[1])
	if !strings.Contains(out, "Internal Medicine Maintenance of Certification") || !strings.Contains(out, "Incomplete") {
		t.Errorf("cmex roles list: %s", out)
	}
	s.stop()
	if strings.Contains(s.logs.String(), "sandbox-secret") {
		t.Error("the log holds the shared key")
	}
}

// TestExtrinsicFieldsCLI: cmex roles add sets role- and plan-level
// extrinsic fields the plans declare and refuses others; cmex roles list
// shows them; a plan file that stops declaring one keeps the value but
// GetRoleData and its WSDL leave it out.
func TestExtrinsicFieldsCLI(t *testing.T) {
	dir := t.TempDir()
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(dir, "cmex.db")}
	s := startServer(t, env, "-sandbox")
	defer s.stop()
	out, _ := runCLI(t, env, "", "learners", "list", "-name", "ACCME")
	m := regexp.MustCompile(`(?m)^\s*(\d+)\s+.*ACCME`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("Jane's id in: %s", out)
	}
	const plan = "Internal Medicine Maintenance of Certification"
	add := func(extra ...string) (string, int) {
		return runCLI(t, env, "", append([]string{"roles", "add", "-person", m[1], "-role", "Practitioner", "-label", "Internal Medicine", "-begin", "2025-01-01"}, extra...)...)
	}
	if out, code := add("-field", "certificationnumber=IM-9", "-plan-field", plan+":AuditStatus=Selected: 2026", "-plan-field", plan+": AttestationDate =01/02/2026"); code != 0 {
		t.Fatalf("roles add: %d %s", code, out)
	}
	for _, bad := range []struct{ args []string }{
		{[]string{"-field", "Colour=blue"}},
		{[]string{"-plan-field", "No Such Plan:AuditStatus=x"}},
		{[]string{"-plan-field", plan + ":Colour=x"}},
		{[]string{"-plan-field", "AuditStatus=x"}},
	} {
		out, code := add(bad.args...)
		if code == 0 || !regexp.MustCompile(`declares no extrinsic field Colour|no learning plan "No Such Plan"|LEARNING PLAN:NAME=VALUE`).MatchString(out) {
			t.Errorf("roles add %v: %d %s", bad.args, code, out)
		}
	}
	out, _ = runCLI(t, env, "", "roles", "list", "-person", m[1])
	for _, want := range []string{"Practitioner Internal Medicine: CertificationNumber = IM-9", plan + ": AuditStatus = Selected: 2026", plan + ": AttestationDate = 01/02/2026"} {
		if !strings.Contains(out, want) {
			t.Errorf("roles list lacks %q:\n%s", want, out)
		}
	}
	detail := func() string {
		ts := nextTokenSecond()
		body := strings.NewReplacer("TIMESTAMP", ts, "TOKEN", processsync.Token("999902", ts, "sandbox-secret"), "<tem:RequestType>Summary", "<tem:RequestType>Detail").
			Replace(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tem="http://tempuri.org/"><soapenv:Body><tem:GetRoleData>` +
				`<tem:Version>7.8.0</tem:Version><tem:TimeStamp>TIMESTAMP</tem:TimeStamp><tem:Role>Practitioner</tem:Role><tem:UniqueId>999902</tem:UniqueId>` +
				`<tem:RequestDepth>LearningPlan</tem:RequestDepth><tem:RequestType>Summary</tem:RequestType><tem:Token>TOKEN</tem:Token></tem:GetRoleData></soapenv:Body></soapenv:Envelope>`)
		res, err := http.Post(s.base+processsync.Path, "text/xml; charset=utf-8", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	wsdl := func() string {
		res, err := http.Get(s.base + processsync.Path + "?wsdl")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	if a := detail(); !strings.Contains(a, "<a:AuditStatus>Selected: 2026</a:AuditStatus>") || !strings.Contains(a, "<a:CertificationNumber>IM-9</a:CertificationNumber>") {
		t.Errorf("GetRoleData Detail:\n%s", a)
	}

	// A plan file that no longer declares AuditStatus.
	example, err := os.ReadFile("sandbox-plans.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "plans.yaml")
	if err := os.WriteFile(file, bytes.Replace(example, []byte("[AuditStatus, AttestationDate]"), []byte("[AttestationDate]"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runCLI(t, env, "", "plans", "load", file); code != 0 {
		t.Fatalf("plans load: %d %s", code, out)
	}
	out, _ = runCLI(t, env, "", "roles", "list", "-person", m[1])
	if !strings.Contains(out, plan+": AuditStatus = Selected: 2026 (kept, not sent") || !strings.Contains(out, plan+": AttestationDate = 01/02/2026") {
		t.Errorf("roles list after AuditStatus was dropped:\n%s", out)
	}
	if a := detail(); strings.Contains(a, "AuditStatus") || !strings.Contains(a, "<a:AttestationDate>01/02/2026</a:AttestationDate>") {
		t.Errorf("GetRoleData Detail after AuditStatus was dropped:\n%s", a)
	}
	if w := wsdl(); strings.Contains(w, `name="AuditStatus"`) || !strings.Contains(w, `name="AttestationDate"`) {
		t.Errorf("the WSDL after AuditStatus was dropped:\n%s", w)
	}

	// A plan file with a bad field name: its line and field.
	if err := os.WriteFile(file, bytes.Replace(example, []byte("[CertificationNumber]"), []byte("[CertificationNumber, Label]"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runCLI(t, env, "", "plans", "load", file); code == 0 || !strings.Contains(out, file+":9: roles[0].extrinsicFields[1]: \"Label\" is an element GetRoleData already writes") {
		t.Errorf("plans load with a bad field: %d %s", code, out)
	}
}
