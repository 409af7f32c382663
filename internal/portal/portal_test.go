package portal_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmegateway"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/portal"
)

type env struct {
	srv   *httptest.Server
	store *cmextest.Store
	now   time.Time
	h     *portal.Handler
	// remoteCalls counts the requests bindJane's remote society got.
	remoteCalls atomic.Int64
}

// newEnv serves the portal over a store with Jane ACCME's account and a
// staff account of provider 1234567.
func newEnv(t *testing.T, tls bool) *env {
	t.Helper()
	store := cmextest.NewStore(t, time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC))
	ctx := context.Background()
	if err := store.Gateway.CreateAccount(ctx, &cmex.Account{Username: "jane.accme", GivenName: "Jane", FamilyName: "ACCME"}, "jane's long password"); err != nil {
		t.Fatal(err)
	}
	org, err := store.Organizations.FindOrganizationByProviderID(ctx, cmextest.ProviderA)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Portal.CreateStaff(ctx, &cmex.Staff{Username: "olga", Name: "Olga <Staff>", Role: cmex.RoleProviderStaff, Organization: org.ID}, "olga's long password"); err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, now: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}
	gw := cmegateway.New(store.Societies, store.Gateway, slog.New(slog.DiscardHandler))
	gw.Now = store.Clock.Now
	gw.Links = store.Claims
	guard := cmex.DefaultLoginGuard()
	guard.Now = func() time.Time { return e.now }
	h := &portal.Handler{Portal: cmex.Guarded{Guard: guard}.Portal(store.Portal), Transcripts: gw, Accounts: store.Gateway, Plans: store.Plans, Societies: store.Societies,
		Organizations: store.Organizations, Activities: store.Activities, Learners: store.Learners, Deliveries: store.Deliveries, XAPIOutcomes: store.XAPIProfiles,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return e.now },
		Claims: cmex.Guarded{Guard: guard}.Claims(store.Claims), Persons: store.Persons}
	e.h = h
	mux := http.NewServeMux()
	h.Register(mux)
	if tls {
		e.srv = httptest.NewTLSServer(mux)
	} else {
		e.srv = httptest.NewServer(mux)
	}
	t.Cleanup(e.srv.Close)
	return e
}

// client is a browser: it keeps cookies and does not follow redirects.
func (e *env) client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// A client of its own (srv.Client returns one shared client), with the
	// server's transport (which trusts its TLS certificate).
	return &http.Client{Transport: e.srv.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type page struct {
	status   int
	body     string
	location string
	header   http.Header
}

func do(t *testing.T, c *http.Client, req *http.Request) page {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, string(b), resp.Header.Get("Location"), resp.Header}
}

func (e *env) get(t *testing.T, c *http.Client, path string) page {
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	return do(t, c, req)
}

// post sends a form as a browser on the portal's own page does.
func (e *env) post(t *testing.T, c *http.Client, path string, form url.Values) page {
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return do(t, c, req)
}

func signInForm(user, password string) url.Values {
	return url.Values{"username": {user}, "password": {password}}
}

func TestSignInAndOut(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	if p := e.get(t, c, "/"); p.status != http.StatusSeeOther || p.location != "/signin" {
		t.Fatalf("home before signing in: %d %q", p.status, p.location)
	}
	p := e.get(t, c, "/signin")
	if p.status != 200 || !strings.Contains(p.body, `<label for="username">`) || !strings.Contains(p.body, `<label for="password">`) ||
		!strings.Contains(p.body, `action="/signin"`) {
		t.Fatalf("sign-in page: %d %s", p.status, p.body)
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("page headers: %v", p.header)
	}

	// A wrong password: the form again, with the username kept, the
	// password not, and no session.
	p = e.post(t, c, "/signin", signInForm("jane.accme", "not her password"))
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "do not match an account") ||
		!strings.Contains(p.body, `value="jane.accme"`) || strings.Contains(p.body, "not her password") {
		t.Fatalf("wrong password: %d %s", p.status, p.body)
	}
	if p := e.post(t, c, "/signin", signInForm("", "")); p.status != http.StatusBadRequest || !strings.Contains(p.body, "Enter your username") {
		t.Errorf("empty form: %d %s", p.status, p.body)
	}

	p = e.post(t, c, "/signin", signInForm("Jane.ACCME", "jane's long password"))
	if p.status != http.StatusSeeOther || p.location != "/" {
		t.Fatalf("sign in: %d %q %s", p.status, p.location, p.body)
	}
	cookie := p.header.Get("Set-Cookie")
	for _, want := range []string{portal.SessionCookie + "=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("session cookie over plain HTTP is Secure, and would never come back: %q", cookie)
	}
	p = e.get(t, c, "/")
	if p.status != 200 || !strings.Contains(p.body, "Welcome, Jane ACCME") || !strings.Contains(p.body, "(physician)") {
		t.Fatalf("home: %d %s", p.status, p.body)
	}
	if p := e.get(t, c, "/signin"); p.status != http.StatusSeeOther || p.location != "/" {
		t.Errorf("sign-in page when signed in: %d %q", p.status, p.location)
	}

	p = e.post(t, c, "/signout", nil)
	if p.status != http.StatusSeeOther || p.location != "/signin" {
		t.Fatalf("sign out: %d %q", p.status, p.location)
	}
	if p := e.get(t, c, "/"); p.status != http.StatusSeeOther {
		t.Errorf("home after signing out: %d", p.status)
	}
}

// Staff sign in on the same form; their data is escaped wherever shown.
func TestStaffSignInEscapes(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	if p := e.post(t, c, "/signin", signInForm("olga", "olga's long password")); p.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d %s", p.status, p.body)
	}
	p := e.get(t, c, "/")
	if p.status != 200 || !strings.Contains(p.body, "Olga &lt;Staff&gt;") || strings.Contains(p.body, "<Staff>") || !strings.Contains(p.body, "provider-staff") {
		t.Fatalf("home: %d %s", p.status, p.body)
	}
	p = e.post(t, e.client(t), "/signin", signInForm(`"><script>alert(1)</script>`, "x"))
	if strings.Contains(p.body, "<script>alert") || !strings.Contains(p.body, "&lt;script&gt;") {
		t.Errorf("a typed username is not escaped: %s", p.body)
	}
}

// A form posted from another site is refused, signed in or not.
func TestCrossOriginPostRefused(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/signin", strings.NewReader(signInForm("jane.accme", "jane's long password").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := do(t, c, req); p.status != http.StatusForbidden || p.header.Get("Set-Cookie") != "" {
		t.Fatalf("cross-site sign-in: %d %v", p.status, p.header)
	}
	e.post(t, c, "/signin", signInForm("jane.accme", "jane's long password"))
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/signout", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := do(t, c, req); p.status != http.StatusForbidden {
		t.Fatalf("cross-site sign-out: %d", p.status)
	}
	if p := e.get(t, c, "/"); p.status != 200 {
		t.Errorf("the cross-site post ended the session: %d", p.status)
	}
}

// After five wrong passwords a username is locked (by the login guard the
// server wraps the portal's service in); its owner's right password is
// refused too until then, and another username is not held up.
func TestSignInLockedOut(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	for i := range 5 {
		if p := e.post(t, c, "/signin", signInForm("jane.accme", "guess")); p.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, p.status)
		}
	}
	p := e.post(t, c, "/signin", signInForm("jane.accme", "jane's long password"))
	if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many failed sign-ins") || p.header.Get("Retry-After") != "900" || p.header.Get("Set-Cookie") != "" {
		t.Fatalf("sixth attempt: %d %s", p.status, p.body)
	}
	if p := e.post(t, c, "/signin", signInForm("olga", "olga's long password")); p.status != http.StatusSeeOther {
		t.Errorf("another username: %d", p.status)
	}
	e.now = e.now.Add(14 * time.Minute)
	if p := e.post(t, e.client(t), "/signin", signInForm("jane.accme", "jane's long password")); p.status != http.StatusTooManyRequests {
		t.Errorf("14 minutes later: %d, want still locked", p.status)
	}
	e.now = e.now.Add(time.Minute + time.Second)
	if p := e.post(t, e.client(t), "/signin", signInForm("jane.accme", "jane's long password")); p.status != http.StatusSeeOther {
		t.Errorf("15 minutes later: %d %s", p.status, p.body)
	}
}

// Over TLS, or behind a proxy that terminates it, the session cookie is
// Secure and named __Host-cmex_session (Path=/, no Domain), and only that
// name is read there: a cmex_session cookie planted over plain HTTP or
// by a sibling host is not a session over TLS (issue 16).
func TestSecureCookieOverTLS(t *testing.T) {
	e := newEnv(t, true)
	c := e.client(t)
	p := e.post(t, c, "/signin", signInForm("jane.accme", "jane's long password"))
	cookie := p.header.Get("Set-Cookie")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(cookie, portal.SecureSessionCookie+"=") || !strings.Contains(cookie, "Secure") ||
		!strings.Contains(cookie, "Path=/") || strings.Contains(strings.ToLower(cookie), "domain=") {
		t.Fatalf("sign in over TLS: %d %q", p.status, cookie)
	}
	if p := e.get(t, c, "/"); p.status != 200 || !strings.Contains(p.body, "Welcome, Jane ACCME") {
		t.Fatalf("home over TLS with the __Host- cookie: %d", p.status)
	}
	token := strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], portal.SecureSessionCookie+"=")
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/", nil)
	req.AddCookie(&http.Cookie{Name: portal.SessionCookie, Value: token})
	if p := do(t, &http.Client{Transport: c.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, req); p.status != http.StatusSeeOther {
		t.Errorf("over TLS, a plain cmex_session cookie was read as a session: %d", p.status)
	}
	if p := e.post(t, c, "/signout", nil); !strings.HasPrefix(p.header.Get("Set-Cookie"), portal.SecureSessionCookie+"=;") {
		t.Errorf("sign out over TLS clears %q", p.header.Get("Set-Cookie"))
	}
	if p := e.get(t, c, "/"); p.status != http.StatusSeeOther {
		t.Errorf("home after signing out: %d", p.status)
	}
	e = newEnv(t, false)
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/signin", strings.NewReader(signInForm("jane.accme", "jane's long password").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.URL)
	req.Header.Set("X-Forwarded-Proto", "https")
	if p := do(t, e.client(t), req); p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Set-Cookie"), "Secure") ||
		!strings.HasPrefix(p.header.Get("Set-Cookie"), portal.SecureSessionCookie+"=") {
		t.Fatalf("sign in behind a TLS proxy: %d %q", p.status, p.header.Get("Set-Cookie"))
	}
}

func TestStaticFiles(t *testing.T) {
	e := newEnv(t, false)
	p := e.get(t, e.client(t), "/static/portal.css")
	if p.status != 200 || !strings.Contains(p.body, ".card") {
		t.Fatalf("portal.css: %d", p.status)
	}
}

// bindJane binds Jane's account to the seed's society EXAMPLE (Ned
// Baker's two credits) and to a remote society that does not answer.
func (e *env) bindJane(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ex, _, err := cmegateway.LoadExample(ctx, e.store.Societies)
	if err != nil {
		t.Fatal(err)
	}
	jane, err := e.store.Gateway.AccountByUsername(ctx, "jane.accme")
	if err != nil {
		t.Fatal(err)
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.remoteCalls.Add(1)
		http.Error(w, "down", http.StatusBadGateway)
	}))
	t.Cleanup(down.Close)
	acr := &cmex.Society{Code: "ACR", Name: "American College of Radiology", Kind: cmex.SocietyRemote, BindingURL: down.URL + "/b", OrderURL: down.URL + "/o"}
	if err := e.store.Societies.CreateSociety(ctx, acr); err != nil {
		t.Fatal(err)
	}
	for _, b := range []cmex.Binding{{AccountID: jane.ID, SocietyID: ex.ID, MemberID: cmegateway.ExampleMemberID}, {AccountID: jane.ID, SocietyID: acr.ID, MemberID: "A-1"}} {
		if err := e.store.Gateway.SaveBinding(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTranscriptPage(t *testing.T) {
	e := newEnv(t, false)
	e.bindJane(t)
	c := e.client(t)
	if p := e.get(t, c, "/transcript"); p.status != http.StatusSeeOther || p.location != "/signin" {
		t.Fatalf("transcript before signing in: %d %q", p.status, p.location)
	}
	e.post(t, c, "/signin", signInForm("jane.accme", "jane's long password"))
	p := e.get(t, c, "/transcript")
	for _, want := range []string{
		"Symposium on Radiology of the Pneumoconioses", "PET Imaging Conference -- June 2003", // the seed's credits
		"Total Overall Category 1 Credits</dt><dd>30.25", "Total Category 1 Subspecialties Credits</dt><dd>16.25", // its totals
		"American College of Radiology</strong> (ACR), member A-1:", "could not be reached", // the society that failed
		`<label for="from">`, `<label for="board">`,
		// the chart, in words for screen readers and as bars
		`aria-label="Credits per year. 2001: CME 0.00, MOC 17.00; 2003: CME 13.25, MOC 13.25."`, `<rect x="`, `<title>2003 CME: 13.25</title>`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	if p.status != 200 || t.Failed() {
		t.Fatalf("transcript: %d\n%s", p.status, p.body)
	}

	p = e.get(t, c, "/transcript?from=2003-01-01&to=2003-12-31&type=CME")
	if p.status != 200 || strings.Contains(p.body, "Pneumoconioses") || !strings.Contains(p.body, "PET Imaging Conference") ||
		!strings.Contains(p.body, "Total Overall Category 1 Credits</dt><dd>13.25") || !strings.Contains(p.body, `value="2003-01-01"`) {
		t.Errorf("filtered transcript: %d\n%s", p.status, p.body)
	}
	// A bad date is shown beside its field, with what was typed kept.
	p = e.get(t, c, "/transcript?from=2003-13-45&type=CME")
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="from-error"`) || !strings.Contains(p.body, "Enter a date as YYYY-MM-DD") ||
		!strings.Contains(p.body, `value="2003-13-45"`) || !strings.Contains(p.body, `<option value="CME" selected>`) {
		t.Errorf("bad date: %d\n%s", p.status, p.body)
	}
	if p := e.get(t, c, "/transcript?board=%3Cscript%3E"); strings.Contains(p.body, "<script>") {
		t.Error("a board from the query is not escaped")
	}

	// Staff have no transcript.
	staff := e.client(t)
	e.post(t, staff, "/signin", signInForm("olga", "olga's long password"))
	if p := e.get(t, staff, "/transcript"); p.status != http.StatusForbidden || !strings.Contains(p.body, "not open to provider-staff") {
		t.Errorf("staff on the transcript: %d %s", p.status, p.body)
	}
}

// TestProgressPage: Jane's account reaches her registry record through her
// membership of a local society; she is a Practitioner under a 2026 plan
// of 10 units, and has entered one self-attested credit of 2.
func TestProgressPage(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	c := e.client(t)
	e.post(t, c, "/signin", signInForm("jane.accme", "jane's long password"))
	if p := e.get(t, c, "/progress"); p.status != 200 || !strings.Contains(p.body, "No credential role is recorded for you") {
		t.Fatalf("progress with no role: %d %s", p.status, p.body)
	}

	if _, err := e.store.Persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane()}); err != nil {
		t.Fatal(err)
	}
	ids, err := e.store.Plans.PersonsByIdentifier(ctx, "999902")
	if err != nil || len(ids) != 1 {
		t.Fatalf("Jane in the registry: %v, %v", ids, err)
	}
	person := ids[0]
	soc := &cmex.Society{Code: "SOC", Name: "Sandbox Society", Kind: cmex.SocietyLocal}
	if err := e.store.Societies.CreateSociety(ctx, soc); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Societies.AddMember(ctx, &cmex.Member{SocietyID: soc.ID, MemberID: "J-1", Username: "jane", GivenName: "Jane", FamilyName: "ACCME", PersonID: person}, "pw"); err != nil {
		t.Fatal(err)
	}
	jane, _ := e.store.Gateway.AccountByUsername(ctx, "jane.accme")
	if err := e.store.Gateway.SaveBinding(ctx, &cmex.Binding{AccountID: jane.ID, SocietyID: soc.ID, MemberID: "J-1"}); err != nil {
		t.Fatal(err)
	}
	plans := &cmex.Plans{Views: cmex.DefaultViews(), Roles: []cmex.RoleDefinition{{Role: "Practitioner", LearningPlans: []cmex.PlanDefinition{{
		Type: cmex.PlanMaintenance, Name: "Maintenance 2026", MinimumUnits: 1000,
		Cycle:      cmex.CycleDefinition{Start: cmex.MustParseDate("2026-01-01"), End: cmex.MustParseDate("2026-12-31")},
		TaskGroups: []cmex.TaskGroupDefinition{{Name: "AMA <Category 1>", RequiredUnits: 1000, Filter: cmex.CreditFilter{Certifications: []string{cmex.CreditAMA}}}},
	}}}}}
	if err := e.store.Plans.LoadPlans(ctx, plans); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Plans.SaveRoleInstance(ctx, &cmex.RoleInstance{PersonID: person, Role: "Practitioner", Label: "Internal Medicine", IsGranted: true,
		BeginDate: cmex.MustParseDate("2026-01-01")}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Gateway.AddSelfCredit(ctx, &cmex.SelfCredit{AccountID: jane.ID, CEU: cmex.CEU{Title: "Journal reading", Date: cmex.MustParseDate("2026-05-01"),
		Details: []cmex.CEUDetail{{Type: cmex.DetailCME, Credits: 200, Category: cmex.CategoryAMA1}}}}); err != nil {
		t.Fatal(err)
	}
	p := e.get(t, c, "/progress")
	for _, want := range []string{
		"Practitioner: Internal Medicine", "Maintenance 2026", "2026-01-01 to 2026-12-31",
		"60 days left", // 2 November to 31 December, both counted
		"Granted 0.00 of 10.00 required (2.00 requested)", `<progress id="plan-`, `value="0"`,
		"AMA &lt;Category 1&gt;", "Granted 0.00, requested 2.00, required 10.00",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("progress lacks %q", want)
		}
	}
	if p.status != 200 || t.Failed() {
		t.Fatalf("progress: %d\n%s", p.status, p.body)
	}
}

func TestBindAndUnbind(t *testing.T) {
	e := newEnv(t, false)
	if _, _, err := cmegateway.LoadExample(context.Background(), e.store.Societies); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	e.post(t, c, "/signin", signInForm("jane.accme", "jane's long password"))
	p := e.get(t, c, "/societies")
	if p.status != 200 || !strings.Contains(p.body, "not bound to any society yet") || !strings.Contains(p.body, `<option value="EXAMPLE"`) ||
		!strings.Contains(p.body, `<label for="society-password">`) {
		t.Fatalf("societies: %d %s", p.status, p.body)
	}
	// The society refuses a wrong password: its message beside the field,
	// the username kept, the password not.
	p = e.post(t, c, "/societies/bind", url.Values{"society": {"EXAMPLE"}, "username": {"NedBaker"}, "password": {"wrong-password-123"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="password-error"`) || !strings.Contains(p.body, "User record not found") ||
		!strings.Contains(p.body, `value="NedBaker"`) || strings.Contains(p.body, "wrong-password-123") || !strings.Contains(p.body, `<option value="EXAMPLE" selected>`) {
		t.Fatalf("wrong society password: %d %s", p.status, p.body)
	}
	if p := e.post(t, c, "/societies/bind", url.Values{"society": {""}, "username": {""}, "password": {""}}); p.status != http.StatusBadRequest ||
		!strings.Contains(p.body, "Choose a society.") || !strings.Contains(p.body, "Enter your username at the society.") {
		t.Errorf("empty bind form: %d %s", p.status, p.body)
	}
	p = e.post(t, c, "/societies/bind", url.Values{"society": {"EXAMPLE"}, "username": {"NedBaker"}, "password": {cmegateway.ExamplePassword}})
	if p.status != http.StatusSeeOther || p.location != "/societies?done=bound" {
		t.Fatalf("bind: %d %q %s", p.status, p.location, p.body)
	}
	p = e.get(t, c, p.location)
	if !strings.Contains(p.body, "Your society account is bound") || !strings.Contains(p.body, "<strong>EXAMPLE</strong>, member 01234567") {
		t.Fatalf("after binding: %s", p.body)
	}
	if p := e.get(t, c, "/transcript"); !strings.Contains(p.body, "Symposium on Radiology of the Pneumoconioses") {
		t.Errorf("the bound society's credits are not on the transcript")
	}
	p = e.post(t, c, "/societies/unbind", url.Values{"society": {"EXAMPLE"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("unbind: %d %s", p.status, p.body)
	}
	if p := e.get(t, c, "/transcript"); strings.Contains(p.body, "Pneumoconioses") {
		t.Errorf("the unbound society's credits are still on the transcript")
	}
	if p := e.post(t, c, "/societies/unbind", url.Values{"society": {"EXAMPLE"}}); p.status != http.StatusNotFound || !strings.Contains(p.body, "not bound to that society") {
		t.Errorf("unbinding again: %d %s", p.status, p.body)
	}
	// Staff have no societies page.
	staff := e.client(t)
	e.post(t, staff, "/signin", signInForm("olga", "olga's long password"))
	if p := e.post(t, staff, "/societies/bind", url.Values{"society": {"EXAMPLE"}, "username": {"NedBaker"}, "password": {cmegateway.ExamplePassword}}); p.status != http.StatusForbidden {
		t.Errorf("staff binding: %d", p.status)
	}
}

// postMultipart sends the self-attested credit form with a file.
func (e *env) postMultipart(t *testing.T, c *http.Client, path string, fields map[string]string, fileName string, file []byte) page {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if fileName != "" {
		fw, _ := mw.CreateFormFile("certificate", fileName)
		fw.Write(file)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", e.srv.URL)
	return do(t, c, req)
}

func TestSelfAttestedCredits(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	e.post(t, c, "/signin", signInForm("jane.accme", "jane's long password"))
	p := e.get(t, c, "/self-credits")
	if p.status != 200 || !strings.Contains(p.body, "not entered any credit yet") || !strings.Contains(p.body, `enctype="multipart/form-data"`) ||
		!strings.Contains(p.body, `<label for="certificate">`) {
		t.Fatalf("self-credits page: %d %s", p.status, p.body)
	}
	good := map[string]string{"title": "Journal <reading>", "date": "2026-05-01", "type": "CME", "credits": "1.5", "category": "CAT1"}

	// Problems beside their fields, what was typed kept, nothing stored.
	bad := map[string]string{"title": "Journal <reading>", "date": "2027-01-01", "type": "CME", "credits": "lots", "category": "CAT1"}
	p = e.postMultipart(t, c, "/self-credits", bad, "", nil)
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="date-error"`) || !strings.Contains(p.body, "in the future") ||
		!strings.Contains(p.body, `id="credits-error"`) || !strings.Contains(p.body, `value="lots"`) || !strings.Contains(p.body, `value="Journal &lt;reading&gt;"`) {
		t.Fatalf("bad form: %d %s", p.status, p.body)
	}
	p = e.postMultipart(t, c, "/self-credits", good, "certificate.pdf", []byte("<html><script>alert(1)</script></html>"))
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "must be a PDF, PNG or JPEG file") || !strings.Contains(p.body, `value="2026-05-01"`) {
		t.Fatalf("a file that is not a certificate: %d %s", p.status, p.body)
	}
	p = e.postMultipart(t, c, "/self-credits", good, "big.pdf", append([]byte("%PDF-1.4\n"), make([]byte, cmex.MaxCertificateBytes+100<<10)...))
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "larger than 5 MB") {
		t.Fatalf("an oversized certificate: %d %.500s", p.status, p.body)
	}
	jane, _ := e.store.Gateway.AccountByUsername(context.Background(), "jane.accme")
	if list, _ := e.store.Gateway.SelfCredits(context.Background(), jane.ID); len(list) != 0 {
		t.Fatalf("refused forms stored %d credits", len(list))
	}

	pdf := []byte("%PDF-1.4\n% certificate of attendance\n%%EOF\n")
	p = e.postMultipart(t, c, "/self-credits", good, "attendance.pdf", pdf)
	if p.status != http.StatusSeeOther || p.location != "/self-credits?done=added" {
		t.Fatalf("add: %d %q %s", p.status, p.location, p.body)
	}
	p = e.get(t, c, p.location)
	m := regexp.MustCompile(`href="/self-credits/([0-9]+)/certificate">attendance.pdf</a>`).FindStringSubmatch(p.body)
	if m == nil || !strings.Contains(p.body, "Journal &lt;reading&gt;") || !strings.Contains(p.body, "CME CAT1: <strong>1.50</strong>") {
		t.Fatalf("after adding: %s", p.body)
	}
	p = e.get(t, c, "/self-credits/"+m[1]+"/certificate")
	if p.status != 200 || p.body != string(pdf) || p.header.Get("Content-Type") != "application/pdf" ||
		p.header.Get("Content-Disposition") != "attachment; filename=certificate-"+m[1]+".pdf" || p.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("certificate: %d %v", p.status, p.header)
	}
	// The transcript marks it self-attested.
	if p := e.get(t, c, "/transcript"); !strings.Contains(p.body, "Journal &lt;reading&gt;") || !strings.Contains(p.body, `<span class="tag">self-attested</span>`) {
		t.Errorf("the transcript does not mark the credit self-attested")
	}
	// Another physician sees neither the credit nor its certificate.
	if err := e.store.Gateway.CreateAccount(context.Background(), &cmex.Account{Username: "ned", GivenName: "Ned", FamilyName: "Baker"}, "ned's long password"); err != nil {
		t.Fatal(err)
	}
	ned := e.client(t)
	e.post(t, ned, "/signin", signInForm("ned", "ned's long password"))
	if p := e.get(t, ned, "/self-credits/"+m[1]+"/certificate"); p.status != http.StatusNotFound || strings.Contains(p.body, "%PDF") {
		t.Errorf("another physician's certificate: %d", p.status)
	}
	if p := e.post(t, ned, "/self-credits/"+m[1]+"/delete", nil); p.status != http.StatusNotFound {
		t.Errorf("another physician deleting: %d", p.status)
	}
	p = e.post(t, c, "/self-credits/"+m[1]+"/delete", nil)
	if p.status != http.StatusSeeOther {
		t.Fatalf("delete: %d %s", p.status, p.body)
	}
	if p := e.get(t, c, p.location); !strings.Contains(p.body, "The credit is deleted.") || strings.Contains(p.body, "attendance.pdf") {
		t.Errorf("after deleting: %s", p.body)
	}
}

func TestTranscriptPDFAndVerify(t *testing.T) {
	e := newEnv(t, false)
	e.bindJane(t)
	c := e.client(t)
	e.post(t, c, "/signin", signInForm("jane.accme", "jane's long password"))
	p := e.get(t, c, "/transcript.pdf")
	if p.status != 200 || p.header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(p.body, "%PDF-") ||
		!strings.Contains(p.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("transcript.pdf: %d %v %.20q", p.status, p.header, p.body)
	}
	text := cmextest.PDFText(t, []byte(p.body))
	for _, want := range []string{"Continuing Medical Education Transcript", "Jane ACCME", "account jane.accme",
		"Example Society (EXAMPLE), member 01234567", "American College of Radiology (ACR), member A-1 — could not be reached",
		"Symposium on Radiology of the Pneumoconioses", "PET Imaging Conference -- June 2003", "2003", "2001",
		"Total Overall Category 1 Credits", "30.25", "Total Category 1 Subspecialties Credits", "16.25"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF lacks %q", want)
		}
	}
	m := regexp.MustCompile(`/verify/([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no verification code in the PDF:\n%s", text)
	}

	// Anyone may verify it, signed in or not, and verifying asks no
	// society (issue 16): it compares with what this cmex holds.
	calls := e.remoteCalls.Load()
	if calls == 0 {
		t.Fatal("printing did not ask the remote society")
	}
	anyone := e.client(t)
	p = e.get(t, anyone, "/verify/"+m[1])
	if p.status != 200 || !strings.Contains(p.body, "for <strong>Jane ACCME</strong>") || !strings.Contains(p.body, "still holds exactly the credits") ||
		!strings.Contains(p.body, "listed 2 credits") || !strings.Contains(p.body, "American College of Radiology") {
		t.Fatalf("verify: %d %s", p.status, p.body)
	}
	jane, _ := e.store.Gateway.AccountByUsername(context.Background(), "jane.accme")
	if err := e.store.Gateway.AddSelfCredit(context.Background(), &cmex.SelfCredit{AccountID: jane.ID, CEU: cmex.CEU{Title: "Journal reading", Date: cmex.MustParseDate("2026-05-01"),
		Details: []cmex.CEUDetail{{Type: cmex.DetailCME, Credits: 100, Category: cmex.CategoryAMA1}}}}); err != nil {
		t.Fatal(err)
	}
	if p := e.get(t, anyone, "/verify/"+m[1]); p.status != 200 || !strings.Contains(p.body, "have changed since this transcript was printed") ||
		!strings.Contains(p.body, "the ledger now holds 3") {
		t.Errorf("verify after a change: %d %s", p.status, p.body)
	}
	if p := e.get(t, anyone, "/verify/0000-0000-0000"); p.status != http.StatusNotFound || !strings.Contains(p.body, "No transcript was printed with the code") {
		t.Errorf("an unknown code: %d %s", p.status, p.body)
	}
	if n := e.remoteCalls.Load(); n != calls {
		t.Errorf("verifying called the remote society %d times", n-calls)
	}
	if p := e.get(t, anyone, "/transcript.pdf"); p.status != http.StatusSeeOther {
		t.Errorf("the PDF without signing in: %d", p.status)
	}
}

// Provider staff see their own provider's activities and submissions, and
// nobody else's; only a provider admin may retry a delivery; physicians
// are refused.
func TestProviderPages(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	p, act := e.store.MOCActivity(t, "moc-1")
	if _, err := e.store.Persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.Learners.SaveLearnerReport(ctx, cmex.LearnerChange{Report: cmextest.JaneReport(act.ID, "2025-06-01", "j"), By: p}); err != nil {
		t.Fatal(err, cmex.ErrorProblems(err))
	}
	orgB, err := e.store.Organizations.FindOrganizationByProviderID(ctx, cmextest.ProviderB)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Portal.CreateStaff(ctx, &cmex.Staff{Username: "bob", Name: "Bob B", Role: cmex.RoleProviderAdmin, Organization: orgB.ID}, "bob's long password"); err != nil {
		t.Fatal(err)
	}

	olga := e.client(t)
	e.post(t, olga, "/signin", signInForm("olga", "olga's long password"))
	pg := e.get(t, olga, "/provider/activities")
	if pg.status != 200 || !strings.Contains(pg.body, "Activities of AAA Test Organization") || !strings.Contains(pg.body, act.ID.String()) {
		t.Fatalf("activities: %d %s", pg.status, pg.body)
	}
	pg = e.get(t, olga, "/provider/submissions")
	if pg.status != 200 || strings.Count(pg.body, "ccid:aaatestorganization.org:j-") != 3 || !strings.Contains(pg.body, "Accepted: cmex holds it") {
		t.Fatalf("submissions: %d %s", pg.status, pg.body)
	}
	if pg := e.get(t, olga, "/provider/submissions?credit=ccid:aaatestorganization.org:j-2"); strings.Count(pg.body, "reported ") != 1 ||
		!strings.Contains(pg.body, "ccid:aaatestorganization.org:j-2<br>") {
		t.Errorf("search by CreditID: %s", pg.body)
	}
	if pg := e.get(t, olga, "/provider/submissions?from=2025-07-01"); !strings.Contains(pg.body, "No submission matches") {
		t.Errorf("search by date: %s", pg.body)
	}
	if pg := e.get(t, olga, "/provider/submissions?activity=12&from=June"); pg.status != http.StatusBadRequest ||
		!strings.Contains(pg.body, "nine digits") || !strings.Contains(pg.body, `id="from-error"`) || !strings.Contains(pg.body, `value="June"`) {
		t.Errorf("bad search: %d %s", pg.status, pg.body)
	}
	if pg := e.get(t, olga, "/provider/deliveries"); pg.status != 200 || strings.Contains(pg.body, "/retry") {
		t.Errorf("deliveries for provider staff: %d", pg.status)
	}
	if pg := e.post(t, olga, "/provider/deliveries/1/retry", nil); pg.status != http.StatusForbidden {
		t.Errorf("provider staff retrying: %d", pg.status)
	}

	// The xAPI statements the rules refused, with their PARS codes.
	orgA, err := e.store.Organizations.FindOrganizationByProviderID(ctx, cmextest.ProviderA)
	if err != nil {
		t.Fatal(err)
	}
	refusal := &cmex.XAPIOutcome{Organization: orgA.ID, StatementID: "6a3e1b52-0000-4000-8000-000000000009", Outcome: cmex.OutcomeRejected, At: e.now,
		Report:   &cmex.LearnerReport{ActivityID: act.ID, Learner: cmex.LearnerIdentity{GivenName: "Jane", FamilyName: "ACCME"}},
		Problems: cmex.Problems{cmex.RuleDuplicateCreditID.Problem(cmex.Args{})}}
	if err := e.store.XAPIProfiles.PutXAPIOutcome(ctx, refusal); err != nil {
		t.Fatal(err)
	}
	if pg := e.get(t, olga, "/provider/xapi"); pg.status != 200 || !strings.Contains(pg.body, refusal.StatementID) ||
		!strings.Contains(pg.body, `<span class="code">603</span>`) || !strings.Contains(pg.body, "activity "+act.ID.String()) {
		t.Errorf("xAPI refusals: %d %s", pg.status, pg.body)
	}

	// Another provider's admin sees none of it.
	bob := e.client(t)
	e.post(t, bob, "/signin", signInForm("bob", "bob's long password"))
	if pg := e.get(t, bob, "/provider/xapi"); pg.status != 200 || strings.Contains(pg.body, refusal.StatementID) || !strings.Contains(pg.body, "No statement has been refused") {
		t.Errorf("another provider's xAPI refusals: %d %s", pg.status, pg.body)
	}
	if pg := e.get(t, bob, "/provider/submissions"); pg.status != 200 || !strings.Contains(pg.body, "Second Sandbox Organization") || strings.Contains(pg.body, "ccid:aaatestorganization.org") {
		t.Errorf("another provider's submissions: %d %s", pg.status, pg.body)
	}
	if pg := e.get(t, bob, "/provider/activities"); strings.Contains(pg.body, act.ID.String()) {
		t.Errorf("another provider's activities show")
	}
	if pg := e.post(t, bob, "/provider/deliveries/1/retry", nil); pg.status != http.StatusConflict {
		t.Errorf("retrying a delivery that is not the provider's: %d", pg.status)
	}

	jane := e.client(t)
	e.post(t, jane, "/signin", signInForm("jane.accme", "jane's long password"))
	for _, path := range []string{"/provider/activities", "/provider/submissions", "/provider/deliveries", "/provider/xapi"} {
		if pg := e.get(t, jane, path); pg.status != http.StatusForbidden {
			t.Errorf("a physician on %s: %d", path, pg.status)
		}
	}
}

// A remote society's credits are verified against the last answer it
// gave this cmex: the same answer matches; a new one that differs does
// not; and the page says which answer it compared with.
func TestVerifyAgainstHeldAnswers(t *testing.T) {
	e := newEnv(t, false)
	e.bindJane(t)
	ctx := context.Background()
	acr, err := e.store.Societies.SocietyByCode(ctx, "ACR")
	if err != nil {
		t.Fatal(err)
	}
	answer := func(title string) {
		t.Helper()
		c := &cmex.Customer{ID: "A-1", GivenName: "Jane", FamilyName: "ACCME", CEUs: []cmex.CEU{{Sponsor: "ACR", Title: title, Date: cmex.MustParseDate("2026-03-01"),
			Details: []cmex.CEUDetail{{Type: cmex.DetailCME, Credits: 200, Category: cmex.CategoryAMA1}}}}}
		if err := e.store.Gateway.StoreOrder(ctx, &cmex.CachedOrder{SocietyID: acr.ID, MemberID: "A-1", Customer: c, FetchedAt: e.store.Clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	answer("Thoracic Imaging Review")
	c := e.client(t)
	e.post(t, c, "/signin", signInForm("jane.accme", "jane's long password"))
	text := cmextest.PDFText(t, []byte(e.get(t, c, "/transcript.pdf").body))
	if !strings.Contains(text, "Thoracic Imaging Review") {
		t.Fatalf("the PDF lacks the remote society's credit:\n%s", text)
	}
	code := regexp.MustCompile(`[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(text)
	p := e.get(t, e.client(t), "/verify/"+code)
	if !strings.Contains(p.body, "still holds exactly the credits") || !strings.Contains(p.body, "American College of Radiology (answered") {
		t.Errorf("verify with the answer printed: %d %s", p.status, p.body)
	}
	answer("Thoracic Imaging Review, revised")
	if p := e.get(t, e.client(t), "/verify/"+code); !strings.Contains(p.body, "have changed since this transcript was printed") {
		t.Errorf("verify after the society's answer changed: %d %s", p.status, p.body)
	}
}

// The PDF's verification address is -public-url's, whatever Host the
// request names; without one it is the path alone, unless the handler
// may believe the Host (the sandbox).
func TestTranscriptPDFAddress(t *testing.T) {
	for _, tc := range []struct {
		name      string
		publicURL string
		hostURL   bool
		want      string
	}{
		{"public URL", "https://cme.example.org/", false, "https://cme.example.org/verify/"},
		{"no public URL", "", false, "· /verify/"},
		{"sandbox", "", true, "http://evil.example/verify/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, false)
			e.h.PublicURL, e.h.HostURL = tc.publicURL, tc.hostURL
			c := e.client(t)
			if sp := e.post(t, c, "/signin", signInForm("jane.accme", "jane's long password")); sp.status != 303 {
				t.Fatalf("sign in: %d", sp.status)
			}
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/transcript.pdf", nil)
			req.Host = "evil.example"
			u, _ := url.Parse(e.srv.URL)
			for _, ck := range c.Jar.Cookies(u) { // the jar would look them up by the forged Host
				req.AddCookie(ck)
			}
			p := do(t, &http.Client{Transport: c.Transport}, req)
			if p.status != 200 {
				t.Fatalf("transcript.pdf: %d %v", p.status, p.header)
			}
			text := cmextest.PDFText(t, []byte(p.body))
			if !strings.Contains(text, tc.want) || !tc.hostURL && strings.Contains(text, "evil.example") {
				t.Errorf("the PDF's verification line, want %q:\n%s", tc.want, text)
			}
		})
	}
}

// A certificate uploaded as evil.html that is really a PNG downloads as a
// PNG named by its id and type, never with the uploaded name or its
// extension (issue 16).
func TestCertificateFileName(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	e.post(t, c, "/signin", signInForm("jane.accme", "jane's long password"))
	png := []byte("\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>")
	form := map[string]string{"title": "Grand rounds", "date": "2026-03-01", "type": "CME", "credits": "1", "category": "CAT1"}
	p := e.postMultipart(t, c, "/self-credits", form, "evil.html", png)
	if p.status != http.StatusSeeOther {
		t.Fatalf("add: %d %s", p.status, p.body)
	}
	p = e.get(t, c, "/self-credits")
	m := regexp.MustCompile(`href="/self-credits/([0-9]+)/certificate"`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no certificate link: %s", p.body)
	}
	p = e.get(t, c, "/self-credits/"+m[1]+"/certificate")
	cd := p.header.Get("Content-Disposition")
	if p.status != 200 || p.header.Get("Content-Type") != "image/png" || cd != "attachment; filename=certificate-"+m[1]+".png" ||
		strings.Contains(cd, "html") || p.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("evil.html that is a PNG: %d %v", p.status, p.header)
	}
}
