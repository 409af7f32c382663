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
	extra = append(extra, named{"StaffAccounts", testStaffAccounts}, named{"PortalSessions", testPortalSessions})
}

func testStaffAccounts(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	ps := sqlstore.NewPortalService(e.db)
	p := e.MustProvider(t, cmextest.ProviderA, "AAA Test Organization", "ws@example.org", "pw")
	soc := &cmex.Society{Code: "EXAMPLE", Name: "Example Society", Kind: cmex.SocietyLocal}
	if err := sqlstore.NewSocietyService(e.db).CreateSociety(ctx, soc); err != nil {
		t.Fatal(err)
	}
	org := p.Organization.ID
	for _, c := range []struct {
		staff cmex.Staff
		code  string
	}{
		{cmex.Staff{Username: "ok.staff", Name: "Olga Staff", Role: cmex.RoleProviderStaff, Organization: org}, ""},
		{cmex.Staff{Username: "ok.admin", Name: "Oscar Admin", Role: cmex.RoleProviderAdmin, Organization: org}, ""},
		{cmex.Staff{Username: "ok.society", Name: "Sara Society", Role: cmex.RoleSocietyAdmin, Society: soc.ID}, ""},
		{cmex.Staff{Username: "ok.root", Name: "Rita Root", Role: cmex.RoleAdmin}, ""},
		{cmex.Staff{Username: "OK.Staff", Name: "Same Name", Role: cmex.RoleAdmin}, cmex.ECONFLICT},
		{cmex.Staff{Username: "no.provider", Name: "N", Role: cmex.RoleProviderStaff}, cmex.EINVALID},
		{cmex.Staff{Username: "two.places", Name: "N", Role: cmex.RoleSocietyAdmin, Society: soc.ID, Organization: org}, cmex.EINVALID},
		{cmex.Staff{Username: "admin.of.x", Name: "N", Role: cmex.RoleAdmin, Organization: org}, cmex.EINVALID},
		{cmex.Staff{Username: "no.role", Name: "N", Role: "physician"}, cmex.EINVALID},
		{cmex.Staff{Username: "", Name: "N", Role: cmex.RoleAdmin}, cmex.EINVALID},
		{cmex.Staff{Username: "no.name", Role: cmex.RoleAdmin}, cmex.EINVALID},
	} {
		st := c.staff
		err := ps.CreateStaff(ctx, &st, "a long staff password")
		if cmex.ErrorCode(err) != c.code && !(c.code == "" && err == nil) {
			t.Errorf("create %+v: %v, want %q", c.staff, err, c.code)
		}
		if err == nil && (st.ID == 0 || !st.CreatedAt.Equal(e.clock.Now().UTC().Truncate(time.Microsecond))) {
			t.Errorf("created %+v", st)
		}
	}
	list, err := ps.ListStaff(ctx)
	var names []string
	for _, s := range list {
		names = append(names, s.Username+":"+string(s.Role))
	}
	if want := "ok.admin:provider-admin ok.root:admin ok.society:society-admin ok.staff:provider-staff"; err != nil || strings.Join(names, " ") != want {
		t.Fatalf("staff = %v, %v; want %s", names, err, want)
	}
	if s := list[2]; s.Username != "ok.society" || s.Society != soc.ID || s.Organization != 0 {
		t.Errorf("society admin = %+v", s)
	}

	// One namespace of usernames across staff and physicians' accounts.
	gw := sqlstore.NewGatewayService(e.db)
	if err := gw.CreateAccount(ctx, &cmex.Account{Username: "ok.STAFF", GivenName: "A", FamilyName: "B"}, "a long password"); cmex.ErrorCode(err) != cmex.ECONFLICT {
		t.Errorf("physician account with a staff username: %v", err)
	}
	if err := gw.CreateAccount(ctx, &cmex.Account{Username: "jane.accme", GivenName: "Jane", FamilyName: "ACCME"}, "a long password"); err != nil {
		t.Fatal(err)
	}
	st := cmex.Staff{Username: "Jane.ACCME", Name: "Jane", Role: cmex.RoleAdmin}
	if err := ps.CreateStaff(ctx, &st, "a long staff password"); cmex.ErrorCode(err) != cmex.ECONFLICT {
		t.Errorf("staff account with a physician's username: %v", err)
	}
	// Nothing of the password is stored but its hash.
	var hash string
	if err := e.db.SQL().QueryRow(`SELECT password_hash FROM staff_accounts WHERE username = 'ok.root'`).Scan(&hash); err != nil ||
		!strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, "a long staff password") {
		t.Errorf("stored hash %q, %v", hash, err)
	}
}

func testPortalSessions(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	ps := sqlstore.NewPortalService(e.db)
	p := e.MustProvider(t, cmextest.ProviderA, "AAA Test Organization", "ws@example.org", "pw")
	staff := &cmex.Staff{Username: "olga", Name: "Olga Staff", Role: cmex.RoleProviderStaff, Organization: p.Organization.ID}
	if err := ps.CreateStaff(ctx, staff, "olga's long password"); err != nil {
		t.Fatal(err)
	}
	jane := &cmex.Account{Username: "jane.accme", GivenName: "Jane", FamilyName: "ACCME"}
	if err := sqlstore.NewGatewayService(e.db).CreateAccount(ctx, jane, "jane's long password"); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct{ user, password string }{
		{"olga", "wrong password"}, {"jane.accme", "olga's long password"}, {"nobody", "jane's long password"}, {"", ""},
	} {
		if s, err := ps.SignIn(ctx, c.user, c.password, time.Hour); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED || s != nil {
			t.Errorf("sign in %q/%q: %+v, %v", c.user, c.password, s, err)
		}
	}
	so, err := ps.SignIn(ctx, "OLGA", "olga's long password", time.Hour)
	if err != nil || so.User.Role != cmex.RoleProviderStaff || so.User.Staff.ID != staff.ID || so.User.Account != nil || len(so.Token) < 40 {
		t.Fatalf("staff sign-in = %+v, %v", so, err)
	}
	sj, err := ps.SignIn(ctx, "jane.accme", "jane's long password", 2*time.Hour)
	if err != nil || sj.User.Role != cmex.RolePhysician || sj.User.Account.ID != jane.ID || sj.User.Staff != nil || sj.User.Name() != "Jane ACCME" {
		t.Fatalf("physician sign-in = %+v, %v", sj, err)
	}
	if so.Token == sj.Token {
		t.Fatal("two sessions share a token")
	}
	got, err := ps.Session(ctx, sj.Token)
	if err != nil || got.User.Account.Username != "jane.accme" || !got.ExpiresAt.Equal(sj.ExpiresAt) {
		t.Fatalf("session = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "not-a-token", sj.Token + "x", strings.Repeat("a", 200)} {
		if s, err := ps.Session(ctx, bad); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED || s != nil {
			t.Errorf("session of %q: %+v, %v", bad, s, err)
		}
	}
	// The store keeps a hash of each token, never the token.
	rows, err := e.db.SQL().Query(`SELECT token_hash FROM portal_sessions`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var h string
		rows.Scan(&h)
		n++
		if h == so.Token || h == sj.Token {
			t.Error("a session token is stored as it is")
		}
	}
	rows.Close()
	if n != 2 {
		t.Errorf("%d sessions stored, want 2", n)
	}

	// Olga's session (1 h) expires before Jane's (2 h); signing out ends
	// Jane's at once.
	e.clock.Advance(61 * time.Minute)
	if _, err := ps.Session(ctx, so.Token); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("expired session: %v", err)
	}
	if _, err := ps.Session(ctx, sj.Token); err != nil {
		t.Errorf("live session: %v", err)
	}
	if err := ps.SignOut(ctx, sj.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Session(ctx, sj.Token); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("session after signing out: %v", err)
	}
	if err := ps.SignOut(ctx, "unknown"); err != nil {
		t.Errorf("signing out an unknown token: %v", err)
	}
	// A new password ends the account's sessions.
	so, err = ps.SignIn(ctx, "olga", "olga's long password", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ps.StaffByUsername(ctx, "OLGA"); err != nil || got.ID != staff.ID {
		t.Fatalf("staff by username = %+v, %v", got, err)
	}
	if _, err := ps.StaffByUsername(ctx, "nobody"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("unknown staff: %v", err)
	}
	if err := ps.SetStaffPassword(ctx, staff.ID, "olga's new long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Session(ctx, so.Token); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("session after a new password: %v", err)
	}
	if _, err := ps.SignIn(ctx, "olga", "olga's long password", time.Hour); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("the old password still works: %v", err)
	}
	if err := ps.SetStaffPassword(ctx, 9999, "a long password"); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("password of an unknown account: %v", err)
	}
	// A new sign-in sweeps expired sessions away.
	e.clock.Advance(2 * time.Hour)
	if _, err := ps.SignIn(ctx, "olga", "olga's new long password", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SQL().QueryRow(`SELECT count(*) FROM portal_sessions`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d sessions after the sweep, want 1 (%v)", n, err)
	}
}
