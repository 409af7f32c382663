package processsync_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/planfile"
	"github.com/cmexhub/cmex/internal/processsync"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// now is when the conversations take place: inside the sandbox plan's
// first three-year cycle from Jane's begin date, 2025-01-01.
var now = time.Date(2025, time.June, 15, 15, 0, 0, 0, time.UTC)

const key = "sandbox-secret"

type fixture struct {
	store  *cmextest.Store
	server *httptest.Server
	jane   cmex.PersonID
}

// newFixture is a registry with Jane and Helen, the example plans, Jane a
// Practitioner from 2025-01-01 to 2027-12-31, with values for the role's extrinsic
// field and both of her plan's, and the seed's learner sample reported
// for her (AMA 2 accepted, ABIM Medical Knowledge and Patient Safety 1.5
// each awaiting the board).
func newFixture(t testing.TB) *fixture {
	t.Helper()
	s := cmextest.NewStore(t, now)
	ctx := context.Background()
	p, a := s.MOCActivity(t, "moc")
	if _, err := s.Persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane(), cmextest.Helen()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Learners.SaveLearnerReport(ctx, cmex.LearnerChange{Report: cmextest.JaneReport(a.ID, "2025-06-01", "g"), By: p, Source: "test"}); err != nil {
		t.Fatal(err, cmex.ErrorProblems(err))
	}
	f, err := os.Open("../../examples/plans.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	plans, err := planfile.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Plans.LoadPlans(ctx, plans); err != nil {
		t.Fatal(err)
	}
	janes, _ := s.Persons.FindPersons(ctx, cmex.PersonFilter{Name: "ACCME"})
	ri := &cmex.RoleInstance{PersonID: janes[0].ID, Role: "Practitioner", Label: "Internal Medicine", Status: "Member-Active",
		UniqueIdentifier: "PR-1001", IsGranted: true, BeginDate: cmex.MustParseDate("2025-01-01"), EndDate: cmex.MustParseDate("2027-12-31"),
		Extrinsic: []cmex.ExtrinsicItem{{Name: "CertificationNumber", Value: "IM-4242"}},
		PlanExtrinsic: []cmex.PlanExtrinsicItem{{Plan: "Internal Medicine Maintenance of Certification", Name: "AuditStatus", Value: "Not Selected"},
			{Plan: "Internal Medicine Maintenance of Certification", Name: "AttestationDate", Value: "06/01/2025"}}}
	if err := s.Plans.SaveRoleInstance(ctx, ri); err != nil {
		t.Fatal(err)
	}
	nonces := sqlstore.NewNonceService(s.DB)
	nonces.Now = s.Clock.Now
	h := &processsync.Handler{Plans: s.Plans, Persons: s.Persons, Key: key, Window: processsync.DefaultWindow, Now: s.Clock.Now, Nonces: nonces,
		Logger: slog.New(slog.DiscardHandler), MaxBody: processsync.DefaultMaxBody}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{store: s, server: srv, jane: janes[0].ID}
}

// envelope is a GetRoleData request as the seed's sample writes it.
func envelope(version, ts, role, uid, depth, rtype, token string) string {
	return `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tem="http://tempuri.org/">
  <soapenv:Header/>
  <soapenv:Body>
    <tem:GetRoleData>
      <tem:Version>` + version + `</tem:Version>
      <tem:TimeStamp>` + ts + `</tem:TimeStamp>
      <tem:Role>` + role + `</tem:Role>
      <tem:UniqueId>` + uid + `</tem:UniqueId>
      <tem:RequestDepth>` + depth + `</tem:RequestDepth>
      <tem:RequestType>` + rtype + `</tem:RequestType>
      <tem:Token>` + token + `</tem:Token>
    </tem:GetRoleData>
  </soapenv:Body>
</soapenv:Envelope>`
}

// calls counts the calls made with call.
var calls atomic.Int64

// call is a request signed with the shared key, each at its own second
// before the fixture's clock, since a token may be used once.
func call(uid, role, depth, rtype string) string {
	ts := processsync.TimeStamp(now.Add(-time.Duration(calls.Add(1)) * time.Second))
	return envelope("7.8.0", ts, role, uid, depth, rtype, processsync.Token(uid, ts, key))
}

func (f *fixture) post(t testing.TB, body string) (int, string) {
	t.Helper()
	res, err := http.Post(f.server.URL+processsync.Path, "text/xml; charset=utf-8", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestGolden(t *testing.T) {
	f := newFixture(t)
	ts := processsync.TimeStamp(now)
	cases := []struct{ name, body string }{
		{"depth-role", call("999902", "Practitioner", "Role", "Summary")},
		{"depth-learningplan", call("999902", "Practitioner", "LearningPlan", "Summary")},
		{"depth-taskgroup", call("999902", "Practitioner", "TaskGroup", "Summary")},
		{"depth-activity", call("999902", "Practitioner", "Activity", "Summary")},
		{"depth-activity-detail", call("MD999902", "practitioner", "Activity", "Detail")},
		{"depth-blank-type-unknown", call("PR-1001", "Practitioner", "", "Everything")},
		{"bad-token", envelope("7.8.0", ts, "Practitioner", "999902", "Role", "Summary", "token")},
		{"token-upper-case", envelope("7.8.0", ts, "Practitioner", "999902", "Role", "Summary", strings.ToUpper(processsync.Token("999902", ts, key)))},
		{"stale-timestamp", call("999902", "Practitioner", "Role", "Summary")[:0] + envelope("7.8.0", "1196367600", "Practitioner", "999902", "Role", "Summary", processsync.Token("999902", "1196367600", key))},
		{"unknown-unique-id", call("000000", "Practitioner", "Role", "Summary")},
		{"role-not-found", call("1234567890", "Practitioner", "Role", "Summary")},
		{"other-role", call("999902", "Reviewer", "Role", "Summary")},
		{"wrong-version", envelope("7.7.0", ts, "Practitioner", "999902", "Role", "Summary", processsync.Token("999902", ts, key))},
		{"malformed", "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><tem:GetRoleData>"},
		{"wrong-operation", `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetDemographicData xmlns="http://tempuri.org/"/></s:Body></s:Envelope>`},
	}
	for _, tc := range cases {
		status, body := f.post(t, tc.body)
		got := fmt.Sprintf("HTTP %d\n\n%s", status, body)
		if status >= 500 {
			t.Errorf("%s: HTTP %d", tc.name, status)
		}
		cmextest.Golden(t, filepath.Join("testdata", "golden", tc.name+".xml"), got, *update)
	}
}

// TestTokenWindow: a TimeStamp up to the window away from the server's
// clock, either way, is good; a second more is a bad token.
func TestTokenWindow(t *testing.T) {
	f := newFixture(t)
	for offset, want := range map[int64]string{-300: "<a:Success>0</a:Success>", 300: "<a:Success>0</a:Success>",
		-301: "<a:Success>1</a:Success>", 301: "<a:Success>1</a:Success>"} {
		ts := fmt.Sprint(now.Unix() + offset)
		_, body := f.post(t, envelope("7.8.0", ts, "Practitioner", "999902", "Role", "", processsync.Token("999902", ts, key)))
		if !strings.Contains(body, want) {
			t.Errorf("offset %d s: want %s in\n%s", offset, want, body)
		}
	}
	// The token covers the UniqueId: one made for Helen does not open Jane.
	ts := processsync.TimeStamp(now)
	if _, body := f.post(t, envelope("7.8.0", ts, "Practitioner", "999902", "Role", "", processsync.Token("999898", ts, key))); !strings.Contains(body, "<a:Success>1</a:Success>") {
		t.Errorf("a token for another id: %s", body)
	}
	// The WSDL names the server it was fetched from.
	res, err := http.Get(f.server.URL + processsync.Path + "?wsdl")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(b), `location="`+f.server.URL+processsync.Path+`"`) || !strings.Contains(string(b), `name="GetRoleData"`) {
		t.Errorf("WSDL: %.400s", b)
	}
}

// TestReplayedToken: a token is good once within its window. The same
// request again, or its token with the hex in other letters, is a bad
// token; the next second's token, or another member's, is good.
func TestReplayedToken(t *testing.T) {
	f := newFixture(t)
	ts := processsync.TimeStamp(now.Add(-10 * time.Second))
	token := processsync.Token("999902", ts, key)
	good, bad := "<a:Success>0</a:Success>", "<a:Success>1</a:Success>"
	for i, want := range []struct{ token, want string }{{token, good}, {token, bad}, {strings.ToUpper(token), bad}} {
		if _, body := f.post(t, envelope("7.8.0", ts, "Practitioner", "999902", "Role", "", want.token)); !strings.Contains(body, want.want) {
			t.Errorf("use %d: want %s in\n%.400s", i+1, want.want, body)
		}
	}
	next := processsync.TimeStamp(now.Add(-9 * time.Second))
	if _, body := f.post(t, envelope("7.8.0", next, "Practitioner", "999902", "Role", "", processsync.Token("999902", next, key))); !strings.Contains(body, good) {
		t.Errorf("the next second's token: %.400s", body)
	}
	// Another member's token at the same second is another token.
	if _, body := f.post(t, envelope("7.8.0", ts, "Practitioner", "MD999902", "Role", "", processsync.Token("MD999902", ts, key))); !strings.Contains(body, good) {
		t.Errorf("another identifier at the same second: %.400s", body)
	}
}
