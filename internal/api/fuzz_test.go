package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cmexhub/cmex/internal/cmextest"
)

// FuzzRequests posts any body to the API's JSON operations that decode
// one (a learner report, a match query, a new account): the answer is
// never a 5xx, and always a JSON object; an error answer has a code.
func FuzzRequests(f *testing.F) {
	fx := newFixture(f)
	rep := cmextest.JaneReport(fx.activity, "2025-06-01", "fuzz")
	rep.Action = ""
	good, _ := json.Marshal(rep)
	f.Add(good)
	f.Add([]byte(`{"givenName":"Jane","familyName":"ACCME","birthDate":"1970-01-01"}`))
	f.Add([]byte(`{"username":"new.physician","password":"a long enough password","name":"New Physician"}`))
	f.Add([]byte(`{"credits":[{"credits":"1e400"}]} trailing`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/api/v1/learner-records", "/api/v1/learners/match", "/api/v1/accounts"} {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			janeBasic(req)
			rec := httptest.NewRecorder()
			fx.h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s: HTTP %d: %s", path, rec.Code, rec.Body)
			}
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("%s: HTTP %d, not a JSON object: %s", path, rec.Code, rec.Body)
			}
			if e, ok := out["error"].(map[string]any); rec.Code >= 400 && (!ok || e["code"] == "") {
				t.Fatalf("%s: HTTP %d without an error code: %s", path, rec.Code, rec.Body)
			}
		}
	})
}
