package storetest

import (
	"context"
	"strconv"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func init() { extra = append(extra, named{"AuditLog", testAuditLog}) }

// Changes are appended to the audit log with the actor and address their
// context carries (or the principal, for PARS changes); a rejected change
// appends nothing; the log refuses UPDATE and DELETE; filters pick entries.
func testAuditLog(t *testing.T, open Opener) {
	e := newEnv(t, open)
	audit := sqlstore.NewAuditService(e.db)
	ctx := cmex.WithClientAddr(cmex.WithActor(context.Background(), "cli:admin"), "")
	if err := e.orgs.CreateOrganization(ctx, &cmex.Organization{Kind: cmex.OrgProvider, ProviderID: cmextest.ProviderA, Name: "A"}); err != nil {
		t.Fatal(err)
	}
	p := e.MustProvider(t, cmextest.ProviderB, "B", "b", "a long password")
	// A PARS change: no actor in the context, the principal acts.
	pctx := cmex.WithClientAddr(context.Background(), "203.0.113.9")
	a, _, err := e.acts.SaveActivity(pctx, cmex.ActivityChange{Action: "Add", Activity: cmextest.Activity("audited", 2025), By: p})
	if err != nil {
		t.Fatal(err)
	}
	// Rejected: the same Add again appends nothing.
	if _, _, err := e.acts.SaveActivity(pctx, cmex.ActivityChange{Action: "Add", Activity: cmextest.Activity("audited", 2025), By: p}); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Fatalf("duplicate add: %v", err)
	}
	all, err := audit.AuditLog(context.Background(), cmex.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, en := range all {
		got = append(got, en.Actor+" "+en.Address+" "+en.Action+" "+en.Subject)
		if en.At.IsZero() {
			t.Errorf("entry %d has no time", en.ID)
		}
	}
	want := []string{
		"cli:admin  organization.add " + string(cmextest.ProviderA),
		"unknown  organization.add " + string(cmextest.ProviderB),
		"unknown  web-service-user.add b",
		"user:" + string(cmextest.ProviderB) + "/b 203.0.113.9 activity.add " + strconv.FormatInt(int64(a.ID), 10),
	}
	if len(got) != len(want) {
		t.Fatalf("audit log:\n%q\nwant\n%q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d: %q, want %q", i+1, got[i], want[i])
		}
	}
	// Filters.
	if es, _ := audit.AuditLog(context.Background(), cmex.AuditFilter{Action: "organization."}); len(es) != 2 {
		t.Errorf("action family organization.: %d entries", len(es))
	}
	if es, _ := audit.AuditLog(context.Background(), cmex.AuditFilter{Actor: "cli:admin"}); len(es) != 1 {
		t.Errorf("actor cli:admin: %d entries", len(es))
	}
	if es, _ := audit.AuditLog(context.Background(), cmex.AuditFilter{AfterID: all[1].ID, Limit: 1}); len(es) != 1 || es[0].ID != all[2].ID {
		t.Errorf("paging after %d: %+v", all[1].ID, es)
	}
	// Append-only.
	if _, err := e.db.SQL().Exec("UPDATE audit_log SET actor = 'mallory'"); err == nil {
		t.Error("UPDATE of audit_log succeeded")
	}
	if _, err := e.db.SQL().Exec("DELETE FROM audit_log"); err == nil {
		t.Error("DELETE from audit_log succeeded")
	}
	if es, _ := audit.AuditLog(context.Background(), cmex.AuditFilter{}); len(es) != len(all) || es[0].Actor != "cli:admin" {
		t.Errorf("after tampering attempts: %d entries", len(es))
	}
}
