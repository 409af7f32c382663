package main_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestBrowserCredentials drives a real browser through the credential
// journey of the sandbox portal: Jane ACCME signs in, downloads a credit
// of her transcript as a verifiable credential (the browser saves the
// file), and anyone pastes it on /verify and sees it verified; with one
// byte changed, not verified; uploaded as a file, verified; the credit's
// QR code is on her transcript and its link opens its verification; a
// credit the provider deletes is reported revoked.
func TestBrowserCredentials(t *testing.T) {
	ctx := browser(t)
	s := startServer(t, []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}, "-sandbox")
	defer s.stop()
	reportSandboxLearner(t, s, nil)
	downloads := t.TempDir()

	var heading string
	err := chromedp.Run(ctx,
		cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(downloads),
		chromedp.Navigate(s.base+"/signin"),
		chromedp.WaitVisible(`#username`, chromedp.ByID),
		chromedp.SendKeys(`#username`, "jane.accme", chromedp.ByID),
		chromedp.SendKeys(`#password`, "sandbox", chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`form[action="/signout"]`, chromedp.ByQuery),
		// She links her account to her registry record (the credits
		// providers report for her), as the claim page offers.
		chromedp.Navigate(s.base+"/claim"),
		chromedp.WaitVisible(`#given`, chromedp.ByID),
		chromedp.SetValue(`#given`, "Jane", chromedp.ByID),
		chromedp.SetValue(`#family`, "ACCME", chromedp.ByID),
		chromedp.SetValue(`#birthDate`, "1904-10-30", chromedp.ByID),
		chromedp.SetValue(`#kind`, "board", chromedp.ByID),
		chromedp.SetValue(`#board`, "ABIM", chromedp.ByID),
		chromedp.SetValue(`#identifier`, "999902", chromedp.ByID),
		clickToLoad(`form[action="/claim"] button[type=submit]`),
		chromedp.Navigate(s.base+"/transcript"),
		chromedp.WaitVisible(`#credits-h`, chromedp.ByID),
		chromedp.Text(`h1`, &heading, chromedp.ByQuery),
	)
	if err != nil || heading != "Your transcript" {
		t.Fatalf("her transcript: %q %v", heading, err)
	}
	// Every credit's credential, as the page links them, before one is
	// deleted below.
	var hrefs []string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`[...document.querySelectorAll("a.credential-json")].map(a => a.getAttribute("href"))`, &hrefs)); err != nil || len(hrefs) != 3 {
		t.Fatalf("credential links %v: %v", hrefs, err)
	}
	creds := map[string]string{}
	for _, h := range hrefs {
		var body string
		if err := chromedp.Run(ctx, chromedp.Evaluate(`fetch(`+jsString(h)+`).then(r => r.text())`, &body, awaitPromise)); err != nil || !strings.Contains(body, "OpenBadgeCredential") {
			t.Fatalf("fetch %s: %v %.200s", h, err, body)
		}
		creds[h] = body
	}

	// She opens a credit's QR code and downloads its credential.
	var qrWidth int
	var link string
	err = chromedp.Run(ctx,
		chromedp.Click(`details.qr summary`, chromedp.ByQuery),
		chromedp.WaitVisible(`details.qr[open] img`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector("details.qr[open] img").complete && document.querySelector("details.qr[open] img").naturalWidth`, &qrWidth, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.AttributeValue(`details.qr[open] a.credential-link`, "href", &link, nil, chromedp.ByQuery),
	)
	if err != nil || qrWidth < 100 || !strings.HasPrefix(link, "/verify/credential/") {
		t.Fatalf("the QR code: width %d, link %q, %v", qrWidth, link, err)
	}
	screenshot(t, ctx, "transcript-credentials")
	if err := chromedp.Run(ctx, chromedp.Click(`a.credential-json`, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	file := waitForDownload(t, downloads, regexp.MustCompile(`^cme-credit-[0-9]+\.json$`))
	downloaded, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(downloaded), `"OpenBadgeCredential"`) {
		t.Fatalf("the downloaded credential %s: %v\n%s", file, err, downloaded)
	}

	// And her whole transcript, as one file of credentials.
	if err := chromedp.Run(ctx, chromedp.Click(`#all-credentials`, chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	setFile := waitForDownload(t, downloads, regexp.MustCompile(`^cme-credentials-[0-9-]+\.json$`))

	// At 320 px nothing is wider than the screen but the credits table,
	// which scrolls in its own box.
	narrow := func(path string) {
		t.Helper()
		var overflow bool
		err := chromedp.Run(ctx,
			chromedp.EmulateViewport(320, 640),
			chromedp.Navigate(s.base+path),
			chromedp.WaitVisible(`h1`, chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.scrollWidth > document.documentElement.clientWidth`, &overflow),
			chromedp.EmulateViewport(1280, 900),
		)
		if err != nil || overflow {
			t.Errorf("%s at 320 px: wider than the screen (%v)", path, err)
		}
	}
	narrow("/transcript")

	// Anyone, signed out, pastes it on /verify.
	verify := func(name, cred, want string) string {
		t.Helper()
		var verdict, page string
		err := chromedp.Run(ctx,
			chromedp.Navigate(s.base+"/verify"),
			chromedp.WaitVisible(`#credential`, chromedp.ByID),
			chromedp.SetValue(`#credential`, cred, chromedp.ByID),
			clickToLoad(`form.verify-form button[type=submit]`),
			chromedp.Text(`#verdict`, &verdict, chromedp.ByID),
			chromedp.Text(`main`, &page, chromedp.ByQuery),
		)
		if err != nil || !strings.HasPrefix(verdict, want) {
			t.Fatalf("%s: verdict %q, want %q: %v\n%s", name, verdict, want, err, page)
		}
		screenshot(t, ctx, name)
		return page
	}
	if err := chromedp.Run(ctx, chromedp.Click(`form[action="/signout"] button`, chromedp.ByQuery), chromedp.WaitVisible(`#username`, chromedp.ByID)); err != nil {
		t.Fatal(err)
	}
	page := verify("verify-credential", string(downloaded), "Verified")
	for _, want := range []string{"Proof (signature)", "Status (not revoked)", "Jane ACCME", "Credits earned", "AAA Test Organization", "did:web:127.0.0.1"} {
		if !strings.Contains(page, want) {
			t.Errorf("the verified page lacks %q:\n%s", want, page)
		}
	}
	// One byte changed.
	tampered := regexp.MustCompile(`"creditsEarned": [0-9]`).ReplaceAllStringFunc(string(downloaded), func(s string) string {
		return s[:len(s)-1] + string(s[len(s)-1]^1)
	})
	page = verify("verify-credential-tampered", tampered, "Not verified")
	if !strings.Contains(page, "✗ Proof (signature)") {
		t.Errorf("tampered: the proof check does not fail:\n%s", page)
	}
	// Uploaded as the file.
	var verdict string
	err = chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/verify"),
		chromedp.WaitVisible(`#file`, chromedp.ByID),
		chromedp.SetUploadFiles(`#file`, []string{file}, chromedp.ByID),
		clickToLoad(`form.verify-form button[type=submit]`),
		chromedp.Text(`#verdict`, &verdict, chromedp.ByID),
	)
	if err != nil || !strings.HasPrefix(verdict, "Verified") {
		t.Errorf("uploaded: %q %v", verdict, err)
	}
	// Her transcript's file, uploaded: each of its credentials holds.
	err = chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/verify"),
		chromedp.WaitVisible(`#file`, chromedp.ByID),
		chromedp.SetUploadFiles(`#file`, []string{setFile}, chromedp.ByID),
		clickToLoad(`form.verify-form button[type=submit]`),
		chromedp.Text(`#verdict`, &verdict, chromedp.ByID),
	)
	if err != nil || verdict != "Verified: all 3 credentials hold." {
		t.Errorf("the transcript's file uploaded: %q %v", verdict, err)
	}
	screenshot(t, ctx, "verify-credentials-set")
	// The QR code's link, as a phone opens it.
	err = chromedp.Run(ctx,
		chromedp.Navigate(s.base+link),
		chromedp.WaitVisible(`#verdict`, chromedp.ByID),
		chromedp.Text(`#verdict`, &verdict, chromedp.ByID),
	)
	if err != nil || !strings.HasPrefix(verdict, "Verified") {
		t.Errorf("the QR code's link: %q %v", verdict, err)
	}
	screenshot(t, ctx, "verify-credential-link")
	narrow(link)
	narrow("/verify")

	// The provider deletes her Medical Knowledge points: their credential,
	// as she downloaded it before, is reported revoked.
	req, _ := http.NewRequest(http.MethodDelete, s.base+"/api/v1/learner-records/ccid:aaatestorganization.org:v2026-2", nil)
	provider(req)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("delete: %v %v", res, err)
	}
	var revoked string
	for _, h := range hrefs {
		if strings.Contains(creds[h], `"ABIM Medical Knowledge"`) {
			revoked = creds[h]
		}
	}
	if revoked == "" {
		t.Fatalf("no Medical Knowledge credential among %v", hrefs)
	}
	page = verify("verify-credential-revoked", revoked, "Not verified")
	if !strings.Contains(page, "✗ Status (not revoked)") {
		t.Errorf("revoked: the status check does not fail:\n%s", page)
	}
}

// awaitPromise makes an Evaluate wait for the promise it returns.
func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// jsString quotes s for JavaScript.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitForDownload waits for a file whose name matches re to be saved
// whole in dir, and returns its path.
func waitForDownload(t *testing.T, dir string, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if re.MatchString(e.Name()) {
				return filepath.Join(dir, e.Name())
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no download matching %s in %s", re, dir)
	return ""
}
