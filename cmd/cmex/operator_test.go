package main_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// adminPost posts a form of the operator's console as the browser c,
// without following the redirect, and returns the status and the page.
func (s *server) adminPost(c *http.Client, path string, form url.Values) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.base)
	nc := &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := nc.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var shownSecret = regexp.MustCompile(`<code class="code" id="secret">([^<]+)</code>`)

// TestOperatorDisablesAndRotates: a web-service user the operator disables
// in the portal is refused at once on every surface (PARS answers 451 as
// for a wrong password, the JSON API 401), though PARS had just checked its
// password (and remembered it); enabled, it works again; a rotated password
// refuses the old one at once. An API key likewise.
func TestOperatorDisablesAndRotates(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox")
	defer s.stop()
	op := s.signIn("cmex.admin", "sandbox")

	pars := func(c creds) parsResponse {
		return s.post(getPath, search(c, map[string]string{"ActivityID": "399999999"}))
	}
	api := func(auth func(*http.Request)) int {
		return s.apiCall("GET", "/api/v1/deliveries", auth, nil, nil)
	}
	basic := func(user, password string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(user, password) }
	}
	bearer := func(token string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	}
	wrong := pars(creds{providerA.provider, providerA.user, "not the password"})
	if !wrong.has("451") {
		t.Fatalf("a wrong password: %+v", wrong)
	}
	if r := pars(providerA); r.has("451") {
		t.Fatalf("the sandbox user before: %+v", r)
	}
	code, page := s.adminPost(op, "/admin/providers/1234567/keys", url.Values{"name": {"lms"}})
	m := shownSecret.FindStringSubmatch(page)
	if code != 200 || m == nil {
		t.Fatalf("adding a key: %d\n%s", code, page)
	}
	token := m[1]
	if c := api(bearer(token)); c != 200 {
		t.Fatalf("the new key: %d", c)
	}

	if code, _ := s.adminPost(op, "/admin/providers/1234567/users/disable", url.Values{"username": {providerA.user}}); code != http.StatusSeeOther {
		t.Fatalf("disabling: %d", code)
	}
	r := pars(providerA)
	if fmt.Sprint(r.HTTPStatus, r.StatusCode, r.ErrorMessages) != fmt.Sprint(wrong.HTTPStatus, wrong.StatusCode, wrong.ErrorMessages) {
		t.Errorf("PARS for a disabled user: %+v; for a wrong password: %+v", r, wrong)
	}
	if c := api(basic(providerA.user, providerA.password)); c != http.StatusUnauthorized {
		t.Errorf("the JSON API for a disabled user: %d", c)
	}
	if c := api(bearer(token)); c != 200 {
		t.Errorf("the provider's key while its user is disabled: %d", c)
	}
	if r := pars(providerB); r.has("451") {
		t.Errorf("another provider's user: %+v", r)
	}
	s.adminPost(op, "/admin/providers/1234567/users/enable", url.Values{"username": {providerA.user}})
	if r := pars(providerA); r.has("451") {
		t.Errorf("enabled again: %+v", r)
	}

	// Rotated: the password PARS just accepted is refused at once.
	code, page = s.adminPost(op, "/admin/providers/1234567/users/rotate", url.Values{"username": {providerA.user}})
	m = shownSecret.FindStringSubmatch(page)
	if code != 200 || m == nil {
		t.Fatalf("rotating: %d\n%s", code, page)
	}
	if r := pars(providerA); !r.has("451") {
		t.Errorf("the old password after rotating: %+v", r)
	}
	if c := api(basic(providerA.user, providerA.password)); c != http.StatusUnauthorized {
		t.Errorf("the JSON API with the old password: %d", c)
	}
	password := m[1]
	if r := pars(creds{providerA.provider, providerA.user, m[1]}); r.has("451") {
		t.Errorf("the new password: %+v", r)
	}
	if c := api(basic(providerA.user, m[1])); c != 200 {
		t.Errorf("the JSON API with the new password: %d", c)
	}

	// A key disabled, then rotated and enabled.
	s.adminPost(op, "/admin/providers/1234567/keys/disable", url.Values{"name": {"lms"}})
	if c := api(bearer(token)); c != http.StatusUnauthorized {
		t.Errorf("a disabled key: %d", c)
	}
	_, page = s.adminPost(op, "/admin/providers/1234567/keys/rotate", url.Values{"name": {"lms"}})
	s.adminPost(op, "/admin/providers/1234567/keys/enable", url.Values{"name": {"lms"}})
	m = shownSecret.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("rotating the key:\n%s", page)
	}
	if c := api(bearer(token)); c != http.StatusUnauthorized {
		t.Errorf("the rotated key's old token: %d", c)
	}
	if c := api(bearer(m[1])); c != 200 {
		t.Errorf("the rotated key's new token: %d", c)
	}
	if logs := s.logs.String(); strings.Contains(logs, m[1]) || strings.Contains(logs, token) || strings.Contains(logs, password) {
		t.Error("the log holds a token or a password")
	}
}

// TestCLIDisablesAndRotates: the command line disables and enables
// web-service users and API keys, and rotates keys, as the console does.
func TestCLIDisablesAndRotates(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	if out, code := runCLI(t, env, "", "provider", "add", "-id", "1234567", "-name", "AAA"); code != 0 {
		t.Fatal(out)
	}
	if out, code := runCLI(t, env, "a long password\n", "user", "add", "-provider", "1234567", "-user", "lms@aaa.example"); code != 0 {
		t.Fatal(out)
	}
	old, code := runCLI(t, env, "", "apikey", "add", "-provider", "1234567", "-name", "lms")
	if code != 0 {
		t.Fatal(old)
	}
	if out, code := runCLI(t, env, "", "user", "disable", "-provider", "1234567", "-user", "LMS@aaa.example"); code != 0 || !strings.Contains(out, "user LMS@aaa.example of provider 1234567 disabled") {
		t.Errorf("user disable: %d %s", code, out)
	}
	if out, _ := runCLI(t, env, "", "user", "list", "-provider", "1234567"); !regexp.MustCompile(`lms@aaa.example +\d{4}-\d\d-\d\d +\d{4}-\d\d-\d\d \d\d:\d\d +disabled `).MatchString(out) {
		t.Errorf("user list: %s", out)
	}
	if out, code := runCLI(t, env, "", "user", "disable", "-provider", "1234567", "-user", "nobody"); code != 1 || !strings.Contains(out, "user nobody not found") {
		t.Errorf("disabling no one: %d %s", code, out)
	}
	rotated, code := runCLI(t, env, "", "apikey", "rotate", "-provider", "1234567", "-name", "lms")
	tokenRE := regexp.MustCompile(`cmex_[0-9a-f]{8}_[0-9a-f]{64}`)
	if code != 0 || tokenRE.FindString(rotated) == "" || tokenRE.FindString(rotated) == tokenRE.FindString(old) || !strings.Contains(rotated, "cannot show it again") {
		t.Errorf("apikey rotate: %d %s", code, rotated)
	}
	if out, code := runCLI(t, env, "", "apikey", "disable", "-provider", "1234567", "-name", "lms"); code != 0 || !strings.Contains(out, "API key lms disabled") {
		t.Errorf("apikey disable: %d %s", code, out)
	}
	if out, _ := runCLI(t, env, "", "apikey", "list", "-provider", "1234567"); !strings.Contains(out, "disabled") || !strings.Contains(out, "cmex_"+tokenRE.FindString(rotated)[5:13]+"_…") {
		t.Errorf("apikey list: %s", out)
	}
	if out, code := runCLI(t, env, "", "apikey", "enable", "-provider", "1234567", "-name", "nope"); code != 1 || !strings.Contains(out, "no API key named nope") {
		t.Errorf("enabling no key: %d %s", code, out)
	}
	es, _ := runCLI(t, env, "", "audit", "-action", "api-key.")
	for _, want := range []string{"api-key.add", "api-key.rotate", "api-key.disable"} {
		if !strings.Contains(es, want) {
			t.Errorf("the audit log lacks %s:\n%s", want, es)
		}
	}
}
