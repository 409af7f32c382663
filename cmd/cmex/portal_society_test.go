package main_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// postForm posts a form to the portal with c, from the portal's own
// origin, without following a redirect, and returns the status, the
// Location and the body.
func (s *server) postForm(c *http.Client, path string, v url.Values) (int, string, string) {
	s.t.Helper()
	return s.send(c, formRequest(s.base, path, v))
}

// uploadFiles posts files (name → content) as the multipart field of a
// portal form with c, from the portal's own origin.
func (s *server) uploadFiles(c *http.Client, path, field string, files ...[2]string) (int, string) {
	s.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range files {
		w, err := mw.CreateFormFile(field, f[0])
		if err != nil {
			s.t.Fatal(err)
		}
		io.WriteString(w, f[1])
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.base+path, &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", s.base)
	code, _, body := s.send(c, req)
	return code, body
}

func (s *server) send(c *http.Client, req *http.Request) (int, string, string) {
	s.t.Helper()
	nc := &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := nc.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// binds reports whether a member login binds at a local society of the
// running server (customer_binding answers STATUS OK).
func (s *server) binds(society, username, password string) bool {
	s.t.Helper()
	resp, err := http.PostForm(s.base+"/cmegateway/"+society+"/customer_binding", url.Values{
		"customer_username_crypt": {username}, "customer_password_crypt": {password}, "customer_binding_crypt_method": {"plaintext"}})
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), "<STATUS>OK</STATUS>")
}

// feed calls the credit feed with a login for a customer and returns its
// answer.
func (s *server) feed(username, password, customer string) string {
	s.t.Helper()
	resp, err := http.Get(s.base + "/cmegateway/credit_feed?" + url.Values{"username": {username}, "password": {password}, "customer": {customer}}.Encode())
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func example(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// secretIn returns the secret a page shows once.
func secretIn(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`<code class="secret-value">([^<]+)</code>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no secret on the page:\n%s", page)
	}
	return m[1]
}

// TestPortalSocietyAdmin drives the society admin's pages without a
// browser (so without JavaScript) as the sandbox's example.admin: every
// form that changes something refuses bad input beside its field and
// stores nothing; what it stores works where it counts (a generated or
// reset password binds, a feed secret opens the credit feed); and the
// changes are in the audit log under her name.
func TestPortalSocietyAdmin(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox")
	defer s.stop()
	admin := s.signIn("example.admin", "sandbox")

	code, home := s.page(admin, "/")
	if code != 200 || !strings.Contains(home, `href="/society/members"`) || !strings.Contains(home, `href="/society/access"`) {
		t.Fatalf("home: %d\n%s", code, home)
	}
	code, page := s.page(admin, "/society/members")
	if code != 200 || !strings.Contains(page, "Members of Example Society") || !strings.Contains(page, "01234567") || !strings.Contains(page, "J-0001") {
		t.Fatalf("members: %d\n%s", code, page)
	}
	if code, page = s.page(admin, "/society/members?q=jane"); code != 200 || strings.Contains(page, "01234567") || !strings.Contains(page, "J-0001") {
		t.Errorf("search for jane: %d\n%s", code, page)
	}

	// Adding one member: each problem beside its field, nothing stored.
	members := func() string {
		out, _ := runCLI(t, env, "", "society", "members", "-society", "EXAMPLE")
		return out
	}
	before := members()
	for name, tc := range map[string]struct {
		form  url.Values
		field string
		msg   string
	}{
		"no family name": {url.Values{"member_id": {"E-1"}, "username": {"e1"}, "given": {"Eve"}}, "family", "Enter her family name."},
		"member id taken": {url.Values{"member_id": {"01234567"}, "username": {"e1"}, "given": {"Eve"}, "family": {"One"}}, "member_id",
			"A member of the society has this id already."},
		"username taken": {url.Values{"member_id": {"E-1"}, "username": {"nedbaker"}, "given": {"Eve"}, "family": {"One"}}, "username",
			"Another member of the society has this username."},
		"long city": {url.Values{"member_id": {"E-1"}, "username": {"e1"}, "given": {"Eve"}, "family": {"One"}, "city": {strings.Repeat("c", 201)}}, "city", "At most 200 characters."},
	} {
		code, _, page := s.postForm(admin, "/society/members", tc.form)
		if code != http.StatusBadRequest || !strings.Contains(page, `id="`+tc.field+`-error" class="field-error">`+tc.msg) ||
			!strings.Contains(page, `aria-describedby="`+tc.field+`-error"`) {
			t.Errorf("%s: %d, no %q beside %s\n%s", name, code, tc.msg, tc.field, page)
		}
		if tc.form.Get("given") != "" && !strings.Contains(page, `value="Eve"`) {
			t.Errorf("%s: what was typed is not kept", name)
		}
	}
	if after := members(); after != before {
		t.Errorf("a refused form stored a member:\n%s", after)
	}
	// A name that is markup is shown as text.
	code, _, page = s.postForm(admin, "/society/members", url.Values{"member_id": {"E-9"}, "username": {"eve"}, "given": {"<script>alert(1)</script>"}, "family": {"One"}})
	if code != 200 || strings.Contains(page, "<script>alert") || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt; One is a member now") {
		t.Fatalf("adding Eve: %d\n%s", code, page)
	}
	eve := secretIn(t, page)
	if !s.binds("EXAMPLE", "eve", eve) {
		t.Errorf("Eve's generated password does not bind")
	}
	if _, page = s.page(admin, "/society/members"); strings.Contains(page, eve) {
		t.Errorf("the generated password is shown again")
	}

	// Importing members: a file with problems imports nothing and says
	// where, FILE:LINE: column: problem; a good one reports each member,
	// with the passwords generated, once; the same file again changes
	// nothing.
	bad := "member_id,username,first_name,last_name\nE-1001,AnnSmith,Ann,Smith\nE-1002,BobJones,Bob,\nE-1003,nedbaker,Cara,Lee\n"
	code, page = s.uploadFiles(admin, "/society/members/import", "members", [2]string{"members.csv", bad})
	if code != http.StatusBadRequest || !strings.Contains(page, "members.csv has 1 problem; nothing was imported") || !strings.Contains(page, "<code>members.csv:3: last_name: required</code>") {
		t.Errorf("a members file with a problem: %d\n%s", code, page)
	}
	bad = strings.Replace(bad, "Bob,\n", "Bob,Jones\n", 1) // now only the username conflicts, found by the store
	code, page = s.uploadFiles(admin, "/society/members/import", "members", [2]string{"members.csv", bad})
	if code != http.StatusBadRequest || !strings.Contains(page, "<code>members.csv:4: username nedbaker is member 01234567&#39;s</code>") {
		t.Errorf("a members file with a username of another member: %d\n%s", code, page)
	}
	if after := members(); strings.Contains(after, "E-1001") {
		t.Errorf("a refused file stored members:\n%s", after)
	}
	var big strings.Builder
	big.WriteString("member_id,username,first_name,last_name\n")
	for i := range 1001 {
		fmt.Fprintf(&big, "B-%d,b%d,Big,File\n", i, i)
	}
	code, page = s.uploadFiles(admin, "/society/members/import", "members", [2]string{"big.csv", big.String()})
	if code != http.StatusBadRequest || !strings.Contains(page, "big.csv has 1001 members: import at most 1000 at once here") || strings.Contains(members(), "B-1") {
		t.Errorf("a file of 1001 members: %d", code)
	}
	if code, page = s.uploadFiles(admin, "/society/members/import", "members"); code != http.StatusBadRequest || !strings.Contains(page, "Choose one members CSV file.") {
		t.Errorf("no file: %d", code)
	}
	code, page = s.uploadFiles(admin, "/society/members/import", "members", [2]string{"society-members.csv", example(t, "society-members.csv")})
	if code != 200 || !strings.Contains(page, "society-members.csv: 3 added, 0 updated, 0 unchanged.") || strings.Count(page, `<code class="secret-value">`) != 2 {
		t.Fatalf("importing the example members: %d\n%s", code, page)
	}
	ann := regexp.MustCompile(`AnnSmith</td>\s*<td><span class="outcome-added">added</span></td>\s*<td><code class="secret-value">([^<]+)</code>`).FindStringSubmatch(page)
	if ann == nil || !s.binds("EXAMPLE", "AnnSmith", ann[1]) || !s.binds("EXAMPLE", "CaraLee", "a long member password") {
		t.Fatalf("the imported members' passwords do not bind (%v)\n%s", ann, page)
	}
	code, page = s.uploadFiles(admin, "/society/members/import", "members", [2]string{"society-members.csv", example(t, "society-members.csv")})
	if code != 200 || !strings.Contains(page, "0 added, 0 updated, 3 unchanged.") || strings.Contains(page, "secret-value") {
		t.Errorf("importing the example members again: %d\n%s", code, page)
	}

	// A reset password works at once, and the old one no longer.
	code, _, page = s.postForm(admin, "/society/member/password", url.Values{"id": {"E-1001"}})
	if code != 200 || !strings.Contains(page, "Her password is reset") {
		t.Fatalf("reset: %d\n%s", code, page)
	}
	if reset := secretIn(t, page); !s.binds("EXAMPLE", "AnnSmith", reset) || s.binds("EXAMPLE", "AnnSmith", ann[1]) {
		t.Errorf("after the reset, the new password binds: %v, the old one: %v", s.binds("EXAMPLE", "AnnSmith", reset), s.binds("EXAMPLE", "AnnSmith", ann[1]))
	}
	if code, _, _ := s.postForm(admin, "/society/member/password", url.Values{"id": {"nobody"}}); code != http.StatusNotFound {
		t.Errorf("reset of no member: %d", code)
	}

	// Credits: a CSV and a ceu_order XML at once, each credit judged on its
	// own, reported line by line; the same files again record nothing.
	credits := example(t, "society-credits.csv") + "E-4040,2026-07-01,Ghost Course,Example Society,,,,CME,1,CAT1,\n" +
		"E-1002,2026-13-01,Bad Date,Example Society,,,,CME,1,CAT1,\n"
	code, page = s.uploadFiles(admin, "/society/credits/import", "credits",
		[2]string{"society-credits.csv", credits}, [2]string{"society-credits.xml", example(t, "society-credits.xml")})
	for _, want := range []string{"5 credits: 3 accepted, 0 present (recorded before), 2 rejected.", "2 credits: 2 accepted, 0 present",
		`EXAMPLE has no member &#34;E-4040&#34;`, `date: &#34;2026-13-01&#34; is not a date (YYYY-MM-DD)`, "<td>6</td>", "<td>7</td>", "<td>22</td>"} {
		if code != 200 || !strings.Contains(page, want) {
			t.Errorf("credits import: %d, lacks %q\n%s", code, want, page)
		}
	}
	code, page = s.uploadFiles(admin, "/society/credits/import", "credits",
		[2]string{"society-credits.csv", credits}, [2]string{"society-credits.xml", example(t, "society-credits.xml")})
	if code != 200 || !strings.Contains(page, "5 credits: 0 accepted, 3 present (recorded before), 2 rejected.") || !strings.Contains(page, "2 credits: 0 accepted, 2 present") {
		t.Errorf("the same credits again: %d\n%s", code, page)
	}
	// A file that is not a ceu_order or a credits CSV records nothing, not
	// even the good file beside it.
	code, page = s.uploadFiles(admin, "/society/credits/import", "credits",
		[2]string{"more.csv", "member_id,date,title,credits\nE-1002,2026-08-01,Good One,1\n"}, [2]string{"broken.xml", "<CEU_ORDER><STATUS>OK"})
	if code != http.StatusBadRequest || !strings.Contains(page, "A file could not be read; nothing was recorded.") || !strings.Contains(page, "<code>broken.xml: not a ceu_order document") {
		t.Errorf("a broken file: %d\n%s", code, page)
	}
	code, page = s.page(admin, "/society/credits?q=good+one")
	if code != 200 || !strings.Contains(page, "No credit matches.") {
		t.Errorf("the good file beside the broken one was recorded: %d", code)
	}
	for query, want := range map[string][]string{
		"":                     {"Musculoskeletal MRI Update", "Thoracic Imaging Review", "Neuroradiology Refresher", "Radiation Safety Self-Assessment", "Symposium on Radiology of the Pneumoconioses"},
		"?member=E-1003":       {"Neuroradiology Refresher", "Radiation Safety Self-Assessment"},
		"?q=richmond":          {"Thoracic Imaging Review"},
		"?from=2026-05-01":     {"Musculoskeletal MRI Update", "Breast Imaging Case Review"},
		"?to=2003-12-31&q=zzz": {},
	} {
		code, page := s.page(admin, "/society/credits"+query)
		n := strings.Count(page, `<td class="nowrap">`)
		if code != 200 || (len(want) > 0 && n < len(want)) || (len(want) == 0 && !strings.Contains(page, "No credit matches.")) {
			t.Errorf("credits%s: %d, %d rows", query, code, n)
		}
		for _, w := range want {
			if !strings.Contains(page, w) {
				t.Errorf("credits%s lack %q", query, w)
			}
		}
	}
	if code, page := s.page(admin, "/society/credits?member=E-1003"); strings.Contains(page, "Thoracic") || code != 200 {
		t.Errorf("credits of E-1003 show another member's")
	}
	code, page = s.page(admin, "/society/credits?from=2026-02-30&to=2026-01-01")
	if code != http.StatusBadRequest || !strings.Contains(page, `id="from-error" class="field-error">Enter a date as YYYY-MM-DD.`) {
		t.Errorf("a bad date in the search: %d\n%s", code, page)
	}

	// The member's transcript preview: what EXAMPLE serves for her, with
	// the transcript's totals.
	code, page = s.page(admin, "/society/member?id=E-1001")
	for _, want := range []string{"Ann Smith", "12 Elm Street, Richmond VA 23220 US", "What her transcript shows of EXAMPLE", "Thoracic Imaging Review",
		"Total Overall Category 1 Credits</dt><dd>4.00", "MOC Medical Knowledge (CAT1)</dt><dd>4.00"} {
		if code != 200 || !strings.Contains(page, want) {
			t.Errorf("Ann's page: %d, lacks %q\n%s", code, want, page)
		}
	}
	if code, page = s.page(admin, "/society/member?id=J-0001"); code != 200 || !strings.Contains(page, "linked: the credits providers report for her") {
		t.Errorf("Jane's page: %d", code)
	}

	// Feed and access: approvals, the feed login, ceu_order grants.
	for name, tc := range map[string]struct {
		path  string
		form  url.Values
		field string
		msg   string
	}{
		"approve nobody":     {"/society/approvals", url.Values{"puller": {"NOPE"}}, "puller", "There is no such society."},
		"approve itself":     {"/society/approvals", url.Values{"puller": {"example"}}, "puller", "Your society reads its own credits; choose another."},
		"feed login unnamed": {"/society/feed-login", url.Values{"feed_username": {" "}}, "feed_username", "Enter the username your society&#39;s systems will send"},
		"feed login long":    {"/society/feed-login", url.Values{"feed_username": {strings.Repeat("u", 101)}}, "feed_username", "A username is at most 100 characters."},
		"a bad range":        {"/society/order-grants", url.Values{"from": {"203.0.113.0/24, not-an-address"}}, "from", "&#34;not-an-address&#34; is not an address or a CIDR range"},
		"a bad credential":   {"/society/order-grants", url.Values{"credential": {"a:b"}}, "credential", "a credential&#39;s name is 1 to 100 characters without a colon"},
	} {
		code, _, page := s.postForm(admin, tc.path, tc.form)
		if code != http.StatusBadRequest || !strings.Contains(page, `id="`+tc.field+`-error" class="field-error">`+tc.msg) {
			t.Errorf("%s: %d, no %q beside %s\n%s", name, code, tc.msg, tc.field, page)
		}
	}
	out, _ := runCLI(t, env, "", "society", "grants", "-society", "EXAMPLE")
	if !strings.Contains(out, "answers no gateway") {
		t.Errorf("a refused grant form stored a grant:\n%s", out)
	}
	if code, loc, _ := s.postForm(admin, "/society/approvals", url.Values{"puller": {"RAD"}}); code != http.StatusSeeOther || loc != "/society/access?done=approved" {
		t.Errorf("approve RAD: %d %s", code, loc)
	}
	if _, page = s.page(admin, "/society/access?done=approved"); !strings.Contains(page, `<strong>Sandbox Radiology Society</strong> (RAD)`) {
		t.Errorf("RAD is not listed as approved:\n%s", page)
	}
	if code, loc, _ := s.postForm(admin, "/society/approvals/withdraw", url.Values{"puller": {"RAD"}}); code != http.StatusSeeOther || loc != "/society/access?done=withdrawn" {
		t.Errorf("withdraw RAD: %d %s", code, loc)
	}
	if code, _, _ := s.postForm(admin, "/society/approvals/withdraw", url.Values{"puller": {"RAD"}}); code != http.StatusNotFound {
		t.Errorf("withdraw RAD again: %d", code)
	}
	code, _, page = s.postForm(admin, "/society/feed-login", url.Values{"feed_username": {"example-feed"}})
	if code != 200 || !strings.Contains(page, "The secret of the feed login example-feed, shown this once") {
		t.Fatalf("a feed login: %d\n%s", code, page)
	}
	first := secretIn(t, page)
	if answer := s.feed("example-feed", first, "01234567"); !strings.Contains(answer, "<STATUS>OK</STATUS>") || !strings.Contains(answer, "Chest CT: Interstitial Lung Disease Update") {
		t.Errorf("the credit feed with the new login:\n%s", answer)
	}
	if answer := s.feed("example-admin", "sandbox", "01234567"); !strings.Contains(answer, "INVALID_LOGIN") {
		t.Errorf("the replaced login still opens the feed:\n%s", answer)
	}
	code, _, page = s.postForm(admin, "/society/feed-login", url.Values{"rotate": {"1"}})
	second := secretIn(t, page)
	if code != 200 || second == first || !strings.Contains(s.feed("example-feed", second, "01234567"), "<STATUS>OK</STATUS>") || !strings.Contains(s.feed("example-feed", first, "01234567"), "INVALID_LOGIN") {
		t.Errorf("rotating the secret: %d", code)
	}
	code, _, page = s.postForm(admin, "/society/feed-login", url.Values{"feed_username": {"example-feed-2"}})
	if third := secretIn(t, page); code != 200 || !strings.Contains(s.feed("example-feed-2", third, "01234567"), "<STATUS>OK</STATUS>") ||
		!strings.Contains(s.feed("example-feed", second, "01234567"), "INVALID_LOGIN") {
		t.Errorf("replacing the feed login: %d", code)
	}
	if code, loc, _ := s.postForm(admin, "/society/order-grants", url.Values{"from": {"203.0.113.7, 2001:db8::/32"}}); code != http.StatusSeeOther || loc != "/society/access?done=allowed" {
		t.Errorf("allow ranges: %d %s", code, loc)
	}
	code, _, page = s.postForm(admin, "/society/order-grants", url.Values{"credential": {"acr-gateway"}})
	if code != 200 || !strings.HasPrefix(secretIn(t, page), "cmexgw_") || !strings.Contains(page, "sending the credential <strong>acr-gateway</strong>") {
		t.Errorf("a credential: %d\n%s", code, page)
	}
	out, _ = runCLI(t, env, "", "society", "grants", "-society", "EXAMPLE")
	if !strings.Contains(out, "203.0.113.7/32") || !strings.Contains(out, "2001:db8::/32") || !strings.Contains(out, "acr-gateway") {
		t.Errorf("grants after the forms:\n%s", out)
	}
	id := regexp.MustCompile(`(?m)^([0-9]+)\s+203\.0\.113\.7/32`).FindStringSubmatch(out)
	if code, loc, _ := s.postForm(admin, "/society/order-grants/"+id[1]+"/revoke", nil); code != http.StatusSeeOther || loc != "/society/access?done=revoked" {
		t.Errorf("revoke: %d %s", code, loc)
	}
	if out, _ = runCLI(t, env, "", "society", "grants", "-society", "EXAMPLE"); strings.Contains(out, "203.0.113.7/32") {
		t.Errorf("the revoked grant is still there:\n%s", out)
	}

	// Every page, a secret's too, is kept out of caches and frames and
	// runs no script.
	for _, path := range []string{"/society/members", "/society/member?id=E-1001", "/society/credits", "/society/access"} {
		resp, err := admin.Get(s.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if h := resp.Header; !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'none'") || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, h)
		}
	}

	// A form posted from another site changes nothing.
	req := formRequest(s.base, "/society/members", url.Values{"member_id": {"X-1"}, "username": {"x1"}, "given": {"X"}, "family": {"Y"}})
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if code, _, _ := s.send(admin, req); code != http.StatusForbidden || strings.Contains(members(), "X-1") {
		t.Errorf("a cross-origin post: %d", code)
	}

	// Every change is in the audit log under her name, and no secret is.
	log, _ := runCLI(t, env, "", "audit", "-actor", "portal:example.admin", "-limit", "1000")
	for _, want := range []string{"member.add", "members.import", "member.password-reset", "society.credits-import", "society.approve", "society.withdraw",
		"society.feed-login", "society.order-grant", "society.order-revoke"} {
		if !strings.Contains(log, want) {
			t.Errorf("the audit log lacks %s:\n%s", want, log)
		}
	}
	for _, secret := range []string{eve, ann[1], first, second} {
		if strings.Contains(log, secret) || strings.Contains(s.logs.String(), secret) {
			t.Errorf("a secret is in the audit log or the server's log")
		}
	}
}

// TestSandboxSocietyAdmins: the sandbox's society admins sign in to their
// society's pages; a new sandbox password re-keys them.
func TestSandboxSocietyAdmins(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox")
	code, page := s.page(s.signIn("rad.admin", "sandbox"), "/society/members")
	s.stop()
	if code != 200 || !strings.Contains(page, "Members of Sandbox Radiology Society") || !strings.Contains(page, "R-0001") || strings.Contains(page, "01234567") {
		t.Errorf("rad.admin's members: %d\n%s", code, page)
	}
	s = startServer(t, env, "-sandbox", "-sandbox-password", "another sandbox password")
	code, _ = s.page(s.signIn("example.admin", "another sandbox password"), "/society/access")
	resp, err := http.DefaultClient.Do(formRequest(s.base, "/signin", url.Values{"username": {"example.admin"}, "password": {"sandbox"}}))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.stop()
	if code != 200 || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after re-keying: %d; the old password: %s", code, resp.Status)
	}
}

// TestPortalRemoteSocietyAdmin: the admin of a remote society, whose own
// servers keep its members and credits, is told so on those pages and
// refused their forms, storing nothing; she keeps her society's feed login
// and approvals.
func TestPortalRemoteSocietyAdmin(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	for _, args := range [][]string{
		{"society", "add", "-code", "REM", "-name", "Remote Society", "-binding-url", "http://127.0.0.1:9/b", "-order-url", "http://127.0.0.1:9/o", "-allow-private-destinations"},
		{"society", "add", "-code", "LOC", "-name", "Local Society"},
		{"staff", "add", "-username", "rem.admin", "-name", "Rem Admin", "-role", "society-admin", "-society", "REM"},
	} {
		if out, code := runCLI(t, env, "a long admin password\n", args...); code != 0 {
			t.Fatalf("%v: %s", args, out)
		}
	}
	s := startServer(t, env)
	defer s.stop()
	c := s.signIn("rem.admin", "a long admin password")
	for _, path := range []string{"/society/members", "/society/credits"} {
		if code, page := s.page(c, path); code != 200 || !strings.Contains(page, "REM is a remote society: its own servers keep its") || strings.Contains(page, `enctype="multipart/form-data"`) {
			t.Errorf("%s: %d\n%s", path, code, page)
		}
	}
	if code, _ := s.page(c, "/society/member?id=1"); code != http.StatusNotFound {
		t.Errorf("a member of a remote society: %d", code)
	}
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{"/society/members", url.Values{"member_id": {"1"}, "username": {"u"}, "given": {"G"}, "family": {"F"}}},
		{"/society/order-grants", url.Values{"from": {"203.0.113.0/24"}}},
	} {
		if code, _, page := s.postForm(c, p.path, p.form); code != http.StatusConflict || !strings.Contains(page, "Your society is remote") {
			t.Errorf("POST %s: %d", p.path, code)
		}
	}
	for _, p := range [][2]string{{"/society/members/import", "members"}, {"/society/credits/import", "credits"}} {
		if code, page := s.uploadFiles(c, p[0], p[1], [2]string{"f.csv", "member_id,username,first_name,last_name\n1,u,G,F\n"}); code != http.StatusConflict || !strings.Contains(page, "Your society is remote") {
			t.Errorf("POST %s: %d", p[0], code)
		}
	}
	if out, _ := runCLI(t, env, "", "society", "members", "-society", "REM"); strings.Contains(out, "1 ") {
		t.Errorf("a remote society got a member:\n%s", out)
	}
	code, page := s.page(c, "/society/access")
	if code != 200 || strings.Contains(page, "ceu_order grants") || strings.Contains(page, `action="/society/order-grants"`) || !strings.Contains(page, "Local Society (LOC)") {
		t.Errorf("the access page of a remote society: %d\n%s", code, page)
	}
	code, _, page = s.postForm(c, "/society/feed-login", url.Values{"feed_username": {"rem-feed"}})
	if code != 200 || !strings.Contains(s.feed("rem-feed", secretIn(t, page), "nobody"), "CUSTOMER_NOT_OPTED_IN") {
		t.Errorf("a remote society's feed login: %d", code)
	}
	if code, loc, _ := s.postForm(c, "/society/approvals", url.Values{"puller": {"LOC"}}); code != http.StatusSeeOther || loc != "/society/access?done=approved" {
		t.Errorf("a remote society's approval: %d %s", code, loc)
	}
}
