package main_test

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestTenantIsolation tries provider A's records as provider B on every
// surface that reads or changes them, and one physician's own credits as
// another: each is refused with exactly the answer an id that does not
// exist gets, so that nothing tells B the record exists; and A's records
// are unchanged afterwards.
func TestTenantIsolation(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox")
	defer s.stop()
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
