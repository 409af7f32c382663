package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlite"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// TestSandboxFixtures: loading the fixtures twice changes nothing, and a
// new -sandbox-password re-keys the sandbox users, as the README says.
func TestSandboxFixtures(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cmex.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	orgs, users, persons := sqlstore.NewOrganizationService(db), sqlstore.NewUserService(db), sqlstore.NewPersonService(db)
	logger := slog.New(slog.DiscardHandler)
	for range 2 {
		if err := loadSandbox(ctx, orgs, users, "sandbox", logger); err != nil {
			t.Fatal(err)
		}
		if err := loadSandboxLearners(ctx, persons, logger); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	db.SQL().QueryRow("SELECT count(*) FROM persons").Scan(&n)
	if n != 70 {
		t.Errorf("%d sandbox learners, want 70", n)
	}
	if err := loadSandbox(ctx, orgs, users, "a new password", logger); err != nil {
		t.Fatal(err)
	}
	for password, want := range map[string]string{"sandbox": cmex.EUNAUTHORIZED, "a new password": ""} {
		for _, f := range sandboxProviders {
			if _, err := users.Authenticate(ctx, f.id, f.user, password); cmex.ErrorCode(err) != want {
				t.Errorf("%s with %q: %v", f.user, password, err)
			}
		}
	}
	list, _ := orgs.ListOrganizations(ctx)
	if len(list) != 2 {
		t.Errorf("%d organizations after three loads, want 2", len(list))
	}
	// Riley is the one learner the simulated boards reject.
	code, reason, reject := sandboxReject(&cmex.LearnerRecord{Board: "ABIM", Learner: cmex.LearnerIdentity{UniqueIDs: []cmex.UniqueID{{Domain: "ABIM", Value: "999990"}}}})
	if !reject || code != "661" || reason == "" {
		t.Errorf("Riley: %q %q %v", code, reason, reject)
	}
	if _, _, reject := sandboxReject(&cmex.LearnerRecord{Board: "ABIM", Learner: cmex.LearnerIdentity{UniqueIDs: []cmex.UniqueID{{Domain: "ABIM", Value: "999902"}}}}); reject {
		t.Error("Jane is rejected")
	}
}

// TestSandboxGateway: the gateway fixtures load twice without change, and a
// new -sandbox-password re-keys the feed login and Ned's account.
func TestSandboxGateway(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cmex.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.Hasher = &sqlstore.PasswordHasher{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	societies, accounts := sqlstore.NewSocietyService(db), sqlstore.NewGatewayService(db)
	logger := slog.New(slog.DiscardHandler)
	for _, password := range []string{"sandbox", "sandbox", "a new password"} {
		if err := loadSandboxGateway(ctx, societies, accounts, password, logger); err != nil {
			t.Fatal(err)
		}
	}
	for table, want := range map[string]int{"societies": 2, "society_members": 2, "society_credits": 3, "gateway_accounts": 1, "gateway_bindings": 2, "society_approvals": 1} {
		var n int
		db.SQL().QueryRow("SELECT count(*) FROM " + table).Scan(&n)
		if n != want {
			t.Errorf("%d rows in %s after three loads, want %d", n, table, want)
		}
	}
	if _, err := societies.AuthenticateFeed(ctx, sandboxFeedUser, "a new password"); err != nil {
		t.Errorf("feed login after re-keying: %v", err)
	}
	if _, err := accounts.AuthenticateAccount(ctx, sandboxAccount, "sandbox"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Errorf("the old account password still works: %v", err)
	}
	ex, _ := societies.SocietyByCode(ctx, "EXAMPLE")
	if m, err := societies.AuthenticateMember(ctx, ex.ID, "NedBaker", "mYpAsSwOrD"); err != nil || m.MemberID != "01234567" {
		t.Errorf("Ned at EXAMPLE: %+v, %v", m, err)
	}
}

// TestSandboxPlans: the sandbox's plan file is examples/plans.yaml, loading
// it again adds no plan set, and Jane holds one Practitioner instance.
func TestSandboxPlans(t *testing.T) {
	example, err := os.ReadFile("../../examples/plans.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(example, sandboxPlans) {
		t.Error("cmd/cmex/sandbox-plans.yaml and examples/plans.yaml differ; the README says the sandbox loads the example")
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cmex.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	logger := slog.New(slog.DiscardHandler)
	if err := loadSandboxLearners(ctx, sqlstore.NewPersonService(db), logger); err != nil {
		t.Fatal(err)
	}
	ps := sqlstore.NewPlanService(db)
	for range 2 {
		if err := loadSandboxPlans(ctx, ps, logger); err != nil {
			t.Fatal(err)
		}
	}
	for table, want := range map[string]int{"plan_sets": 1, "role_instances": 1} {
		var n int
		db.SQL().QueryRow("SELECT count(*) FROM " + table).Scan(&n)
		if n != want {
			t.Errorf("%d rows in %s after two loads, want %d", n, table, want)
		}
	}
}
