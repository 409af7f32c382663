package storetest

import (
	"context"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func init() {
	extra = append(extra, named{"IssuerKeys", testIssuerKeys}, named{"CredentialRecords", testCredentialRecords})
}

// Issuer keys are sealed with the server key: none is made without it, the
// newest signs, every one stays listed, and another server key cannot
// open them.
func testIssuerKeys(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	ks := sqlstore.NewIssuerKeyService(e.db)
	if _, _, err := ks.SigningKey(ctx); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Fatalf("no key yet: %v", err)
	}
	if _, err := ks.CreateIssuerKey(ctx); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Fatalf("without a server key: %v", err)
	}
	box, err := sqlstore.NewSecretBox(cmextest.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	e.db.Secrets = box
	k1, err := ks.CreateIssuerKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ks.CreateIssuerKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if k1.ID != "key-1" || k2.ID != "key-2" || k1.PublicKey.Equal(k2.PublicKey) {
		t.Errorf("keys %s %s", k1.ID, k2.ID)
	}
	all, err := ks.IssuerKeys(ctx)
	if err != nil || len(all) != 2 || all[0].ID != "key-1" || !all[1].PublicKey.Equal(k2.PublicKey) {
		t.Fatalf("keys: %v %v", all, err)
	}
	k, priv, err := ks.SigningKey(ctx)
	if err != nil || k.ID != "key-2" || !k2.PublicKey.Equal(priv.Public()) {
		t.Fatalf("the signing key: %v %v", k, err)
	}
	var sealed string
	if err := e.db.SQL().QueryRow(`SELECT private_key FROM issuer_keys WHERE key_id = 'key-2'`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if len(sealed) < 4 || sealed[:3] != "v1:" {
		t.Errorf("the private key is not sealed: %.10s…", sealed)
	}
	other, _ := sqlstore.NewSecretBox("another-server-key-entirely")
	e.db.Secrets = other
	if _, _, err := ks.SigningKey(ctx); cmex.ErrorCode(err) != cmex.EUNAVAILABLE {
		t.Errorf("with another server key: %v", err)
	}
	e.db.Secrets = box
}

// The credential view of the ledger: a live record with its activity and
// provider, a person's records without the rejected ones, and the revoked
// ids (deleted or rejected by a board).
func testCredentialRecords(t *testing.T, open Opener) {
	le := newLearnerEnv(t, open, cmex.MatchRegistry)
	ctx := context.Background()
	recs, err := le.report(t, cmextest.JaneReport(le.activity.ID, "2025-06-01", "v1"))
	if err != nil || len(recs) != 3 {
		t.Fatalf("%v %v", recs, err)
	}
	cr := sqlstore.NewCredentialRecords(le.db)
	c, err := cr.CredentialRecord(ctx, recs[0].ID)
	if err != nil || c.Record.CreditID != recs[0].CreditID || c.Activity == nil || c.Activity.Title == "" || c.ProviderName != "AAA Test Organization" {
		t.Fatalf("credential record: %+v %v", c, err)
	}
	if _, err := cr.CredentialRecord(ctx, 999999); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("no such record: %v", err)
	}
	person := recs[0].PersonID
	if got, err := cr.PersonCredentialRecords(ctx, person); err != nil || len(got) != 3 {
		t.Fatalf("her records: %d %v", len(got), err)
	}
	if got, _ := cr.RevokedRecords(ctx, 0, 1<<40); len(got) != 0 {
		t.Errorf("revoked before anything happened: %v", got)
	}
	var moc, ama *cmex.LearnerRecord
	for _, r := range recs {
		if r.IsMOC() && moc == nil {
			moc = r
		} else if !r.IsMOC() {
			ama = r
		}
	}
	// A board's rejection, as the simulated boards and the outbox's status
	// polling record it.
	if ok, err := le.learners.MoveLearnerRecord(ctx, moc.ID, cmex.StatusAccepted, cmex.StatusChange{Status: cmex.StatusRejected, At: le.clock.Now(), Source: "board:ABIM", Code: "X", Reason: "no"}); !ok || err != nil {
		t.Fatalf("reject: %v %v", ok, err)
	}
	del := &cmex.LearnerReport{Action: cmex.LearnerDelete, Credits: []cmex.CreditCertificate{{CreditID: ama.CreditID}}}
	if _, err := le.report(t, del); err != nil {
		t.Fatal(err)
	}
	got, err := cr.RevokedRecords(ctx, 0, 1<<40)
	if err != nil || len(got) != 2 || got[0] != min(moc.ID, ama.ID) || got[1] != max(moc.ID, ama.ID) {
		t.Errorf("revoked: %v %v, want %d and %d", got, err, moc.ID, ama.ID)
	}
	if got, _ := cr.RevokedRecords(ctx, moc.ID, moc.ID); len(got) != 1 {
		t.Errorf("revoked in [%d, %d]: %v", moc.ID, moc.ID, got)
	}
	if got, _ := cr.PersonCredentialRecords(ctx, person); len(got) != 1 {
		t.Errorf("her records after a rejection and a deletion: %d", len(got))
	}
	if _, err := cr.CredentialRecord(ctx, ama.ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("a deleted record: %v", err)
	}
}
