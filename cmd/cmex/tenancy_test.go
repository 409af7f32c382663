package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestTenantIsolation tries provider A's activities, learner records,
// deliveries and destinations as provider B on every surface that reads
// or changes them (PARS, the JSON API, the portal), and one physician's
// own credits as another: each is refused with exactly the answer an id
// that does not exist gets, so that nothing tells B the record exists;
// and A's records are unchanged afterwards.
func TestTenantIsolation(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db"), "CMEX_SECRET_KEY=e2e-secret-key-0123456789"}
	s := startServer(t, env, "-sandbox", "-outbox-lease", "1h")
	defer s.stop()
	// A forwards to a webhook that does not answer, so its deliveries stay
	// (the server, without -allow-private-destinations, does not even try).
	if out, code := runCLI(t, env, "whsec-tenancy\n", "destinations", "add", "-allow-private-destinations", "-provider", "1234567", "-name", "a-hook", "-kind", "webhook", "-url", "http://127.0.0.1:9/hook"); code != 0 {
		t.Fatalf("destinations add: %s", out)
	}
	if out, code := runCLI(t, env, "b staff long password\n", "staff", "add", "-username", "bob.b", "-name", "Bob B", "-role", "provider-admin", "-provider", "7654321"); code != 0 {
		t.Fatalf("staff add: %s", out)
	}
	reportSandboxLearner(t, s, nil) // A's activity and Jane's three credits, CreditIDs …:v2026-1 to -3
	const credit, nobody = "ccid:aaatestorganization.org:v2026-2", "ccid:aaatestorganization.org:no-such-credit"

	call := func(method, path, user, password string, body io.Reader) (int, string) {
		req, _ := http.NewRequest(method, s.base+path, body)
		req.SetBasicAuth(user, password)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// What B gets for A's record must be what anyone gets for no record.
	// The ids themselves, echoed in the answers, are set aside.
	same := func(what string, a, b func() (int, string), ids ...string) {
		t.Helper()
		ca, ba := a()
		cb, bb := b()
		if len(ids) == 0 {
			ids = []string{"v2026-2", "no-such-credit"}
		}
		ba = strings.ReplaceAll(ba, ids[0], "X")
		bb = strings.ReplaceAll(bb, ids[1], "X")
		if ca != cb || ba != bb {
			t.Errorf("%s: another provider's record answers %d %q; no record answers %d %q", what, ca, ba, cb, bb)
		}
		if ca == http.StatusOK && strings.Contains(ba, "Jane") {
			t.Errorf("%s: another provider's record is shown: %s", what, ba)
		}
	}
	b := providerB
	for _, c := range []struct{ what, method, path string }{
		{"JSON API read", "GET", "/api/v1/learner-records/"},
		{"JSON API delete", "DELETE", "/api/v1/learner-records/"},
	} {
		same(c.what, func() (int, string) { return call(c.method, c.path+credit, b.user, b.password, nil) },
			func() (int, string) { return call(c.method, c.path+nobody, b.user, b.password, nil) })
	}
	same("JSON API search by learner",
		func() (int, string) {
			return call("GET", "/api/v1/learner-records?activityId=300000001&completionDate=2026-11-02&uniqueId=999902", b.user, b.password, nil)
		},
		func() (int, string) {
			return call("GET", "/api/v1/learner-records?activityId=300000001&completionDate=2026-11-02&uniqueId=000000", b.user, b.password, nil)
		}, "999902", "000000")
	// The same search as A finds her: the search above could have found her.
	if code, body := call("GET", "/api/v1/learner-records?activityId=300000001&completionDate=2026-11-02&uniqueId=999902", providerA.user, providerA.password, nil); code != 200 || !strings.Contains(body, "Jane") {
		t.Errorf("A's own search: %d %s", code, body)
	}
	statusBy := func(id string) func() (int, string) {
		return func() (int, string) {
			body := `<LearnerStatusSearchByCreditId xmlns="http://schemas.datacontract.org/2004/07/ACCMEDataServices.ServiceObjects"><CreditId>` + id +
				`</CreditId><Password>` + b.password + `</Password><ProviderId>` + b.provider + `</ProviderId><User>` + b.user + `</User></LearnerStatusSearchByCreditId>`
			r := s.postRaw(byCreditPath, []byte(body))
			return 200, regexp.MustCompile(`<TimeStamp>[^<]*</TimeStamp>`).ReplaceAllString(r, "")
		}
	}
	same("PARS status by CreditID", statusBy(credit), statusBy(nobody))

	// Activities: B reads and updates A's activity 300000001 by its id.
	getAct := func(id string) func() (int, string) {
		return func() (int, string) {
			r := s.post(getPath, search(b, map[string]string{"ActivityID": id}))
			return r.HTTPStatus, fmt.Sprint(r.StatusCode, r.codes(), r.Data != nil && strings.Contains(*r.Data, "<lom:entry"))
		}
	}
	same("PARS GetActivity by ActivityID", getAct("300000001"), getAct("399999999"), "300000001", "399999999")
	if r := s.post(getPath, search(providerA, map[string]string{"ActivityID": "300000001"})); r.Data == nil || !strings.Contains(*r.Data, "300000001") {
		t.Errorf("A's own GetActivity does not find it: %+v", r)
	}
	updAct := func(id string) func() (int, string) {
		return func() (int, string) {
			doc := strings.Replace(activityDoc(t, "b-takes-over", "Taken Over", "Update"), "<lom:catalog>ACCME Provider Activity ID</lom:catalog>",
				"<lom:catalog>ACCME Activity ID</lom:catalog>", 1)
			doc = strings.Replace(doc, ">b-takes-over<", ">"+id+"<", 1)
			r := s.post(savePath, submit(doc, b, "2021"))
			return r.HTTPStatus, fmt.Sprint(r.StatusCode, r.codes())
		}
	}
	same("PARS SaveActivity Update of A's ActivityID", updAct("300000001"), updAct("399999999"), "300000001", "399999999")

	// Deliveries and destinations.
	var deliveries struct {
		Deliveries []struct {
			ID int64 `json:"id"`
		} `json:"deliveries"`
	}
	if code, body := call("GET", "/api/v1/deliveries", providerA.user, providerA.password, nil); code != 200 || json.Unmarshal([]byte(body), &deliveries) != nil || len(deliveries.Deliveries) == 0 {
		t.Fatalf("A's deliveries: %d %s", code, body)
	}
	dl := fmt.Sprint(deliveries.Deliveries[0].ID)
	for _, c := range []struct{ what, method, suffix string }{
		{"JSON API delivery read", "GET", ""}, {"JSON API delivery retry", "POST", "/retry"}, {"JSON API delivery cancel", "POST", "/cancel"},
	} {
		same(c.what, func() (int, string) {
			return call(c.method, "/api/v1/deliveries/"+dl+c.suffix, b.user, b.password, nil)
		},
			func() (int, string) {
				return call(c.method, "/api/v1/deliveries/999999"+c.suffix, b.user, b.password, nil)
			}, dl, "999999")
	}
	for _, path := range []string{"/api/v1/deliveries", "/api/v1/destinations"} {
		if code, body := call("GET", path, b.user, b.password, nil); code != 200 || strings.Contains(body, "a-hook") || strings.Contains(body, `"id": `+dl+",") {
			t.Errorf("B's %s shows A's: %d %s", path, code, body)
		}
	}
	// The portal, as B's provider admin.
	portal := s.signIn("bob.b", "b staff long password")
	for _, path := range []string{"/provider/activities", "/provider/submissions", "/provider/deliveries"} {
		code, page := s.page(portal, path)
		if code != 200 || strings.Contains(string(page), "300000001") || strings.Contains(string(page), "a-hook") || strings.Contains(string(page), "v2026-2") {
			t.Errorf("portal %s as B: %d, shows A's records", path, code)
		}
	}
	portalRetry := func(id string) func() (int, string) {
		return func() (int, string) {
			req, _ := http.NewRequest(http.MethodPost, s.base+"/provider/deliveries/"+id+"/retry", nil)
			req.Header.Set("Origin", s.base)
			c := &http.Client{Jar: portal.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			page, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(page)
		}
	}
	same("portal delivery retry", portalRetry(dl), portalRetry("999999"), dl, "999999")

	// Claims and invitations. B's provider admin cannot invite A's learner
	// Jane, and is told what a person who does not exist gets; nor find
	// her among B's learners; nor reach the operators' pages.
	postAs := func(c *http.Client, path string, form url.Values) (int, string) {
		nc := &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := nc.Do(formRequest(s.base, path, form))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		page, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(page)
	}
	out, code := runCLI(t, env, "", "learners", "list", "-name", "accme")
	janeID := regexp.MustCompile(`(?m)^([0-9]+)\s+Jane ACCME`).FindStringSubmatch(out)
	if code != 0 || janeID == nil {
		t.Fatalf("learners list: %s", out)
	}
	invite := func(id string) func() (int, string) {
		return func() (int, string) { return postAs(portal, "/provider/invitations", url.Values{"person": {id}}) }
	}
	same("portal invitation of another provider's learner", invite(janeID[1]), invite("999999"), "(no id is echoed)", "(no id is echoed)")
	if code, page := s.page(portal, "/provider/invitations?q=accme"); code != 200 || strings.Contains(page, "Jane") {
		t.Errorf("B's learners show A's: %d", code)
	}
	for _, path := range []string{"/admin/claims"} {
		if code, _ := s.page(portal, path); code != http.StatusForbidden {
			t.Errorf("a provider admin on %s: %d", path, code)
		}
	}
	for _, path := range []string{"/admin/claims/1/approve", "/admin/claims/1/refuse", "/admin/links/1/unlink"} {
		if code, _ := postAs(portal, path, url.Values{"person": {janeID[1]}, "reason": {"r"}}); code != http.StatusForbidden {
			t.Errorf("a provider admin posting %s: %d", path, code)
		}
	}
	staff := s.signIn("aaa.staff", "sandbox")
	if code, _ := s.page(staff, "/provider/invitations"); code != http.StatusForbidden {
		t.Errorf("provider staff on the invitations: %d", code)
	}
	// One physician cannot see another's claim, nor decide her own.
	ned := s.signIn("ned.baker", "sandbox")
	_, janeBefore := s.page(s.signIn("jane.accme", "sandbox"), "/claim")
	if code, _ := postAs(ned, "/claim", url.Values{"given": {"Ned"}, "family": {"Bakerr"}, "birthDate": {"1960-01-01"}, "kind": {"npi"}, "identifier": {"1234567890"}}); code != http.StatusSeeOther {
		t.Fatalf("Ned's claim: %d", code)
	}
	if _, page := s.page(ned, "/claim"); !strings.Contains(page, "Bakerr") {
		t.Errorf("Ned does not see his own claim")
	}
	jane := s.signIn("jane.accme", "sandbox")
	if _, page := s.page(jane, "/claim"); strings.Contains(page, "Bakerr") || page != janeBefore {
		t.Errorf("Jane's registry page shows Ned's claim, or changed with it")
	}
	for _, c := range []*http.Client{ned, jane} {
		if code, _ := s.page(c, "/admin/claims"); code != http.StatusForbidden {
			t.Errorf("a physician on the claims queue: %d", code)
		}
		if code, _ := postAs(c, "/admin/claims/1/approve", url.Values{"person": {"2"}}); code != http.StatusForbidden {
			t.Errorf("a physician approving a claim: %d", code)
		}
		if code, _ := s.page(c, "/provider/invitations"); code != http.StatusForbidden {
			t.Errorf("a physician on the invitations: %d", code)
		}
	}
	if _, page := s.page(s.signIn("cmex.admin", "sandbox"), "/admin/claims"); !strings.Contains(page, "Waiting (1)") || !strings.Contains(page, "Bakerr") {
		t.Errorf("Ned's claim is not waiting after the attempts to decide it")
	}

	// A's record is whole: B's delete changed nothing.
	if code, body := call("GET", "/api/v1/learner-records/"+credit, providerA.user, providerA.password, nil); code != 200 || !strings.Contains(body, "Jane") {
		t.Errorf("A's record after B's attempts: %d %s", code, body)
	}

	// One physician cannot delete another's self-attested credit, and
	// cannot tell it exists.
	code, body := call("POST", "/api/v1/account/self-credits", "ned.baker", "sandbox",
		strings.NewReader(`{"title":"Journal reading","date":"2026-05-01","details":[{"type":"CME","credits":1,"category":"CAT1"}]}`))
	m := regexp.MustCompile(`"id":\s*([0-9]+)`).FindStringSubmatch(body)
	if code != 201 || m == nil {
		t.Fatalf("Ned's self-attested credit: %d %s", code, body)
	}
	same("deleting another physician's self-attested credit",
		func() (int, string) {
			return call("DELETE", "/api/v1/account/self-credits/"+m[1], "jane.accme", "sandbox", nil)
		},
		func() (int, string) {
			return call("DELETE", "/api/v1/account/self-credits/99999", "jane.accme", "sandbox", nil)
		}, m[1], "99999")
	if _, body := call("GET", "/api/v1/account/self-credits", "ned.baker", "sandbox", nil); !strings.Contains(body, "Journal reading") {
		t.Errorf("Ned's credit after Jane's attempt: %s", body)
	}
	if _, body := call("GET", "/api/v1/account/transcript", "jane.accme", "sandbox", nil); strings.Contains(body, "Journal reading") {
		t.Errorf("Jane's transcript shows Ned's credit")
	}
}
