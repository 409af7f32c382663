package pars_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/pars"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// today is when the golden conversation takes place.
var today = time.Date(2025, time.June, 15, 15, 0, 0, 0, time.UTC)

// goldenCase is one request of the golden conversation. Requests run in
// order against one registry, so later ones see what earlier ones stored.
type goldenCase struct {
	name string
	path string
	// request is testdata/wire/NAME (sent as is), testdata/save/NAME (an
	// activity document, wrapped in a SaveActivity SubmitMessage for
	// provider 1234567 with ReportingYear year) or testdata/learner/NAME (a
	// learner document, wrapped in a SaveLearnerActivity SubmitMessage).
	request string
	year    string
	mode    pars.Mode
	// otherProvider sends a wrapped document as provider 7654321.
	otherProvider bool
}

var goldenCases = []goldenCase{
	{name: "add-seed-sample", path: pars.PathSaveActivity, request: "wire/save-seed-sample.xml"},
	{name: "add-seed-sample-again", path: pars.PathSaveActivity, request: "wire/save-seed-sample.xml"},
	{name: "get-by-provider-activity-id", path: pars.PathGetActivity, request: "wire/get-by-provider-activity-id.xml"},
	{name: "get-by-activity-id", path: pars.PathGetActivity, request: "wire/get-by-activity-id.xml"},
	{name: "get-by-start-date", path: pars.PathGetActivity, request: "wire/get-by-start-date.xml"},
	{name: "add-live-course", path: pars.PathSaveActivity, request: "save/live-course-full.xml", year: "2025"},
	{name: "get-by-type", path: pars.PathGetActivity, request: "wire/get-by-type.xml"},
	{name: "update-and-close", path: pars.PathSaveActivity, request: "save/live-course-close.xml", year: "2025"},
	{name: "update-after-close", path: pars.PathSaveActivity, request: "save/live-course-after-close.xml", year: "2025"},
	{name: "add-many-problems", path: pars.PathSaveActivity, request: "save/many-problems.xml", year: "2025"},
	{name: "get-nothing", path: pars.PathGetActivity, request: "wire/get-nothing.xml"},
	{name: "get-other-provider", path: pars.PathGetActivity, request: "wire/get-other-provider.xml"},
	{name: "get-no-criteria", path: pars.PathGetActivity, request: "wire/get-no-criteria.xml"},
	{name: "get-bad-password", path: pars.PathGetActivity, request: "wire/get-bad-password.xml"},
	{name: "get-legacy-schema", path: pars.PathGetActivity, request: "wire/get-legacy-schema.xml"},
	{name: "save-bad-password", path: pars.PathSaveActivity, request: "wire/save-bad-password.xml"},
	{name: "save-missing-user", path: pars.PathSaveActivity, request: "wire/save-missing-user.xml"},
	{name: "save-out-of-order", path: pars.PathSaveActivity, request: "wire/save-out-of-order.xml"},
	{name: "save-out-of-order-permissive", path: pars.PathSaveActivity, request: "wire/save-out-of-order.xml", mode: pars.Permissive},
	{name: "save-wrong-namespace", path: pars.PathSaveActivity, request: "wire/save-wrong-namespace.xml"},
	{name: "save-malformed", path: pars.PathSaveActivity, request: "wire/save-malformed.xml"},
	{name: "save-data-not-activity", path: pars.PathSaveActivity, request: "wire/save-data-not-activity.xml"},
	{name: "save-two-activities", path: pars.PathSaveActivity, request: "wire/save-two-activities.xml"},
	{name: "save-unescaped-data", path: pars.PathSaveActivity, request: "wire/save-unescaped-data.xml"},
	{name: "save-unescaped-data-permissive", path: pars.PathSaveActivity, request: "wire/save-unescaped-data.xml", mode: pars.Permissive},
	{name: "save-data-malformed", path: pars.PathSaveActivity, request: "wire/save-data-malformed.xml"},
	{name: "save-unknown-action", path: pars.PathSaveActivity, request: "wire/save-unknown-action.xml"},
	{name: "save-bad-reporting-year", path: pars.PathSaveActivity, request: "wire/save-bad-reporting-year.xml"},
	{name: "save-reporting-year-mismatch", path: pars.PathSaveActivity, request: "wire/save-reporting-year-mismatch.xml"},
	{name: "delete-seed-sample", path: pars.PathSaveActivity, request: "save/delete-by-id.xml", year: "2021"},
	{name: "get-deleted", path: pars.PathGetActivity, request: "wire/get-by-activity-id.xml"},

	// The learner services, on an ABIM-registered activity (300000003).
	{name: "add-moc-activity", path: pars.PathSaveActivity, request: "save/moc-activity.xml", year: "2025"},
	{name: "learner-add-jane", path: pars.PathSaveLearnerActivity, request: "learner/jane.xml"},
	{name: "learner-add-jane-again", path: pars.PathSaveLearnerActivity, request: "learner/jane.xml"},
	{name: "learner-status-by-credit", path: pars.PathLearnerStatusByCredit, request: "wire/status-by-credit-mk.xml"},
	{name: "learner-status-by-learner", path: pars.PathLearnerStatusByLearner, request: "wire/status-by-learner.xml"},
	{name: "learner-name-mismatch", path: pars.PathSaveLearnerActivity, request: "learner/name-mismatch.xml"},
	{name: "learner-before-start", path: pars.PathSaveLearnerActivity, request: "learner/before-start.xml"},
	{name: "learner-many-problems", path: pars.PathSaveLearnerActivity, request: "learner/many-problems.xml"},
	{name: "learner-two-reports", path: pars.PathSaveLearnerActivity, request: "learner/two-reports.xml"},
	{name: "learner-rems", path: pars.PathSaveLearnerActivity, request: "learner/rems.xml"},
	{name: "learner-other-provider", path: pars.PathSaveLearnerActivity, request: "learner/jane.xml", otherProvider: true},
	{name: "learner-delete", path: pars.PathSaveLearnerActivity, request: "learner/delete-patient-safety.xml"},
	{name: "learner-status-deleted", path: pars.PathLearnerStatusByCredit, request: "wire/status-by-credit-deleted.xml"},
	{name: "learner-status-wrong-birthday", path: pars.PathLearnerStatusByLearner, request: "wire/status-by-learner-wrong-birthday.xml"},
	{name: "learner-status-31-february", path: pars.PathLearnerStatusByLearner, request: "wire/status-by-learner-31-february.xml"},
	{name: "learner-status-bad-password", path: pars.PathLearnerStatusByCredit, request: "wire/status-bad-password.xml"},
	{name: "learner-status-other-provider", path: pars.PathLearnerStatusByCredit, request: "wire/status-other-provider.xml"},
	{name: "learner-status-out-of-order", path: pars.PathLearnerStatusByCredit, request: "wire/status-out-of-order.xml"},
	{name: "learner-match-helen", path: pars.PathLearnerMatch, request: "wire/match-helen.xml"},
	{name: "learner-match-name-birthday", path: pars.PathLearnerMatch, request: "wire/match-name-birthday.xml"},
	{name: "learner-match-name-only", path: pars.PathLearnerMatch, request: "wire/match-name-only.xml"},
	{name: "learner-match-bad-password", path: pars.PathLearnerMatch, request: "wire/match-bad-password.xml"},
}

// TestGolden holds the wire format: each response must match its golden
// file byte for byte. Run with -update after a deliberate change, and read
// the diff.
func TestGolden(t *testing.T) {
	store := cmextest.NewStore(t, today)
	if _, err := store.Persons.ImportPersons(t.Context(), []*cmex.Person{cmextest.Jane(), cmextest.Helen()}); err != nil {
		t.Fatal(err)
	}
	handlers := map[pars.Mode]http.Handler{}
	for _, mode := range []pars.Mode{pars.Strict, pars.Permissive} {
		mux := http.NewServeMux()
		(&pars.Handler{Users: store.Users, Activities: store.Activities, Learners: store.Learners, Persons: store.Persons,
			Logger: slog.New(slog.DiscardHandler), Mode: mode}).Register(mux)
		handlers[mode] = mux
	}
	for i, tc := range goldenCases {
		body := mustRequest(t, tc)
		req := httptest.NewRequest(http.MethodPost, tc.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/xml; charset=utf-8")
		rec := httptest.NewRecorder()
		handlers[tc.mode].ServeHTTP(rec, req)

		got := fmt.Sprintf("HTTP %d\nContent-Type: %s\n\n%s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		cmextest.Golden(t, filepath.Join("testdata", "golden", fmt.Sprintf("%02d-%s.txt", i+1, tc.name)), got, *update)
		if rec.Code >= 500 {
			t.Errorf("%s: status %d", tc.name, rec.Code)
		}
		checkWellFormed(t, tc.name, rec.Body.Bytes())
	}
}

// mustRequest returns the request body of a case.
func mustRequest(tb testing.TB, tc goldenCase) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", tc.request))
	if err != nil {
		tb.Fatal(err)
	}
	provider, user := "1234567", "webserviceuser@yourdomain.org"
	if tc.otherProvider {
		provider, user = "7654321", "otheruser@example.org"
	}
	switch {
	case strings.HasPrefix(tc.request, "save/"):
		return submitMessage(pars.NSService, string(b), "sandbox", provider, tc.year, user)
	case strings.HasPrefix(tc.request, "learner/"):
		return submitMessage(pars.NSLearnerService, string(b), "sandbox", provider, "", user)
	}
	return b
}

// submitMessage wraps an activity document as PARS requires: escaped in
// Data, members in alphabetical order. It escapes with encoding/xml, not
// with the code under test.
func submitMessage(ns, doc, password, provider, year, user string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<SubmitMessage xmlns="` + ns + `"><Data>`)
	_ = xml.EscapeText(&b, []byte(doc))
	b.WriteString("</Data><Password>")
	_ = xml.EscapeText(&b, []byte(password))
	b.WriteString("</Password><ProviderId>" + provider + "</ProviderId>")
	if year != "" {
		b.WriteString("<ReportingYear>" + year + "</ReportingYear>")
	}
	b.WriteString("<User>")
	_ = xml.EscapeText(&b, []byte(user))
	b.WriteString("</User></SubmitMessage>")
	return b.Bytes()
}

// checkWellFormed parses a response, and the activity document its Data
// carries unless the response is a rejection, whose Data echoes the request
// as sent, well-formed or not.
func checkWellFormed(tb testing.TB, name string, body []byte) {
	tb.Helper()
	var resp struct {
		Data       *string `xml:"Data"`
		StatusCode string  `xml:"StatusCode"`
	}
	if err := xml.Unmarshal(body, &resp); err != nil {
		tb.Errorf("%s: response is not well-formed XML: %v", name, err)
		return
	}
	if resp.Data != nil && resp.StatusCode != "Rejected" && *resp.Data != "" {
		var doc struct{}
		if err := xml.Unmarshal([]byte(*resp.Data), &doc); err != nil {
			tb.Errorf("%s: Data is not a well-formed document: %v", name, err)
		}
	}
}
