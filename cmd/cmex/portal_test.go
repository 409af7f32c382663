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

// TestSandboxPortal signs in to the sandbox's portal as Jane ACCME, whose
// account reaches her registry record, after a provider reported her
// completion through PARS, and as the sandbox provider's staff.
func TestSandboxPortal(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox")
	reportSandboxLearner(t, s, nil)
	jane := s.signIn("jane.accme", "sandbox")
	code, body := s.page(jane, "/transcript")
	code2, progress := s.page(jane, "/progress")
	staff := s.signIn("aaa.staff", "sandbox")
	code3, home := s.page(staff, "/")
	code4, _ := s.page(staff, "/progress")
	s.stop()
	if code != 200 || !strings.Contains(body, "Example Society</strong> (EXAMPLE), member J-0001") || !strings.Contains(body, "Internal Medicine Update 2026") {
		t.Errorf("Jane's transcript: %d\n%s", code, body)
	}
	if code2 != 200 || !strings.Contains(progress, "Practitioner: Internal Medicine") || !strings.Contains(progress, "days left") {
		t.Errorf("Jane's progress: %d\n%s", code2, progress)
	}
	if code3 != 200 || !strings.Contains(home, "Welcome, AAA Staff") || code4 != http.StatusForbidden {
		t.Errorf("staff: home %d, progress %d\n%s", code3, code4, home)
	}

	// Starting again changes nothing; a new sandbox password re-keys both.
	s = startServer(t, env, "-sandbox", "-sandbox-password", "another sandbox password")
	code, _ = s.page(s.signIn("jane.accme", "another sandbox password"), "/progress")
	code2, _ = s.page(s.signIn("aaa.staff", "another sandbox password"), "/")
	resp, err := http.DefaultClient.Do(formRequest(s.base, "/signin", url.Values{"username": {"aaa.staff"}, "password": {"sandbox"}}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.stop()
	if code != 200 || code2 != 200 || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after re-keying: Jane %d, staff %d; the old password: %s", code, code2, resp.Status)
	}
}

// signIn signs in to the running server's portal and returns a client
// holding the session; the test fails when sign-in does not succeed.
func (s *server) signIn(user, password string) *http.Client {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Do(formRequest(s.base, "/signin", url.Values{"username": {user}, "password": {password}}))
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if u, _ := url.Parse(s.base); resp.StatusCode != http.StatusOK || len(jar.Cookies(u)) == 0 {
		s.t.Fatalf("sign in as %s: %s, no session", user, resp.Status)
	}
	return c
}

// page gets path from the running server with c.
func (s *server) page(c *http.Client, path string) (int, string) {
	s.t.Helper()
	resp, err := c.Get(s.base + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
