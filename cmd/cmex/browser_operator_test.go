package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cmexhub/cmex"
)

// TestBrowserOperator walks the operator's main journey in a real
// browser, as the sandbox's cmex.admin: she rotates a web-service user's
// password (by keyboard), sees a destination's deliveries that failed for
// good with the receiver's answer and retries all of them at once, and
// finds each of those actions in the audit log. On the way: a plan file
// with problems is refused line by line, a remote society whose URL leads
// to a link-local address is refused beside the field, and the societies
// page shows how each remote one answers. Every console page fits 320 px.
func TestBrowserOperator(t *testing.T) {
	ctx := browser(t)
	// The board's receiver refuses every record for good (422, its own
	// message echoed) until it is fixed.
	var fixed atomic.Bool
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if fixed.Load() {
			_ = json.NewEncoder(w).Encode(map[string]string{"api_id": "board-hook", "result": "success"})
			return
		}
		w.WriteHeader(http.StatusUnprocessableEntity)
		_ = json.NewEncoder(w).Encode(map[string]string{"api_id": "board-hook", "result": "error", "message": "Learner not on the board's roster"})
	}))
	defer hook.Close()
	rsna := remoteSociety(t, "RSNA", "ned", "rsna-pw", "R-77", 20*time.Millisecond, false, cmex.CEU{Sponsor: "RSNA", Title: "Imaging Informatics",
		Date: cmex.MustParseDate("2026-03-02"), ActivityType: "Enduring Material", Details: []cmex.CEUDetail{{Type: cmex.DetailCME, Credits: 400, Category: cmex.CategoryAMA1}}})
	down := remoteSociety(t, "DOWN", "ned", "down-pw", "D-1", 0, true)

	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db"), "CMEX_SECRET_KEY=e2e-secret-key-0123456789"}
	s := startServer(t, env, "-sandbox", "-allow-private-destinations", "-sandbox-board-delay", "1h")
	defer s.stop()
	if out, code := runCLI(t, env, "whsec-board\n", "destinations", "add", "-allow-private-destinations", "-provider", "1234567", "-name", "board-hook",
		"-kind", "webhook", "-url", hook.URL, "-api-id", "board-hook"); code != 0 {
		t.Fatalf("destinations add: %s", out)
	}
	// A second destination that cannot be reached: its deliveries wait.
	if out, code := runCLI(t, env, "whsec-registry\n", "destinations", "add", "-allow-private-destinations", "-provider", "1234567", "-name", "state-registry",
		"-kind", "webhook", "-url", "http://127.0.0.1:9/registry"); code != 0 {
		t.Fatalf("destinations add: %s", out)
	}
	reportSandboxLearner(t, s, nil) // three credits, three deliveries to each
	var ids []int64
	deadline := time.Now().Add(30 * time.Second)
	for len(ids) < 3 {
		var out struct {
			Deliveries []struct {
				ID    int64  `json:"id"`
				State string `json:"state"`
			} `json:"deliveries"`
		}
		s.apiCall("GET", "/api/v1/deliveries?state=rejected&destination=board-hook", func(r *http.Request) { r.SetBasicAuth(providerA.user, providerA.password) }, nil, &out)
		ids = ids[:0]
		for _, d := range out.Deliveries {
			ids = append(ids, d.ID)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver's refusals did not arrive: %+v", out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Sign in; the console's pages are in the navigation.
	var text string
	err := chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/signin"),
		chromedp.WaitVisible(`#username`, chromedp.ByID),
		chromedp.SendKeys(`#username`, "cmex.admin", chromedp.ByID),
		chromedp.SendKeys(`#password`, "sandbox", chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`nav a[href="/admin/providers"]`, chromedp.ByQuery),
		clickToLoad(`nav a[href="/admin/providers"]`),
		chromedp.WaitVisible(`a[href="/admin/providers/1234567"]`, chromedp.ByQuery),
		chromedp.Text(`main`, &text, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(text, "AAA Test Organization") || !strings.Contains(text, "Second Sandbox Organization") {
		t.Fatalf("the providers: %v\n%s", err, text)
	}
	for _, want := range []string{`nav a[href="/admin/outbox"]`, `nav a[href="/admin/audit"]`, `nav a[href="/admin/plans"]`, `nav a[href="/admin/societies"]`, `nav a[href="/admin/claims"]`} {
		var n int
		if err := chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(`document.querySelectorAll(%q).length`, want), &n)); err != nil || n != 1 {
			t.Errorf("the navigation lacks %s", want)
		}
	}
	screenshot(t, ctx, "admin-providers")

	// Rotate the LMS's password, by keyboard: the new one is shown once.
	var secret string
	rotate := `button[aria-label="Rotate the password of webserviceuser@yourdomain.org"]`
	err = chromedp.Run(ctx,
		clickToLoad(`a[href="/admin/providers/1234567"]`),
		chromedp.WaitVisible(rotate, chromedp.ByQuery),
		chromedp.Focus(rotate, chromedp.ByQuery),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(`#secret`, chromedp.ByID),
		chromedp.Text(`#secret`, &secret, chromedp.ByID),
	)
	if err != nil || len(secret) < 20 {
		t.Fatalf("rotating: %q, %v", secret, err)
	}
	screenshot(t, ctx, "admin-provider")
	if r := s.post(getPath, search(providerA, map[string]string{"ActivityID": "300000001"})); !r.has("451") {
		t.Errorf("PARS with the old password: %+v", r)
	}
	rotated := creds{providerA.provider, providerA.user, secret}
	if r := s.post(getPath, search(rotated, map[string]string{"ActivityID": "300000001"})); r.has("451") || r.Data == nil {
		t.Errorf("PARS with the new password: %+v", r)
	}

	// The outbox: the destination's three failures; retry all of them.
	err = chromedp.Run(ctx,
		clickToLoad(`nav a[href="/admin/outbox"]`),
		chromedp.WaitVisible(`a[href*="state=rejected"]`, chromedp.ByQuery),
		chromedp.Text(`main table`, &text, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(text, "board-hook") || !strings.Contains(text, "1234567 AAA Test Organization") || !strings.Contains(text, "state-registry") {
		t.Fatalf("the outbox: %v\n%s", err, text)
	}
	var pending string
	if err := chromedp.Run(ctx, chromedp.Text(`a[href*="state=pending"]`, &pending, chromedp.ByQuery)); err != nil || pending != "3" {
		t.Errorf("the unreachable destination's backlog: %q, %v", pending, err)
	}
	screenshot(t, ctx, "admin-outbox")
	err = chromedp.Run(ctx,
		clickToLoad(`a[href*="state=rejected"]`),
		chromedp.WaitVisible(`form[action="/admin/deliveries/retry"] button`, chromedp.ByQuery),
		chromedp.Text(`main`, &text, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(text, "Retry these 3") || strings.Count(text, "Learner not on the board's roster") != 3 || !strings.Contains(text, "422") {
		t.Fatalf("the failed deliveries: %v\n%s", err, text)
	}
	screenshot(t, ctx, "admin-deliveries")
	fixed.Store(true)
	var notice string
	err = chromedp.Run(ctx,
		clickToLoad(`form[action="/admin/deliveries/retry"] button`),
		chromedp.WaitVisible(`.notice`, chromedp.ByQuery),
		chromedp.Text(`.notice`, &notice, chromedp.ByQuery),
	)
	if err != nil || !strings.Contains(notice, "3 deliveries will be sent again shortly") {
		t.Fatalf("the bulk retry: %q, %v", notice, err)
	}
	// The fixed receiver takes them.
	deadline = time.Now().Add(30 * time.Second)
	for {
		var out struct {
			Deliveries []struct{ State string } `json:"deliveries"`
		}
		s.apiCall("GET", "/api/v1/deliveries?state=delivered&destination=board-hook", func(r *http.Request) { r.SetBasicAuth(rotated.user, rotated.password) }, nil, &out)
		if len(out.Deliveries) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retried deliveries were not delivered: %+v", out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The audit log holds both actions, as hers: the password's rotation
	// and a retry of each delivery.
	err = chromedp.Run(ctx,
		clickToLoad(`nav a[href="/admin/audit"]`),
		chromedp.WaitVisible(`#action`, chromedp.ByID),
		chromedp.SendKeys(`#action`, "web-service-user.password", chromedp.ByID),
		chromedp.SendKeys(`#actor`, "portal:cmex.admin", chromedp.ByID),
		clickToLoad(`form.filters button`),
		chromedp.WaitVisible(`main table`, chromedp.ByQuery),
		chromedp.Text(`main table tbody`, &text, chromedp.ByQuery),
	)
	if err != nil || strings.Count(text, "web-service-user.password") != 1 || !strings.Contains(text, "webserviceuser@yourdomain.org") || !strings.Contains(text, "portal:cmex.admin") {
		t.Fatalf("the rotation in the audit log: %v\n%s", err, text)
	}
	err = chromedp.Run(ctx,
		chromedp.SetValue(`#action`, "delivery.retry", chromedp.ByID),
		clickToLoad(`form.filters button`),
		chromedp.WaitVisible(`#action[value="delivery.retry"]`, chromedp.ByQuery),
		chromedp.Text(`main table tbody`, &text, chromedp.ByQuery),
	)
	if err != nil || strings.Count(text, "delivery.retry") != 3 {
		t.Fatalf("the retries in the audit log: %v\n%s", err, text)
	}
	for _, id := range ids {
		if !strings.Contains(text, fmt.Sprint(id)) {
			t.Errorf("delivery %d's retry is not in the audit log:\n%s", id, text)
		}
	}
	screenshot(t, ctx, "admin-audit")

	// A plan file with problems: each with its line; nothing replaces the
	// plans in force.
	bad := filepath.Join(t.TempDir(), "plans.yaml")
	good, err := os.ReadFile("../../examples/plans.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(strings.NewReplacer("type: Maintenance", "type: Renewal", "- name: ABIM Patient Safety", `- name: ""`).Replace(string(good))), 0o644); err != nil {
		t.Fatal(err)
	}
	var problems []string
	err = chromedp.Run(ctx,
		clickToLoad(`nav a[href="/admin/plans"]`),
		chromedp.WaitVisible(`#file`, chromedp.ByID),
		chromedp.SetUploadFiles(`#file`, []string{bad}, chromedp.ByID),
		clickToLoad(`button[value="load"]`),
		chromedp.WaitVisible(`ul.problems`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll("ul.problems li")].map(li => li.textContent)`, &problems),
	)
	if err != nil || len(problems) < 2 {
		t.Fatalf("a plan file with problems: %v %q", err, problems)
	}
	for _, p := range problems {
		if !strings.HasPrefix(p, "line ") {
			t.Errorf("a problem without its line: %q", p)
		}
	}
	screenshot(t, ctx, "admin-plans")
	var sets int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll("section[aria-labelledby=sets-h] tbody tr").length`, &sets)); err != nil || sets != 1 {
		t.Errorf("plan sets after a refused file: %d, %v", sets, err)
	}

	// Societies: a URL leading to a link-local address is refused beside
	// its field; then two remote societies, one of which fails.
	var fieldErr string
	add := func(code, binding, order string) error {
		return chromedp.Run(ctx,
			chromedp.Navigate(s.base+"/admin/societies"),
			chromedp.WaitVisible(`#code`, chromedp.ByID),
			chromedp.SendKeys(`#code`, code, chromedp.ByID),
			chromedp.SendKeys(`#name`, code+" Society", chromedp.ByID),
			chromedp.SendKeys(`#bindingUrl`, binding, chromedp.ByID),
			chromedp.SendKeys(`#orderUrl`, order, chromedp.ByID),
			clickToLoad(`form[action="/admin/societies"] button`),
			chromedp.WaitVisible(`h1`, chromedp.ByQuery),
		)
	}
	err = add("RSNA", rsna.URL+"/customer_binding", "http://169.254.169.254/latest/meta-data")
	if err == nil {
		err = chromedp.Run(ctx, chromedp.Text(`#orderUrl-error`, &fieldErr, chromedp.ByID))
	}
	if err != nil || !strings.Contains(fieldErr, "link-local") {
		t.Fatalf("a link-local order URL: %q, %v", fieldErr, err)
	}
	if err := add("RSNA", rsna.URL+"/customer_binding", rsna.URL+"/ceu_order"); err != nil {
		t.Fatal(err)
	}
	if err := add("DOWN", down.URL+"/customer_binding", down.URL+"/ceu_order"); err != nil {
		t.Fatal(err)
	}
	ned := func(r *http.Request) { r.SetBasicAuth("ned.baker", "sandbox") }
	for _, b := range [][3]string{{"RSNA", "ned", "rsna-pw"}, {"DOWN", "ned", "down-pw"}} {
		if st := s.apiCall("POST", "/api/v1/account/bindings", ned, map[string]string{"society": b[0], "username": b[1], "password": b[2]}, nil); st != 201 {
			t.Fatalf("bind %s: %d", b[0], st)
		}
	}
	var tr cmex.Transcript
	if st := s.apiCall("GET", "/api/v1/account/transcript", ned, nil, &tr); st != 200 {
		t.Fatalf("transcript: %d", st)
	}
	var rows []string
	err = chromedp.Run(ctx,
		chromedp.Navigate(s.base+"/admin/societies"),
		chromedp.WaitVisible(`main table`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll("main table tbody tr")].map(tr => tr.innerText)`, &rows),
	)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(rows, "\n---\n")
	for _, want := range []string{"answered: STATUS OK", "failed: it answered HTTP 500", "50%", "1 of the last 2 failed", "median", "answered by this cmex"} {
		if !strings.Contains(joined, want) {
			t.Errorf("the societies lack %q:\n%s", want, joined)
		}
	}
	screenshot(t, ctx, "admin-societies")

	// At 320 px nothing is wider than the screen but the tables, which
	// scroll in their own boxes; the first Tab reaches the skip link.
	for _, path := range append(operatorPages, "/admin/deliveries?state=delivered") {
		var overflow bool
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
	if os.Getenv("CMEX_SCREENSHOTS") != "" {
		if err := chromedp.Run(ctx, chromedp.Navigate(s.base+"/admin/outbox"), chromedp.WaitVisible(`h1`, chromedp.ByQuery)); err == nil {
			screenshot(t, ctx, "admin-outbox-320")
		}
	}
	var focused string
	err = chromedp.Run(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(s.base+"/admin/outbox"),
		chromedp.WaitVisible(`h1`, chromedp.ByQuery),
		chromedp.KeyEvent("\t"),
		chromedp.Evaluate(`document.activeElement.textContent`, &focused),
	)
	if err != nil || focused != "Skip to the content" {
		t.Errorf("first Tab focuses %q (%v), want the skip link", focused, err)
	}
}
