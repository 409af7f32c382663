package pars_test

import (
	"bytes"
	"encoding/xml"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/pars"
)

type parsResponse struct {
	Data          string `xml:"Data"`
	ErrorMessages []struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"ErrorMessages>ErrorMessage"`
	StatusCode string `xml:"StatusCode"`
}

func post(t *testing.T, h http.Handler, path, contentType string, body []byte) (*httptest.ResponseRecorder, parsResponse) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var resp parsResponse
	if err := xml.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("response is not PARS-shaped XML: %v\n%s", err, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/xml; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	return rec, resp
}

func newHandler(t *testing.T, mode pars.Mode, maxBody int64) (http.Handler, *cmextest.Store) {
	store := cmextest.NewStore(t, today)
	mux := http.NewServeMux()
	(&pars.Handler{Users: store.Users, Activities: store.Activities, Logger: slog.New(slog.DiscardHandler), Mode: mode, MaxBody: maxBody}).Register(mux)
	return mux, store
}

func seedRequest(t *testing.T) []byte {
	b, err := os.ReadFile("testdata/wire/save-seed-sample.xml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBodyLimit(t *testing.T) {
	h, store := newHandler(t, pars.Strict, 1000)
	rec, resp := post(t, h, pars.PathSaveActivity, "application/xml; charset=utf-8", seedRequest(t))
	if rec.Code != http.StatusRequestEntityTooLarge || resp.StatusCode != "Rejected" || len(resp.ErrorMessages) != 1 ||
		resp.ErrorMessages[0].Code != "453" || !strings.Contains(resp.ErrorMessages[0].Message, "limit of 1000 bytes") {
		t.Errorf("status %d, response %+v", rec.Code, resp)
	}
	var n int
	store.DB.SQL().QueryRow("SELECT count(*) FROM activities").Scan(&n)
	if n != 0 {
		t.Errorf("%d activities stored from a rejected body", n)
	}
}

func TestContentType(t *testing.T) {
	strict, _ := newHandler(t, pars.Strict, 0)
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/xml; charset=iso-8859-1"} {
		rec, resp := post(t, strict, pars.PathSaveActivity, ct, seedRequest(t))
		if rec.Code != http.StatusUnsupportedMediaType || resp.StatusCode != "Rejected" || resp.ErrorMessages[0].Code != "455" {
			t.Errorf("strict, Content-Type %q: status %d, %+v", ct, rec.Code, resp)
		}
	}
	for _, ct := range []string{"application/xml", "text/xml; charset=UTF-8", "application/xml;charset=utf-8"} {
		if rec, resp := post(t, strict, pars.PathSaveActivity, ct, seedRequest(t)); resp.StatusCode != "Accepted" && !hasCode(resp, "476") {
			t.Errorf("strict, Content-Type %q: status %d, %+v", ct, rec.Code, resp)
		}
	}
	permissive, _ := newHandler(t, pars.Permissive, 0)
	rec, resp := post(t, permissive, pars.PathSaveActivity, "text/plain", seedRequest(t))
	if rec.Code != http.StatusOK || resp.StatusCode != "Accepted" || !strings.HasPrefix(resp.ErrorMessages[0].Message, "Warning: ") {
		t.Errorf("permissive, text/plain: status %d, %+v", rec.Code, resp)
	}
}

func hasCode(r parsResponse, code string) bool {
	for _, e := range r.ErrorMessages {
		if e.Code == code {
			return true
		}
	}
	return false
}

func TestOnlyPost(t *testing.T) {
	h, _ := newHandler(t, pars.Strict, 0)
	for _, path := range []string{pars.PathSaveActivity, pars.PathGetActivity} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusMethodNotAllowed || !strings.Contains(rec.Header().Get("Allow"), "POST") {
			t.Errorf("GET %s: %d, Allow %q", path, rec.Code, rec.Header().Get("Allow"))
		}
	}
}

// TestStrictResponsesCarryNoWarnings: in Strict mode an accepted activity
// answers exactly as PARS does, ErrorMessages nil, even when a guessed rule
// has a doubt (an unknown commendation tag).
func TestStrictResponsesCarryNoWarnings(t *testing.T) {
	doc, err := os.ReadFile("testdata/save/live-course-full.xml")
	if err != nil {
		t.Fatal(err)
	}
	withTag := strings.Replace(string(doc), "<ex:CommendationTag>Engages Teams", "<ex:CommendationTag>A Criterion Of Tomorrow", 1)
	for mode, wantWarning := range map[pars.Mode]bool{pars.Strict: false, pars.Permissive: true} {
		h, _ := newHandler(t, mode, 0)
		body := submitMessage(pars.NSService, withTag, cmextest.Password, "1234567", "2025", "webserviceuser@yourdomain.org")
		rec, resp := post(t, h, pars.PathSaveActivity, "application/xml", body)
		if resp.StatusCode != "Accepted" {
			t.Fatalf("%v: %d %+v", mode, rec.Code, resp)
		}
		if got := hasCode(resp, "479"); got != wantWarning {
			t.Errorf("%v: warning 479 present = %v, want %v", mode, got, wantWarning)
		}
		if !wantWarning && !strings.Contains(rec.Body.String(), `<ErrorMessages i:nil="true"/>`) {
			t.Errorf("%v: ErrorMessages is not nil: %s", mode, rec.Body.String())
		}
	}
}

// TestInternalErrorsStayInside: when storage fails, the client gets PARS's
// "failed to add" code and a generic message; the cause goes to the log
// only.
func TestInternalErrorsStayInside(t *testing.T) {
	store := cmextest.NewStore(t, today)
	var logs bytes.Buffer
	mux := http.NewServeMux()
	(&pars.Handler{Users: store.Users, Activities: store.Activities, Logger: slog.New(slog.NewTextHandler(&logs, nil))}).Register(mux)
	if _, err := store.DB.SQL().Exec("DROP TABLE activity_revisions"); err != nil {
		t.Fatal(err)
	}
	rec, resp := post(t, mux, pars.PathSaveActivity, "application/xml", seedRequest(t))
	if rec.Code != http.StatusInternalServerError || resp.StatusCode != "Rejected" || len(resp.ErrorMessages) != 1 ||
		resp.ErrorMessages[0].Code != "466" || strings.Contains(rec.Body.String(), "activity_revisions") {
		t.Errorf("status %d, body %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "activity_revisions") {
		t.Errorf("the cause was not logged: %s", logs.String())
	}
	var n int
	store.DB.SQL().QueryRow("SELECT count(*) FROM activities").Scan(&n)
	if n != 0 {
		t.Errorf("a failed Add left %d activities behind", n)
	}
}
