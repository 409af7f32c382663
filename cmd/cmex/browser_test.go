package main_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/cmexhub/cmex/internal/cmextest"
)

// chromium returns the path of a Chromium to drive, or skips the test
// saying why. CI installs Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CMEX_TEST_BROWSER_REQUIRED") != "" {
		t.Fatal("no chromium on PATH, and CMEX_TEST_BROWSER_REQUIRED is set")
	}
	t.Skip("browser test skipped: no chromium on PATH (apt-get install chromium)")
	return ""
}

// browser starts a headless Chromium and returns a context driving one tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.Flag("headless", "new"),
		chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// screenshot saves the page as PNG under CMEX_SCREENSHOTS, when it is set:
// go test ./cmd/cmex -run Browser with CMEX_SCREENSHOTS=$PWD/docs/screenshots
// refreshes the README's pictures.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("CMEX_SCREENSHOTS")
	if dir == "" {
		return
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserPhysician drives a real browser through the sandbox portal as
// Jane ACCME: sign in, her transcript with the credit a provider reported
// through PARS, a filter, her progress bars, sign out; and checks the
// pages at a phone's 320 px width.
func TestBrowserPhysician(t *testing.T) {
	ctx := browser(t)
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox")
	defer s.stop()
	reportSandboxLearner(t, s, nil)

	var heading, body string
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/"),
		chromedp.WaitVisible(`#username`, chromedp.ByID),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "signin")
	err = chromedp.Run(ctx,
		chromedp.SendKeys(`#username`, "jane.accme", chromedp.ByID),
		chromedp.SendKeys(`#password`, "sandbox", chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`form[action="/signout"]`, chromedp.ByQuery), // on every page once signed in
		chromedp.Text(`h1`, &heading, chromedp.ByQuery),
	)
	if err != nil || heading != "Welcome, Jane ACCME" {
		t.Fatalf("after signing in: %q, %v", heading, err)
	}

	err = chromedp.Run(ctx,
		chromedp.Click(`a[href="/transcript"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#credits-h`, chromedp.ByID),
		chromedp.Text(`main`, &body, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(body, "Internal Medicine Update 2026") || !strings.Contains(body, "Total Overall Category 1 Credits") {
		t.Fatalf("transcript: %v\n%s", err, body)
	}
	screenshot(t, ctx, "transcript")
	// Filter to MOC credits: the AMA credit leaves the totals.
	err = chromedp.Run(ctx,
		chromedp.SetValue(`#type`, "MOC", chromedp.ByID),
		chromedp.Click(`form.filters button`, chromedp.ByQuery),
		chromedp.WaitReady(`#type option[value="MOC"][selected]`, chromedp.ByQuery), // the answer's form, as filtered
		chromedp.Text(`.totals`, &body, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(body, "Total Overall Category 1 Credits\n0.00") && !strings.Contains(body, "Total Overall Category 1 Credits 0.00") {
		t.Errorf("MOC only: %v\n%q", err, body)
	}

	var bars int
	err = chromedp.Run(ctx,
		chromedp.Click(`a[href="/progress"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`progress`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("progress").length`, &bars),
		chromedp.Text(`main`, &body, chromedp.ByQuery),
	)
	if err != nil || bars < 2 || !strings.Contains(body, "Practitioner: Internal Medicine") || !strings.Contains(body, "days left") {
		t.Fatalf("progress: %d bars, %v\n%s", bars, err, body)
	}
	screenshot(t, ctx, "progress")

	// She enters a credit of her own, with its certificate; the transcript
	// marks it self-attested.
	cert := filepath.Join(t.TempDir(), "attendance.pdf")
	if err := os.WriteFile(cert, []byte("%PDF-1.4\n% certificate of attendance\n%%EOF\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var notice string
	err = chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/self-credits"),
		chromedp.WaitVisible(`#title`, chromedp.ByID),
		chromedp.SendKeys(`#title`, "Journal reading: NEJM", chromedp.ByID),
		chromedp.SetValue(`#date`, "2026-05-01", chromedp.ByID),
		chromedp.SendKeys(`#credits`, "1.5", chromedp.ByID),
		chromedp.SetUploadFiles(`#certificate`, []string{cert}, chromedp.ByID),
		chromedp.Click(`form[action="/self-credits"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery),
		chromedp.Text(`.notice`, &notice, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(notice, "Your credit is added") {
		t.Fatalf("adding a self-attested credit: %q, %v", notice, err)
	}
	screenshot(t, ctx, "own-credits")
	err = chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/transcript"),
		chromedp.WaitVisible(`#credits-h`, chromedp.ByID),
		chromedp.Text(`table`, &body, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(body, "Journal reading: NEJM") || !strings.Contains(body, "self-attested") {
		t.Errorf("the transcript after adding a credit: %v\n%s", err, body)
	}

	// The PDF the "Download as PDF" link gives, fetched with the browser's
	// session, holds her credits and a verification code that checks out.
	var href string
	var cookies []*network.Cookie
	err = chromedp.Run(ctx,
		chromedp.AttributeValue(`a[href="/transcript.pdf"]`, "href", &href, nil, chromedp.ByQuery),
		chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			cookies, err = network.GetCookies().Do(ctx)
			return err
		}),
	)
	if err != nil || href != "/transcript.pdf" {
		t.Fatalf("the PDF link: %q, %v", href, err)
	}
	req, _ := http.NewRequest(http.MethodGet, s.base+href, nil)
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pdf, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Fatalf("transcript.pdf: %d %.40q", resp.StatusCode, pdf)
	}
	text := cmextest.PDFText(t, pdf)
	code := regexp.MustCompile(`verification code ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})`).FindStringSubmatch(text)
	if !strings.Contains(text, "Jane ACCME") || !strings.Contains(text, "Internal Medicine Update 2026") || !strings.Contains(text, "Journal reading: NEJM (self-attested)") || code == nil {
		t.Fatalf("the PDF's text:\n%s", text)
	}
	err = chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/verify/"+code[1]),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery),
		chromedp.Text(`.notice`, &notice, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(notice, "still holds exactly") {
		t.Errorf("verifying the PDF's code: %q, %v", notice, err)
	}

	// At 320 px nothing is wider than the screen but the credits table,
	// which scrolls in its own box.
	var overflow bool
	for _, path := range []string{"/transcript", "/progress", "/self-credits", "/societies"} {
		err = chromedp.Run(ctx,
			chromedp.EmulateViewport(320, 640),
			chromedp.Navigate(s.base+path),
			chromedp.WaitVisible(`h1`, chromedp.ByQuery),
			chromedp.Evaluate(`document.documentElement.scrollWidth > document.documentElement.clientWidth`, &overflow),
		)
		if err != nil || overflow {
			var wide []string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth && !(e.parentElement && e.parentElement.closest(".table-wrap"))).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right)).slice(0, 8)`, &wide))
			t.Errorf("%s at 320 px: wider than the screen (%v): %v", path, err, wide)
		}
	}

	// Keyboard: the first Tab reaches the skip link.
	var focused string
	err = chromedp.Run(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(s.base+"/progress"),
		chromedp.WaitVisible(`h1`, chromedp.ByQuery),
		chromedp.KeyEvent("\t"),
		chromedp.Evaluate(`document.activeElement.textContent`, &focused),
	)
	if err != nil || focused != "Skip to the content" {
		t.Errorf("first Tab focuses %q (%v), want the skip link", focused, err)
	}

	err = chromedp.Run(ctx,
		chromedp.Click(`form[action="/signout"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#username`, chromedp.ByID),
		chromedp.Navigate(s.base+"/transcript"),
		chromedp.WaitVisible(`#username`, chromedp.ByID),
	)
	if err != nil {
		t.Errorf("after signing out, the transcript should ask to sign in: %v", err)
	}
}

// TestBrowserProvider: a provider reports Riley Rejected's MOC credit, the
// simulated ABIM refuses it (661), and the provider's staff sees the
// refusal, its code and the board's words among the submissions; a
// physician cannot open the provider's pages.
func TestBrowserProvider(t *testing.T) {
	ctx := browser(t)
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox", "-sandbox-board-delay", "100ms")
	defer s.stop()
	// Jane's report, made Riley's: the board rejects her MOC records.
	reportSandboxLearner(t, s, strings.NewReplacer(
		"domain=&quot;ME&quot;&gt;MD999902", "domain=&quot;IL&quot;&gt;IL999990", "&gt;999902&lt;", "&gt;999990&lt;",
		"&gt;Jane&lt;", "&gt;Riley&lt;", "&gt;ACCME&lt;", "&gt;Rejected&lt;", "1904-10-30", "1975-05-05", ":v2026-", ":riley-"))

	var body string
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/signin"),
		chromedp.WaitVisible(`#username`, chromedp.ByID),
		chromedp.SendKeys(`#username`, "aaa.staff", chromedp.ByID),
		chromedp.SendKeys(`#password`, "sandbox", chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`a[href="/provider/submissions"]`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("staff sign-in: %v", err)
	}
	// The board answers within a second or so.
	deadline := time.Now().Add(20 * time.Second)
	for {
		err = chromedp.Run(ctx,
			chromedp.Navigate(s.base+"/provider/submissions?learner=999990"),
			chromedp.WaitVisible(`h1`, chromedp.ByQuery),
			chromedp.Text(`main`, &body, chromedp.ByQuery),
		)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(body, "661") || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, want := range []string{"Submissions of AAA Test Organization", "Riley Rejected", "ccid:aaatestorganization.org:riley-2",
		"Rejected 661", "Rejected: the board refused it.", "Diplomate ID not found in Board records."} {
		if !strings.Contains(body, want) {
			t.Errorf("submissions lack %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "Jane") {
		t.Errorf("the search by learner shows another learner's records")
	}
	screenshot(t, ctx, "provider-submissions")

	// A physician is refused the provider's pages.
	var heading string
	err = chromedp.Run(ctx,
		chromedp.Click(`form[action="/signout"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#username`, chromedp.ByID),
		chromedp.SendKeys(`#username`, "jane.accme", chromedp.ByID),
		chromedp.SendKeys(`#password`, "sandbox", chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`form[action="/signout"]`, chromedp.ByQuery),
		chromedp.Navigate(s.base+"/provider/submissions"),
		chromedp.WaitVisible(`h1`, chromedp.ByQuery),
		chromedp.Text(`h1`, &heading, chromedp.ByQuery),
	)
	if err != nil || heading != "Not for this account" {
		t.Errorf("a physician on the provider's submissions: %q, %v", heading, err)
	}
}

// reportSandboxLearner registers the README's MOC activity on a sandbox
// server and reports the README's learner sample on it (Jane ACCME's
// completion), changed by as when not nil.
func reportSandboxLearner(t *testing.T, s *server, as *strings.Replacer) {
	t.Helper()
	example := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("../../examples", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	raw := s.postRaw(savePath, example("save-moc-activity.xml"))
	m := regexp.MustCompile(`entry&quot;&gt;([0-9]{9})`).FindStringSubmatch(raw)
	if m == nil {
		t.Fatalf("save-moc-activity.xml: no activity id in %.300s", raw)
	}
	report := bytes.ReplaceAll(example("save-learner.xml"), []byte("ACTIVITY_ID"), []byte(m[1]))
	if as != nil {
		report = []byte(as.Replace(string(report)))
	}
	if r := s.post(saveLearnerPath, report); r.StatusCode != "Accepted" {
		t.Fatalf("the learner report: %+v", r)
	}
}

// clickToLoad clicks the link or submit button sel and waits until the
// page it leads to has loaded: a wait for an element alone may find it on
// the page being left (a form's page and its answer share most of theirs),
// and the next navigation would then call the request off.
func clickToLoad(sel string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		if err := chromedp.Evaluate(`window.cmexPageLeft = true`, nil).Do(ctx); err != nil {
			return err
		}
		if err := chromedp.Click(sel, chromedp.ByQuery).Do(ctx); err != nil {
			return err
		}
		for {
			// An evaluation may meet the page being left, or none yet:
			// its error only means "not yet".
			var loaded bool
			err := chromedp.Evaluate(`window.cmexPageLeft === undefined && document.readyState === "complete"`, &loaded).Do(ctx)
			if err == nil && loaded {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}
