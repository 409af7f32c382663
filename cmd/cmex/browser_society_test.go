package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserSociety drives a real browser through the society admin's
// main journey as the sandbox's example.admin: she imports members from a
// CSV file (first one with a mistake, shown beside the file's field, then
// the right one, with the passwords generated for the new members), then
// credits from a CSV and a ceu_order file and reads the report on each
// credit, looks at a member's transcript preview, creates the society's
// feed login, and the credit feed answers to it. The pages are checked at
// 320 px and by keyboard.
func TestBrowserSociety(t *testing.T) {
	ctx := browser(t)
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox")
	defer s.stop()

	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wrongMembers := file("members-draft.csv", strings.Replace(example(t, "society-members.csv"), "E-1002,BobJones,Bob,Jones", "E-1002,BobJones,Bob,", 1))
	members := file("society-members.csv", example(t, "society-members.csv"))
	credits := file("society-credits.csv", example(t, "society-credits.csv")+"E-4040,2026-07-01,Imaging Informatics Webinar,Example Society,,,Internet Live,CME,1,CAT1,\n")
	order := file("society-credits.xml", example(t, "society-credits.xml"))

	// She signs in by keyboard: the username, Tab, the password, Enter.
	var heading, body string
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/signin"),
		chromedp.WaitVisible(`#username`, chromedp.ByID),
		chromedp.Focus(`#username`, chromedp.ByID),
		chromedp.KeyEvent("example.admin"),
		chromedp.KeyEvent("\t"),
		chromedp.KeyEvent("sandbox"),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(`a[href="/society/members"]`, chromedp.ByQuery),
		chromedp.Text(`h1`, &heading, chromedp.ByQuery),
	)
	if err != nil || heading != "Welcome, Example Admin" {
		t.Fatalf("after signing in: %q, %v", heading, err)
	}

	// The members file with a mistake: the problem is beside the file's
	// field, with its line, and nobody is imported.
	err = chromedp.Run(ctx,
		chromedp.Click(`nav a[href="/society/members"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#members`, chromedp.ByID),
		chromedp.SetUploadFiles(`#members`, []string{wrongMembers}, chromedp.ByID),
		chromedp.Click(`form[action="/society/members/import"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#members-error`, chromedp.ByID),
		chromedp.Text(`#members-error`, &body, chromedp.ByID),
	)
	if err != nil || !strings.Contains(body, "members-draft.csv has 1 problem; nothing was imported") || !strings.Contains(body, "members-draft.csv:3: last_name: required") {
		t.Fatalf("the members file with a mistake: %v\n%s", err, body)
	}
	screenshot(t, ctx, "society-members-problem")
	err = chromedp.Run(ctx,
		chromedp.SetUploadFiles(`#members`, []string{members}, chromedp.ByID),
		chromedp.Click(`form[action="/society/members/import"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery),
		chromedp.Text(`main`, &body, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(body, "society-members.csv: 3 added, 0 updated, 0 unchanged.") || strings.Count(body, "-") < 6 {
		t.Fatalf("the members import: %v\n%s", err, body)
	}
	var passwords int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll("code.secret-value").length`, &passwords)); err != nil || passwords != 2 {
		t.Errorf("%d generated passwords shown (%v), want 2 (Cara came with hers)", passwords, err)
	}
	screenshot(t, ctx, "society-members-import")
	err = chromedp.Run(ctx,
		chromedp.Click(`a[href="/society/members"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#q`, chromedp.ByID),
		chromedp.SendKeys(`#q`, "smith", chromedp.ByID),
		chromedp.Submit(`#q`, chromedp.ByID),
		chromedp.WaitVisible(`a[href="/society/members"]`, chromedp.ByQuery),
		chromedp.Text(`table`, &body, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(body, "Ann Smith") || strings.Contains(body, "Bob Jones") {
		t.Errorf("searching the members: %v\n%s", err, body)
	}
	err = chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/society/members"),
		chromedp.WaitVisible(`#list-h`, chromedp.ByID),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "society-members")

	// Credits from a CSV file and a ceu_order document at once: each
	// credit reported, the one for a member the society does not have
	// rejected with the reason, the others recorded.
	err = chromedp.Run(ctx,
		chromedp.Click(`nav a[href="/society/credits"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#credits`, chromedp.ByID),
		chromedp.SetUploadFiles(`#credits`, []string{credits, order}, chromedp.ByID),
		chromedp.Click(`form[action="/society/credits/import"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`section[aria-label="society-credits.xml"]`, chromedp.ByQuery),
		chromedp.Text(`main`, &body, chromedp.ByQuery),
	)
	for _, want := range []string{"4 credits: 3 accepted, 0 present (recorded before), 1 rejected.", "2 credits: 2 accepted, 0 present (recorded before), 0 rejected.",
		`EXAMPLE has no member "E-4040"`, "Neuroradiology Refresher"} {
		if err != nil || !strings.Contains(body, want) {
			t.Fatalf("the credits report lacks %q (%v):\n%s", want, err, body)
		}
	}
	screenshot(t, ctx, "society-credits-import")
	err = chromedp.Run(ctx,
		chromedp.Click(`a[href="/society/credits"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#list-h`, chromedp.ByID),
		chromedp.Text(`table`, &body, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(body, "Musculoskeletal MRI Update") || !strings.Contains(body, "Radiation Safety Self-Assessment") {
		t.Errorf("the credits list: %v\n%s", err, body)
	}
	screenshot(t, ctx, "society-credits")

	// A member's transcript preview, reached from her row.
	err = chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/society/members?q=E-1001"),
		chromedp.WaitVisible(`a[href="/society/member?id=E-1001"]`, chromedp.ByQuery),
		chromedp.Click(`a[href="/society/member?id=E-1001"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#preview-h`, chromedp.ByID),
		chromedp.Text(`main`, &body, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(body, "Thoracic Imaging Review") || !strings.Contains(body, "Total Overall Category 1 Credits") {
		t.Fatalf("Ann's preview: %v\n%s", err, body)
	}
	screenshot(t, ctx, "society-member")

	// The feed login: created, its secret shown once; the credit feed
	// answers with it.
	var secret string
	err = chromedp.Run(ctx,
		chromedp.Click(`nav a[href="/society/access"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#feed_username`, chromedp.ByID),
		chromedp.SendKeys(`#feed_username`, "example-feed", chromedp.ByID),
		chromedp.Submit(`#feed_username`, chromedp.ByID),
		chromedp.WaitVisible(`.secret`, chromedp.ByQuery),
		chromedp.Text(`.secret code`, &secret, chromedp.ByQuery),
		chromedp.Text(`.notice`, &body, chromedp.ByQuery),
	)
	if err != nil || secret == "" || !strings.Contains(body, "Your society's feed login is example-feed") {
		t.Fatalf("the feed login: %q %v\n%s", secret, err, body)
	}
	screenshot(t, ctx, "society-access")
	if answer := s.feed("example-feed", secret, "01234567"); !strings.Contains(answer, "<STATUS>OK</STATUS>") || !strings.Contains(answer, "Chest CT: Interstitial Lung Disease Update") {
		t.Errorf("the credit feed with the new login:\n%s", answer)
	}
	err = chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/society/access"),
		chromedp.WaitVisible(`#feed-h`, chromedp.ByID),
		chromedp.Text(`main`, &body, chromedp.ByQuery),
	)
	if err != nil || strings.Contains(body, secret) || !strings.Contains(body, "The feed login is example-feed.") {
		t.Errorf("the access page again shows the secret, or not the login (%v)", err)
	}

	// At 320 px nothing is wider than the screen but tables, which scroll
	// in their own box; the first Tab reaches the skip link.
	var overflow bool
	for _, path := range []string{"/", "/society/members", "/society/member?id=E-1001", "/society/credits", "/society/access"} {
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
		if path == "/society/members" {
			screenshot(t, ctx, "society-members-320")
		}
		var focused string
		err = chromedp.Run(ctx,
			chromedp.KeyEvent("\t"),
			chromedp.Evaluate(`document.activeElement.textContent`, &focused),
		)
		if err != nil || focused != "Skip to the content" {
			t.Errorf("%s: the first Tab focuses %q (%v), want the skip link", path, focused, err)
		}
	}
}
