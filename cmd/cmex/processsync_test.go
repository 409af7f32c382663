package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
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

// getRoleData calls the running server's GetRoleData with a fresh token of
// the sandbox key.
func (s *server) getRoleData(uid, depth string) string {
	s.t.Helper()
	lastTokenSecond.Lock()
	lastTokenSecond.ts = max(time.Now().Unix(), lastTokenSecond.ts+1)
	ts := strconv.FormatInt(lastTokenSecond.ts, 10)
	lastTokenSecond.Unlock()
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

// TestNodeSOAPClient runs a third-party SOAP client, node-soap, against the
// server using nothing but the WSDL.
func TestNodeSOAPClient(t *testing.T) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s is not installed (apt-get install -y nodejs npm); the node-soap client test needs it", tool)
		}
	}
	dir := t.TempDir()
	install := exec.Command("npm", "install", "--no-audit", "--no-fund", "--silent", "soap@1.13.0")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install soap: %v\n%s", err, out)
	}
	script := `const soap = require('soap');
const [url, ts, token] = process.argv.slice(2);
soap.createClientAsync(url)
  .then(c => c.GetRoleDataAsync({Version: '7.8.0', TimeStamp: ts, Role: 'Practitioner', UniqueId: '999902', RequestDepth: 'Activity', RequestType: 'Detail', Token: token}))
  .then(([res]) => console.log(JSON.stringify(res)))
  .catch(e => { console.error(String(e && e.message || e)); process.exit(1); });
`
	if err := os.WriteFile(filepath.Join(dir, "client.js"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}, "-sandbox")
	defer s.stop()
	ts := processsync.TimeStamp(time.Now())
	node := exec.Command("node", "client.js", s.base+processsync.Path+"?wsdl", ts, processsync.Token("999902", ts, "sandbox-secret"))
	node.Dir = dir
	out, err := node.Output()
	if err != nil {
		t.Fatalf("node-soap: %v %s", err, out)
	}
	var res struct {
		Result struct {
			Success       any `json:"Success"`
			Profile       struct{ FirstName, LastName string }
			RoleInstances struct {
				RoleInstance json.RawMessage
			}
		} `json:"GetRoleDataResult"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node-soap printed %s: %v", out, err)
	}
	ri := string(res.Result.RoleInstances.RoleInstance)
	if fmt.Sprint(res.Result.Success) != "0" || res.Result.Profile.FirstName != "Jane" || !strings.Contains(ri, `"Role":"Practitioner"`) ||
		!strings.Contains(ri, `"LearningPlanType":"Maintenance"`) || !strings.Contains(ri, `"TaskGroupName":"ABIM Medical Knowledge"`) {
		t.Errorf("node-soap's result: %s", out)
	}
}
