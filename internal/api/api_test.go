package api_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/api"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

var today = time.Date(2025, time.June, 15, 15, 0, 0, 0, time.UTC)

type fixture struct {
	h        http.Handler
	store    *cmextest.Store
	activity cmex.ActivityID
	token    string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	store := cmextest.NewStore(t, today)
	ctx := t.Context()
	p, a := store.MOCActivity(t, "moc")
	if _, err := store.Persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane(), cmextest.Helen(), cmextest.Olivia()}); err != nil {
		t.Fatal(err)
	}
	keys := sqlstore.NewAPIKeyService(store.DB)
	_, token, err := keys.CreateAPIKey(ctx, p.Organization.ID, "lms")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	(&api.Handler{Users: store.Users, APIKeys: keys, Learners: store.Learners, Persons: store.Persons, Accounts: store.Gateway, Logger: slog.New(slog.DiscardHandler)}).Register(mux)
	return &fixture{h: mux, store: store, activity: a.ID, token: token}
}

type auth func(*http.Request)

func basic(user, password string) auth {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

func bearer(token string) auth {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

var janeBasic = basic("webserviceuser@yourdomain.org", cmextest.Password)

func (f *fixture) do(t *testing.T, a auth, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a != nil {
		a(req)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Code == http.StatusNoContent {
		return rec.Code, nil
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: not JSON (%v): %s", method, path, err, rec.Body)
	}
	return rec.Code, out
}

func codes(body map[string]any) []string {
	var cs []string
	e, _ := body["error"].(map[string]any)
	ps, _ := e["problems"].([]any)
	for _, p := range ps {
		cs = append(cs, p.(map[string]any)["code"].(string))
	}
	return cs
}

func records(body map[string]any) []map[string]any {
	rs, _ := body["records"].([]any)
	out := make([]map[string]any, len(rs))
	for i, r := range rs {
		out[i] = r.(map[string]any)
	}
	return out
}

func TestLearnerRecordLifecycle(t *testing.T) {
	f := newFixture(t)
	rep := cmextest.JaneReport(f.activity, "2025-06-01", "api")
	rep.Action = ""
	code, body := f.do(t, janeBasic, "POST", "/api/v1/learner-records", rep)
	if code != http.StatusCreated || len(records(body)) != 3 {
		t.Fatalf("add: %d %v", code, body)
	}
	if r := records(body)[1]; r["status"] != "Accepted" || r["board"] != "ABIM" || r["points"] != "1.50" {
		t.Errorf("record: %v", r)
	}

	code, body = f.do(t, bearer(f.token), "POST", "/api/v1/learner-records", rep)
	if code != http.StatusUnprocessableEntity || strings.Join(codes(body), " ") != "603 603 603" {
		t.Fatalf("duplicate: %d %v", code, body)
	}

	path := "/api/v1/learner-records/" + url.PathEscape("ccid:aaatestorganization.org:api-2")
	code, body = f.do(t, bearer(f.token), "GET", path, nil)
	hist, _ := records(body)[0]["history"].([]any)
	if code != http.StatusOK || len(records(body)) != 1 || len(hist) != 1 {
		t.Fatalf("get: %d %v", code, body)
	}
	q := "/api/v1/learner-records?activityId=" + f.activity.String() + "&uniqueId=999902&completionDate=2025-06-01&birthMonth=10&birthDay=30"
	if code, body = f.do(t, janeBasic, "GET", q, nil); code != http.StatusOK || len(records(body)) != 3 {
		t.Fatalf("by learner: %d %v", code, body)
	}
	if code, body = f.do(t, janeBasic, "GET", "/api/v1/learner-records?activityId=x", nil); code != http.StatusBadRequest {
		t.Errorf("bad query: %d %v", code, body)
	}

	if code, body = f.do(t, janeBasic, "DELETE", path, nil); code != http.StatusOK || records(body)[0]["deleted"] != true {
		t.Fatalf("delete: %d %v", code, body)
	}
	if code, _ = f.do(t, janeBasic, "GET", path, nil); code != http.StatusNotFound {
		t.Errorf("get after delete: %d", code)
	}
	if code, body = f.do(t, janeBasic, "DELETE", path, nil); code != http.StatusUnprocessableEntity || codes(body)[0] != "605" {
		t.Errorf("delete again: %d %v", code, body)
	}

	// A record says how it was issued: an equivalency whose evidence was
	// checked; an origin cmex does not know is refused.
	eq := cmextest.JaneReport(f.activity, "2025-06-02", "eq")
	eq.Credits, eq.Origin = eq.Credits[:1], "equivalency-evidence"
	eq.Learner = cmex.LearnerIdentity{UniqueIDs: []cmex.UniqueID{{Domain: "NPI", Value: "1234567890"}}, GivenName: "Helen", FamilyName: "Markman",
		BirthDate: cmex.MustParseDate("1970-09-26")}
	if code, body = f.do(t, janeBasic, "POST", "/api/v1/learner-records", eq); code != http.StatusCreated || records(body)[0]["origin"] != "equivalency-evidence" {
		t.Errorf("an equivalency: %d %v", code, body)
	}
	eq = cmextest.JaneReport(f.activity, "2025-06-03", "eq2")
	eq.Credits, eq.Origin = eq.Credits[:1], "rumour"
	if code, body = f.do(t, janeBasic, "POST", "/api/v1/learner-records", eq); code != http.StatusUnprocessableEntity || codes(body)[0] != "998" {
		t.Errorf("an unknown origin: %d %v", code, body)
	}

	// Another provider sees nothing of it.
	other := basic("otheruser@example.org", cmextest.Password)
	if code, _ = f.do(t, other, "GET", "/api/v1/learner-records/"+url.PathEscape("ccid:aaatestorganization.org:api-1"), nil); code != http.StatusNotFound {
		t.Errorf("other provider: %d", code)
	}
}

func TestRejections(t *testing.T) {
	f := newFixture(t)
	bad := cmextest.JaneReport(f.activity, "2025-01-01", "bad")
	bad.Learner.FamilyName = "Doe"
	bad.Credits[1].Points = cmextest.Ptr(cmex.Points(110))
	code, body := f.do(t, janeBasic, "POST", "/api/v1/learner-records", bad)
	got := codes(body)
	sort.Strings(got)
	if code != http.StatusUnprocessableEntity || strings.Join(got, " ") != "665 672 675" {
		t.Errorf("several problems: %d %v", code, got)
	}
	for name, tc := range map[string]struct {
		a    auth
		body any
		want int
	}{
		"no credentials":    {nil, cmextest.JaneReport(f.activity, "2025-06-01", "x"), http.StatusUnauthorized},
		"wrong password":    {basic("webserviceuser@yourdomain.org", "nope"), cmextest.JaneReport(f.activity, "2025-06-01", "x"), http.StatusUnauthorized},
		"wrong API key":     {bearer("cmex_00000000_" + strings.Repeat("0", 64)), cmextest.JaneReport(f.activity, "2025-06-01", "x"), http.StatusUnauthorized},
		"malformed JSON":    {janeBasic, `{"learner":`, http.StatusBadRequest},
		"unknown field":     {janeBasic, `{"learnr":{}}`, http.StatusBadRequest},
		"two values":        {janeBasic, `{} {}`, http.StatusBadRequest},
		"wrong type":        {janeBasic, `{"activityId":"three"}`, http.StatusBadRequest},
		"points not points": {janeBasic, `{"credits":[{"points":"lots"}]}`, http.StatusBadRequest},
		"delete by POST":    {janeBasic, `{"action":"delete"}`, http.StatusBadRequest},
		"too large":         {janeBasic, `{"activityTitle":"` + strings.Repeat("x", api.DefaultMaxBody) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		code, body := f.do(t, tc.a, "POST", "/api/v1/learner-records", tc.body)
		if code != tc.want {
			t.Errorf("%s: %d %v, want %d", name, code, body, tc.want)
		}
		if e, _ := body["error"].(map[string]any); e["message"] == "" {
			t.Errorf("%s: no message: %v", name, body)
		}
	}
	if n := cmextest.Count(t, f.store.DB, "learner_records"); n != 0 {
		t.Errorf("%d records stored by rejected requests", n)
	}
}

func TestMatch(t *testing.T) {
	f := newFixture(t)
	for name, tc := range map[string]struct {
		body string
		code int
		want float64
	}{
		"Helen":         {`{"firstName":"Helen","lastName":"Markman","npi":"1234567890","boardIds":[{"board":"abim","id":"999898"}]}`, 200, 1},
		"by birthday":   {`{"firstName":"Jane","lastName":"ACCME","birthMonth":10,"birthDay":30}`, 200, 1},
		"nobody":        {`{"firstName":"Jane","lastName":"ACCME","birthMonth":1}`, 200, 0},
		"by OCI ID":     {`{"firstName":"Olivia","lastName":"Ontario","ociId":"ca-on-cpso-12345"}`, 200, 1},
		"other OCI ID":  {`{"firstName":"Olivia","lastName":"Ontario","ociId":"CA-ON-CPSO-1"}`, 200, 0},
		"name only":     {`{"firstName":"Jane","lastName":"ACCME"}`, 422, 0},
		"no name":       {`{"npi":"1234567890"}`, 422, 0},
		"unknown board": {`{"firstName":"Jane","lastName":"ACCME","boardIds":[{"board":"ABXYZ","id":"1"}]}`, 422, 0},
	} {
		code, body := f.do(t, bearer(f.token), "POST", "/api/v1/learners/match", tc.body)
		if code != tc.code || code == 200 && body["matchedLearnerCount"] != tc.want {
			t.Errorf("%s: %d %v", name, code, body)
		}
	}
}

// TestOpenAPIDescribesEveryRoute holds openapi.json and the served routes
// together: each operation documented is served, and each served one is
// documented.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(documented)
	served := api.Routes()
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Errorf("documented:\n%s\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
	f := newFixture(t)
	if code, body := f.do(t, nil, "GET", "/api/v1/openapi.json", nil); code != 200 || body["openapi"] != "3.1.0" {
		t.Errorf("openapi.json served: %d", code)
	}
}
