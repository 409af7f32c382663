package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/cmexhub/cmex/internal/cmextest"
)

// Learners of the sandbox registry, as replacements of the README's
// learner sample (Jane ACCME's identity).
var (
	// helenAs is Helen Markman: NPI 1234567890, ABIM 999898.
	helenAs = strings.NewReplacer("domain=&quot;ME&quot;&gt;MD999902", "domain=&quot;NPI&quot;&gt;1234567890", "&gt;999902&lt;", "&gt;999898&lt;",
		"&gt;Jane&lt;", "&gt;Helen&lt;", "&gt;ACCME&lt;", "&gt;Markman&lt;", "1904-10-30", "1970-09-26", ":v2026-", ":helen-")
	// rileyAs is Riley Rejected, whose ABIM points the simulated board
	// rejects.
	rileyAs = strings.NewReplacer("domain=&quot;ME&quot;&gt;MD999902", "domain=&quot;IL&quot;&gt;IL999990", "&gt;999902&lt;", "&gt;999990&lt;",
		"&gt;Jane&lt;", "&gt;Riley&lt;", "&gt;ACCME&lt;", "&gt;Rejected&lt;", "1904-10-30", "1975-05-05", ":v2026-", ":riley-")
	// patAs is Pat ABIM Diplomate: ABIM 990002, Illinois licence IL990002.
	patAs = strings.NewReplacer("domain=&quot;ME&quot;&gt;MD999902", "domain=&quot;IL&quot;&gt;IL990002", "&gt;999902&lt;", "&gt;990002&lt;",
		"&gt;Jane&lt;", "&gt;Pat&lt;", "&gt;ACCME&lt;", "&gt;ABIM Diplomate&lt;", "1904-10-30", "1970-01-02", ":v2026-", ":pat-")
)

// reportToSecondProvider registers the README's MOC activity as provider
// 7654321's, titled Cardiology Grand Rounds 2026, and reports the
// learner sample on it as learner says.
func reportToSecondProvider(t *testing.T, s *server, learner *strings.Replacer) {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("../../examples", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	asB := strings.NewReplacer("<ProviderId>1234567</ProviderId>", "<ProviderId>7654321</ProviderId>",
		"<User>webserviceuser@yourdomain.org</User>", "<User>otheruser@example.org</User>",
		"ProviderOrganization&gt;1234567&lt;", "ProviderOrganization&gt;7654321&lt;", "Internal Medicine Update 2026", "Cardiology Grand Rounds 2026",
		"AAA Test Organization", "Second Sandbox Organization")
	raw := s.postRaw(savePath, []byte(asB.Replace(read("save-moc-activity.xml"))))
	m := regexp.MustCompile(`entry&quot;&gt;([0-9]{9})`).FindStringSubmatch(raw)
	if m == nil {
		t.Fatalf("provider 7654321's activity: %.300s", raw)
	}
	report := learner.Replace(asB.Replace(strings.ReplaceAll(read("save-learner.xml"), "ACTIVITY_ID", m[1])))
	if r := s.post(saveLearnerPath, []byte(report)); r.StatusCode != "Accepted" {
		t.Fatalf("provider 7654321's learner report: %+v", r)
	}
}

// clickThrough clicks sel, which loads another page, and waits until the
// new page is ready: the old page's body is marked, and the wait is for a
// body without the mark.
func clickThrough(sel string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Evaluate(`document.body.setAttribute("data-left", "1")`, nil),
		chromedp.Click(sel, chromedp.ByQuery),
		chromedp.WaitReady(`body:not([data-left])`, chromedp.ByQuery),
	}
}

// signUpAndIn signs a new physician up on the sign-up page and signs her
// in; screenshot names the sign-up page's picture ("" for none).
func signUpAndIn(t *testing.T, ctx context.Context, base, username, given, family, shot string) {
	t.Helper()
	var notice string
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(`a[href="/signup"]`, chromedp.ByQuery),
		chromedp.Click(`main a[href="/signup"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#given`, chromedp.ByID),
		chromedp.SendKeys(`#username`, username, chromedp.ByID),
		chromedp.SendKeys(`#password`, "a long password", chromedp.ByID),
		chromedp.SendKeys(`#given`, given, chromedp.ByID),
		chromedp.SendKeys(`#family`, family, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("sign-up page: %v", err)
	}
	if shot != "" {
		screenshot(t, ctx, shot)
	}
	err = chromedp.Run(ctx,
		clickThrough(`form[action="/signup"] button`),
		chromedp.Text(`.notice`, &notice, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(notice, "If this username was free, the account is yours now") {
		t.Fatalf("signing up: %q, %v", notice, err)
	}
	signInAs(t, ctx, base, username, "a long password")
}

// signInAs signs in on the sign-in page.
func signInAs(t *testing.T, ctx context.Context, base, username, password string) {
	t.Helper()
	err := chromedp.Run(ctx,
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(`#password`, chromedp.ByID),
		chromedp.SendKeys(`#username`, username, chromedp.ByID),
		chromedp.SendKeys(`#password`, password, chromedp.ByID),
		clickThrough(`form[action="/signin"] button`),
		chromedp.WaitVisible(`form[action="/signout"]`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("signing in as %s: %v", username, err)
	}
}

// signOut signs the browser out.
func signOut(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(`form[action="/signout"]`, chromedp.ByQuery),
		clickThrough(`form[action="/signout"] button`)); err != nil {
		t.Fatalf("signing out: %v", err)
	}
}

// switchTo signs out and signs in as another user.
func switchTo(t *testing.T, ctx context.Context, base, username, password string) {
	t.Helper()
	signOut(t, ctx, base)
	signInAs(t, ctx, base, username, password)
}

// claimWith fills and sends the claim form, with the keyboard only where a
// keyboard would do it.
func claimWith(t *testing.T, ctx context.Context, base, given, family, born, kind, scope, number string) {
	t.Helper()
	actions := []chromedp.Action{
		chromedp.Navigate(base + "/claim"),
		chromedp.WaitVisible(`#identifier`, chromedp.ByID),
		chromedp.SetValue(`#given`, given, chromedp.ByID),
		chromedp.SetValue(`#family`, family, chromedp.ByID),
		chromedp.SetValue(`#birthDate`, born, chromedp.ByID),
		chromedp.SetValue(`#kind`, kind, chromedp.ByID),
		chromedp.SetValue(`#identifier`, number, chromedp.ByID),
	}
	switch kind {
	case "board":
		actions = append(actions, chromedp.SetValue(`#board`, scope, chromedp.ByID))
	case "license":
		actions = append(actions, chromedp.SetValue(`#state`, scope, chromedp.ByID))
	}
	actions = append(actions, clickThrough(`form[action="/claim"] button`))
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("claiming: %v", err)
	}
}

// tabTo presses Tab until the focused element's text is text, at most
// max times.
func tabTo(t *testing.T, ctx context.Context, text string, max int) {
	t.Helper()
	var focused string
	for range max {
		if err := chromedp.Run(ctx, chromedp.KeyEvent("\t"), chromedp.Evaluate(`document.activeElement.textContent.trim()`, &focused)); err != nil {
			t.Fatal(err)
		}
		if focused == text {
			return
		}
	}
	t.Fatalf("%d Tabs did not reach %q (last: %q)", max, text, focused)
}

// mainText is the text of the page's main element.
func mainText(t *testing.T, ctx context.Context) string {
	t.Helper()
	var body string
	if err := chromedp.Run(ctx, chromedp.Text(`main`, &body, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	return body
}

// withCookies sends a request with the browser's cookies, as a form post
// from the portal's own page when form is not nil, and returns the
// response without following a redirect.
func withCookies(t *testing.T, ctx context.Context, method, target string, form url.Values) (*http.Response, []byte) {
	t.Helper()
	var cookies []*network.Cookie
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().Do(ctx)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, target, body)
	if form != nil {
		u, _ := url.Parse(target)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	}
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// fitsAt320 checks that none of the pages is wider than a 320 px screen
// but for tables, which scroll in their own box; with
// CMEX_SCREENSHOTS_NARROW set it also takes each page's picture at that
// width, named name-320.
func fitsAt320(t *testing.T, ctx context.Context, base string, pages map[string]string) {
	t.Helper()
	for name, path := range pages {
		var overflow bool
		err := chromedp.Run(ctx,
			chromedp.EmulateViewport(320, 640),
			chromedp.Navigate(base+path),
			chromedp.WaitVisible(`h1`, chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.scrollWidth > document.documentElement.clientWidth`, &overflow),
		)
		if err != nil || overflow {
			var wide []string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth && !(e.parentElement && e.parentElement.closest(".table-wrap"))).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right)).slice(0, 8)`, &wide))
			t.Errorf("%s at 320 px: wider than the screen (%v): %v", path, err, wide)
		}
		if os.Getenv("CMEX_SCREENSHOTS_NARROW") != "" {
			screenshot(t, ctx, name+"-320")
		}
	}
	if err := chromedp.Run(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserClaim: a new physician signs up, claims her registry record
// with her NPI and birth date, and sees on her transcript, in the JSON
// API's and in her PDF the credits two providers reported, with the
// status each reached; another's claim with a wrong birth date is answered
// as a waiting one is, links nothing, and after five such claims the next
// is throttled.
func TestBrowserClaim(t *testing.T) {
	ctx := browser(t)
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox", "-sandbox-board-delay", "100ms")
	defer s.stop()
	reportSandboxLearner(t, s, helenAs)
	reportToSecondProvider(t, s, helenAs)

	signUpAndIn(t, ctx, s.base, "helen.m", "Helen", "Markman", "signup")
	err := chromedp.Run(ctx,
		clickThrough(`a[href="/claim"]`),
		chromedp.WaitVisible(`#identifier`, chromedp.ByID),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "claim-form")
	claimWith(t, ctx, s.base, "Helen", "Markman", "1970-09-26", "npi", "", "1234567890")
	if body := mainText(t, ctx); !strings.Contains(body, "Your account is linked to your registry record") || !strings.Contains(body, "1970-09-26") {
		t.Fatalf("after the exact claim:\n%s", body)
	}
	screenshot(t, ctx, "claim-linked")

	// The board answers within a second or so: then both providers'
	// credits show, AMA accepted and ABIM points approved.
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := chromedp.Run(ctx, chromedp.Navigate(s.base+"/transcript"), chromedp.WaitVisible(`#credits-h`, chromedp.ByID)); err != nil {
			t.Fatal(err)
		}
		body = mainText(t, ctx)
		if strings.Count(body, "Approved") >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, want := range []string{"Reported by providers (registry), for your registry record", "Internal Medicine Update 2026", "AAA Test Organization",
		"Cardiology Grand Rounds 2026", "Second Sandbox Organization", "Accepted", "Approved"} {
		if !strings.Contains(body, want) {
			t.Errorf("her transcript lacks %q:\n%s", want, body)
		}
	}
	if !regexp.MustCompile(`Total Overall Category 1 Credits\s+4\.00`).MatchString(body) {
		t.Errorf("her transcript's totals:\n%s", body)
	}
	screenshot(t, ctx, "transcript-linked")

	// The JSON API's transcript is the same.
	req, _ := http.NewRequest(http.MethodGet, s.base+"/api/v1/account/transcript", nil)
	req.SetBasicAuth("helen.m", "a long password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		Sources []struct{ Society string }
		Credits []struct {
			Sources  []string
			Statuses []struct{ Status string }
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if err != nil || len(tr.Sources) != 1 || tr.Sources[0].Society != "registry" || len(tr.Credits) != 2 || len(tr.Credits[0].Statuses) != 3 {
		t.Errorf("GET /api/v1/account/transcript: %+v, %v", tr, err)
	}

	// Her PDF.
	r, pdf := withCookies(t, ctx, http.MethodGet, s.base+"/transcript.pdf", nil)
	if r.StatusCode != 200 || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("transcript.pdf: %d", r.StatusCode)
	}
	text := cmextest.PDFText(t, pdf)
	for _, want := range []string{"Helen Markman", "Reported by providers to the registry", "Internal Medicine Update 2026", "Cardiology Grand Rounds 2026",
		"Second Sandbox Organization", "CAT1 · Accepted", "Approved"} {
		if !strings.Contains(text, want) {
			t.Errorf("her PDF lacks %q:\n%s", want, text)
		}
	}

	// Another physician, with Helen's name and NPI but a wrong birth
	// date: told what a claim of nobody is told, and linked to nothing.
	signOut(t, ctx, s.base)
	signUpAndIn(t, ctx, s.base, "mallory", "Mal", "Lory", "")
	answer := func() string {
		t.Helper()
		var a string
		if err := chromedp.Run(ctx, chromedp.Text(`.waiting .notice`, &a, chromedp.ByQuery)); err != nil {
			t.Fatalf("no answer: %v\n%s", err, mainText(t, ctx))
		}
		return a
	}
	claimWith(t, ctx, s.base, "Helen", "Markman", "1970-09-27", "npi", "", "1234567890")
	wrong := answer()
	claimWith(t, ctx, s.base, "No", "Body", "1980-01-01", "npi", "", "9999999999")
	nobody := answer()
	if wrong != nobody || !strings.Contains(wrong, "is waiting for review by cmex's operators") {
		t.Errorf("a wrong birth date is answered %q, a claim of nobody %q", wrong, nobody)
	}
	screenshot(t, ctx, "claim-waiting")
	if err := chromedp.Run(ctx, chromedp.Navigate(s.base+"/transcript"), chromedp.WaitVisible(`#credits-h`, chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	if body := mainText(t, ctx); strings.Contains(body, "Internal Medicine Update 2026") || strings.Contains(body, "Reported by providers") {
		t.Errorf("a claim with a wrong birth date linked her:\n%s", body)
	}
	fitsAt320(t, ctx, s.base, map[string]string{"claim-waiting": "/claim", "signup": "/signup"})

	// Throttled: three more that wait lock her claims for 15 minutes.
	for i := range 3 {
		claimWith(t, ctx, s.base, "Helen", "Markman", "1970-09-2"+string(rune('1'+i)), "npi", "", "1234567890")
	}
	claimWith(t, ctx, s.base, "Helen", "Markman", "1970-09-26", "npi", "", "1234567890")
	if body := mainText(t, ctx); !strings.Contains(body, "Too many claims for this account or from this address; try again in 15 minutes.") {
		t.Errorf("the sixth claim:\n%s", body)
	}
	r, page := withCookies(t, ctx, http.MethodPost, s.base+"/claim", url.Values{"given": {"Helen"}, "family": {"Markman"}, "birthDate": {"1970-09-26"},
		"kind": {"npi"}, "identifier": {"1234567890"}})
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !bytes.Contains(page, []byte("Too many claims")) {
		t.Errorf("a throttled claim: %d %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
}

// TestBrowserClaimReview: a claim whose name is spelled otherwise waits;
// cmex's operator sees it beside the registry record, approves it; the
// physician then sees her credits, a board's rejection with its reason
// among them.
func TestBrowserClaimReview(t *testing.T) {
	ctx := browser(t)
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox", "-sandbox-board-delay", "100ms")
	defer s.stop()
	reportSandboxLearner(t, s, rileyAs)

	signUpAndIn(t, ctx, s.base, "riley.r", "Riley", "Rejected", "")
	claimWith(t, ctx, s.base, "Rylie", "Rejected", "1975-05-05", "license", "IL", "IL999990")
	if body := mainText(t, ctx); !strings.Contains(body, "is waiting for review by cmex's operators") || !strings.Contains(body, "Rylie Rejected, born 1975-05-05, IL licence IL999990") {
		t.Fatalf("the claim spelled otherwise:\n%s", body)
	}

	switchTo(t, ctx, s.base, "cmex.admin", "sandbox")
	err := chromedp.Run(ctx,
		clickThrough(`a[href="/admin/claims"]`),
		chromedp.WaitVisible(`#pending-h`, chromedp.ByID),
	)
	if err != nil {
		t.Fatal(err)
	}
	body := mainText(t, ctx)
	for _, want := range []string{"Waiting (1)", "by riley.r", "Rylie Rejected", "Riley Rejected", "IL licence IL999990", "ABIM id 999990", "no account"} {
		if !strings.Contains(body, want) {
			t.Errorf("the claims queue lacks %q:\n%s", want, body)
		}
	}
	screenshot(t, ctx, "admin-claims")
	fitsAt320(t, ctx, s.base, map[string]string{"admin-claims": "/admin/claims"})
	var notice string
	err = chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/admin/claims"),
		chromedp.WaitVisible(`input[name="person"]`, chromedp.ByQuery),
		chromedp.Click(`input[name="person"]`, chromedp.ByQuery),
		clickThrough(`form[action$="/approve"] button`),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery),
		chromedp.Text(`.notice`, &notice, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(notice, "The claim is approved") {
		t.Fatalf("approving: %q, %v", notice, err)
	}
	if body := mainText(t, ctx); !strings.Contains(body, "Waiting (0)") || !strings.Contains(body, "riley.r") {
		t.Errorf("the queue after approving:\n%s", body)
	}

	switchTo(t, ctx, s.base, "riley.r", "a long password")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := chromedp.Run(ctx, chromedp.Navigate(s.base+"/transcript"), chromedp.WaitVisible(`#credits-h`, chromedp.ByID)); err != nil {
			t.Fatal(err)
		}
		body = mainText(t, ctx)
		if strings.Count(body, "Rejected 661") >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, want := range []string{"Internal Medicine Update 2026", "Accepted", "Rejected 661: Diplomate ID not found in Board records.", "not counted"} {
		if !strings.Contains(body, want) {
			t.Errorf("her transcript after approval lacks %q:\n%s", want, body)
		}
	}
	if !regexp.MustCompile(`Total Overall Category 1 Credits\s+2\.00`).MatchString(body) || strings.Contains(body, "MOC Medical Knowledge") {
		t.Errorf("the rejected points count in her totals:\n%s", body)
	}
	screenshot(t, ctx, "transcript-rejected")
	if err := chromedp.Run(ctx, chromedp.Navigate(s.base+"/claim"), chromedp.WaitVisible(`h1`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if body := mainText(t, ctx); !strings.Contains(body, "by cmex's operators, on your claim") {
		t.Errorf("her registry record page:\n%s", body)
	}
}

// TestBrowserInvitation: provider 1234567's admin invites a learner the
// provider reported; the link is shown once; the invited physician, signed
// in, opens it and her account is linked; the link works once.
func TestBrowserInvitation(t *testing.T) {
	ctx := browser(t)
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox")
	defer s.stop()
	reportSandboxLearner(t, s, patAs)

	signInAs(t, ctx, s.base, "aaa.admin", "sandbox")
	var link string
	err := chromedp.Run(ctx,
		clickThrough(`a[href="/provider/invitations"]`),
		chromedp.WaitVisible(`#q`, chromedp.ByID),
		chromedp.SendKeys(`#q`, "diplomate", chromedp.ByID),
		clickThrough(`form[role="search"] button`),
		chromedp.WaitVisible(`button[aria-label="Invite Pat ABIM Diplomate"]`, chromedp.ByQuery),
		clickThrough(`button[aria-label="Invite Pat ABIM Diplomate"]`),
		chromedp.WaitVisible(`#new-link`, chromedp.ByID),
		chromedp.Value(`#new-link`, &link, chromedp.ByID),
	)
	if err != nil || !strings.HasPrefix(link, s.base+"/invitation?token=") || len(link) != len(s.base+"/invitation?token=")+43 {
		t.Fatalf("inviting: %q, %v", link, err)
	}
	screenshot(t, ctx, "provider-invitations")
	fitsAt320(t, ctx, s.base, map[string]string{"provider-invitations": "/provider/invitations"})
	if err := chromedp.Run(ctx, chromedp.Navigate(s.base+"/provider/invitations"), chromedp.WaitVisible(`#sent-h`, chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	if body := mainText(t, ctx); strings.Contains(body, link) || !strings.Contains(body, "Pat ABIM Diplomate") || !strings.Contains(body, "open until") {
		t.Errorf("the invitations after the link was shown:\n%s", body)
	}

	signOut(t, ctx, s.base)
	signUpAndIn(t, ctx, s.base, "pat.d", "Pat", "Diplomate", "")
	err = chromedp.Run(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(`form[action="/invitation"] button`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatal(err)
	}
	if body := mainText(t, ctx); !strings.Contains(body, "AAA Test Organization invites you to link your cmex account") {
		t.Errorf("the invitation:\n%s", body)
	}
	screenshot(t, ctx, "invitation")
	fitsAt320(t, ctx, s.base, map[string]string{"invitation": strings.TrimPrefix(link, s.base)})
	// By keyboard: Tab to the button, Enter.
	err = chromedp.Run(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(`form[action="/invitation"] button`, chromedp.ByQuery),
		chromedp.Evaluate(`document.body.setAttribute("data-left", "1")`, nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	tabTo(t, ctx, "Link my account", 20)
	err = chromedp.Run(ctx,
		chromedp.KeyEvent("\r"),
		chromedp.WaitReady(`body:not([data-left])`, chromedp.ByQuery),
		chromedp.WaitVisible(`.record`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("opening the invitation: %v", err)
	}
	if body := mainText(t, ctx); !strings.Contains(body, "by a provider's invitation") || !strings.Contains(body, "1970-01-02") {
		t.Errorf("after opening the invitation:\n%s", body)
	}
	if err := chromedp.Run(ctx, chromedp.Navigate(s.base+"/transcript"), chromedp.WaitVisible(`#credits-h`, chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	if body := mainText(t, ctx); !strings.Contains(body, "Internal Medicine Update 2026") || !strings.Contains(body, "Reported by providers") {
		t.Errorf("her transcript after the invitation:\n%s", body)
	}
	// Once: the link now says it was used, and offers nothing.
	var count int
	err = chromedp.Run(ctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(`h1`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('form[action="/invitation"]').length`, &count),
	)
	if body := mainText(t, ctx); err != nil || count != 0 || !strings.Contains(body, "This invitation link was used on") {
		t.Errorf("the used link: %d forms, %v\n%s", count, err, body)
	}
	r, _ := withCookies(t, ctx, http.MethodPost, s.base+"/invitation", url.Values{"token": {strings.TrimPrefix(link, s.base+"/invitation?token=")}})
	if r.StatusCode != http.StatusGone {
		t.Errorf("posting a used invitation: %d", r.StatusCode)
	}
	fitsAt320(t, ctx, s.base, map[string]string{"claim-linked": "/claim", "transcript-linked": "/transcript"})
}
