package main_test

import (
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOrderAccessEndToEnd (issue 16): outside the sandbox a local
// society's ceu_order answers no gateway until the operator allows it,
// by address (after trusted proxies) or by credential (HTTP Basic), with
// cmex society allow; cmex society revoke takes a grant back.
func TestOrderAccessEndToEnd(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	cli := func(stdin string, args ...string) string {
		t.Helper()
		out, code := runCLI(t, env, stdin, args...)
		if code != 0 {
			t.Fatalf("cmex %v: exit %d\n%s", args, code, out)
		}
		return out
	}
	cli("", "society", "add", "-code", "EXAMPLE", "-name", "Example Society")
	cli("a long member password\n", "society", "member-add", "-society", "EXAMPLE", "-member-id", "01234567", "-username", "NedBaker", "-given", "Ned", "-family", "Baker")
	s := startServer(t, env, "-trusted-proxies", "127.0.0.1")
	if !strings.Contains(s.logs.String(), "answers no gateway") {
		t.Errorf("no warning of a society that answers no gateway:\n%s", s.logs)
	}
	order := func(from, user, password string) (int, string) {
		t.Helper()
		req := formRequest(s.base, "/cmegateway/ceu_order", url.Values{"customer_id": {"01234567"}})
		req.Header.Set("X-Forwarded-For", from)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := order("198.51.100.9", "", ""); st != http.StatusForbidden || !strings.Contains(body, "<STATUS>This gateway is not allowed") || strings.Contains(body, "Baker") {
		t.Fatalf("ceu_order of an unconfigured society: %d %s", st, body)
	}
	out := cli("", "society", "allow", "-society", "EXAMPLE", "-credential", "acr-gateway")
	secret := regexp.MustCompile(`cmexgw_[0-9a-f]{64}`).FindString(out)
	if secret == "" {
		t.Fatalf("no secret printed:\n%s", out)
	}
	if st, body := order("198.51.100.9", "acr-gateway", secret); st != 200 || !strings.Contains(body, "<STATUS>OK</STATUS>") {
		t.Errorf("with the credential: %d %s", st, body)
	}
	if st, _ := order("198.51.100.9", "acr-gateway", "cmexgw_"+strings.Repeat("0", 64)); st != http.StatusForbidden {
		t.Errorf("with a wrong secret: %d", st)
	}
	out = cli("", "society", "allow", "-society", "EXAMPLE", "-from", "198.51.100.0/24")
	id := regexp.MustCompile(`grant (\d+): gateways at 198\.51\.100\.0/24`).FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("allow -from: %s", out)
	}
	if st, _ := order("198.51.100.9", "", ""); st != 200 {
		t.Errorf("from an allowed address: %d", st)
	}
	if st, _ := order("203.0.113.9", "", ""); st != http.StatusForbidden {
		t.Errorf("from another address: %d", st)
	}
	if out := cli("", "society", "grants", "-society", "EXAMPLE"); !strings.Contains(out, "198.51.100.0/24") || !strings.Contains(out, "acr-gateway") || strings.Contains(out, secret) {
		t.Errorf("grants:\n%s", out)
	}
	cli("", "society", "revoke", "-society", "EXAMPLE", "-id", id[1])
	if st, _ := order("198.51.100.9", "", ""); st != http.StatusForbidden {
		t.Errorf("after revoking the range: %d", st)
	}
}
