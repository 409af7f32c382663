package portal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmegateway"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/planfile"
	"github.com/cmexhub/cmex/internal/portal"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// adminEnv is the portal with the operator's console wired as cmd/cmex
// wires it, and an admin account, root.
func adminEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, false)
	e.h.Societies = cmex.TargetPolicy{}.Societies(e.store.Societies)
	e.h.Operator = portal.Operator{Users: e.store.Users, APIKeys: sqlstore.NewAPIKeyService(e.store.DB), Audit: sqlstore.NewAuditService(e.store.DB),
		Calls: sqlstore.NewSocietyCallService(e.store.DB),
		ReadPlans: func(r io.Reader) (*cmex.Plans, []cmex.PlanProblem, error) {
			p, err := planfile.Read(r)
			if pe, ok := errors.AsType[*planfile.Error](err); ok {
				return nil, pe.Problems, nil
			}
			return p, nil, err
		}}
	if err := e.store.Portal.CreateStaff(context.Background(), &cmex.Staff{Username: "root", Name: "Rita Root", Role: cmex.RoleAdmin}, "root's long password"); err != nil {
		t.Fatal(err)
	}
	return e
}

// signIn returns a browser signed in as user.
func (e *env) signIn(t *testing.T, user, password string) *http.Client {
	t.Helper()
	c := e.client(t)
	if p := e.post(t, c, "/signin", signInForm(user, password)); p.status != http.StatusSeeOther {
		t.Fatalf("sign in as %s: %d %s", user, p.status, p.body)
	}
	return c
}

// auditCount is how many entries the audit log holds.
func (e *env) auditCount(t *testing.T) int { return cmextest.Count(t, e.store.DB, "audit_log") }

// adminGets and adminPosts are every page and action of the console.
var (
	adminGets = []string{"/admin/providers", "/admin/providers/1234567", "/admin/outbox", "/admin/deliveries", "/admin/deliveries?state=rejected",
		"/admin/audit", "/admin/plans", "/admin/societies"}
	adminPosts = []struct {
		path string
		form url.Values
	}{
		{"/admin/providers", url.Values{"provider": {"5555555"}, "name": {"Mallory's"}}},
		{"/admin/providers/1234567/users", url.Values{"username": {"mallory@example.org"}}},
		{"/admin/providers/1234567/users/rotate", url.Values{"username": {"webserviceuser@yourdomain.org"}}},
		{"/admin/providers/1234567/users/disable", url.Values{"username": {"webserviceuser@yourdomain.org"}}},
		{"/admin/providers/1234567/users/enable", url.Values{"username": {"webserviceuser@yourdomain.org"}}},
		{"/admin/providers/1234567/keys", url.Values{"name": {"mallory"}}},
		{"/admin/providers/1234567/keys/rotate", url.Values{"name": {"lms"}}},
		{"/admin/providers/1234567/keys/disable", url.Values{"name": {"lms"}}},
		{"/admin/providers/1234567/keys/enable", url.Values{"name": {"lms"}}},
		{"/admin/deliveries/retry", url.Values{"state": {"rejected"}}},
		{"/admin/deliveries/cancel", url.Values{"state": {"pending"}}},
		{"/admin/plans", url.Values{"op": {"load"}}},
		{"/admin/societies", url.Values{"code": {"EVIL"}, "name": {"Evil"}, "bindingUrl": {"https://evil.invalid/b"}, "orderUrl": {"https://evil.invalid/o"}}},
	}
)

// TestAdminOnlyForAdmins: a physician and provider staff are refused
// every page and action of the console, which change nothing; signed out,
// they lead to the sign-in page.
func TestAdminOnlyForAdmins(t *testing.T) {
	e := adminEnv(t)
	ctx := context.Background()
	org, _ := e.store.Organizations.FindOrganizationByProviderID(ctx, cmextest.ProviderA)
	if _, _, err := sqlstore.NewAPIKeyService(e.store.DB).CreateAPIKey(ctx, org.ID, "lms"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Portal.CreateStaff(ctx, &cmex.Staff{Username: "pam", Name: "Pam Admin", Role: cmex.RoleProviderAdmin, Organization: org.ID}, "pam's long password"); err != nil {
		t.Fatal(err)
	}
	before := e.auditCount(t)
	for _, who := range []struct{ user, password string }{{"jane.accme", "jane's long password"}, {"olga", "olga's long password"}, {"pam", "pam's long password"}} {
		c := e.signIn(t, who.user, who.password)
		for _, path := range adminGets {
			if p := e.get(t, c, path); p.status != http.StatusForbidden || !strings.Contains(p.body, "Not for this account") {
				t.Errorf("%s GET %s: %d", who.user, path, p.status)
			}
		}
		for _, a := range adminPosts {
			if p := e.post(t, c, a.path, a.form); p.status != http.StatusForbidden {
				t.Errorf("%s POST %s: %d", who.user, a.path, p.status)
			}
		}
	}
	anon := e.client(t)
	for _, path := range adminGets {
		if p := e.get(t, anon, path); p.status != http.StatusSeeOther || p.location != "/signin" {
			t.Errorf("signed out, GET %s: %d %q", path, p.status, p.location)
		}
	}
	for _, a := range adminPosts {
		if p := e.post(t, anon, a.path, a.form); p.status != http.StatusSeeOther || p.location != "/signin" {
			t.Errorf("signed out, POST %s: %d %q", a.path, p.status, p.location)
		}
	}
	if n := e.auditCount(t); n != before {
		t.Errorf("the refused actions changed something: %d audit entries, were %d", n, before)
	}
	if _, err := e.store.Users.Authenticate(ctx, cmextest.ProviderA, "webserviceuser@yourdomain.org", cmextest.Password); err != nil {
		t.Errorf("the sandbox user after the refused actions: %v", err)
	}
	// The admin reaches every page, and a post from another site is
	// refused even for her.
	root := e.signIn(t, "root", "root's long password")
	for _, path := range adminGets {
		if p := e.get(t, root, path); p.status != http.StatusOK {
			t.Errorf("admin GET %s: %d", path, p.status)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/admin/providers/1234567/users/disable", strings.NewReader("username=webserviceuser%40yourdomain.org"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := do(t, root, req); p.status != http.StatusForbidden {
		t.Errorf("a cross-site post: %d", p.status)
	}
	if n := e.auditCount(t); n != before {
		t.Errorf("the cross-site post changed something")
	}
}

// secretRE finds the secret a page shows once.
var secretRE = regexp.MustCompile(`<code class="code" id="secret">([^<]+)</code>`)

func TestAdminProvidersUsersAndKeys(t *testing.T) {
	e := adminEnv(t)
	ctx := context.Background()
	c := e.signIn(t, "root", "root's long password")
	orgs := cmextest.Count(t, e.store.DB, "organizations")
	for _, bad := range []struct {
		form  url.Values
		field string
		want  string
	}{
		{url.Values{"provider": {"12ab"}, "name": {"X"}}, "provider-error", "1 to 10 digits"},
		{url.Values{"provider": {"7777777"}, "name": {""}}, "name-error", "Enter the provider"},
		{url.Values{"provider": {string(cmextest.ProviderA)}, "name": {"Again"}}, "provider-error", "exists already"},
	} {
		p := e.post(t, c, "/admin/providers", bad.form)
		if p.status < 400 || !regexp.MustCompile(`id="`+bad.field+`" class="field-error">[^<]*`+bad.want).MatchString(p.body) ||
			!strings.Contains(p.body, `value="`+bad.form.Get("provider")+`"`) {
			t.Errorf("%v: %d\n%s", bad.form, p.status, p.body)
		}
	}
	if n := cmextest.Count(t, e.store.DB, "organizations"); n != orgs {
		t.Fatalf("refused providers were stored: %d organizations, were %d", n, orgs)
	}
	p := e.post(t, c, "/admin/providers", url.Values{"provider": {"7777777"}, "name": {"<b>Seven</b> & Co"}})
	if p.status != http.StatusSeeOther || p.location != "/admin/providers/7777777?done=added" {
		t.Fatalf("adding a provider: %d %q %s", p.status, p.location, p.body)
	}
	p = e.get(t, c, p.location)
	if p.status != 200 || !strings.Contains(p.body, "&lt;b&gt;Seven&lt;/b&gt; &amp; Co") || strings.Contains(p.body, "<b>Seven") {
		t.Fatalf("the new provider's page (escaped): %d\n%s", p.status, p.body)
	}
	if p := e.get(t, c, "/admin/providers/9999999"); p.status != http.StatusNotFound {
		t.Errorf("no such provider: %d", p.status)
	}
	if p := e.get(t, c, "/admin/providers/x'y"); p.status != http.StatusNotFound {
		t.Errorf("a malformed provider id: %d", p.status)
	}

	// A user, its password shown once.
	if p := e.post(t, c, "/admin/providers/7777777/users", url.Values{"username": {" "}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="username-error"`) {
		t.Errorf("an empty username: %d", p.status)
	}
	p = e.post(t, c, "/admin/providers/7777777/users", url.Values{"username": {"lms@seven.example"}})
	m := secretRE.FindStringSubmatch(p.body)
	if p.status != 200 || m == nil || len(m[1]) < 20 || p.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("adding a user: %d %v\n%s", p.status, p.header, p.body)
	}
	first := m[1]
	if _, err := e.store.Users.Authenticate(ctx, "7777777", "lms@seven.example", first); err != nil {
		t.Fatalf("the password shown: %v", err)
	}
	if p := e.post(t, c, "/admin/providers/7777777/users", url.Values{"username": {"LMS@seven.example"}}); p.status != http.StatusConflict || !strings.Contains(p.body, "has a user of this name") {
		t.Errorf("the same user again: %d", p.status)
	}
	if p := e.get(t, c, "/admin/providers/7777777"); strings.Contains(p.body, first) || !strings.Contains(p.body, "lms@seven.example") {
		t.Errorf("the password is shown again, or the user is not listed")
	}
	// Rotated: the old password is refused at once (after being remembered).
	p = e.post(t, c, "/admin/providers/7777777/users/rotate", url.Values{"username": {"lms@seven.example"}})
	m = secretRE.FindStringSubmatch(p.body)
	if p.status != 200 || m == nil || m[1] == first {
		t.Fatalf("rotating: %d\n%s", p.status, p.body)
	}
	if _, err := e.store.Users.Authenticate(ctx, "7777777", "lms@seven.example", first); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("the old password after rotating: %v", err)
	}
	if _, err := e.store.Users.Authenticate(ctx, "7777777", "lms@seven.example", m[1]); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if p := e.post(t, c, "/admin/providers/7777777/users/rotate", url.Values{"username": {"nobody"}}); p.status != http.StatusNotFound {
		t.Errorf("rotating no one: %d", p.status)
	}
	// Disabled, then enabled.
	p = e.post(t, c, "/admin/providers/7777777/users/disable", url.Values{"username": {"lms@seven.example"}})
	if p.status != http.StatusSeeOther || p.location != "/admin/providers/7777777?done=user-disabled" {
		t.Fatalf("disabling: %d %q", p.status, p.location)
	}
	if _, err := e.store.Users.Authenticate(ctx, "7777777", "lms@seven.example", m[1]); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("a disabled user: %v", err)
	}
	if p := e.get(t, c, p.location); !strings.Contains(p.body, "The user is disabled") || !strings.Contains(p.body, `action="/admin/providers/7777777/users/enable"`) {
		t.Errorf("the page after disabling:\n%s", p.body)
	}
	e.post(t, c, "/admin/providers/7777777/users/enable", url.Values{"username": {"lms@seven.example"}})
	if _, err := e.store.Users.Authenticate(ctx, "7777777", "lms@seven.example", m[1]); err != nil {
		t.Errorf("enabled again: %v", err)
	}

	// A key, its token shown once; rotated; disabled.
	keys := sqlstore.NewAPIKeyService(e.store.DB)
	p = e.post(t, c, "/admin/providers/7777777/keys", url.Values{"name": {"lms"}})
	m = secretRE.FindStringSubmatch(p.body)
	if p.status != 200 || m == nil || !strings.HasPrefix(m[1], "cmex_") {
		t.Fatalf("adding a key: %d\n%s", p.status, p.body)
	}
	if _, err := keys.AuthenticateAPIKey(ctx, m[1]); err != nil {
		t.Fatal(err)
	}
	p = e.post(t, c, "/admin/providers/7777777/keys/rotate", url.Values{"name": {"lms"}})
	m2 := secretRE.FindStringSubmatch(p.body)
	if m2 == nil || m2[1] == m[1] {
		t.Fatalf("rotating a key: %d\n%s", p.status, p.body)
	}
	if _, err := keys.AuthenticateAPIKey(ctx, m[1]); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("the old token: %v", err)
	}
	e.post(t, c, "/admin/providers/7777777/keys/disable", url.Values{"name": {"lms"}})
	if _, err := keys.AuthenticateAPIKey(ctx, m2[1]); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("a disabled key: %v", err)
	}
	if p := e.post(t, c, "/admin/providers/7777777/keys", url.Values{"name": {"lms"}}); p.status != http.StatusConflict || !strings.Contains(p.body, `id="keyname-error"`) {
		t.Errorf("the same key name again: %d", p.status)
	}
	// The list of providers counts them.
	if p := e.get(t, c, "/admin/providers"); !regexp.MustCompile(`(?s)7777777</a>.*?<td>1</td>\s*<td>1 <span class="tag warn">1 disabled</span>`).MatchString(p.body) {
		t.Errorf("the providers' list:\n%s", p.body)
	}
	// Each change is in the audit log, as the admin's.
	es, _ := sqlstore.NewAuditService(e.store.DB).AuditLog(ctx, cmex.AuditFilter{Actor: "portal:root"})
	var got []string
	for _, en := range es {
		got = append(got, en.Action)
	}
	want := "organization.add web-service-user.add web-service-user.password web-service-user.disable web-service-user.enable api-key.add api-key.rotate api-key.disable"
	if strings.Join(got, " ") != want {
		t.Errorf("audit log:\n%v\nwant\n%s", got, want)
	}
}

// TestAdminBulkRetry: the outbox shows each destination's failures; the
// rejected deliveries of one destination are retried at once; a filter
// with problems is refused beside its fields and changes nothing.
func TestAdminBulkRetry(t *testing.T) {
	e := adminEnv(t)
	ctx := context.Background()
	p, act := e.store.MOCActivity(t, "bulk-1")
	if _, err := e.store.Persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane()}); err != nil {
		t.Fatal(err)
	}
	hook := &cmex.Destination{OrganizationID: p.Organization.ID, Name: "Board <hook>", Kind: cmex.DestWebhook, URL: "https://hooks.example/cmex", Enabled: true,
		Secrets: cmex.DestinationSecrets{WebhookSecret: "whsec"}}
	if err := e.store.Deliveries.CreateDestination(ctx, hook); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.Learners.SaveLearnerReport(ctx, cmex.LearnerChange{Report: cmextest.JaneReport(act.ID, "2025-06-01", "bulk"), By: p, Source: "test"}); err != nil {
		t.Fatal(err, cmex.ErrorProblems(err))
	}
	now := e.store.Clock.Now()
	claimed, _ := e.store.Deliveries.ClaimDeliveries(ctx, "w", now, time.Minute, 10)
	for _, d := range claimed {
		o := cmex.Outcome{Result: cmex.DeliveryRejected, Error: "refused", Codes: []cmex.RemoteCode{{Code: "E42", Message: "<unknown> learner"}}}
		if err := e.store.Deliveries.CompleteAttempt(ctx, d.ID, "w", o, now, now); err != nil {
			t.Fatal(err)
		}
	}
	if len(claimed) != 3 {
		t.Fatalf("%d deliveries", len(claimed))
	}
	c := e.signIn(t, "root", "root's long password")
	out := e.get(t, c, "/admin/outbox")
	rejected := fmt.Sprintf(`/admin/deliveries?destination=%d&amp;state=rejected`, hook.ID)
	if out.status != 200 || !strings.Contains(out.body, "Board &lt;hook&gt;") || !strings.Contains(out.body, rejected+`" class="warn">3</a>`) {
		t.Fatalf("the outbox: %d\n%s", out.status, out.body)
	}
	list := e.get(t, c, strings.ReplaceAll(rejected, "&amp;", "&"))
	if list.status != 200 || !strings.Contains(list.body, "Retry these 3") || strings.Contains(list.body, "Cancel these") ||
		!strings.Contains(list.body, "&lt;unknown&gt; learner") || strings.Count(list.body, `<span class="code">E42</span>`) != 3 {
		t.Fatalf("the rejected deliveries: %d\n%s", list.status, list.body)
	}
	before := e.auditCount(t)
	for _, bad := range []struct {
		form  url.Values
		field string
	}{
		{url.Values{"destination": {fmt.Sprint(hook.ID)}}, "state-error"},
		{url.Values{"destination": {fmt.Sprint(hook.ID)}, "state": {"delivered"}}, "state-error"},
		{url.Values{"destination": {"99999"}, "state": {"rejected"}}, "destination-error"},
		{url.Values{"destination": {fmt.Sprint(hook.ID)}, "state": {"rejected"}, "since": {"yesterday"}}, "since-error"},
		{url.Values{"destination": {fmt.Sprint(hook.ID)}, "state": {"rejected"}, "since": {"2026-11-03"}, "until": {"2026-11-01"}}, "until-error"},
	} {
		if p := e.post(t, c, "/admin/deliveries/retry", bad.form); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="`+bad.field+`"`) {
			t.Errorf("%v: %d\n%s", bad.form, p.status, p.body)
		}
	}
	if p := e.post(t, c, "/admin/deliveries/cancel", url.Values{"destination": {fmt.Sprint(hook.ID)}, "state": {"rejected"}}); p.status != http.StatusBadRequest {
		t.Errorf("cancelling rejected ones: %d", p.status)
	}
	if n := e.auditCount(t); n != before {
		t.Fatalf("refused bulk actions changed something")
	}
	res := e.post(t, c, "/admin/deliveries/retry", url.Values{"destination": {fmt.Sprint(hook.ID)}, "state": {"rejected"}})
	if res.status != http.StatusSeeOther || !strings.Contains(res.location, "done=retried") || !strings.Contains(res.location, "n=3") {
		t.Fatalf("bulk retry: %d %q", res.status, res.location)
	}
	if p := e.get(t, c, res.location); !strings.Contains(p.body, "3 deliveries will be sent again shortly") || !strings.Contains(p.body, "No delivery matches") {
		t.Errorf("after the retry:\n%s", p.body)
	}
	for _, d := range claimed {
		got, _ := e.store.Deliveries.Delivery(ctx, 0, d.ID)
		if got.State != cmex.DeliveryPending {
			t.Errorf("delivery %d after the bulk retry: %s", d.ID, got.State)
		}
	}
	es, _ := sqlstore.NewAuditService(e.store.DB).AuditLog(ctx, cmex.AuditFilter{Action: "delivery.retry", Actor: "portal:root"})
	if len(es) != 3 {
		t.Errorf("%d retry entries, want 3", len(es))
	}
	// Pending now: they may be cancelled at once.
	if p := e.get(t, c, fmt.Sprintf("/admin/deliveries?destination=%d&state=pending", hook.ID)); !strings.Contains(p.body, "Cancel these 3") {
		t.Errorf("pending ones offer no cancel:\n%s", p.body)
	}
	if p := e.get(t, c, "/admin/deliveries?state=bogus&since=2026-13-01"); p.status != http.StatusBadRequest ||
		!strings.Contains(p.body, `id="state-error"`) || !strings.Contains(p.body, `id="since-error"`) {
		t.Errorf("a bad filter: %d", p.status)
	}
}

func TestAdminAuditSearch(t *testing.T) {
	e := adminEnv(t)
	c := e.signIn(t, "root", "root's long password")
	e.post(t, c, "/admin/providers", url.Values{"provider": {"7777777"}, "name": {"Seven"}})
	p := e.get(t, c, "/admin/audit?actor=portal%3Aroot&action=organization.")
	if p.status != 200 || strings.Count(p.body, `<span class="code">organization.add</span>`) != 1 || !strings.Contains(p.body, "7777777") {
		t.Fatalf("search: %d\n%s", p.status, p.body)
	}
	if p := e.get(t, c, "/admin/audit?subject=7777777&since=2026-11-02&until=2026-11-02"); strings.Count(p.body, `<span class="code">organization.add</span>`) != 1 {
		t.Errorf("by subject and day:\n%s", p.body)
	}
	if p := e.get(t, c, "/admin/audit?subject=7777777&until=2026-11-01"); !strings.Contains(p.body, "No entry matches") {
		t.Errorf("before the change:\n%s", p.body)
	}
	// Times of day, in UTC: the change was made at 10:00.
	if p := e.get(t, c, "/admin/audit?subject=7777777&since=2026-11-02T09:59&until=2026-11-02T10:01"); strings.Count(p.body, `<span class="code">organization.add</span>`) != 1 {
		t.Errorf("between 09:59 and 10:01:\n%s", p.body)
	}
	if p := e.get(t, c, "/admin/audit?subject=7777777&until=2026-11-02T10:00"); !strings.Contains(p.body, "No entry matches") {
		t.Errorf("before 10:00:\n%s", p.body)
	}
	if p := e.get(t, c, "/admin/audit?until=2026-11-02T25:00"); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="until-error"`) {
		t.Errorf("a bad time: %d", p.status)
	}
	if p := e.get(t, c, "/admin/audit?since=2026-02-30"); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="since-error"`) || !strings.Contains(p.body, `value="2026-02-30"`) {
		t.Errorf("a bad date: %d", p.status)
	}
	// Paging: more than a page of entries, the newest first.
	for i := range 120 {
		if err := e.store.Organizations.CreateOrganization(context.Background(), &cmex.Organization{ProviderID: cmex.ProviderID(fmt.Sprint(8000000 + i)), Name: "P"}); err != nil {
			t.Fatal(err)
		}
	}
	p = e.get(t, c, "/admin/audit?action=organization.add")
	older := regexp.MustCompile(`href="/admin/audit\?([^"]+)" rel="next"`).FindStringSubmatch(p.body)
	if older == nil || strings.Count(p.body, "<tr>")-1 != 100 || !strings.Contains(p.body, "8000119") {
		t.Fatalf("the first page: %d rows\n%.2000s", strings.Count(p.body, "<tr>")-1, p.body)
	}
	p = e.get(t, c, "/admin/audit?"+strings.ReplaceAll(older[1], "&amp;", "&"))
	if strings.Contains(p.body, "8000119") || !strings.Contains(p.body, "8000000") || strings.Contains(p.body, `rel="next"`) {
		t.Errorf("the second page: %v %v %v", strings.Contains(p.body, "8000119"), strings.Contains(p.body, "8000000"), strings.Contains(p.body, `rel="next"`))
	}
}

// upload posts a plan file to the plans page.
func (e *env) upload(t *testing.T, c *http.Client, op string, file []byte) page {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("op", op)
	fw, _ := mw.CreateFormFile("file", "plans.yaml")
	fw.Write(file)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/admin/plans", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", e.srv.URL)
	return do(t, c, req)
}

func TestAdminPlans(t *testing.T) {
	e := adminEnv(t)
	c := e.signIn(t, "root", "root's long password")
	good, err := os.ReadFile("../../examples/plans.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p := e.get(t, c, "/admin/plans"); !strings.Contains(p.body, "No plan file is loaded yet") || !strings.Contains(p.body, `enctype="multipart/form-data"`) {
		t.Fatalf("before any:\n%s", p.body)
	}
	bad := strings.Replace(strings.Replace(string(good), "type: Maintenance", "type: Renewal", 1), "role: Practitioner", "role: \"\"", 1)
	p := e.upload(t, c, "load", []byte(bad))
	lines := regexp.MustCompile(`<li>line (\d+): <span class="code">([^<]+)</span> ([^<]+)</li>`).FindAllStringSubmatch(p.body, -1)
	if p.status != http.StatusBadRequest || len(lines) != 2 || !strings.Contains(p.body, "has 2 problems; nothing was loaded") {
		t.Fatalf("a bad file: %d %v\n%s", p.status, lines, p.body)
	}
	for _, l := range lines {
		t.Logf("line %s: %s %s", l[1], l[2], l[3])
		if l[1] == "0" {
			t.Errorf("a problem without its line: %v", l)
		}
	}
	if p := e.upload(t, c, "load", []byte("roles: [\n  {role: R, colour: blue}\n]\n")); p.status != http.StatusBadRequest || !strings.Contains(p.body, "<li>line 2:") {
		t.Errorf("an unknown field: %d\n%s", p.status, p.body)
	}
	if n := cmextest.Count(t, e.store.DB, "plan_sets"); n != 0 {
		t.Fatalf("a refused file was loaded: %d plan sets", n)
	}
	p = e.upload(t, c, "check", good)
	if p.status != 200 || !strings.Contains(p.body, "no problems") || !strings.Contains(p.body, "role <strong>Practitioner</strong>") {
		t.Fatalf("check: %d\n%s", p.status, p.body)
	}
	if n := cmextest.Count(t, e.store.DB, "plan_sets"); n != 0 {
		t.Fatalf("a checked file was loaded: %d plan sets", n)
	}
	for range 2 {
		if p := e.upload(t, c, "load", good); p.status != http.StatusSeeOther || p.location != "/admin/plans?done=loaded" {
			t.Fatalf("load: %d %q\n%s", p.status, p.location, p.body)
		}
	}
	p = e.get(t, c, "/admin/plans?done=loaded")
	if !strings.Contains(p.body, "it is the plan set in force") || strings.Count(p.body, "portal:root") != 2 || strings.Count(p.body, "in force</span>") != 1 {
		t.Errorf("the history:\n%s", p.body)
	}
	if p := e.upload(t, c, "load", nil); p.status != http.StatusBadRequest {
		t.Errorf("an empty file: %d", p.status)
	}
}

func TestAdminSocieties(t *testing.T) {
	e := adminEnv(t)
	ctx := context.Background()
	c := e.signIn(t, "root", "root's long password")
	if _, _, err := cmegateway.LoadExample(ctx, e.store.Societies); err != nil {
		t.Fatal(err)
	}
	before := cmextest.Count(t, e.store.DB, "societies")
	for _, bad := range []struct {
		form  url.Values
		field string
		want  string
	}{
		{url.Values{"code": {"a b"}, "name": {"X"}, "bindingUrl": {"https://x.invalid/b"}, "orderUrl": {"https://x.invalid/o"}}, "code-error", "1 to 32"},
		{url.Values{"code": {"ACR"}, "name": {"ACR"}, "bindingUrl": {"ftp://x.invalid/b"}, "orderUrl": {"https://user:pw@x.invalid/o"}}, "bindingUrl-error", "https://"},
		{url.Values{"code": {"ACR"}, "name": {"ACR"}, "bindingUrl": {"https://127.0.0.1/b"}, "orderUrl": {"https://x.invalid/o"}}, "bindingUrl-error", "loopback"},
		{url.Values{"code": {"ACR"}, "name": {"ACR"}, "bindingUrl": {"https://x.invalid/b"}, "orderUrl": {"http://169.254.169.254/latest"}}, "orderUrl-error", "link-local"},
		{url.Values{"code": {"example"}, "name": {"Again"}, "bindingUrl": {"https://x.invalid/b"}, "orderUrl": {"https://x.invalid/o"}}, "code-error", "exists already"},
	} {
		p := e.post(t, c, "/admin/societies", bad.form)
		if p.status < 400 || !regexp.MustCompile(`id="`+bad.field+`" class="field-error">[^<]*`+regexp.QuoteMeta(bad.want)).MatchString(p.body) ||
			!strings.Contains(p.body, `value="`+bad.form.Get("name")+`"`) {
			t.Errorf("%v: %d\n%s", bad.form, p.status, p.body)
		}
	}
	if n := cmextest.Count(t, e.store.DB, "societies"); n != before {
		t.Fatalf("refused societies were stored")
	}
	p := e.post(t, c, "/admin/societies", url.Values{"code": {"acr"}, "name": {"American <College>"}, "bindingUrl": {"https://acr.invalid/cmegateway/customer_binding"},
		"orderUrl": {"https://acr.invalid/cmegateway/ceu_order"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("adding a society: %d\n%s", p.status, p.body)
	}
	acr, err := e.store.Societies.SocietyByCode(ctx, "ACR")
	if err != nil || acr.Kind != cmex.SocietyRemote {
		t.Fatal(acr, err)
	}
	p = e.get(t, c, "/admin/societies")
	if !strings.Contains(p.body, "American &lt;College&gt;") || !strings.Contains(p.body, "not called yet") || !strings.Contains(p.body, "answered by this cmex") {
		t.Fatalf("the societies:\n%s", p.body)
	}
	calls := sqlstore.NewSocietyCallService(e.store.DB)
	for i, o := range []cmex.SocietyCallOutcome{cmex.CallAnswered, cmex.CallAnswered, cmex.CallRefused, cmex.CallFailed} {
		if err := calls.RecordSocietyCall(ctx, cmex.SocietyCall{SocietyID: acr.ID, Operation: cmex.CallOrder, Outcome: o, At: e.now.Add(-time.Duration(10-i) * time.Minute),
			Duration: time.Duration(100*(i+1)) * time.Millisecond, Answer: "<it answered HTTP 502>"}); err != nil {
			t.Fatal(err)
		}
	}
	p = e.get(t, c, "/admin/societies")
	for _, want := range []string{`<strong class="outcome-failed">failed</strong>: &lt;it answered HTTP 502&gt;`, "ceu_order, 7 min ago, took 400 ms",
		`<strong class="warn">25%</strong>`, "1 of the last 4 failed; 1 of all 4 since", "median 200 ms", "slowest 300 ms, of 3 answered"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the societies' stats lack %q:\n%s", want, p.body)
		}
	}
}

// TestAdminNotWired: a server that did not give the console its services
// answers the admin 503, not a panic.
func TestAdminNotWired(t *testing.T) {
	e := newEnv(t, false)
	if err := e.store.Portal.CreateStaff(context.Background(), &cmex.Staff{Username: "root", Name: "Rita Root", Role: cmex.RoleAdmin}, "root's long password"); err != nil {
		t.Fatal(err)
	}
	c := e.signIn(t, "root", "root's long password")
	for _, path := range adminGets {
		if p := e.get(t, c, path); p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "not set up") {
			t.Errorf("GET %s: %d", path, p.status)
		}
	}
}
