package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func init() {
	extra = append(extra,
		named{"Societies", testSocieties},
		named{"SocietyMembersAndCredits", testSocietyMembers},
		named{"GatewayAccounts", testGatewayAccounts},
		named{"OrderGrants", testOrderGrants},
	)
}

func oneCEU(title, date string, credits cmex.Points) cmex.CEU {
	return cmex.CEU{Sponsor: "Example Society", Title: title, Date: cmex.MustParseDate(date),
		Details: []cmex.CEUDetail{{Type: cmex.DetailCME, Focus: []string{"PET"}, Credits: credits, Category: cmex.CategoryAMA1}}}
}

func testSocieties(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	s := sqlstore.NewSocietyService(e.db)

	local := &cmex.Society{Code: "example", Name: "Example Society", Kind: cmex.SocietyLocal}
	if err := s.CreateSociety(ctx, local); err != nil || local.Code != "EXAMPLE" || local.ID == 0 {
		t.Fatalf("create local: %+v, %v", local, err)
	}
	remote := &cmex.Society{Code: "ACR", Name: "American College of Radiology", Kind: cmex.SocietyRemote,
		BindingURL: "https://acr.example/customer_binding", OrderURL: "https://acr.example/ceu_order"}
	if err := s.CreateSociety(ctx, remote); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]*cmex.Society{
		"duplicate code":     {Code: "Example", Name: "Again", Kind: cmex.SocietyLocal},
		"bad code":           {Code: "EX AMPLE", Name: "Spaces", Kind: cmex.SocietyLocal},
		"no name":            {Code: "NONAME", Kind: cmex.SocietyLocal},
		"remote without URL": {Code: "R1", Name: "R", Kind: cmex.SocietyRemote},
		"URL with password":  {Code: "R2", Name: "R", Kind: cmex.SocietyRemote, BindingURL: "https://u:p@x.example/b", OrderURL: "https://x.example/o"},
		"ftp URL":            {Code: "R3", Name: "R", Kind: cmex.SocietyRemote, BindingURL: "ftp://x.example/b", OrderURL: "https://x.example/o"},
		"local with URL":     {Code: "L1", Name: "L", Kind: cmex.SocietyLocal, BindingURL: "https://x.example/b"},
		"unknown kind":       {Code: "K1", Name: "K", Kind: "elsewhere"},
	} {
		err := s.CreateSociety(ctx, bad)
		want := cmex.EINVALID
		if name == "duplicate code" {
			want = cmex.ECONFLICT
		}
		if cmex.ErrorCode(err) != want {
			t.Errorf("%s: %v, want %s", name, err, want)
		}
	}
	all, err := s.ListSocieties(ctx, cmex.SocietyFilter{})
	if err != nil || len(all) != 2 || all[0].Code != "ACR" || all[1].Code != "EXAMPLE" {
		t.Fatalf("list = %+v, %v", all, err)
	}
	locals, err := s.ListSocieties(ctx, cmex.SocietyFilter{Kind: cmex.SocietyLocal})
	if err != nil || len(locals) != 1 || locals[0].ID != local.ID {
		t.Fatalf("local list = %+v, %v", locals, err)
	}
	if got, err := s.SocietyByCode(ctx, "acr"); err != nil || got.OrderURL != remote.OrderURL {
		t.Errorf("by code = %+v, %v", got, err)
	}
	if _, err := s.SocietyByCode(ctx, "NOPE"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("unknown code: %v", err)
	}

	// Feed logins: hashed, unique, checked in constant time.
	if err := s.SetFeedLogin(ctx, local.ID, "example-admin", "sandbox"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFeedLogin(ctx, remote.ID, "Example-Admin", "x"); cmex.ErrorCode(err) != cmex.ECONFLICT {
		t.Errorf("a feed username used twice: %v", err)
	}
	if got, err := s.AuthenticateFeed(ctx, "EXAMPLE-ADMIN", "sandbox"); err != nil || got.ID != local.ID || got.FeedUsername != "example-admin" {
		t.Errorf("feed login = %+v, %v", got, err)
	}
	for _, bad := range [][2]string{{"example-admin", "Sandbox"}, {"nobody", "sandbox"}, {"", ""}} {
		if _, err := s.AuthenticateFeed(ctx, bad[0], bad[1]); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
			t.Errorf("feed login %q: %v", bad, err)
		}
	}
	var stored string
	if err := e.db.SQL().QueryRow(`SELECT feed_password_hash FROM societies WHERE code = 'EXAMPLE'`).Scan(&stored); err != nil || stored == "sandbox" || len(stored) < 40 {
		t.Errorf("the feed password is stored as %q", stored)
	}

	// Approvals are idempotent and one-way.
	for range 2 {
		if err := s.Approve(ctx, remote.ID, local.ID); err != nil {
			t.Fatal(err)
		}
	}
	if ids, err := s.ApprovedProviders(ctx, local.ID); err != nil || len(ids) != 1 || ids[0] != remote.ID {
		t.Errorf("approved for EXAMPLE = %v, %v", ids, err)
	}
	if ids, err := s.ApprovedProviders(ctx, remote.ID); err != nil || len(ids) != 0 {
		t.Errorf("approved for ACR = %v, %v", ids, err)
	}
	if err := s.Approve(ctx, local.ID, local.ID); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("self-approval: %v", err)
	}
}

func testSocietyMembers(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	s := sqlstore.NewSocietyService(e.db)
	local := &cmex.Society{Code: "EXAMPLE", Name: "Example Society", Kind: cmex.SocietyLocal}
	remote := &cmex.Society{Code: "ACR", Name: "ACR", Kind: cmex.SocietyRemote, BindingURL: "https://a.example/b", OrderURL: "https://a.example/o"}
	for _, so := range []*cmex.Society{local, remote} {
		if err := s.CreateSociety(ctx, so); err != nil {
			t.Fatal(err)
		}
	}
	ned := &cmex.Member{SocietyID: local.ID, MemberID: "01234567", Username: "NedBaker", GivenName: "Ned", FamilyName: "Baker",
		Address: cmex.Address{Street: "42 Xyzzy Drive", City: "Fred", State: "VA", Zip: "22222", Country: "US"}}
	if err := s.AddMember(ctx, ned, "mYpAsSwOrD"); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		m    cmex.Member
		want string
	}{
		"same member id":  {cmex.Member{SocietyID: local.ID, MemberID: "01234567", Username: "other", GivenName: "O", FamilyName: "T"}, cmex.ECONFLICT},
		"same username":   {cmex.Member{SocietyID: local.ID, MemberID: "2", Username: "nedbaker", GivenName: "O", FamilyName: "T"}, cmex.ECONFLICT},
		"remote society":  {cmex.Member{SocietyID: remote.ID, MemberID: "3", Username: "x", GivenName: "O", FamilyName: "T"}, cmex.EINVALID},
		"no name":         {cmex.Member{SocietyID: local.ID, MemberID: "4", Username: "y"}, cmex.EINVALID},
		"unknown person":  {cmex.Member{SocietyID: local.ID, MemberID: "5", Username: "z", GivenName: "O", FamilyName: "T", PersonID: 999}, cmex.ENOTFOUND},
		"unknown society": {cmex.Member{SocietyID: 999, MemberID: "6", Username: "w", GivenName: "O", FamilyName: "T"}, cmex.ENOTFOUND},
	} {
		if err := s.AddMember(ctx, &tc.m, "pw"); cmex.ErrorCode(err) != tc.want {
			t.Errorf("%s: %v, want %s", name, err, tc.want)
		}
	}
	if m, err := s.AuthenticateMember(ctx, local.ID, "nedbaker", "mYpAsSwOrD"); err != nil || m.MemberID != "01234567" || m.Address.City != "Fred" {
		t.Errorf("member login = %+v, %v", m, err)
	}
	if _, err := s.AuthenticateMember(ctx, local.ID, "NedBaker", "mypassword"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := s.AuthenticateMember(ctx, remote.ID, "NedBaker", "mYpAsSwOrD"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("login at another society: %v", err)
	}

	// Society credits: stored once, never changed.
	credits := []cmex.CEU{oneCEU("PET Imaging Conference", "2003-06-15", 1325), oneCEU("Pneumoconioses", "2001-10-21", 1700)}
	if n, err := s.AddSocietyCredits(ctx, local.ID, "01234567", credits); err != nil || n != 2 {
		t.Fatalf("add credits: %d, %v", n, err)
	}
	if n, err := s.AddSocietyCredits(ctx, local.ID, "01234567", credits); err != nil || n != 0 {
		t.Fatalf("add the same credits again: %d, %v", n, err)
	}
	if _, err := s.AddSocietyCredits(ctx, local.ID, "01234567", []cmex.CEU{{Title: "No date"}}); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("a credit without date or details: %v", err)
	}
	if _, err := s.AddSocietyCredits(ctx, local.ID, "nobody", credits); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("credits for an unknown member: %v", err)
	}
	if _, err := e.db.SQL().Exec(`UPDATE society_credits SET document = '{}'`); err == nil {
		t.Error("a society credit was changed")
	}
	if _, err := e.db.SQL().Exec(`DELETE FROM society_credits`); err == nil {
		t.Error("a society credit was removed")
	}
	c, err := s.MemberCredits(ctx, local.ID, "01234567")
	if err != nil || len(c.CEUs) != 2 || c.CEUs[0].Title != "Pneumoconioses" || c.GivenName != "Ned" || c.Address.Zip != "22222" {
		t.Fatalf("member credits = %+v, %v", c, err)
	}
	if _, err := s.MemberCredits(ctx, local.ID, "99"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("unknown member: %v", err)
	}

	// A member linked to a registry person also gets what providers
	// reported for that person: one CEU per activity and date, AMA credit
	// as CME in CAT1, MOC points in the board's category.
	le := newLearnerEnv(t, open, cmex.MatchRegistry)
	ls := sqlstore.NewSocietyService(le.db)
	soc := &cmex.Society{Code: "EXAMPLE", Name: "Example Society", Kind: cmex.SocietyLocal}
	if err := ls.CreateSociety(ctx, soc); err != nil {
		t.Fatal(err)
	}
	janes, err := sqlstore.NewPersonService(le.db).FindPersons(ctx, cmex.PersonFilter{Name: "ACCME"})
	if err != nil || len(janes) != 1 {
		t.Fatal(janes, err)
	}
	jane := &cmex.Member{SocietyID: soc.ID, MemberID: "J-1", Username: "jane", GivenName: "Jane", FamilyName: "ACCME", PersonID: janes[0].ID}
	if err := ls.AddMember(ctx, jane, "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := le.report(t, cmextest.JaneReport(le.activity.ID, "2025-06-01", "v1")); err != nil {
		t.Fatal(err, cmex.ErrorProblems(err))
	}
	// A record the board rejected is not a credit.
	recs, err := le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderA, CreditID: "ccid:aaatestorganization.org:v1-3"})
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	if ok, err := le.learners.MoveLearnerRecord(ctx, recs[0].ID, recs[0].Status, cmex.StatusChange{Status: cmex.StatusRejected, At: le.clock.Now(), Source: "board:ABIM"}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	c, err = ls.MemberCredits(ctx, soc.ID, "J-1")
	if err != nil || len(c.CEUs) != 1 {
		t.Fatalf("Jane's credits = %+v, %v", c, err)
	}
	first := c.CEUs[0]
	if first.Sponsor != "AAA Test Organization" || first.Title != "Internal Medicine Manuscript" || first.ActivityType != "Manuscript Review" ||
		first.Date != cmex.MustParseDate("2025-06-01") || len(first.Details) != 2 {
		t.Fatalf("first ledger CEU = %+v", first)
	}
	if d := first.Details[0]; d.Type != cmex.DetailCME || d.Category != cmex.CategoryAMA1 || d.Credits != 200 {
		t.Errorf("AMA detail = %+v", d)
	}
	if d := first.Details[1]; d.Type != cmex.DetailMOC || d.Category != "ABIM MOC" || d.Focus[0] != "Medical Knowledge" || d.Credits != 150 {
		t.Errorf("MOC detail = %+v", d)
	}
	if first.Credits(cmex.CategoryAMA1) != 200 {
		t.Errorf("Category 1 credits = %v", first.Credits(cmex.CategoryAMA1))
	}
}

func testGatewayAccounts(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	g := sqlstore.NewGatewayService(e.db)
	s := sqlstore.NewSocietyService(e.db)
	soc := &cmex.Society{Code: "EXAMPLE", Name: "Example Society", Kind: cmex.SocietyLocal}
	acr := &cmex.Society{Code: "ACR", Name: "ACR", Kind: cmex.SocietyRemote, BindingURL: "https://a.example/b", OrderURL: "https://a.example/o"}
	for _, so := range []*cmex.Society{soc, acr} {
		if err := s.CreateSociety(ctx, so); err != nil {
			t.Fatal(err)
		}
	}

	ned := &cmex.Account{Username: "ned.baker", GivenName: "Ned", FamilyName: "Baker", Email: "ned@example.org"}
	if err := g.CreateAccount(ctx, ned, "gateway-pw"); err != nil || ned.ID == 0 {
		t.Fatalf("create account: %+v, %v", ned, err)
	}
	for name, tc := range map[string]struct {
		a    cmex.Account
		want string
	}{
		"taken":       {cmex.Account{Username: "Ned.Baker", GivenName: "N", FamilyName: "B"}, cmex.ECONFLICT},
		"no name":     {cmex.Account{Username: "x"}, cmex.EINVALID},
		"bad e-mail":  {cmex.Account{Username: "y", GivenName: "N", FamilyName: "B", Email: "not an address"}, cmex.EINVALID},
		"no username": {cmex.Account{GivenName: "N", FamilyName: "B"}, cmex.EINVALID},
	} {
		if err := g.CreateAccount(ctx, &tc.a, "pw"); cmex.ErrorCode(err) != tc.want {
			t.Errorf("%s: %v, want %s", name, err, tc.want)
		}
	}
	// A taken username is refused after the commit a free one costs, of
	// an audit entry saying which name was tried.
	var taken int
	if err := e.db.SQL().QueryRow(`SELECT count(*) FROM audit_log WHERE action = 'account.taken' AND subject = 'Ned.Baker'`).Scan(&taken); err != nil || taken != 1 {
		t.Errorf("audit entries of the taken username: %d, %v", taken, err)
	}
	if a, err := g.AuthenticateAccount(ctx, "NED.BAKER", "gateway-pw"); err != nil || a.ID != ned.ID || a.Email != "ned@example.org" {
		t.Errorf("login = %+v, %v", a, err)
	}
	if _, err := g.AuthenticateAccount(ctx, "ned.baker", "wrong"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("wrong password: %v", err)
	}
	if a, err := g.AccountByUsername(ctx, "ned.baker"); err != nil || a.ID != ned.ID {
		t.Errorf("by username = %+v, %v", a, err)
	}

	// Bindings: one per society, a member bound to one account only.
	if err := g.SaveBinding(ctx, &cmex.Binding{AccountID: ned.ID, SocietyID: soc.ID, MemberID: "old"}); err != nil {
		t.Fatal(err)
	}
	if err := g.SaveBinding(ctx, &cmex.Binding{AccountID: ned.ID, SocietyID: soc.ID, MemberID: "01234567"}); err != nil {
		t.Fatal(err)
	}
	if err := g.SaveBinding(ctx, &cmex.Binding{AccountID: ned.ID, SocietyID: acr.ID, MemberID: "A-1"}); err != nil {
		t.Fatal(err)
	}
	bs, err := g.Bindings(ctx, ned.ID)
	if err != nil || len(bs) != 2 || bs[0].SocietyCode != "ACR" || bs[1].MemberID != "01234567" {
		t.Fatalf("bindings = %+v, %v", bs, err)
	}
	other := &cmex.Account{Username: "other", GivenName: "O", FamilyName: "T"}
	if err := g.CreateAccount(ctx, other, "pw"); err != nil {
		t.Fatal(err)
	}
	if err := g.SaveBinding(ctx, &cmex.Binding{AccountID: other.ID, SocietyID: soc.ID, MemberID: "01234567"}); cmex.ErrorCode(err) != cmex.ECONFLICT {
		t.Errorf("a member bound twice: %v", err)
	}
	if b, err := g.BindingByMember(ctx, soc.ID, "01234567"); err != nil || b.AccountID != ned.ID {
		t.Errorf("binding by member = %+v, %v", b, err)
	}
	if _, err := g.BindingByMember(ctx, soc.ID, "old"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("the replaced binding: %v", err)
	}
	if err := g.DeleteBinding(ctx, ned.ID, acr.ID); err != nil {
		t.Fatal(err)
	}
	if err := g.DeleteBinding(ctx, ned.ID, acr.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("deleting twice: %v", err)
	}

	// Self-attested credits.
	sc := &cmex.SelfCredit{AccountID: ned.ID, CEU: oneCEU("Journal reading", "2026-01-05", 100)}
	if err := g.AddSelfCredit(ctx, sc); err != nil || sc.ID == 0 {
		t.Fatal(sc, err)
	}
	if err := g.AddSelfCredit(ctx, &cmex.SelfCredit{AccountID: ned.ID}); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("an empty self-attested credit: %v", err)
	}
	list, err := g.SelfCredits(ctx, ned.ID)
	if err != nil || len(list) != 1 || list[0].Title != "Journal reading" || list[0].Details[0].Credits != 100 {
		t.Fatalf("self credits = %+v, %v", list, err)
	}
	if err := g.DeleteSelfCredit(ctx, other.ID, sc.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("another account deleting the credit: %v", err)
	}
	if err := g.DeleteSelfCredit(ctx, ned.ID, sc.ID); err != nil {
		t.Error(err)
	}

	// A certificate is kept with its credit: a PDF or an image, judged by
	// its bytes, at most 5 MB; listings give its name and size only.
	pdf := []byte("%PDF-1.4\n% a certificate of attendance\n%%EOF\n")
	withCert := &cmex.SelfCredit{AccountID: ned.ID, CEU: oneCEU("Grand rounds", "2026-02-01", 100), Certificate: &cmex.Certificate{Name: "rounds.pdf", Data: pdf}}
	if err := g.AddSelfCredit(ctx, withCert); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []*cmex.Certificate{
		{Name: "evil.pdf", Data: []byte("<html><script>alert(1)</script>")},
		{Name: "empty.png"},
		{Name: "huge.pdf", Data: append([]byte("%PDF-"), make([]byte, cmex.MaxCertificateBytes)...)},
	} {
		c := &cmex.SelfCredit{AccountID: ned.ID, CEU: oneCEU("Bad file", "2026-02-02", 100), Certificate: bad}
		if err := g.AddSelfCredit(ctx, c); cmex.ErrorCode(err) != cmex.EINVALID {
			t.Errorf("certificate %s: %v", bad.Name, err)
		}
	}
	list, err = g.SelfCredits(ctx, ned.ID)
	if err != nil || len(list) != 1 || list[0].Certificate == nil || list[0].Certificate.Name != "rounds.pdf" ||
		list[0].Certificate.ContentType != "application/pdf" || list[0].Certificate.Size != len(pdf) || list[0].Certificate.Data != nil {
		t.Fatalf("self credits with a certificate = %+v, %v (a refused one must not be stored)", list, err)
	}
	f, err := g.SelfCreditCertificate(ctx, ned.ID, withCert.ID)
	if err != nil || string(f.Data) != string(pdf) || f.ContentType != "application/pdf" {
		t.Fatalf("certificate = %+v, %v", f, err)
	}
	if _, err := g.SelfCreditCertificate(ctx, other.ID, withCert.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("another account's certificate: %v", err)
	}
	if err := g.DeleteSelfCredit(ctx, ned.ID, withCert.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := g.SelfCreditCertificate(ctx, ned.ID, withCert.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("certificate of a deleted credit: %v", err)
	}

	// The cache keeps the last answer per society and member.
	if _, err := g.CachedOrder(ctx, acr.ID, "A-1"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("empty cache: %v", err)
	}
	at := e.clock.Now()
	for i, title := range []string{"first", "second"} {
		o := &cmex.CachedOrder{SocietyID: acr.ID, MemberID: "A-1", FetchedAt: at.Add(time.Duration(i) * time.Minute),
			Customer: &cmex.Customer{ID: "A-1", CEUs: []cmex.CEU{oneCEU(title, "2026-01-01", 100)}}}
		if err := g.StoreOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	o, err := g.CachedOrder(ctx, acr.ID, "A-1")
	if err != nil || o.Customer.CEUs[0].Title != "second" || !o.FetchedAt.Equal(at.Add(time.Minute)) {
		t.Errorf("cached = %+v, %v", o, err)
	}
}

// A local society's ceu_order grants (issue 16): address ranges,
// normalised and kept once; credentials kept as a hash, their secret
// shown once and admitted only with the right name; revoking removes one.
func testOrderGrants(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	s := sqlstore.NewSocietyService(e.db)
	local := &cmex.Society{Code: "EXAMPLE", Name: "Example Society", Kind: cmex.SocietyLocal}
	other := &cmex.Society{Code: "OTHER", Name: "Other Society", Kind: cmex.SocietyLocal}
	remote := &cmex.Society{Code: "ACR", Name: "ACR", Kind: cmex.SocietyRemote, BindingURL: "https://a.example/b", OrderURL: "https://a.example/o"}
	for _, so := range []*cmex.Society{local, other, remote} {
		if err := s.CreateSociety(ctx, so); err != nil {
			t.Fatal(err)
		}
	}
	if gs, err := s.OrderGrants(ctx, local.ID); err != nil || len(gs) != 0 {
		t.Fatalf("a new society's grants: %v, %v", gs, err)
	}
	net1, err := s.AllowOrdersFrom(ctx, local.ID, "203.0.113.77/24")
	if err != nil || net1.From != "203.0.113.0/24" || net1.ID == 0 {
		t.Fatalf("allow a range: %+v, %v", net1, err)
	}
	if again, err := s.AllowOrdersFrom(ctx, local.ID, " 203.0.113.0/24 "); err != nil || again.ID != net1.ID {
		t.Errorf("allow the same range again: %+v, %v", again, err)
	}
	one, err := s.AllowOrdersFrom(ctx, local.ID, "2001:db8::5")
	if err != nil || one.From != "2001:db8::5/128" {
		t.Errorf("allow one address: %+v, %v", one, err)
	}
	for _, bad := range []string{"", "nowhere", "10.0.0.0/33"} {
		if _, err := s.AllowOrdersFrom(ctx, local.ID, bad); cmex.ErrorCode(err) != cmex.EINVALID {
			t.Errorf("allow %q: %v", bad, err)
		}
	}
	if _, err := s.AllowOrdersFrom(ctx, remote.ID, "203.0.113.0/24"); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("allow at a remote society: %v", err)
	}
	if _, err := s.AllowOrdersFrom(ctx, 999, "203.0.113.0/24"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("allow at an unknown society: %v", err)
	}
	cred, secret, err := s.AddOrderCredential(ctx, local.ID, "acr-gateway")
	if err != nil || cred.Name != "acr-gateway" || len(secret) < 40 || strings.Contains(cred.SecretHash, secret) {
		t.Fatalf("add a credential: %+v %q, %v", cred, secret, err)
	}
	if _, _, err := s.AddOrderCredential(ctx, local.ID, "ACR-Gateway"); cmex.ErrorCode(err) != cmex.ECONFLICT {
		t.Errorf("the same credential name twice: %v", err)
	}
	if _, _, err := s.AddOrderCredential(ctx, other.ID, "acr-gateway"); err != nil {
		t.Errorf("the name at another society: %v", err)
	}
	for _, bad := range []string{"", "a:b", strings.Repeat("n", 101)} {
		if _, _, err := s.AddOrderCredential(ctx, local.ID, bad); cmex.ErrorCode(err) != cmex.EINVALID {
			t.Errorf("credential name %q: %v", bad, err)
		}
	}
	var stored int
	if err := e.db.SQL().QueryRow(`SELECT count(*) FROM society_order_grants WHERE secret_hash = '` + secret + `' OR name = '` + secret + `'`).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("the secret is stored as it is: %d, %v", stored, err)
	}
	gs, err := s.OrderGrants(ctx, local.ID)
	if err != nil || len(gs) != 3 || gs[0].ID != net1.ID || gs[2].Name != "acr-gateway" {
		t.Fatalf("grants: %+v, %v", gs, err)
	}
	admits := func(addr, user, password string) bool {
		for _, g := range gs {
			if g.Admits(addr, user, password) {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		addr, user, password string
		want                 bool
	}{
		{"203.0.113.9", "", "", true},
		{"203.0.114.9", "", "", false},
		{"2001:db8::5", "", "", true},
		{"2001:db8::6", "", "", false},
		{"198.51.100.1", "acr-gateway", secret, true},
		{"198.51.100.1", "ACR-GATEWAY", secret, true},
		{"198.51.100.1", "other", secret, false},
		{"198.51.100.1", "acr-gateway", secret + "x", false},
		{"198.51.100.1", "acr-gateway", "", false},
		{"", "", "", false},
	} {
		if got := admits(c.addr, c.user, c.password); got != c.want {
			t.Errorf("from %s as %q: admitted %v, want %v", c.addr, c.user, got, c.want)
		}
	}
	if err := s.RevokeOrderGrant(ctx, other.ID, net1.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("revoke another society's grant: %v", err)
	}
	if err := s.RevokeOrderGrant(ctx, local.ID, net1.ID); err != nil {
		t.Fatal(err)
	}
	if gs, err := s.OrderGrants(ctx, local.ID); err != nil || len(gs) != 2 || gs[0].ID == net1.ID {
		t.Errorf("after revoking: %+v, %v", gs, err)
	}
	var audited int
	if err := e.db.SQL().QueryRow(`SELECT count(*) FROM audit_log WHERE action IN ('society.order-grant', 'society.order-revoke')`).Scan(&audited); err != nil || audited != 5 {
		t.Errorf("audit entries of grants: %d, %v", audited, err)
	}
}
