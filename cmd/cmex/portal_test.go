package main_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestPortalSignIn signs in to the running server's portal with a staff
// account made by cmex staff add.
func TestPortalSignIn(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	if out, code := runCLI(t, env, "", "provider", "add", "-id", "1234567", "-name", "AAA Test Organization"); code != 0 {
		t.Fatalf("provider add: %s", out)
	}
	if out, code := runCLI(t, env, "a long staff password\n", "staff", "add", "-username", "olga", "-name", "Olga Staff", "-role", "provider-staff", "-provider", "1234567"); code != 0 {
		t.Fatalf("staff add: %s", out)
	}
	s := startServer(t, env)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) (int, string) {
		resp, err := c.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, `action="/signin"`) {
		s.stop()
		t.Fatalf("/ before signing in (redirected to the sign-in page): %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodPost, s.base+"/signin", strings.NewReader(url.Values{"username": {"olga"}, "password": {"a long staff password"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Welcome, Olga Staff") {
		s.stop()
		t.Fatalf("after signing in: %d %s", resp.StatusCode, b)
	}
	s.stop()
	if strings.Contains(s.logs.String(), "a long staff password") {
		t.Error("the log holds the password")
	}
}
