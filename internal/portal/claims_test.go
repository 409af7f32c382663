package portal_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// helenRecords registers provider A's and B's activities and reports
// Helen Markman's completion to both (AMA credit and two ABIM MOC
// credits each); it returns A's records, then B's.
func helenRecords(t *testing.T, e *env) []*cmex.LearnerRecord {
	t.Helper()
	ctx := context.Background()
	if _, err := e.store.Persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane(), cmextest.Helen()}); err != nil {
		t.Fatal(err)
	}
	pa, actA := e.store.MOCActivity(t, "moc-a")
	pb, err := e.store.Users.Authenticate(ctx, cmextest.ProviderB, "otheruser@example.org", cmextest.Password)
	if err != nil {
		t.Fatal(err)
	}
	b := cmextest.Activity("moc-b", 2025)
	b.Title = "Grand Rounds of B"
	actB, _, err := e.store.Activities.SaveActivity(ctx, cmex.ActivityChange{Action: "Add", Activity: b, By: *pb})
	if err != nil {
		t.Fatal(err, cmex.ErrorProblems(err))
	}
	var out []*cmex.LearnerRecord
	for _, r := range []struct {
		by  cmex.Principal
		act cmex.ActivityID
		tag string
	}{{pa, actA.ID, "a"}, {*pb, actB.ID, "b"}} {
		rep := cmextest.JaneReport(r.act, "2025-06-01", r.tag)
		rep.ProviderOrganization = string(r.by.Organization.ProviderID)
		rep.Learner = cmex.LearnerIdentity{UniqueIDs: []cmex.UniqueID{{Domain: "NPI", Value: "1234567890"}, {Domain: "ABIM", Value: "999898"}},
			GivenName: "Helen", FamilyName: "Markman", BirthDate: cmex.MustParseDate("1970-09-26")}
		recs, _, err := e.store.Learners.SaveLearnerReport(ctx, cmex.LearnerChange{Report: rep, By: r.by})
		if err != nil {
			t.Fatal(err, cmex.ErrorProblems(err))
		}
		out = append(out, recs...)
	}
	return out
}

// physician signs up as username through the portal and signs in.
func (e *env) physician(t *testing.T, username string) *http.Client {
	t.Helper()
	c := e.client(t)
	p := e.post(t, c, "/signup", url.Values{"username": {username}, "password": {"a long password"}, "given": {"Helen"}, "family": {"Markman"}})
	if p.status != 200 || !strings.Contains(p.body, "If this username was free") {
		t.Fatalf("sign-up: %d %s", p.status, p.body)
	}
	if p := e.post(t, c, "/signin", signInForm(username, "a long password")); p.status != http.StatusSeeOther {
		t.Fatalf("sign in as %s: %d %s", username, p.status, p.body)
	}
	return c
}

func claimForm(given, family, born, kind, scope, id string) url.Values {
	f := url.Values{"given": {given}, "family": {family}, "birthDate": {born}, "kind": {kind}, "identifier": {id}}
	if kind == "license" {
		f.Set("state", scope)
	} else {
		f.Set("board", scope)
	}
	return f
}

// answerOf is what the claim page tells her of her claim.
func answerOf(body string) string {
	m := regexp.MustCompile(`(?s)<p class="notice" role="status">(Your (?:account|claim)[^<]*)</p>`).FindAllStringSubmatch(body, -1)
	var out []string
	for _, x := range m {
		out = append(out, x[1])
	}
	return strings.Join(out, " | ")
}

// TestSignUpPage: a physician signs up on the portal; bad input is shown
// beside its field and stores nothing; a taken username gets the answer
// a free one gets.
func TestSignUpPage(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	if p := e.get(t, c, "/signup"); p.status != 200 || !strings.Contains(p.body, `<label for="username">`) || !strings.Contains(p.body, `action="/signup"`) {
		t.Fatalf("sign-up page: %d %s", p.status, p.body)
	}
	before := cmextest.Count(t, e.store.DB, "gateway_accounts")
	p := e.post(t, c, "/signup", url.Values{"username": {"x"}, "password": {""}, "given": {""}, "family": {"<b>F</b>"}, "email": {"not an address"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="password-error"`) || !strings.Contains(p.body, `id="given-error"`) ||
		!strings.Contains(p.body, `id="email-error"`) || strings.Contains(p.body, `id="family-error"`) || !strings.Contains(p.body, "&lt;b&gt;F&lt;/b&gt;") {
		t.Fatalf("bad sign-up: %d %s", p.status, p.body)
	}
	if n := cmextest.Count(t, e.store.DB, "gateway_accounts"); n != before {
		t.Errorf("a refused sign-up stored an account")
	}
	free := e.post(t, c, "/signup", url.Values{"username": {"helen.m"}, "password": {"a long password"}, "given": {"Helen"}, "family": {"Markman"}})
	taken := e.post(t, c, "/signup", url.Values{"username": {"olga"}, "password": {"a long password"}, "given": {"Helen"}, "family": {"Markman"}})
	if free.status != 200 || taken.status != free.status || strings.ReplaceAll(taken.body, "olga", "X") != strings.ReplaceAll(free.body, "helen.m", "X") {
		t.Errorf("a taken username is answered otherwise: %d %s\nfree: %d %s", taken.status, taken.body, free.status, free.body)
	}
	if p := e.post(t, c, "/signin", signInForm("helen.m", "a long password")); p.status != http.StatusSeeOther {
		t.Errorf("signing in with the new account: %d", p.status)
	}
}

// TestClaimPage: an exact claim links her account at once and her
// transcript then shows both providers' credits with their statuses; a
// claim that is not exact, for whatever reason, is answered exactly as any
// other and links nothing; bad input is shown beside its field and stores
// nothing; repeated waiting claims are throttled with 429 and Retry-After.
func TestClaimPage(t *testing.T) {
	e := newEnv(t, false)
	recs := helenRecords(t, e)
	ctx := context.Background()
	// A's Medical Knowledge points submitted to the board, its Patient
	// Safety points rejected by the board.
	if _, err := e.store.Learners.MoveLearnerRecord(ctx, recs[1].ID, cmex.StatusAccepted, cmex.StatusChange{Status: cmex.StatusSubmitted, Source: "outbox"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Learners.MoveLearnerRecord(ctx, recs[2].ID, cmex.StatusAccepted, cmex.StatusChange{Status: cmex.StatusRejected, Code: "661",
		Reason: "Diplomate ID not found in Board records.", Source: "board:ABIM"}); err != nil {
		t.Fatal(err)
	}

	// Waiting claims, all alike: a wrong birth date, a name spelled
	// otherwise, nobody, Jane's name with Helen's board id (two
	// candidates).
	other := e.physician(t, "mallory")
	var answers []page
	for _, f := range []url.Values{
		claimForm("Helen", "Markman", "1970-09-27", "npi", "", "1234567890"),
		claimForm("Helen", "Markmann", "1970-09-26", "npi", "", "1234567890"),
		claimForm("No", "Body", "1980-01-01", "npi", "", "9999999999"),
		claimForm("Jane", "ACCME", "1904-10-30", "board", "ABIM", "999898"),
	} {
		p := e.post(t, other, "/claim", f)
		answers = append(answers, p)
		if p.status != answers[0].status || p.location != answers[0].location || p.body != answers[0].body {
			t.Errorf("claim %v answers %d %q %q; the first %d %q %q", f, p.status, p.location, p.body, answers[0].status, answers[0].location, answers[0].body)
		}
		pg := e.get(t, other, "/claim")
		if a := answerOf(pg.body); a != "Your claim of 2 November 2026 is waiting for review by cmex&#39;s operators. Your transcript will show your credits once it is approved." {
			t.Errorf("after claim %v the page says %q", f, a)
		}
	}
	if answers[0].status != http.StatusSeeOther || answers[0].location != "/claim" {
		t.Errorf("a claim's answer: %d %q", answers[0].status, answers[0].location)
	}
	if _, err := e.store.Claims.AccountLink(ctx, 2); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("a waiting claim linked: %v", err)
	}

	// Bad input: beside its field, nothing stored.
	claims := cmextest.Count(t, e.store.DB, "person_claims")
	p := e.post(t, other, "/claim", claimForm("", "<i>M</i>", "26/09/1970", "board", "", "x"))
	for _, want := range []string{`id="given-error"`, `id="birthDate-error"`, `id="board-error"`, "&lt;i&gt;M&lt;/i&gt;", `value="26/09/1970"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("bad claim lacks %s: %d %s", want, p.status, p.body)
		}
	}
	if p.status != http.StatusBadRequest || strings.Contains(p.body, `id="identifier-error"`) {
		t.Errorf("bad claim: %d", p.status)
	}
	if n := cmextest.Count(t, e.store.DB, "person_claims"); n != claims {
		t.Errorf("a refused claim stored %d claims", n-claims)
	}

	// The exact claim links at once.
	helen := e.physician(t, "helen.m")
	p = e.post(t, helen, "/claim", claimForm("helen", "MARKMAN", "1970-09-26", "npi", "", "1234567890"))
	if p.status != answers[0].status || p.location != answers[0].location || p.body != answers[0].body {
		t.Errorf("the exact claim's answer %d %q differs from a waiting one's", p.status, p.location)
	}
	pg := e.get(t, helen, "/claim")
	if !strings.Contains(pg.body, "Your account is linked to your registry record") || strings.Contains(pg.body, `action="/claim"`) || !strings.Contains(pg.body, "1970-09-26") {
		t.Errorf("the page after an exact claim: %s", pg.body)
	}
	tr := e.get(t, helen, "/transcript")
	for _, want := range []string{"Reported by providers", "AAA Test Organization", "Second Sandbox Organization", "Grand Rounds of B",
		"status-Accepted", "status-Submitted", "Rejected</span> 661: Diplomate ID not found in Board records.", "not counted"} {
		if !strings.Contains(tr.body, want) {
			t.Errorf("her transcript lacks %q", want)
		}
	}
	// 2 + 2 AMA credits; A's Medical Knowledge 1.5 and B's 1.5, B's
	// Patient Safety 1.5; A's rejected Patient Safety in no total.
	if !strings.Contains(tr.body, "<dt>Total Overall Category 1 Credits</dt><dd>4.00</dd>") || !strings.Contains(tr.body, "<dt>MOC Patient Safety (ABIM MOC)</dt><dd>1.50</dd>") ||
		!strings.Contains(tr.body, "<dt>MOC Medical Knowledge (ABIM MOC)</dt><dd>3.00</dd>") {
		t.Errorf("her transcript's totals:\n%s", tr.body[strings.Index(tr.body, `id="totals-h"`):])
	}
	if p := e.post(t, helen, "/claim", claimForm("Helen", "Markman", "1970-09-26", "npi", "", "1234567890")); p.status != http.StatusSeeOther {
		t.Errorf("claiming again once linked: %d", p.status)
	}

	// Throttled: the guard locks mallory's claims after 5 that waited.
	p = e.post(t, other, "/claim", claimForm("Helen", "Markman", "1970-09-28", "npi", "", "1234567890"))
	if p.status != http.StatusSeeOther {
		t.Fatalf("the fifth waiting claim: %d", p.status)
	}
	claims = cmextest.Count(t, e.store.DB, "person_claims")
	p = e.post(t, other, "/claim", claimForm("Helen", "Markman", "1970-09-26", "npi", "", "1234567890"))
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "900" || !strings.Contains(p.body, "Too many claims") {
		t.Errorf("the sixth claim: %d %q %s", p.status, p.header.Get("Retry-After"), p.body)
	}
	if n := cmextest.Count(t, e.store.DB, "person_claims"); n != claims {
		t.Errorf("a throttled claim was stored")
	}
}

// TestInvitationPages: a provider admin invites one of her provider's
// learners and sees the link once; provider staff cannot; the physician
// who opens it is linked, once; a used link says so.
func TestInvitationPages(t *testing.T) {
	e := newEnv(t, false)
	helenRecords(t, e)
	ctx := context.Background()
	orgA, _ := e.store.Organizations.FindOrganizationByProviderID(ctx, cmextest.ProviderA)
	if err := e.store.Portal.CreateStaff(ctx, &cmex.Staff{Username: "ada", Name: "Ada Admin", Role: cmex.RoleProviderAdmin, Organization: orgA.ID}, "ada's long password"); err != nil {
		t.Fatal(err)
	}
	olga := e.client(t)
	e.post(t, olga, "/signin", signInForm("olga", "olga's long password"))
	if p := e.get(t, olga, "/provider/invitations"); p.status != http.StatusForbidden {
		t.Errorf("provider staff on invitations: %d", p.status)
	}
	if p := e.post(t, olga, "/provider/invitations", url.Values{"person": {"2"}}); p.status != http.StatusForbidden {
		t.Errorf("provider staff inviting: %d", p.status)
	}
	ada := e.client(t)
	e.post(t, ada, "/signin", signInForm("ada", "ada's long password"))
	p := e.get(t, ada, "/provider/invitations?q=markman")
	if p.status != 200 || !strings.Contains(p.body, "Helen Markman") || strings.Contains(p.body, "Jane") {
		t.Fatalf("learners: %d %s", p.status, p.body)
	}
	helenID := regexp.MustCompile(`name="person" value="([0-9]+)"`).FindStringSubmatch(p.body)
	if helenID == nil {
		t.Fatalf("no invite button: %s", p.body)
	}
	invitations := cmextest.Count(t, e.store.DB, "person_invitations")
	for _, bad := range []string{"", "abc", "999999"} {
		if p := e.post(t, ada, "/provider/invitations", url.Values{"person": {bad}}); p.status/100 != 4 || !strings.Contains(p.body, `id="person-error"`) {
			t.Errorf("inviting %q: %d", bad, p.status)
		}
	}
	if n := cmextest.Count(t, e.store.DB, "person_invitations"); n != invitations {
		t.Errorf("refused invitations were stored")
	}
	p = e.post(t, ada, "/provider/invitations", url.Values{"person": {helenID[1]}})
	link := regexp.MustCompile(`value="(/invitation\?token=[A-Za-z0-9_-]{43})"`).FindStringSubmatch(p.body)
	if p.status != http.StatusCreated || link == nil || !strings.Contains(p.body, "Send this link to Helen Markman") {
		t.Fatalf("inviting Helen: %d %s", p.status, p.body)
	}
	if p := e.get(t, ada, "/provider/invitations"); strings.Contains(p.body, link[1]) || !strings.Contains(p.body, "open until") {
		t.Errorf("the link is shown again, or the invitation is not listed")
	}

	// Anyone holding the link sees what it is for; only a physician may
	// use it.
	anon := e.client(t)
	if p := e.get(t, anon, link[1]); p.status != 200 || !strings.Contains(p.body, "AAA Test Organization") || !strings.Contains(p.body, "Sign in with your physician") {
		t.Errorf("the invitation, signed out: %d %s", p.status, p.body)
	}
	if p := e.get(t, anon, "/invitation?token=not-a-token"); p.status != http.StatusNotFound {
		t.Errorf("a made-up token: %d", p.status)
	}
	if p := e.get(t, ada, link[1]); !strings.Contains(p.body, "Only a physician") {
		t.Errorf("the invitation as staff: %s", p.body)
	}
	token := strings.TrimPrefix(link[1], "/invitation?token=")
	if p := e.post(t, ada, "/invitation", url.Values{"token": {token}}); p.status != http.StatusForbidden {
		t.Errorf("staff opening the invitation: %d", p.status)
	}
	helen := e.physician(t, "helen.m")
	p = e.get(t, helen, link[1])
	if p.status != 200 || !strings.Contains(p.body, `action="/invitation"`) || !strings.Contains(p.body, `name="token" value="`+token+`"`) {
		t.Fatalf("the invitation, as a physician: %d %s", p.status, p.body)
	}
	p = e.post(t, helen, "/invitation", url.Values{"token": {token}})
	if p.status != http.StatusSeeOther || p.location != "/claim" {
		t.Fatalf("opening the invitation: %d %q %s", p.status, p.location, p.body)
	}
	if pg := e.get(t, helen, "/claim"); !strings.Contains(pg.body, "by a provider's invitation") {
		t.Errorf("her registry record page: %s", pg.body)
	}
	if tr := e.get(t, helen, "/transcript"); !strings.Contains(tr.body, "Grand Rounds of B") {
		t.Errorf("her transcript after the invitation lacks B's credits")
	}
	// Once only.
	other := e.physician(t, "mallory")
	p = e.post(t, other, "/invitation", url.Values{"token": {token}})
	if p.status != http.StatusGone || !strings.Contains(p.body, "was used on 2 November 2026") {
		t.Errorf("a used invitation: %d %s", p.status, p.body)
	}
	if p := e.get(t, other, link[1]); p.status != http.StatusGone || strings.Contains(p.body, `action="/invitation"`) {
		t.Errorf("the used link's page: %d", p.status)
	}
	// Expired after 14 days.
	p = e.post(t, ada, "/provider/invitations", url.Values{"person": {helenID[1]}})
	link2 := regexp.MustCompile(`value="/invitation\?token=([A-Za-z0-9_-]{43})"`).FindStringSubmatch(p.body)
	e.now = e.now.Add(15 * 24 * time.Hour)
	e.store.Clock.Set(e.now)
	if p := e.get(t, other, "/invitation?token="+link2[1]); p.status != http.StatusGone || !strings.Contains(p.body, "expired on 16 November 2026") {
		t.Errorf("an expired invitation: %d %s", p.status, p.body)
	}
}

// TestAdminClaimsPage: the operator sees a waiting claim's evidence beside
// its candidates, escaped; approves it with the person chosen; refuses
// another with a reason beside the field when missing, after which the
// physician sees what she saw before; unlinks; other roles are refused.
func TestAdminClaimsPage(t *testing.T) {
	e := newEnv(t, false)
	helenRecords(t, e)
	ctx := context.Background()
	if err := e.store.Portal.CreateStaff(ctx, &cmex.Staff{Username: "root", Name: "Rita Root", Role: cmex.RoleAdmin}, "root's long password"); err != nil {
		t.Fatal(err)
	}
	helen := e.physician(t, "helen.m")
	e.post(t, helen, "/claim", claimForm("Helen", "<b>Markmann</b>", "1970-09-26", "npi", "", "1234567890"))
	mallory := e.physician(t, "mallory")
	e.post(t, mallory, "/claim", claimForm("Helen", "Markman", "1971-09-26", "board", "ABIM", "999898"))
	before := e.get(t, mallory, "/claim")

	for _, who := range []struct{ user, password string }{{"olga", "olga's long password"}, {"helen.m", "a long password"}} {
		c := e.client(t)
		e.post(t, c, "/signin", signInForm(who.user, who.password))
		if p := e.get(t, c, "/admin/claims"); p.status != http.StatusForbidden {
			t.Errorf("%s on the claims page: %d", who.user, p.status)
		}
		if p := e.post(t, c, "/admin/claims/1/approve", url.Values{"person": {"2"}}); p.status != http.StatusForbidden {
			t.Errorf("%s approving: %d", who.user, p.status)
		}
	}
	root := e.client(t)
	e.post(t, root, "/signin", signInForm("root", "root's long password"))
	p := e.get(t, root, "/admin/claims")
	for _, want := range []string{"Waiting (2)", "Claim 1 by helen.m", "&lt;b&gt;Markmann&lt;/b&gt;", "Helen Markman", "NPI 1234567890", "OH licence 44861", "ABIM id 999898", "1970-09-26", "1971-09-26"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the claims page lacks %q", want)
		}
	}
	if n := strings.Count(p.body, `<span class="tag warn">differs</span>`); n != 2 {
		t.Errorf("%d evidence cells marked as differing, want 2 (helen.m's name, mallory's birth date)", n)
	}
	if strings.Contains(p.body, "<b>Markmann") {
		t.Error("the typed name is not escaped")
	}
	persons := regexp.MustCompile(`name="person" value="([0-9]+)"`).FindAllStringSubmatch(p.body, -1)
	if len(persons) != 2 {
		t.Fatalf("candidates: %v", persons)
	}
	// Refusing without a reason: beside the field, nothing changes.
	if p := e.post(t, root, "/admin/claims/2/refuse", url.Values{"reason": {" "}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="refuse-2-error"`) {
		t.Errorf("refusing without a reason: %d", p.status)
	}
	if p := e.post(t, root, "/admin/claims/1/approve", url.Values{}); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="approve-1-error"`) {
		t.Errorf("approving without a person: %d", p.status)
	}
	if p := e.post(t, root, "/admin/claims/99/approve", url.Values{"person": {persons[0][1]}}); p.status != http.StatusNotFound {
		t.Errorf("approving no claim: %d", p.status)
	}
	if p := e.post(t, root, "/admin/claims/1/approve", url.Values{"person": {persons[0][1]}}); p.status != http.StatusSeeOther {
		t.Fatalf("approving: %d %s", p.status, p.body)
	}
	if pg := e.get(t, helen, "/claim"); !strings.Contains(pg.body, "by cmex's operators, on your claim") {
		t.Errorf("helen after approval: %s", pg.body)
	}
	// Approving mallory's claim for the same person: linked to helen.m.
	if p := e.post(t, root, "/admin/claims/2/approve", url.Values{"person": {persons[0][1]}}); p.status != http.StatusConflict || !strings.Contains(p.body, "unlink it first") {
		t.Errorf("approving for a linked person: %d", p.status)
	}
	if p := e.post(t, root, "/admin/claims/2/refuse", url.Values{"reason": {"born 1971, not 1970"}}); p.status != http.StatusSeeOther {
		t.Fatalf("refusing: %d %s", p.status, p.body)
	}
	if after := e.get(t, mallory, "/claim"); after.status != before.status || after.body != before.body {
		t.Errorf("the refused claim's page differs from the pending one's:\n%s\n----\n%s", after.body, before.body)
	}
	p = e.get(t, root, "/admin/claims")
	if !strings.Contains(p.body, "Waiting (0)") || !strings.Contains(p.body, "refused</strong> (born 1971, not 1970)") || !strings.Contains(p.body, "helen.m</td>") {
		t.Errorf("the claims page after deciding: %s", p.body)
	}
	acct := regexp.MustCompile(`action="/admin/links/([0-9]+)/unlink"`).FindStringSubmatch(p.body)
	if acct == nil {
		t.Fatal("no unlink form")
	}
	if p := e.post(t, root, "/admin/links/"+acct[1]+"/unlink", url.Values{}); p.status != http.StatusBadRequest || !strings.Contains(p.body, `id="unlink-`+acct[1]+`-error"`) {
		t.Errorf("unlinking without a reason: %d", p.status)
	}
	if p := e.post(t, root, "/admin/links/"+acct[1]+"/unlink", url.Values{"reason": {"asked"}}); p.status != http.StatusSeeOther {
		t.Errorf("unlinking: %d", p.status)
	}
	if p := e.post(t, root, "/admin/links/"+acct[1]+"/unlink", url.Values{"reason": {"again"}}); p.status != http.StatusNotFound {
		t.Errorf("unlinking again: %d", p.status)
	}
	log, err := sqlstore.NewAuditService(e.store.DB).AuditLog(ctx, cmex.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var es string
	for _, en := range log {
		es += en.Action + " "
	}
	for _, want := range []string{"claim.add", "claim.approve", "person-link.add", "claim.refuse", "person-link.remove"} {
		if !strings.Contains(es, want) {
			t.Errorf("the audit log lacks %s: %s", want, es)
		}
	}
}

// TestLinkedTranscriptPDFAndVerify: a linked physician's PDF lists every
// provider's credits with their statuses and a rejection's code and
// reason; its verification page checks them against the ledger, holding
// when a board approves submitted points, and not when it rejects some.
func TestLinkedTranscriptPDFAndVerify(t *testing.T) {
	e := newEnv(t, false)
	recs := helenRecords(t, e)
	ctx := context.Background()
	move := func(r *cmex.LearnerRecord, from cmex.LearnerStatus, ch cmex.StatusChange) {
		t.Helper()
		if ok, err := e.store.Learners.MoveLearnerRecord(ctx, r.ID, from, ch); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	move(recs[1], cmex.StatusAccepted, cmex.StatusChange{Status: cmex.StatusSubmitted, Source: "outbox"})
	move(recs[5], cmex.StatusAccepted, cmex.StatusChange{Status: cmex.StatusRejected, Code: "661", Reason: "Diplomate ID not found in Board records.", Source: "board:ABIM"})
	helen := e.physician(t, "helen.m")
	e.post(t, helen, "/claim", claimForm("Helen", "Markman", "1970-09-26", "npi", "", "1234567890"))
	p := e.get(t, helen, "/transcript.pdf")
	if p.status != 200 {
		t.Fatalf("transcript.pdf: %d", p.status)
	}
	text := cmextest.PDFText(t, []byte(p.body))
	for _, want := range []string{"Reported by providers to the registry, for registry person", "AAA Test Organization", "Second Sandbox Organization",
		"Grand Rounds of B", "CAT1 · Accepted", "Submitted", "Rejected 661: Diplomate ID", "(rejected by the board; not"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF lacks %q:\n%s", want, text)
		}
	}
	m := regexp.MustCompile(`/verify/([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no verification code:\n%s", text)
	}
	anyone := e.client(t)
	if p := e.get(t, anyone, "/verify/"+m[1]); p.status != 200 || !strings.Contains(p.body, "still holds exactly the credits") {
		t.Fatalf("verify: %d %s", p.status, p.body)
	}
	move(recs[1], cmex.StatusSubmitted, cmex.StatusChange{Status: cmex.StatusApproved, Source: "board:ABIM"})
	if p := e.get(t, anyone, "/verify/"+m[1]); !strings.Contains(p.body, "still holds exactly the credits") {
		t.Errorf("verify after the board approved submitted points: %s", p.body)
	}
	move(recs[4], cmex.StatusAccepted, cmex.StatusChange{Status: cmex.StatusRejected, Code: "661", Source: "board:ABIM"})
	if p := e.get(t, anyone, "/verify/"+m[1]); !strings.Contains(p.body, "have changed since this transcript was printed") {
		t.Errorf("verify after the board rejected listed points: %s", p.body)
	}
}
