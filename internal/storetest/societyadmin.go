package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func init() {
	extra = append(extra,
		named{"SocietyAdminMembers", testSocietyAdminMembers},
		named{"SocietyAdminCredits", testSocietyAdminCredits},
		named{"SocietyAdminAccess", testSocietyAdminAccess},
	)
}

// societies creates a local society EXAMPLE, a second local one OTHER and
// a remote one ACR.
func societies(t *testing.T, s *sqlstore.SocietyService) (local, other, remote *cmex.Society) {
	t.Helper()
	local = &cmex.Society{Code: "EXAMPLE", Name: "Example Society", Kind: cmex.SocietyLocal}
	other = &cmex.Society{Code: "OTHER", Name: "Other Society", Kind: cmex.SocietyLocal}
	remote = &cmex.Society{Code: "ACR", Name: "ACR", Kind: cmex.SocietyRemote, BindingURL: "https://a.example/b", OrderURL: "https://a.example/o"}
	for _, so := range []*cmex.Society{local, other, remote} {
		if err := s.CreateSociety(context.Background(), so); err != nil {
			t.Fatal(err)
		}
	}
	return local, other, remote
}

// auditDetails returns the actions and details of the audit log's entries
// with action prefix, joined.
func auditDetails(t *testing.T, e *env, prefix string) string {
	t.Helper()
	es, err := sqlstore.NewAuditService(e.db).AuditLog(context.Background(), cmex.AuditFilter{Action: prefix, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, x := range es {
		fmt.Fprintf(&b, "%s %s %s %s\n", x.Actor, x.Action, x.Subject, x.Detail)
	}
	return b.String()
}

func testSocietyAdminMembers(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := cmex.WithActor(context.Background(), "portal:example.admin")
	s := sqlstore.NewSocietyService(e.db)
	local, other, remote := societies(t, s)

	ned := cmex.NewMember{Member: cmex.Member{MemberID: "01234567", Username: "NedBaker", GivenName: "Ned", FamilyName: "Baker",
		Address: cmex.Address{City: "Fred", State: "VA"}}, Password: "mYpAsSwOrD"}
	ann := cmex.NewMember{Member: cmex.Member{MemberID: " A-100 ", Username: "ann.smith", GivenName: "Ann", FamilyName: "Smith", PersonID: 77}}
	out, err := s.ImportMembers(ctx, local.ID, []cmex.NewMember{ned, ann})
	if err != nil || len(out) != 2 || out[0].Outcome != cmex.MemberAdded || out[1].Outcome != cmex.MemberAdded || out[1].MemberID != "A-100" {
		t.Fatalf("import: %+v, %v", out, err)
	}
	if out[0].Password != "" {
		t.Errorf("a password was generated for a member who came with one: %q", out[0].Password)
	}
	generated := out[1].Password
	if len(generated) < 20 {
		t.Fatalf("generated password %q", generated)
	}
	if m, err := s.AuthenticateMember(ctx, local.ID, "nedbaker", "mYpAsSwOrD"); err != nil || m.Address.City != "Fred" {
		t.Errorf("Ned's login: %+v, %v", m, err)
	}
	if m, err := s.AuthenticateMember(ctx, local.ID, "ann.smith", generated); err != nil || m.PersonID != 0 {
		t.Errorf("Ann's generated login: %+v, %v (a person link is not imported)", m, err)
	}
	var stored int
	if err := e.db.SQL().QueryRow(`SELECT count(*) FROM society_members WHERE password_hash = '` + generated + `' OR password_hash = 'mYpAsSwOrD'`).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("a password is stored as it is: %d, %v", stored, err)
	}

	// The same file again changes nothing, generates nothing, and leaves
	// no audit entry; a changed name is an update, the password kept.
	before := auditDetails(t, e, "members.")
	out, err = s.ImportMembers(ctx, local.ID, []cmex.NewMember{ned, ann})
	if err != nil || out[0].Outcome != cmex.MemberUnchanged || out[1].Outcome != cmex.MemberUnchanged || out[1].Password != "" {
		t.Fatalf("import again: %+v, %v", out, err)
	}
	if after := auditDetails(t, e, "members."); after != before || !strings.Contains(after, "portal:example.admin members.import EXAMPLE 2 added, 0 updated, 0 unchanged") {
		t.Errorf("audit after importing the same file twice:\n%s", after)
	}
	ann.Member.FamilyName, ann.Password = "Smith-Jones", "ignored for a member she is already"
	out, err = s.ImportMembers(ctx, local.ID, []cmex.NewMember{ann})
	if err != nil || out[0].Outcome != cmex.MemberUpdated || out[0].Password != "" {
		t.Fatalf("import an update: %+v, %v", out, err)
	}
	if m, err := s.AuthenticateMember(ctx, local.ID, "ann.smith", generated); err != nil || m.FamilyName != "Smith-Jones" {
		t.Errorf("Ann after the update: %+v, %v", m, err)
	}

	// Any problem, and nothing is imported: not even the good members.
	newcomer := cmex.NewMember{Member: cmex.Member{MemberID: "N-1", Username: "newcomer", GivenName: "New", FamilyName: "Comer"}}
	for name, tc := range map[string]struct {
		ms      []cmex.NewMember
		problem string // of member[2]
	}{
		"username of another member": {[]cmex.NewMember{newcomer, {Member: cmex.Member{MemberID: "N-2", Username: "NEDBAKER", GivenName: "X", FamilyName: "Y"}}}, "username NEDBAKER is member 01234567's"},
		"id twice in the file":       {[]cmex.NewMember{newcomer, {Member: cmex.Member{MemberID: "N-1", Username: "x", GivenName: "X", FamilyName: "Y"}}}, "member id N-1 is also member 1 of the file"},
		"username twice in the file": {[]cmex.NewMember{newcomer, {Member: cmex.Member{MemberID: "N-3", Username: "NewComer", GivenName: "X", FamilyName: "Y"}}}, "username NewComer is also member 1's of the file"},
		"no family name":             {[]cmex.NewMember{newcomer, {Member: cmex.Member{MemberID: "N-4", Username: "x", GivenName: "X"}}}, "a member needs a given and a family name"},
		"long password":              {[]cmex.NewMember{newcomer, {Member: cmex.Member{MemberID: "N-5", Username: "x", GivenName: "X", FamilyName: "Y"}, Password: strings.Repeat("p", cmex.MaxPasswordBytes+1)}}, "the password is longer than 1024 bytes"},
	} {
		_, err := s.ImportMembers(ctx, local.ID, tc.ms)
		ps := cmex.ErrorProblems(err)
		if cmex.ErrorCode(err) != cmex.EINVALID || len(ps) != 1 || ps[0].Field != "member[2]" || ps[0].Message != tc.problem {
			t.Errorf("%s: %v %+v", name, err, ps)
		}
	}
	if _, err := s.Member(ctx, local.ID, "N-1"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("a refused file imported its good member: %v", err)
	}
	if _, err := s.ImportMembers(ctx, remote.ID, []cmex.NewMember{newcomer}); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("import at a remote society: %v", err)
	}
	if _, err := s.ImportMembers(ctx, 999, []cmex.NewMember{newcomer}); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("import at an unknown society: %v", err)
	}
	// The same member id and username at another society are another
	// member.
	if out, err := s.ImportMembers(ctx, other.ID, []cmex.NewMember{ned}); err != nil || out[0].Outcome != cmex.MemberAdded {
		t.Errorf("Ned at OTHER: %+v, %v", out, err)
	}

	// Search: by part of a member id, username, either name or both, without
	// regard to case; a % is a character, not a wildcard; one society's
	// members only.
	if err := s.AddMember(ctx, &cmex.Member{SocietyID: local.ID, MemberID: "P%1", Username: "percent", GivenName: "Per", FamilyName: "Cent"}, "pw"); err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string]string{
		"":              "01234567 A-100 P%1",
		"a-1":           "A-100",
		"nedb":          "01234567",
		"smith-j":       "A-100",
		"ned  baker":    "01234567",
		"BAKER NED":     "01234567",
		"%":             "P%1",
		"_":             "",
		"nobody at all": "",
	} {
		ms, err := s.FindMembers(ctx, local.ID, cmex.MemberFilter{Text: text})
		var got []string
		for _, m := range ms {
			got = append(got, m.MemberID)
		}
		if err != nil || strings.Join(got, " ") != want {
			t.Errorf("find %q = %q, %v; want %q", text, got, err, want)
		}
	}
	if ms, err := s.FindMembers(ctx, local.ID, cmex.MemberFilter{Limit: 2}); err != nil || len(ms) != 2 {
		t.Errorf("find with a limit: %d, %v", len(ms), err)
	}
	if ms, err := s.FindMembers(ctx, other.ID, cmex.MemberFilter{}); err != nil || len(ms) != 1 || ms[0].SocietyID != other.ID {
		t.Errorf("OTHER's members: %+v, %v", ms, err)
	}

	// A reset password: a new one works, the old one no longer; another
	// society's member cannot be reset from this one.
	pw, err := s.ResetMemberPassword(ctx, local.ID, "01234567")
	if err != nil || len(pw) < 20 || pw == "mYpAsSwOrD" {
		t.Fatalf("reset: %q, %v", pw, err)
	}
	if _, err := s.AuthenticateMember(ctx, local.ID, "NedBaker", pw); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if _, err := s.AuthenticateMember(ctx, local.ID, "NedBaker", "mYpAsSwOrD"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("the old password: %v", err)
	}
	if _, err := s.AuthenticateMember(ctx, other.ID, "NedBaker", "mYpAsSwOrD"); err != nil {
		t.Errorf("Ned at OTHER lost his password: %v", err)
	}
	if _, err := s.ResetMemberPassword(ctx, local.ID, "N-1"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("reset of no member: %v", err)
	}
	if log := auditDetails(t, e, "member."); !strings.Contains(log, "member.password-reset 01234567") || strings.Contains(log, pw) {
		t.Errorf("audit of the reset:\n%s", log)
	}
}

func testSocietyAdminCredits(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	s := sqlstore.NewSocietyService(e.db)
	local, other, remote := societies(t, s)
	for _, m := range []*cmex.Member{
		{SocietyID: local.ID, MemberID: "01234567", Username: "NedBaker", GivenName: "Ned", FamilyName: "Baker"},
		{SocietyID: local.ID, MemberID: "A-100", Username: "ann", GivenName: "Ann", FamilyName: "Smith"},
		{SocietyID: other.ID, MemberID: "O-1", Username: "olga", GivenName: "Olga", FamilyName: "Other"},
	} {
		if err := s.AddMember(ctx, m, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	pet := oneCEU("PET Imaging Conference", "2003-06-15", 1325)
	pet.Location = "Hilton Head Island, SC"
	rnd := oneCEU("R&D in <Radiology>", "2024-02-01", 100)
	credits := []cmex.SocietyCredit{
		{MemberID: "01234567", CEU: pet},
		{MemberID: "01234567", CEU: oneCEU("Pneumoconioses", "2001-10-21", 1700)},
		{MemberID: "A-100", CEU: rnd},
		{MemberID: "01234567", CEU: cmex.CEU{Title: "No date or details"}},
		{MemberID: "nobody", CEU: pet},
		{MemberID: "O-1", CEU: pet}, // another society's member
		{MemberID: "01234567", CEU: pet},
	}
	want := []string{"accepted", "accepted", "accepted", "rejected", "rejected", "rejected", "present"}
	out, err := s.ImportSocietyCredits(ctx, local.ID, credits)
	if err != nil || len(out) != len(want) {
		t.Fatalf("import: %+v, %v", out, err)
	}
	for i, o := range out {
		if o.Outcome != want[i] || (o.Outcome == cmex.OutcomeRejected) != (o.Problem != "") {
			t.Errorf("credit %d: %+v, want %s", i+1, o, want[i])
		}
	}
	if !strings.Contains(out[3].Problem, "a credit needs a date") || out[4].Problem != `EXAMPLE has no member "nobody"` || out[5].Problem != `EXAMPLE has no member "O-1"` {
		t.Errorf("problems: %+v", out[3:6])
	}
	if log := auditDetails(t, e, "society."); !strings.Contains(log, "society.credits-import EXAMPLE 3 accepted, 1 present, 3 rejected") {
		t.Errorf("audit:\n%s", log)
	}
	// Importing the same credits again records nothing: every valid one is
	// present, and the log has no new entry.
	before := auditDetails(t, e, "society.")
	out, err = s.ImportSocietyCredits(ctx, local.ID, credits)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out {
		if w := want[i]; (w == "rejected") != (o.Outcome == "rejected") || (w != "rejected" && o.Outcome != "present") {
			t.Errorf("again, credit %d: %+v", i+1, o)
		}
	}
	if after := auditDetails(t, e, "society."); after != before {
		t.Errorf("importing nothing new was audited:\n%s", after)
	}
	if n := count(t, e.db, "society_credits"); n != 3 {
		t.Errorf("%d credits stored, want 3", n)
	}
	if _, err := s.ImportSocietyCredits(ctx, remote.ID, credits[:1]); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("import at a remote society: %v", err)
	}
	if _, err := s.ImportSocietyCredits(ctx, 999, credits[:1]); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("import at an unknown society: %v", err)
	}
	if out, err := s.ImportSocietyCredits(ctx, other.ID, []cmex.SocietyCredit{{MemberID: "O-1", CEU: pet}}); err != nil || out[0].Outcome != "accepted" {
		t.Fatalf("OTHER's credit: %+v, %v", out, err)
	}

	// The list: newest first, with the member's names; filters by member,
	// dates and text in the credit's own fields (not in its field names or
	// categories); one society's credits only.
	titles := func(f cmex.SocietyCreditFilter) string {
		t.Helper()
		cs, err := s.SocietyCredits(ctx, local.ID, f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range cs {
			got = append(got, c.MemberID+":"+c.CEU.Title)
		}
		return strings.Join(got, " | ")
	}
	for _, c := range []struct {
		f    cmex.SocietyCreditFilter
		want string
	}{
		{cmex.SocietyCreditFilter{}, "A-100:R&D in <Radiology> | 01234567:PET Imaging Conference | 01234567:Pneumoconioses"},
		{cmex.SocietyCreditFilter{MemberID: "01234567"}, "01234567:PET Imaging Conference | 01234567:Pneumoconioses"},
		{cmex.SocietyCreditFilter{MemberID: "O-1"}, ""},
		{cmex.SocietyCreditFilter{Text: "pet imaging"}, "01234567:PET Imaging Conference"},
		{cmex.SocietyCreditFilter{Text: "hilton head"}, "01234567:PET Imaging Conference"},
		{cmex.SocietyCreditFilter{Text: "example society"}, "A-100:R&D in <Radiology> | 01234567:PET Imaging Conference | 01234567:Pneumoconioses"},
		{cmex.SocietyCreditFilter{Text: "r&d in <rad"}, "A-100:R&D in <Radiology>"},
		{cmex.SocietyCreditFilter{Text: "cat1"}, ""},
		{cmex.SocietyCreditFilter{Text: "title"}, ""},
		{cmex.SocietyCreditFilter{From: cmex.MustParseDate("2003-06-15")}, "A-100:R&D in <Radiology> | 01234567:PET Imaging Conference"},
		{cmex.SocietyCreditFilter{To: cmex.MustParseDate("2003-06-15")}, "01234567:PET Imaging Conference | 01234567:Pneumoconioses"},
		{cmex.SocietyCreditFilter{Limit: 1}, "A-100:R&D in <Radiology>"},
		{cmex.SocietyCreditFilter{Text: "o", Limit: 2}, "A-100:R&D in <Radiology> | 01234567:PET Imaging Conference"},
	} {
		if got := titles(c.f); got != c.want {
			t.Errorf("credits %+v = %q, want %q", c.f, got, c.want)
		}
	}
	cs, err := s.SocietyCredits(ctx, local.ID, cmex.SocietyCreditFilter{MemberID: "A-100"})
	if err != nil || len(cs) != 1 || cs[0].GivenName != "Ann" || cs[0].FamilyName != "Smith" || cs[0].ID == 0 || !cs[0].RecordedAt.Equal(e.clock.Now().UTC().Truncate(1000)) ||
		cs[0].CEU.Details[0].Credits != 100 {
		t.Errorf("Ann's credit: %+v, %v", cs, err)
	}
	if cs, err := s.SocietyCredits(ctx, other.ID, cmex.SocietyCreditFilter{}); err != nil || len(cs) != 1 || cs[0].MemberID != "O-1" {
		t.Errorf("OTHER's credits: %+v, %v", cs, err)
	}

	// AddSocietyCredits, as cmex society import and the sandbox use it,
	// is audited too, and only when it records something.
	before = auditDetails(t, e, "society.credits-add")
	if n, err := s.AddSocietyCredits(ctx, local.ID, "A-100", []cmex.CEU{rnd}); err != nil || n != 0 {
		t.Fatalf("add a known credit: %d, %v", n, err)
	}
	if n, err := s.AddSocietyCredits(ctx, local.ID, "A-100", []cmex.CEU{pet}); err != nil || n != 1 {
		t.Fatalf("add a new credit: %d, %v", n, err)
	}
	if after := auditDetails(t, e, "society.credits-add"); before != "" || !strings.Contains(after, "society.credits-add A-100") {
		t.Errorf("audit of AddSocietyCredits: before %q, after %q", before, after)
	}
}

func testSocietyAdminAccess(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	s := sqlstore.NewSocietyService(e.db)
	local, other, remote := societies(t, s)

	// Approvals: listed by the approving society; withdrawn once.
	for _, puller := range []*cmex.Society{other, remote} {
		if err := s.Approve(ctx, local.ID, puller.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Approve(ctx, other.ID, local.ID); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.ApprovedPullers(ctx, local.ID); err != nil || len(ids) != 2 || ids[0] != other.ID || ids[1] != remote.ID {
		t.Errorf("EXAMPLE approved %v, %v", ids, err)
	}
	if err := s.WithdrawApproval(ctx, local.ID, other.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.WithdrawApproval(ctx, local.ID, other.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("withdraw twice: %v", err)
	}
	if ids, err := s.ApprovedProviders(ctx, other.ID); err != nil || len(ids) != 0 {
		t.Errorf("OTHER may still pull from %v, %v", ids, err)
	}
	if ids, err := s.ApprovedProviders(ctx, local.ID); err != nil || len(ids) != 1 || ids[0] != other.ID {
		t.Errorf("OTHER's own approval of EXAMPLE went too: %v, %v", ids, err)
	}
	if log := auditDetails(t, e, "society.withdraw"); !strings.Contains(log, fmt.Sprintf("society.withdraw %d may no longer pull from society %d", other.ID, local.ID)) {
		t.Errorf("audit of the withdrawal:\n%s", log)
	}

	// Feed secrets: generated, shown once, kept as a hash; a new one ends
	// the old one at once.
	if _, err := s.NewFeedSecret(ctx, local.ID, ""); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("a new secret without a login: %v", err)
	}
	first, err := s.NewFeedSecret(ctx, local.ID, " example-feed ")
	if err != nil || len(first) < 20 {
		t.Fatalf("a new feed login: %q, %v", first, err)
	}
	if so, err := s.AuthenticateFeed(ctx, "example-feed", first); err != nil || so.ID != local.ID {
		t.Errorf("the new login: %+v, %v", so, err)
	}
	second, err := s.NewFeedSecret(ctx, local.ID, "")
	if err != nil || second == first {
		t.Fatalf("a rotated secret: %q, %v", second, err)
	}
	if _, err := s.AuthenticateFeed(ctx, "example-feed", first); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("the old secret after rotation: %v", err)
	}
	if _, err := s.AuthenticateFeed(ctx, "example-feed", second); err != nil {
		t.Errorf("the rotated secret: %v", err)
	}
	if _, err := s.NewFeedSecret(ctx, other.ID, "EXAMPLE-FEED"); cmex.ErrorCode(err) != cmex.ECONFLICT {
		t.Errorf("another society's feed username: %v", err)
	}
	if _, err := s.NewFeedSecret(ctx, 999, "x"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("an unknown society: %v", err)
	}
	var hash string
	if err := e.db.SQL().QueryRow(`SELECT feed_password_hash FROM societies WHERE code = 'EXAMPLE'`).Scan(&hash); err != nil || !strings.HasPrefix(hash, "$argon2id$") {
		t.Errorf("the feed secret is kept as %q, %v", hash, err)
	}
	if log := auditDetails(t, e, "society.feed-login"); strings.Count(log, "example-feed") != 2 || strings.Contains(log, first) || strings.Contains(log, second) {
		t.Errorf("audit of the feed logins:\n%s", log)
	}
}
