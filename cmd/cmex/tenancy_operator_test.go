package main_test

import (
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// operatorPages and operatorActions are every page and action of the
// operator's console (the claims queue at /admin/claims is another's).
var (
	operatorPages = []string{"/admin/providers", "/admin/providers/1234567", "/admin/outbox", "/admin/deliveries",
		"/admin/deliveries?state=rejected", "/admin/audit", "/admin/plans", "/admin/societies"}
	operatorActions = []struct {
		path string
		form url.Values
	}{
		{"/admin/providers", url.Values{"provider": {"5555555"}, "name": {"Taken Over"}}},
		{"/admin/providers/1234567/users", url.Values{"username": {"intruder@example.org"}}},
		{"/admin/providers/1234567/users/rotate", url.Values{"username": {"webserviceuser@yourdomain.org"}}},
		{"/admin/providers/1234567/users/disable", url.Values{"username": {"webserviceuser@yourdomain.org"}}},
		{"/admin/providers/1234567/users/enable", url.Values{"username": {"webserviceuser@yourdomain.org"}}},
		{"/admin/providers/1234567/keys", url.Values{"name": {"intruder"}}},
		{"/admin/providers/1234567/keys/rotate", url.Values{"name": {"lms"}}},
		{"/admin/providers/1234567/keys/disable", url.Values{"name": {"lms"}}},
		{"/admin/providers/1234567/keys/enable", url.Values{"name": {"lms"}}},
		{"/admin/deliveries/retry", url.Values{"state": {"rejected"}}},
		{"/admin/deliveries/cancel", url.Values{"state": {"pending"}}},
		{"/admin/plans", url.Values{"op": {"load"}}},
		{"/admin/societies", url.Values{"code": {"EVIL"}, "name": {"Evil"}, "bindingUrl": {"https://evil.invalid/b"}, "orderUrl": {"https://evil.invalid/o"}}},
	}
)

// TestTenantIsolationOperator: no account but a cmex admin reaches the
// operator's pages or actions: a physician, provider staff, a provider
// admin (of the very provider whose users the actions name) and a society
// admin each get "Not for this account" (403) for every page and action,
// and the actions change nothing. The matrix covers every page and form
// the console links to.
func TestTenantIsolationOperator(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox")
	defer s.stop()
	if out, code := runCLI(t, env, "", "apikey", "add", "-provider", "1234567", "-name", "lms"); code != 0 {
		t.Fatalf("apikey add: %s", out)
	}
	for _, st := range [][]string{
		{"-username", "pat.admin", "-name", "Pat Provider-Admin", "-role", "provider-admin", "-provider", "1234567"},
		{"-username", "sue.society", "-name", "Sue Society", "-role", "society-admin", "-society", "EXAMPLE"},
	} {
		if out, code := runCLI(t, env, "a long staff password\n", append([]string{"staff", "add"}, st...)...); code != 0 {
			t.Fatalf("staff add: %s", out)
		}
	}
	auditBefore, _ := runCLI(t, env, "", "audit", "-json", "-limit", "100000")

	// The matrix is complete: every /admin/ link and form of the console's
	// pages is in it.
	op := s.signIn("cmex.admin", "sandbox")
	norm := regexp.MustCompile(`^/admin/providers/[0-9]+`)
	key := func(method, path string) string {
		return method + " " + norm.ReplaceAllString(strings.SplitN(path, "?", 2)[0], "/admin/providers/ID")
	}
	covered := map[string]bool{key("GET", "/admin/claims"): true}
	for _, p := range operatorPages {
		covered[key("GET", p)] = true
	}
	for _, a := range operatorActions {
		covered[key("POST", a.path)] = true
	}
	refs := regexp.MustCompile(`href="(/admin[^"]*)"|<form method="(get|post)" action="(/admin[^"]*)"`)
	for _, p := range operatorPages {
		code, page := s.page(op, p)
		if code != http.StatusOK {
			t.Errorf("the admin on %s: %d", p, code)
		}
		for _, m := range refs.FindAllStringSubmatch(page, -1) {
			k := key("GET", m[1])
			if m[1] == "" {
				k = key(strings.ToUpper(m[2]), m[3])
			}
			if !covered[k] {
				t.Errorf("%s links to %s, which the matrix does not try", p, k)
			}
		}
	}

	for _, who := range []struct{ user, password string }{
		{"jane.accme", "sandbox"}, {"aaa.staff", "sandbox"}, {"pat.admin", "a long staff password"}, {"sue.society", "a long staff password"},
	} {
		c := s.signIn(who.user, who.password)
		for _, p := range operatorPages {
			if code, page := s.page(c, p); code != http.StatusForbidden || !strings.Contains(page, "Not for this account") {
				t.Errorf("%s GET %s: %d", who.user, p, code)
			}
		}
		for _, a := range operatorActions {
			if code, page := s.adminPost(c, a.path, a.form); code != http.StatusForbidden || !strings.Contains(page, "Not for this account") {
				t.Errorf("%s POST %s: %d", who.user, a.path, code)
			}
		}
		if code, page := s.page(c, "/"); code != 200 || strings.Contains(page, `href="/admin/`) {
			t.Errorf("%s's pages link to the console", who.user)
		}
	}
	if auditAfter, _ := runCLI(t, env, "", "audit", "-json", "-limit", "100000"); auditAfter != auditBefore {
		t.Errorf("the refused actions changed something:\nbefore\n%s\nafter\n%s", auditBefore, auditAfter)
	}
	if r := s.post(getPath, search(providerA, map[string]string{"ActivityID": "399999999"})); r.has("451") {
		t.Errorf("the sandbox user after the refused actions: %+v", r)
	}
}
