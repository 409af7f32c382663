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

// TestTenantIsolationSocieties extends the tenant-isolation matrix to the
// society admin's pages and actions: EXAMPLE's admin tries RAD's member,
// credits, ceu_order grant, approval and feed login on every page and
// action, and each answers exactly as something that does not exist does
// (the ids echoed set aside), and RAD's records are unchanged afterwards;
// a provider's staff and physicians are refused every society page and
// action, changing nothing.
func TestTenantIsolationSocieties(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox")
	defer s.stop()
	// RAD: member R-0001 (Ned) with one credit, an approval of EXAMPLE, a
	// feed login and a ceu_order grant.
	if out, code := runCLI(t, env, "rad feed secret\n", "society", "feed-login", "-society", "RAD", "-username", "rad-feed"); code != 0 {
		t.Fatalf("feed-login: %s", out)
	}
	if out, code := runCLI(t, env, "", "society", "allow", "-society", "RAD", "-from", "198.51.100.0/24"); code != 0 {
		t.Fatalf("allow: %s", out)
	}
	grants := func() string {
		out, _ := runCLI(t, env, "", "society", "grants", "-society", "RAD")
		return out
	}
	radGrant := regexp.MustCompile(`(?m)^([0-9]+)\s+198\.51\.100\.0/24`).FindStringSubmatch(grants())
	if radGrant == nil {
		t.Fatalf("RAD's grant: %s", grants())
	}
	radCredits := func() string {
		resp, err := http.PostForm(s.base+"/cmegateway/RAD/ceu_order", url.Values{"customer_id": {"R-0001"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return regexp.MustCompile(`<DATE>[^<]*</DATE>`).ReplaceAllString(string(b), "")
	}
	radBefore := radCredits()
	if strings.Count(radBefore, "<CEU>") != 1 {
		t.Fatalf("RAD's credits for R-0001:\n%s", radBefore)
	}
	radIntact := func(after string) {
		t.Helper()
		if !s.binds("RAD", "NedBaker", "mYpAsSwOrD") {
			t.Errorf("%s: RAD's member lost his password", after)
		}
		if got := radCredits(); got != radBefore {
			t.Errorf("%s: RAD's credits changed:\n%s", after, got)
		}
		if !strings.Contains(grants(), radGrant[0]) {
			t.Errorf("%s: RAD's grant is gone:\n%s", after, grants())
		}
		if !strings.Contains(s.feed("rad-feed", "rad feed secret", "R-0001"), "<STATUS>OK</STATUS>") {
			t.Errorf("%s: RAD's feed login no longer opens the feed", after)
		}
	}

	a := s.signIn("example.admin", "sandbox")
	// What A gets for B's thing must be what it gets for nothing: the
	// ids themselves, when the answers echo them, are set aside.
	same := func(what string, theirs, nothing func() (int, string), ids ...string) {
		t.Helper()
		c1, b1 := theirs()
		c2, b2 := nothing()
		if len(ids) == 2 {
			b1, b2 = strings.ReplaceAll(b1, ids[0], "X"), strings.ReplaceAll(b2, ids[1], "X")
		}
		if c1 != c2 || b1 != b2 {
			t.Errorf("%s: another society's answers %d, nothing answers %d:\n%s\n----\n%s", what, c1, c2, b1, b2)
		}
		for _, leak := range []string{"Chest CT", "R-0001", "rad-feed", "198.51.100.0"} {
			if strings.Contains(b1, leak) {
				t.Errorf("%s: the answer shows RAD's %q", what, leak)
			}
		}
	}
	get := func(path string) func() (int, string) {
		return func() (int, string) { return s.page(a, path) }
	}
	post := func(path string, v url.Values) func() (int, string) {
		return func() (int, string) { code, _, body := s.postForm(a, path, v); return code, body }
	}
	upload := func(path, field, name, content string) func() (int, string) {
		return func() (int, string) { return s.uploadFiles(a, path, field, [2]string{name, content}) }
	}
	same("member page", get("/society/member?id=R-0001"), get("/society/member?id=N-0404"), "R-0001", "N-0404")
	same("member search", get("/society/members?q=R-0001"), get("/society/members?q=N-0404"), "R-0001", "N-0404")
	same("credits of a member", get("/society/credits?member=R-0001"), get("/society/credits?member=N-0404"), "R-0001", "N-0404")
	same("credits search", get("/society/credits?q=chest+ct"), get("/society/credits?q=nothing+at"), "chest ct", "nothing at")
	same("password reset", post("/society/member/password", url.Values{"id": {"R-0001"}}), post("/society/member/password", url.Values{"id": {"N-0404"}}), "R-0001", "N-0404")
	radIntact("password reset")
	const creditsCSV = "member_id,date,title,credits\nMEMBER,2026-09-09,Injected Credit,5\n"
	same("credits import for another society's member",
		upload("/society/credits/import", "credits", "c.csv", strings.ReplaceAll(creditsCSV, "MEMBER", "R-0001")),
		upload("/society/credits/import", "credits", "c.csv", strings.ReplaceAll(creditsCSV, "MEMBER", "N-0404")), "R-0001", "N-0404")
	radIntact("credits import")
	same("ceu_order grant revocation", post("/society/order-grants/"+radGrant[1]+"/revoke", nil), post("/society/order-grants/999999/revoke", nil))
	radIntact("grant revocation")
	// EXAMPLE never approved RAD: withdrawing is refused as for a society
	// that does not exist, and RAD's approval of EXAMPLE stays.
	same("approval withdrawal", post("/society/approvals/withdraw", url.Values{"puller": {"RAD"}}), post("/society/approvals/withdraw", url.Values{"puller": {"NOPE"}}))
	if feed := s.feed("example-admin", "sandbox", "01234567"); !strings.Contains(feed, "Chest CT") {
		t.Errorf("RAD's approval of EXAMPLE is gone:\n%s", feed)
	}
	// A member of EXAMPLE with RAD's member id is EXAMPLE's: RAD's is
	// untouched.
	if code, page := s.uploadFiles(a, "/society/members/import", "members", [2]string{"m.csv", "member_id,username,first_name,last_name,password\nR-0001,NedBaker,Mallory,Mallet,x\n"}); code != http.StatusBadRequest ||
		!strings.Contains(page, "username NedBaker is member 01234567&#39;s") {
		t.Errorf("importing RAD's member into EXAMPLE: %d", code)
	}
	if code, page := s.uploadFiles(a, "/society/members/import", "members", [2]string{"m.csv", "member_id,username,first_name,last_name,password\nR-0001,mallory,Mallory,Mallet,x\n"}); code != 200 || !strings.Contains(page, "1 added") {
		t.Errorf("a member of EXAMPLE with RAD's member id: %d\n%s", code, page)
	}
	radIntact("members import")
	// Her feed login and secrets are EXAMPLE's alone.
	if code, _, page := s.postForm(a, "/society/feed-login", url.Values{"rotate": {"1"}}); code != 200 || !strings.Contains(page, "example-admin") {
		t.Errorf("rotating EXAMPLE's secret: %d", code)
	}
	if code, _, page := s.postForm(a, "/society/feed-login", url.Values{"feed_username": {"RAD-FEED"}}); code != http.StatusBadRequest || !strings.Contains(page, "That username is taken; choose another.") {
		t.Errorf("taking RAD's feed username: %d", code)
	}
	radIntact("feed logins")
	for _, path := range []string{"/society/access", "/society/members", "/society/credits"} {
		if code, page := s.page(a, path); code != 200 || strings.Contains(page, "rad-feed") || strings.Contains(page, "198.51.100") || strings.Contains(page, "R-0001") && path != "/society/members" {
			t.Errorf("%s as EXAMPLE's admin: %d, shows RAD's", path, code)
		}
	}
	// And the other way round.
	b := s.signIn("rad.admin", "sandbox")
	if code, page := s.page(b, "/society/member?id=01234567"); code != http.StatusNotFound || strings.Contains(page, "Baker") {
		t.Errorf("EXAMPLE's member as RAD's admin: %d", code)
	}
	if code, page := s.page(b, "/society/members?q=E-"); code != 200 || strings.Contains(page, "mallory") {
		t.Errorf("EXAMPLE's members as RAD's admin: %d", code)
	}

	// A provider's staff and physicians reach none of it.
	routes := []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "/society/members", nil}, {"GET", "/society/member?id=01234567", nil}, {"GET", "/society/credits", nil}, {"GET", "/society/access", nil},
		{"POST", "/society/members", url.Values{"member_id": {"Z-1"}, "username": {"z1"}, "given": {"Z"}, "family": {"Z"}}},
		{"POST", "/society/members/import", nil}, {"POST", "/society/credits/import", nil},
		{"POST", "/society/member/password", url.Values{"id": {"01234567"}}},
		{"POST", "/society/approvals", url.Values{"puller": {"RAD"}}}, {"POST", "/society/approvals/withdraw", url.Values{"puller": {"RAD"}}},
		{"POST", "/society/feed-login", url.Values{"rotate": {"1"}}}, {"POST", "/society/order-grants", url.Values{"from": {"192.0.2.0/24"}}},
		{"POST", "/society/order-grants/" + radGrant[1] + "/revoke", nil},
	}
	auditBefore, _ := runCLI(t, env, "", "audit", "-limit", "1000")
	for _, who := range []string{"aaa.staff", "jane.accme", "ned.baker"} {
		c := s.signIn(who, "sandbox")
		for _, r := range routes {
			var code int
			var page string
			if r.method == "GET" {
				code, page = s.page(c, r.path)
			} else {
				code, _, page = s.postForm(c, r.path, r.form)
			}
			if code != http.StatusForbidden || !strings.Contains(page, "Not for this account") {
				t.Errorf("%s %s as %s: %d", r.method, r.path, who, code)
			}
		}
	}
	// Nobody signed in is sent to sign in.
	for _, r := range routes {
		code, loc, _ := s.send(&http.Client{}, formRequest(s.base, r.path, r.form))
		if r.method == "GET" {
			req, _ := http.NewRequest(http.MethodGet, s.base+r.path, nil)
			code, loc, _ = s.send(&http.Client{}, req)
		}
		if code != http.StatusSeeOther || loc != "/signin" {
			t.Errorf("%s %s signed out: %d %s", r.method, r.path, code, loc)
		}
	}
	if auditAfter, _ := runCLI(t, env, "", "audit", "-limit", "1000"); auditAfter != auditBefore {
		t.Errorf("refused requests changed something:\n%s", strings.TrimPrefix(auditAfter, auditBefore))
	}
	radIntact("other roles")
}
