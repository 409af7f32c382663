package main_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/processsync"
)

// TestSecretsStayOutOfLogs drives every surface that takes a secret, with
// the server logging at debug level, and greps its whole log for each:
// PARS passwords, the portal's sign-in and session cookie, a society login
// at customer_binding, the credit feed's query-string password, the JSON
// API's basic auth, and GetRoleData's token.
func TestSecretsStayOutOfLogs(t *testing.T) {
	const password = "Xyzzy-Sandbox-Pa55-7Q"
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox", "-sandbox-password", password, "-log-level", "debug")
	sandbox := creds{"1234567", "webserviceuser@yourdomain.org", password}
	do := func(req *http.Request, c *http.Client) string {
		if c == nil {
			c = http.DefaultClient
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	// PARS: a right and a wrong password.
	if r := s.post(savePath, submit(activityDoc(t, "sec-1", "Secret Rounds", "Add"), sandbox, "2021")); r.StatusCode != "Accepted" {
		t.Fatalf("SaveActivity: %+v", r)
	}
	s.post(savePath, submit(activityDoc(t, "sec-2", "Secret Rounds", "Add"), creds{sandbox.provider, sandbox.user, "Wrong-Pa55-Guess-9"}, "2021"))

	// The portal: sign in, a page with the session cookie, a wrong password.
	jar, _ := cookiejar.New(nil)
	portal := &http.Client{Jar: jar}
	form := func(path string, v url.Values) *http.Request { return formRequest(s.base, path, v) }
	if page := do(form("/signin", url.Values{"username": {"jane.accme"}, "password": {password}}), portal); !strings.Contains(page, "Welcome") {
		t.Fatalf("portal sign-in: %.300s", page)
	}
	u, _ := url.Parse(s.base)
	var session string
	for _, c := range jar.Cookies(u) {
		session = c.Value
	}
	do(form("/signin", url.Values{"username": {"jane.accme"}, "password": {"Wrong-Portal-Guess-3"}}), nil)

	// The CME Gateway: a society login, the credit feed's query string.
	bind := form("/cmegateway/customer_binding", url.Values{"customer_username_crypt": {"NedBaker"}, "customer_password_crypt": {"mYpAsSwOrD"}, "customer_binding_crypt_method": {"plaintext"}})
	if out := do(bind, nil); !strings.Contains(out, "01234567") {
		t.Fatalf("customer_binding: %.300s", out)
	}
	feed, _ := http.NewRequest(http.MethodGet, s.base+"/cmegateway/credit_feed?username=example-admin&password="+url.QueryEscape(password)+"&customer=01234567", nil)
	do(feed, nil)

	// The JSON API with basic auth.
	api, _ := http.NewRequest(http.MethodGet, s.base+"/api/v1/account/transcript", nil)
	api.SetBasicAuth("ned.baker", password)
	if out := do(api, nil); !strings.Contains(out, "credits") {
		t.Fatalf("API transcript: %.300s", out)
	}

	// GetRoleData with its token.
	ts := processsync.TimeStamp(time.Now())
	token := processsync.Token("999902", ts, "sandbox-secret")
	soap := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetRoleData xmlns="http://tempuri.org/"><Version>7.8.0</Version>` +
		`<TimeStamp>` + ts + `</TimeStamp><Role>Practitioner</Role><UniqueId>999902</UniqueId><RequestDepth>Role</RequestDepth><Token>` + token + `</Token></GetRoleData></s:Body></s:Envelope>`
	rd, _ := http.NewRequest(http.MethodPost, s.base+processsync.Path, strings.NewReader(soap))
	rd.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if out := do(rd, nil); !strings.Contains(out, "Success>0<") {
		t.Fatalf("GetRoleData: %.300s", out)
	}
	s.stop()

	logs := s.logs.String()
	secrets := map[string]string{"the sandbox password": password, "a wrong PARS password": "Wrong-Pa55-Guess-9",
		"a wrong portal password": "Wrong-Portal-Guess-3", "a society password": "mYpAsSwOrD", "the Process Synchronization key": "sandbox-secret",
		"the session token": session, "a GetRoleData token": token}
	for what, secret := range secrets {
		if secret == "" {
			t.Errorf("%s was not captured", what)
			continue
		}
		if strings.Contains(logs, secret) || strings.Contains(logs, url.QueryEscape(secret)) {
			t.Errorf("the log holds %s", what)
		}
	}
	if !strings.Contains(logs, `"path":"/cmegateway/credit_feed"`) {
		t.Errorf("the log lacks the credit feed's request (did the grep see the requests at all?)")
	}
}
