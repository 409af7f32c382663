package main_test

import (
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cmexhub/cmex/internal/cmextest"
)

// TestVerifyEndToEnd (issue 16): with -public-url, a printed transcript
// sends its readers to that address, whatever Host its request named;
// /verify/CODE is served from what the server holds and is limited per
// address (-address-verifications), then answers 429 with Retry-After.
// Without -public-url outside the sandbox, the server warns at start.
func TestVerifyEndToEnd(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox", "-public-url", "https://cme.example.org", "-address-verifications", "3")
	c := s.signIn("jane.accme", "sandbox")
	req, _ := http.NewRequest(http.MethodGet, s.base+"/transcript.pdf", nil)
	req.Host = "evil.example"
	u, _ := url.Parse(s.base)
	for _, ck := range c.Jar.Cookies(u) { // the jar would look them up by the forged Host
		req.AddCookie(ck)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("transcript.pdf: %d %.300s", resp.StatusCode, pdf)
	}
	text := cmextest.PDFText(t, pdf)
	m := regexp.MustCompile(`https://cme\.example\.org/verify/([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})`).FindStringSubmatch(text)
	if m == nil || strings.Contains(text, "evil.example") {
		t.Fatalf("the PDF's verification address is not -public-url's:\n%s", text)
	}
	for i := range 3 {
		if st, body := s.page(http.DefaultClient, "/verify/"+m[1]); st != 200 || !strings.Contains(body, "still holds exactly the credits") {
			t.Fatalf("verification %d: %d %.500s", i+1, st, body)
		}
	}
	resp, err = http.Get(s.base + "/verify/" + m[1])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "Too many verifications") {
		t.Errorf("fourth verification from one address: %d Retry-After %q %.300s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}

	plain := startServer(t, []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "plain.db")})
	// The warning comes before the line startServer waits for.
	if !strings.Contains(plain.logs.String(), "no public URL") {
		t.Errorf("no warning without -public-url:\n%s", plain.logs)
	}
}
