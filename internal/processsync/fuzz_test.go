package processsync_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzGetRoleData sends anything to the service: the answer is always a
// SOAP response or fault, never a panic or a server error.
func FuzzGetRoleData(f *testing.F) {
	f.Add(call("999902", "Practitioner", "Activity", "Detail"))
	f.Add(envelope("7.8.0", "x", "", "", "", "", ""))
	if b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "specs", "samples", "processsync-getroledata-request.xml")); err == nil {
		f.Add(string(b))
	}
	f.Add(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetRoleData xmlns="http://tempuri.org/"><Version>7.8.0</Version></GetRoleData></s:Body></s:Envelope>`)
	fx := newFixture(f)
	h := fx.server.Config.Handler
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/services/ProcessSynchronization.svc", strings.NewReader(body)))
		if rec.Code >= 500 || !strings.Contains(rec.Body.String(), "http://schemas.xmlsoap.org/soap/envelope/") {
			t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
	})
}
