package storetest

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func init() {
	extra = append(extra,
		named{"Claims", testClaims},
		named{"ClaimDecisions", testClaimDecisions},
		named{"Invitations", testInvitations},
		named{"PersonLedger", testPersonLedger},
	)
}

// claimEnv is a registry (Jane, Helen), provider A's and B's activities,
// Helen's records reported by both, and the claim service.
type claimEnv struct {
	*learnerEnv
	b        cmex.Principal
	bAct     *cmex.Activity
	claims   *sqlstore.ClaimService
	gateway  *sqlstore.GatewayService
	audit    *sqlstore.AuditService
	jane     cmex.PersonID
	helen    cmex.PersonID
	helenRec []*cmex.LearnerRecord // A's, then B's
}

// helenReportOf is the seed's learner sample made Helen Markman's (NPI and
// Ohio licence) for provider, with CreditIDs of tag.
func helenReportOf(provider cmex.ProviderID, activity cmex.ActivityID, completed, tag string) *cmex.LearnerReport {
	r := cmextest.JaneReport(activity, completed, tag)
	r.ProviderOrganization = string(provider)
	r.Learner = cmex.LearnerIdentity{UniqueIDs: []cmex.UniqueID{{Domain: "NPI", Value: "1234567890"}, {Domain: "OH", Value: "44861"}, {Domain: "ABIM", Value: "999898"}},
		GivenName: "Helen", FamilyName: "Markman", BirthDate: cmex.MustParseDate("1970-09-26")}
	for i := range r.Credits {
		r.Credits[i].CreditID = cmex.CreditID(strings.Replace(string(r.Credits[i].CreditID), "aaatestorganization.org", "p"+string(provider)+".org", 1))
	}
	return r
}

func newClaimEnv(t *testing.T, open Opener) *claimEnv {
	t.Helper()
	le := newLearnerEnv(t, open, cmex.MatchRegistry)
	ctx := context.Background()
	ce := &claimEnv{learnerEnv: le, claims: sqlstore.NewClaimService(le.db), gateway: sqlstore.NewGatewayService(le.db), audit: sqlstore.NewAuditService(le.db)}
	ce.b = le.MustProvider(t, cmextest.ProviderB, "Second Sandbox Organization", "otheruser@example.org", "pw")
	ce.bAct = mustSave(t, le.env, ce.b, "Add", cmextest.Activity("b-moc-1", 2025))
	persons := sqlstore.NewPersonService(le.db)
	for _, p := range []struct {
		name string
		id   *cmex.PersonID
	}{{"accme", &ce.jane}, {"markman", &ce.helen}} {
		found, err := persons.FindPersons(ctx, cmex.PersonFilter{Name: p.name})
		if err != nil || len(found) != 1 {
			t.Fatalf("person %s: %v, %v", p.name, found, err)
		}
		*p.id = found[0].ID
	}
	for _, r := range []struct {
		by  cmex.Principal
		act *cmex.Activity
	}{{le.p, le.activity}, {ce.b, ce.bAct}} {
		recs, _, err := le.learners.SaveLearnerReport(ctx, cmex.LearnerChange{
			Report: helenReportOf(r.by.Organization.ProviderID, r.act.ID, "2025-06-01", "h"), By: r.by, Source: "test"})
		if err != nil {
			t.Fatalf("Helen's report to %s: %v %v", r.by.Organization.ProviderID, err, cmex.ErrorProblems(err))
		}
		ce.helenRec = append(ce.helenRec, recs...)
	}
	return ce
}

func (ce *claimEnv) account(t *testing.T, username, given, family string) *cmex.Account {
	t.Helper()
	a := &cmex.Account{Username: username, GivenName: given, FamilyName: family}
	if err := ce.gateway.CreateAccount(context.Background(), a, "a long password"); err != nil {
		t.Fatal(err)
	}
	return a
}

// helenEvidence is Helen's name, birth date and NPI, as she types them.
func helenEvidence() cmex.ClaimEvidence {
	return cmex.ClaimEvidence{GivenName: " helen ", FamilyName: "MARKMAN", BirthDate: cmex.MustParseDate("1970-09-26"), Kind: "NPI", Identifier: "1234567890"}
}

// auditActions returns the actions and subjects of the log's entries
// whose action has prefix, in order.
func (ce *claimEnv) auditActions(t *testing.T, prefix string) []string {
	t.Helper()
	es, err := ce.audit.AuditLog(context.Background(), cmex.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if strings.HasPrefix(e.Action, prefix) {
			out = append(out, e.Action+" "+e.Subject)
		}
	}
	return out
}

// testClaims: an exact claim links at once; every other claim (a wrong
// birth date, a name spelled otherwise, nobody, a person already linked)
// waits, with the candidates an operator compares, and links nothing;
// bad evidence is refused field by field and stores nothing; a new claim
// withdraws the account's pending one.
func testClaims(t *testing.T, open Opener) {
	ce := newClaimEnv(t, open)
	ctx := cmex.WithActor(context.Background(), "portal:helen")
	helen := ce.account(t, "helen", "Helen", "Markman")

	c, err := ce.claims.ClaimPerson(ctx, helen.ID, helenEvidence())
	if err != nil || c.State != cmex.ClaimLinked || c.Person != ce.helen || c.ID == 0 || c.Username != "helen" || len(c.Candidates) != 1 {
		t.Fatalf("exact claim: %+v, %v", c, err)
	}
	if c.Evidence.Kind != cmex.KindNPI || c.Evidence.GivenName != "helen" {
		t.Errorf("evidence not normalised: %+v", c.Evidence)
	}
	l, err := ce.claims.AccountLink(ctx, helen.ID)
	if err != nil || l.PersonID != ce.helen || l.Via != cmex.LinkByClaim || l.Username != "helen" || !l.LinkedAt.Equal(Today) {
		t.Fatalf("link: %+v, %v", l, err)
	}
	if l, err := ce.claims.LinkOfPerson(ctx, ce.helen); err != nil || l.AccountID != helen.ID {
		t.Errorf("link of Helen: %+v, %v", l, err)
	}
	if ps, err := ce.gateway.AccountPersons(ctx, helen.ID); err != nil || len(ps) != 1 || ps[0] != ce.helen {
		t.Errorf("persons of Helen's account: %v, %v", ps, err)
	}
	if got := ce.auditActions(t, ""); len(got) < 2 || got[len(got)-2] != "claim.add helen" || got[len(got)-1] != "person-link.add helen" {
		t.Errorf("audit after an exact claim: %q", got)
	}
	if _, err := ce.claims.ClaimPerson(ctx, helen.ID, helenEvidence()); cmex.ErrorCode(err) != cmex.ECONFLICT {
		t.Errorf("a linked account claiming again: %v", err)
	}

	// Every claim that is not exact waits, whatever the reason.
	mallory := ce.account(t, "mallory", "Mal", "Lory")
	wrongDate := helenEvidence()
	wrongDate.BirthDate = cmex.MustParseDate("1970-09-27")
	spelled := helenEvidence()
	spelled.FamilyName = "Markmann"
	nobody := cmex.ClaimEvidence{GivenName: "No", FamilyName: "Body", BirthDate: cmex.MustParseDate("1980-01-01"), Kind: cmex.KindNPI, Identifier: "9999999999"}
	janeBoard := cmex.ClaimEvidence{GivenName: "Jane", FamilyName: "ACCME", BirthDate: cmex.MustParseDate("1904-10-30"), Kind: cmex.KindBoard, Scope: "abim", Identifier: "999898"} // Helen's ABIM id
	for _, tc := range []struct {
		name       string
		e          cmex.ClaimEvidence
		candidates []cmex.PersonID
	}{
		{"Helen's exact evidence, already linked to her", helenEvidence(), []cmex.PersonID{ce.helen}},
		{"a wrong birth date", wrongDate, []cmex.PersonID{ce.helen}},
		{"a name spelled otherwise", spelled, []cmex.PersonID{ce.helen}},
		{"nobody", nobody, []cmex.PersonID{}},
		{"Jane's name and birth date with Helen's board id", janeBoard, []cmex.PersonID{ce.jane, ce.helen}},
	} {
		c, err := ce.claims.ClaimPerson(ctx, mallory.ID, tc.e)
		if err != nil || c.State != cmex.ClaimPending || c.Person != 0 || c.Seen() != cmex.ClaimPending {
			t.Fatalf("%s: %+v, %v", tc.name, c, err)
		}
		want := slices.Sorted(slices.Values(tc.candidates))
		if !slices.Equal(c.Candidates, want) {
			t.Errorf("%s: candidates %v, want %v", tc.name, c.Candidates, want)
		}
		if _, err := ce.claims.AccountLink(ctx, mallory.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
			t.Errorf("%s linked mallory: %v", tc.name, err)
		}
	}
	if l, _ := ce.claims.LinkOfPerson(ctx, ce.helen); l == nil || l.AccountID != helen.ID {
		t.Errorf("Helen's link after mallory's claims: %+v", l)
	}
	// Each new claim withdrew the one before: one pending claim of his.
	mine, err := ce.claims.AccountClaims(ctx, mallory.ID)
	if err != nil || len(mine) != 5 || mine[0].State != cmex.ClaimPending || mine[0].Evidence.Kind != cmex.KindBoard || mine[0].Evidence.Scope != "ABIM" {
		t.Fatalf("mallory's claims: %+v, %v", mine, err)
	}
	for _, c := range mine[1:] {
		if c.State != cmex.ClaimWithdrawn || c.DecidedAt.IsZero() {
			t.Errorf("an earlier claim: %+v", c)
		}
	}
	if pending, err := ce.claims.Claims(ctx, cmex.ClaimFilter{State: cmex.ClaimPending}); err != nil || len(pending) != 1 || pending[0].ID != mine[0].ID || pending[0].Username != "mallory" {
		t.Errorf("pending claims: %+v, %v", pending, err)
	}
	if all, _ := ce.claims.Claims(ctx, cmex.ClaimFilter{}); len(all) != 6 || all[0].State != cmex.ClaimLinked {
		t.Errorf("every claim, oldest first: %+v", all)
	}
	if decided, _ := ce.claims.Claims(ctx, cmex.ClaimFilter{Decided: true, Newest: true, Limit: 5}); len(decided) != 1 || decided[0].State != cmex.ClaimLinked {
		t.Errorf("decided claims: %+v", decided)
	}
	if newest, _ := ce.claims.Claims(ctx, cmex.ClaimFilter{Newest: true, Limit: 2}); len(newest) != 2 || newest[0].ID != mine[0].ID {
		t.Errorf("the newest claims: %+v", newest)
	}

	// Bad evidence: every field's problem, and nothing stored.
	before := count(t, ce.db, "person_claims")
	audits := len(ce.auditActions(t, ""))
	for _, tc := range []struct {
		e      cmex.ClaimEvidence
		fields string
	}{
		{cmex.ClaimEvidence{}, "givenName familyName birthDate kind"},
		{cmex.ClaimEvidence{GivenName: "A", FamilyName: "B", BirthDate: cmex.MustParseDate("2030-01-01"), Kind: "npi", Identifier: "12345"}, "birthDate identifier"},
		{cmex.ClaimEvidence{GivenName: "A", FamilyName: "B", BirthDate: cmex.MustParseDate("1980-01-01"), Kind: "board", Scope: "ABXYZ"}, "scope identifier"},
		{cmex.ClaimEvidence{GivenName: "A", FamilyName: "B", BirthDate: cmex.MustParseDate("1980-01-01"), Kind: "license", Scope: "ZZ", Identifier: "1"}, "scope"},
		{cmex.ClaimEvidence{GivenName: "A", FamilyName: "B", BirthDate: cmex.MustParseDate("1980-01-01"), Kind: "oci", Identifier: "CPSO 1"}, "identifier"},
	} {
		_, err := ce.claims.ClaimPerson(ctx, mallory.ID, tc.e)
		var fields []string
		for _, p := range cmex.ErrorProblems(err) {
			fields = append(fields, p.Field)
		}
		if cmex.ErrorCode(err) != cmex.EINVALID || strings.Join(fields, " ") != tc.fields {
			t.Errorf("%+v: %v, fields %q, want %q", tc.e, err, fields, tc.fields)
		}
	}
	if n := count(t, ce.db, "person_claims"); n != before {
		t.Errorf("refused evidence stored claims: %d, want %d", n, before)
	}
	if n := len(ce.auditActions(t, "")); n != audits {
		t.Errorf("refused evidence appended %d audit entries", n-audits)
	}
	// An OCI ID and a state licence are identifiers too.
	olivia := cmextest.Olivia()
	if _, err := sqlstore.NewPersonService(ce.db).ImportPersons(ctx, []*cmex.Person{olivia}); err != nil {
		t.Fatal(err)
	}
	o := ce.account(t, "olivia", "Olivia", "Ontario")
	if c, err := ce.claims.ClaimPerson(ctx, o.ID, cmex.ClaimEvidence{GivenName: "Olivia", FamilyName: "Ontario", BirthDate: olivia.BirthDate, Kind: "oci", Identifier: "ca-on-cpso-12345"}); err != nil || c.State != cmex.ClaimLinked {
		t.Errorf("claim by OCI ID: %+v, %v", c, err)
	}
	j := ce.account(t, "jane", "Jane", "ACCME")
	if c, err := ce.claims.ClaimPerson(ctx, j.ID, cmex.ClaimEvidence{GivenName: "Jane", FamilyName: "ACCME", BirthDate: cmex.MustParseDate("1904-10-30"), Kind: "license", Scope: "me", Identifier: "md 999902"}); err != nil || c.State != cmex.ClaimLinked || c.Person != ce.jane {
		t.Errorf("claim by licence: %+v, %v", c, err)
	}
}

// testClaimDecisions: an operator approves a pending claim with the
// person chosen, or refuses it with a reason (which the physician does
// not see), and unlinks; each decision is audited, and a decided claim
// cannot be decided again.
func testClaimDecisions(t *testing.T, open Opener) {
	ce := newClaimEnv(t, open)
	pctx := cmex.WithActor(context.Background(), "portal:x")
	octx := cmex.WithActor(context.Background(), "portal:cmex.admin")
	helen := ce.account(t, "helen", "Helen", "Markman")
	spelled := helenEvidence()
	spelled.FamilyName = "Markmann"
	c, err := ce.claims.ClaimPerson(pctx, helen.ID, spelled)
	if err != nil || c.State != cmex.ClaimPending {
		t.Fatal(c, err)
	}
	if err := ce.claims.ApproveClaim(octx, c.ID, 999999); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("approving for no person: %v", err)
	}
	if err := ce.claims.ApproveClaim(octx, 999999, ce.helen); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("approving no claim: %v", err)
	}
	// Jane is linked to another account: unlink first.
	other := ce.account(t, "jane", "Jane", "ACCME")
	if c, err := ce.claims.ClaimPerson(pctx, other.ID, cmex.ClaimEvidence{GivenName: "Jane", FamilyName: "ACCME", BirthDate: cmex.MustParseDate("1904-10-30"), Kind: "board", Scope: "ABIM", Identifier: "999902"}); err != nil || c.State != cmex.ClaimLinked {
		t.Fatal(c, err)
	}
	if err := ce.claims.ApproveClaim(octx, c.ID, ce.jane); cmex.ErrorCode(err) != cmex.ECONFLICT || !strings.Contains(cmex.ErrorMessage(err), "jane") {
		t.Errorf("approving for a linked person: %v", err)
	}
	if err := ce.claims.ApproveClaim(octx, c.ID, ce.helen); err != nil {
		t.Fatal(err)
	}
	got, err := ce.claims.Claim(octx, c.ID)
	if err != nil || got.State != cmex.ClaimApproved || got.Person != ce.helen || got.DecidedBy != "portal:cmex.admin" || got.Seen() != cmex.ClaimApproved {
		t.Errorf("approved claim: %+v, %v", got, err)
	}
	if l, err := ce.claims.AccountLink(pctx, helen.ID); err != nil || l.PersonID != ce.helen || l.Via != cmex.LinkByApproval {
		t.Errorf("link after approval: %+v, %v", l, err)
	}
	if err := ce.claims.ApproveClaim(octx, c.ID, ce.helen); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("approving twice: %v", err)
	}
	if err := ce.claims.RefuseClaim(octx, c.ID, "too late"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("refusing an approved claim: %v", err)
	}

	// Refused: kept with its reason, shown to the physician as pending.
	mallory := ce.account(t, "mallory", "Mal", "Lory")
	c2, _ := ce.claims.ClaimPerson(pctx, mallory.ID, helenEvidence())
	if err := ce.claims.RefuseClaim(octx, c2.ID, "  "); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("refusing without a reason: %v", err)
	}
	if err := ce.claims.RefuseClaim(octx, c2.ID, "not the person: her birth date differs"); err != nil {
		t.Fatal(err)
	}
	got, _ = ce.claims.Claim(octx, c2.ID)
	if got.State != cmex.ClaimRefused || got.Seen() != cmex.ClaimPending || got.Reason != "not the person: her birth date differs" || cmex.ClaimAnswer(got) != cmex.ClaimAnswer(c2) {
		t.Errorf("refused claim: %+v; answer %q, pending's %q", got, cmex.ClaimAnswer(got), cmex.ClaimAnswer(c2))
	}

	// Unlinking.
	if err := ce.claims.Unlink(octx, mallory.ID, "mistake"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("unlinking an account with no link: %v", err)
	}
	if err := ce.claims.Unlink(octx, other.ID, ""); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("unlinking without a reason: %v", err)
	}
	if err := ce.claims.Unlink(octx, other.ID, "the physician asked"); err != nil {
		t.Fatal(err)
	}
	if _, err := ce.claims.LinkOfPerson(octx, ce.jane); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("Jane after unlinking: %v", err)
	}
	if ls, err := ce.claims.Links(octx, 10); err != nil || len(ls) != 1 || ls[0].Username != "helen" {
		t.Errorf("links: %+v, %v", ls, err)
	}
	want := []string{"claim.add helen", "claim.add jane", "person-link.add jane", "claim.approve helen", "person-link.add helen",
		"claim.add mallory", "claim.refuse mallory", "person-link.remove jane"}
	got2 := append(ce.auditActions(t, "claim."), ce.auditActions(t, "person-link.")...)
	if len(got2) != len(want) {
		t.Fatalf("audit: %q, want (in some order) %q", got2, want)
	}
	for _, w := range want {
		found := false
		for _, g := range got2 {
			found = found || g == w
		}
		if !found {
			t.Errorf("audit lacks %q: %q", w, got2)
		}
	}
	es, _ := ce.audit.AuditLog(octx, cmex.AuditFilter{Action: "claim.refuse"})
	if len(es) != 1 || es[0].Actor != "portal:cmex.admin" || !strings.Contains(es[0].Detail, "her birth date differs") {
		t.Errorf("the refusal's entry: %+v", es)
	}
}

// testInvitations: a provider invites only persons it reported records
// for; the token is stored as a hash; an invitation links the account that
// opens it, once, within 14 days; a person linked to another account
// turns it into a claim for an operator.
func testInvitations(t *testing.T, open Opener) {
	ce := newClaimEnv(t, open)
	ctx := cmex.WithActor(context.Background(), "portal:aaa.admin")
	orgA, orgB := ce.p.Organization.ID, ce.b.Organization.ID

	// Jane has no record of provider B: the same answer as no person.
	_, _, errJane := ce.claims.Invite(ctx, orgB, ce.jane)
	_, _, errNobody := ce.claims.Invite(ctx, orgB, 999999)
	if cmex.ErrorCode(errJane) != cmex.ENOTFOUND || cmex.ErrorCode(errNobody) != cmex.ENOTFOUND {
		t.Errorf("inviting a person without records: %v; nobody: %v", errJane, errNobody)
	}
	inv, token, err := ce.claims.Invite(ctx, orgA, ce.helen)
	if err != nil || len(token) != 43 || inv.PersonID != ce.helen || inv.PersonName != "Helen Markman" || inv.Provider != "AAA Test Organization" ||
		!inv.ExpiresAt.Equal(Today.Add(14*24*time.Hour)) || inv.Usable(Today) != "" {
		t.Fatalf("invitation: %+v %q, %v", inv, token, err)
	}
	var stored int
	if err := ce.db.SQL().QueryRow(`SELECT count(*) FROM person_invitations WHERE token_hash = '` + token + `'`).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("the token itself is stored: %d, %v", stored, err)
	}
	if got, err := ce.claims.InvitationByToken(ctx, token); err != nil || got.ID != inv.ID {
		t.Errorf("invitation by token: %+v, %v", got, err)
	}
	if _, err := ce.claims.InvitationByToken(ctx, token+"x"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("a wrong token: %v", err)
	}
	if list, err := ce.claims.Invitations(ctx, orgA, 10); err != nil || len(list) != 1 || list[0].ID != inv.ID {
		t.Errorf("A's invitations: %+v, %v", list, err)
	}
	if list, _ := ce.claims.Invitations(ctx, orgB, 10); len(list) != 0 {
		t.Errorf("B sees A's invitations: %+v", list)
	}

	// Opened by a physician's account: linked, once.
	helen := ce.account(t, "helen.m", "Helen", "Markman")
	c, err := ce.claims.AcceptInvitation(ctx, token, helen.ID)
	if err != nil || c.State != cmex.ClaimLinked || c.Person != ce.helen || c.Invitation != inv.ID {
		t.Fatalf("accepting: %+v, %v", c, err)
	}
	if l, err := ce.claims.AccountLink(ctx, helen.ID); err != nil || l.Via != cmex.LinkByInvitation {
		t.Errorf("link by invitation: %+v, %v", l, err)
	}
	other := ce.account(t, "other", "O", "Ther")
	_, err = ce.claims.AcceptInvitation(ctx, token, other.ID)
	if cmex.ErrorCode(err) != cmex.EFORBIDDEN || !strings.Contains(cmex.ErrorMessage(err), "was used on 15 June 2025") {
		t.Errorf("a used invitation: %v", err)
	}
	if got, _ := ce.claims.InvitationByToken(ctx, token); got.Usable(Today) != "used" || got.UsedBy != helen.ID {
		t.Errorf("after use: %+v", got)
	}
	if _, err := ce.claims.AcceptInvitation(ctx, "no-such-token", other.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("an unknown token: %v", err)
	}

	// Expired after 14 days.
	_, token2, err := ce.claims.Invite(ctx, orgB, ce.helen)
	if err != nil {
		t.Fatal(err)
	}
	ce.clock.Advance(14 * 24 * time.Hour)
	if _, err := ce.claims.AcceptInvitation(ctx, token2, other.ID); cmex.ErrorCode(err) != cmex.EFORBIDDEN || !strings.Contains(cmex.ErrorMessage(err), "expired on 29 June 2025") {
		t.Errorf("an expired invitation: %v", err)
	}

	// Helen is linked already: a fresh invitation opened by another
	// account becomes a claim for an operator, and is used up.
	_, token3, _ := ce.claims.Invite(ctx, orgA, ce.helen)
	c, err = ce.claims.AcceptInvitation(ctx, token3, other.ID)
	if err != nil || c.State != cmex.ClaimPending || len(c.Candidates) != 1 || c.Candidates[0] != ce.helen || c.Invitation == 0 {
		t.Fatalf("an invitation for a linked person: %+v, %v", c, err)
	}
	if _, err := ce.claims.AccountLink(ctx, other.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("the other account was linked: %v", err)
	}
	if got, _ := ce.claims.InvitationByToken(ctx, token3); got.Usable(ce.clock.Now()) != "used" {
		t.Errorf("the invitation after it became a claim: %+v", got)
	}
	// Helen's own account, linked already, opening another invitation of
	// hers: linked, and the invitation is kept; an account linked to
	// someone else is refused, and it is kept too.
	_, token4, _ := ce.claims.Invite(ctx, orgA, ce.helen)
	if c, err := ce.claims.AcceptInvitation(ctx, token4, helen.ID); err != nil || c.State != cmex.ClaimLinked {
		t.Errorf("Helen opening a second invitation: %+v, %v", c, err)
	}
	janeAcc := ce.account(t, "jane", "Jane", "ACCME")
	if _, err := ce.claims.ClaimPerson(ctx, janeAcc.ID, cmex.ClaimEvidence{GivenName: "Jane", FamilyName: "ACCME", BirthDate: cmex.MustParseDate("1904-10-30"), Kind: "board", Scope: "ABIM", Identifier: "999902"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ce.claims.AcceptInvitation(ctx, token4, janeAcc.ID); cmex.ErrorCode(err) != cmex.ECONFLICT {
		t.Errorf("an account linked to another person: %v", err)
	}
	if got, _ := ce.claims.InvitationByToken(ctx, token4); got.Usable(ce.clock.Now()) != "" {
		t.Errorf("refused openings used the invitation up: %+v", got)
	}
	if got := ce.auditActions(t, "invitation."); len(got) != 6 || got[0] != "invitation.add person "+itoa(ce.helen) || got[1] != "invitation.use helen.m" {
		t.Errorf("invitations' audit: %q", got)
	}

	// The provider's learners: its own only, searchable.
	ls, err := ce.claims.ProviderLearners(ctx, orgA, cmex.PersonFilter{})
	if err != nil || len(ls) != 1 || ls[0].PersonID != ce.helen || ls[0].Records != 3 || ls[0].Last != cmex.MustParseDate("2025-06-01") || ls[0].FamilyName != "Markman" {
		t.Errorf("A's learners: %+v, %v", ls, err)
	}
	if _, err := ce.report(t, cmextest.JaneReport(ce.activity.ID, "2025-05-01", "j")); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]int{"": 2, "mark": 1, "44861": 1, "accme": 1, "nobody": 0, "999898": 1, "000000": 0} {
		if ls, err := ce.claims.ProviderLearners(ctx, orgA, cmex.PersonFilter{Name: q}); err != nil || len(ls) != want {
			t.Errorf("A's learners %q: %+v, %v; want %d", q, ls, err, want)
		}
	}
	if ls, _ := ce.claims.ProviderLearners(ctx, orgB, cmex.PersonFilter{Name: "accme"}); len(ls) != 0 {
		t.Errorf("B finds A's learner Jane: %+v", ls)
	}
}

// testPersonLedger: a linked person's ledger credits come from every
// provider with their statuses, a rejected record listed apart with the
// board's code and reason; progress counts the linked account's own
// credits.
func testPersonLedger(t *testing.T, open Opener) {
	ce := newClaimEnv(t, open)
	ctx := context.Background()
	// B's ABIM Patient Safety record is rejected, A's Medical Knowledge
	// one approved.
	for _, m := range []struct {
		i      int
		status cmex.LearnerStatus
	}{{1, cmex.StatusApproved}, {5, cmex.StatusRejected}} {
		r := ce.helenRec[m.i]
		ch := cmex.StatusChange{Status: m.status, At: ce.clock.Now(), Source: "board:ABIM"}
		if m.status == cmex.StatusRejected {
			ch.Code, ch.Reason = "661", "Diplomate ID not found in Board records."
		}
		if ok, err := ce.learners.MoveLearnerRecord(ctx, r.ID, r.Status, ch); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	credits, err := ce.claims.PersonLedger(ctx, ce.helen)
	if err != nil {
		t.Fatal(err)
	}
	if len(credits) != 3 {
		t.Fatalf("ledger credits: %+v", credits)
	}
	byKey := map[string]cmex.TranscriptCredit{}
	for _, c := range credits {
		var st []string
		for i, l := range c.Lines() {
			st = append(st, l.Type+" "+l.Category+" "+string(c.Statuses[i].Status)+" "+c.Statuses[i].Code)
		}
		byKey[c.Sponsor+"|"+strings.Join(st, ",")] = c
		if c.Sources[0] != cmex.SourceRegistry || len(c.Statuses) != len(c.Details) {
			t.Errorf("credit %+v", c)
		}
		// Each line names its record: the key of its credential.
		for _, st := range c.Statuses {
			if !slices.ContainsFunc(ce.helenRec, func(r *cmex.LearnerRecord) bool { return r.ID == st.RecordID }) {
				t.Errorf("a line names record %d, none of Helen's", st.RecordID)
			}
		}
	}
	for _, want := range []string{
		"AAA Test Organization|CME CAT1 Accepted ,MOC ABIM MOC Approved ,MOC ABIM MOC Accepted ",
		"Second Sandbox Organization|CME CAT1 Accepted ,MOC ABIM MOC Accepted ",
		"Second Sandbox Organization|MOC ABIM MOC Rejected 661",
	} {
		c, ok := byKey[want]
		if !ok {
			t.Errorf("no credit %q among %v", want, keys(byKey))
			continue
		}
		if strings.Contains(want, "Rejected") != c.Rejected {
			t.Errorf("%q: Rejected = %v", want, c.Rejected)
		}
		if c.Rejected && c.Statuses[0].Reason != "Diplomate ID not found in Board records." {
			t.Errorf("rejection's reason: %+v", c.Statuses)
		}
	}

	// Her own credits count toward her progress through the link.
	helen := ce.account(t, "helen", "Helen", "Markman")
	if err := ce.gateway.AddSelfCredit(ctx, &cmex.SelfCredit{AccountID: helen.ID, CEU: oneCEU("Reading", "2025-07-01", 150)}); err != nil {
		t.Fatal(err)
	}
	plans := sqlstore.NewPlanService(ce.db)
	before, _ := plans.PersonCredits(ctx, ce.helen)
	if _, err := ce.claims.ClaimPerson(ctx, helen.ID, helenEvidence()); err != nil {
		t.Fatal(err)
	}
	after, err := plans.PersonCredits(ctx, ce.helen)
	if err != nil || len(after) != len(before)+1 || !after[len(after)-1].SelfAttested {
		t.Errorf("person credits before the link %d, after %d (%v)", len(before), len(after), err)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func itoa(id cmex.PersonID) string { return strconv.FormatInt(int64(id), 10) }
