package api_test

import (
	"net/http"
	"testing"
)

// TestNoCredentials: a server without a credential service answers the
// credential operations 503 with a JSON error, never a panic or a 5xx of
// another kind.
func TestNoCredentials(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		a            auth
		method, path string
		body         any
	}{
		{janeBasic, "GET", "/api/v1/learner-records/ccid:x:1/credential", nil},
		{nil, "POST", "/api/v1/verify", map[string]any{"@context": []string{"https://www.w3.org/ns/credentials/v2"}}},
	} {
		code, body := f.do(t, c.a, c.method, c.path, c.body)
		e, _ := body["error"].(map[string]any)
		if code != http.StatusServiceUnavailable || e["code"] != "unavailable" {
			t.Errorf("%s %s: %d %v", c.method, c.path, code, body)
		}
	}
	if code, _ := f.do(t, nil, "GET", "/api/v1/learner-records/ccid:x:1/credential", nil); code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d", code)
	}
}
