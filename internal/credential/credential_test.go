package credential_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/credential"
)

// keys is an in-memory cmex.IssuerKeyService.
type keys struct {
	ks    []*cmex.IssuerKey
	privs []ed25519.PrivateKey
}

func (k *keys) CreateIssuerKey(context.Context) (*cmex.IssuerKey, error) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	key := &cmex.IssuerKey{ID: "key-" + strconv.Itoa(len(k.ks)+1), PublicKey: pub, CreatedAt: time.Now()}
	k.ks, k.privs = append(k.ks, key), append(k.privs, priv)
	return key, nil
}
func (k *keys) IssuerKeys(context.Context) ([]*cmex.IssuerKey, error) { return k.ks, nil }
func (k *keys) SigningKey(context.Context) (*cmex.IssuerKey, ed25519.PrivateKey, error) {
	if len(k.ks) == 0 {
		return nil, nil, cmex.Errorf(cmex.ENOTFOUND, "no key")
	}
	return k.ks[len(k.ks)-1], k.privs[len(k.privs)-1], nil
}

// records is an in-memory cmex.CredentialRecords.
type records struct {
	m map[cmex.LearnerRecordID]*cmex.CredentialRecord
}

func (r *records) CredentialRecord(_ context.Context, id cmex.LearnerRecordID) (*cmex.CredentialRecord, error) {
	if c, ok := r.m[id]; ok && !c.Record.Deleted {
		return c, nil
	}
	return nil, cmex.Errorf(cmex.ENOTFOUND, "no record %d", id)
}
func (r *records) PersonCredentialRecords(_ context.Context, p cmex.PersonID) ([]*cmex.CredentialRecord, error) {
	var out []*cmex.CredentialRecord
	for id := cmex.LearnerRecordID(1); id <= cmex.LearnerRecordID(len(r.m)); id++ {
		if c := r.m[id]; c != nil && c.Record.PersonID == p && !c.Record.Deleted && c.Record.Status != cmex.StatusRejected {
			out = append(out, c)
		}
	}
	return out, nil
}
func (r *records) RevokedRecords(_ context.Context, from, to cmex.LearnerRecordID) ([]cmex.LearnerRecordID, error) {
	var out []cmex.LearnerRecordID
	for id, c := range r.m {
		if id >= from && id <= to && (c.Record.Deleted || c.Record.Status == cmex.StatusRejected) {
			out = append(out, id)
		}
	}
	return out, nil
}

func record(id cmex.LearnerRecordID, cert string, pts cmex.Points) *cmex.CredentialRecord {
	avail := cmex.Points(200)
	return &cmex.CredentialRecord{
		Record: &cmex.LearnerRecord{ID: id, CreditID: cmex.CreditID(fmt.Sprintf("ccid:example.org:%d", id)), ProviderID: "1234567", ActivityID: 300000001,
			PersonID: 7, Learner: cmex.LearnerIdentity{UniqueIDs: []cmex.UniqueID{{Domain: "NPI", Value: "1234567890"}}, GivenName: "Helen", FamilyName: "Markman"},
			CompletionDate: cmex.Date{Year: 2026, Month: 5, Day: 1}, Certification: cert, Points: pts, Status: cmex.StatusAccepted},
		Activity:     &cmex.Activity{ID: 300000001, Title: "Chest CT Update", Credits: []cmex.CreditOffer{{Certification: "AMA PRA Category 1", Amount: &avail}}},
		ProviderName: "AAA Test Organization",
	}
}

func newService(t testing.TB) (*credential.Service, *keys, *records) {
	k := &keys{}
	if _, err := k.CreateIssuerKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := &records{m: map[cmex.LearnerRecordID]*cmex.CredentialRecord{
		1: record(1, "AMA PRA Category 1", 150),
		2: record(2, "ABIM Medical Knowledge", 100),
	}}
	r.m[2].Record.Board, r.m[2].Record.CreditType = "ABIM", "Medical Knowledge"
	return &credential.Service{Keys: k, Records: r, BaseURL: "https://cme.example.org", Name: "cmex test"}, k, r
}

func issue(t *testing.T, s *credential.Service, id cmex.LearnerRecordID, f cmex.CredentialFormat) *cmex.IssuedCredential {
	t.Helper()
	c, err := s.RecordCredential(context.Background(), id, f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func verify(t *testing.T, s *credential.Service, b []byte) *cmex.Verification {
	t.Helper()
	v, err := s.Verify(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func failed(v *cmex.Verification) []string {
	var out []string
	for _, c := range v.Checks {
		if !c.OK {
			out = append(out, c.Check+": "+c.Message)
		}
	}
	return out
}

// obRequired lists the properties OB 3.0 requires (the spec's data model,
// multiplicity 1 or 1..*) of each class cmex writes, with the checks of
// their values; the JSON Schemas are not vendored.
var obRequired = map[string][]string{
	"AchievementCredential":    {"@context", "id", "type", "name", "issuer", "validFrom", "credentialSubject"},
	"AchievementSubject":       {"type", "achievement"}, // and id or identifier
	"Achievement":              {"id", "type", "name", "description", "criteria"},
	"Profile":                  {"id", "type"},
	"IdentityObject":           {"type", "hashed", "identityHash", "identityType"},
	"Alignment":                {"type", "targetName", "targetUrl"},
	"CredentialStatus":         {"id", "type"},
	"BitstringStatusListEntry": {"type", "statusPurpose", "statusListIndex", "statusListCredential"},
	"DataIntegrityProof":       {"type", "cryptosuite", "verificationMethod", "proofPurpose", "proofValue"},
}

func requireProps(t *testing.T, class string, m any) map[string]any {
	t.Helper()
	o, ok := m.(map[string]any)
	if !ok {
		t.Fatalf("%s: not an object: %v", class, m)
	}
	for _, p := range obRequired[class] {
		if v, ok := o[p]; !ok || v == nil || v == "" {
			t.Errorf("%s: no %s", class, p)
		}
	}
	return o
}

func hasType(v any, want string) bool {
	switch t := v.(type) {
	case string:
		return t == want
	case []any:
		for _, x := range t {
			if x == want {
				return true
			}
		}
	}
	return false
}

// TestOpenBadgeShape checks an issued credential against OB 3.0's
// required properties, its contexts in order and its types.
func TestOpenBadgeShape(t *testing.T) {
	s, _, _ := newService(t)
	c := decode(t, issue(t, s, 1, cmex.CredentialDataIntegrity).Credential)
	requireProps(t, "AchievementCredential", c)
	ctxs, _ := c["@context"].([]any)
	if len(ctxs) != 2 || ctxs[0] != "https://www.w3.org/ns/credentials/v2" || ctxs[1] != "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json" {
		t.Errorf("@context: %v", ctxs)
	}
	if !hasType(c["type"], "VerifiableCredential") || !hasType(c["type"], "OpenBadgeCredential") {
		t.Errorf("type: %v", c["type"])
	}
	if id, _ := c["id"].(string); !strings.HasPrefix(id, "urn:uuid:") {
		t.Errorf("id: %v", c["id"])
	}
	if c["validFrom"] != "2026-05-01T00:00:00Z" {
		t.Errorf("validFrom is not the completion date: %v", c["validFrom"])
	}
	issuer := requireProps(t, "Profile", c["issuer"])
	if issuer["id"] != "did:web:cme.example.org" || !hasType(issuer["type"], "Profile") {
		t.Errorf("issuer: %v", issuer)
	}
	sub := requireProps(t, "AchievementSubject", c["credentialSubject"])
	if !hasType(sub["type"], "AchievementSubject") {
		t.Errorf("subject type: %v", sub["type"])
	}
	ids, _ := sub["identifier"].([]any)
	if sub["id"] == nil && len(ids) == 0 {
		t.Error("the subject has neither id nor identifier")
	}
	var hashed, named bool
	for _, x := range ids {
		io := requireProps(t, "IdentityObject", x)
		if io["type"] != "IdentityObject" {
			t.Errorf("identifier type: %v", io["type"])
		}
		switch io["identityType"] {
		case "ext:NPI":
			sum := sha256.Sum256([]byte("1234567890" + io["salt"].(string)))
			hashed = io["hashed"] == true && io["identityHash"] == "sha256$"+hex.EncodeToString(sum[:])
		case "name":
			named = io["identityHash"] == "Helen Markman" && io["hashed"] == false
		}
	}
	if !hashed || !named {
		t.Errorf("the subject is not identified by her salted hashed NPI and her name: %v", ids)
	}
	if sub["creditsEarned"] != 1.5 {
		t.Errorf("creditsEarned: %v", sub["creditsEarned"])
	}
	ach := requireProps(t, "Achievement", sub["achievement"])
	if !hasType(ach["type"], "Achievement") || ach["name"] != "Chest CT Update" || ach["creditsAvailable"] != 2.0 {
		t.Errorf("achievement: %v", ach)
	}
	if crit, _ := ach["criteria"].(map[string]any); crit["narrative"] == nil && crit["id"] == nil {
		t.Errorf("criteria has neither id nor narrative: %v", crit)
	}
	creator := requireProps(t, "Profile", ach["creator"])
	if creator["name"] != "AAA Test Organization" {
		t.Errorf("creator: %v", creator)
	}
	als, _ := ach["alignment"].([]any)
	if len(als) != 1 {
		t.Errorf("AMA credit has no alignment: %v", ach)
	}
	for _, a := range als {
		requireProps(t, "Alignment", a)
	}
	st := requireProps(t, "CredentialStatus", c["credentialStatus"])
	requireProps(t, "BitstringStatusListEntry", st)
	if st["type"] != "BitstringStatusListEntry" || st["statusListCredential"] != "https://cme.example.org/credentials/status/1" || st["statusListIndex"] != "1" {
		t.Errorf("credentialStatus: %v", st)
	}
	p := requireProps(t, "DataIntegrityProof", c["proof"])
	if p["cryptosuite"] != "eddsa-rdfc-2022" || p["verificationMethod"] != "did:web:cme.example.org#key-1" || p["proofPurpose"] != "assertionMethod" {
		t.Errorf("proof: %v", p)
	}
}

// TestVerify: what cmex issues verifies, in both forms; a change to it, a
// revocation, an issuer cmex cannot resolve and a context it does not
// hold are each caught by the check they concern.
func TestVerify(t *testing.T) {
	s, _, r := newService(t)
	di := issue(t, s, 1, cmex.CredentialDataIntegrity)
	jwt := issue(t, s, 1, cmex.CredentialJWT)
	for name, b := range map[string][]byte{"di": di.Credential, "jwt": []byte(jwt.JWT)} {
		if v := verify(t, s, b); !v.Verified || len(v.Checks) != 6 {
			t.Errorf("%s: %v", name, failed(v))
		}
	}
	change := func(f func(c map[string]any)) []byte {
		c := decode(t, di.Credential)
		f(c)
		b, _ := json.Marshal(c)
		return b
	}
	cases := []struct {
		name  string
		cred  []byte
		check string
	}{
		{"creditsEarned", change(func(c map[string]any) { c["credentialSubject"].(map[string]any)["creditsEarned"] = 2.5 }), cmex.CheckProof},
		{"name", change(func(c map[string]any) { c["name"] = "Something else" }), cmex.CheckProof},
		{"issuer", change(func(c map[string]any) { c["issuer"].(map[string]any)["id"] = "did:web:evil.example" }), cmex.CheckIssuer},
		{"foreign did:web", change(func(c map[string]any) {
			c["issuer"].(map[string]any)["id"] = "did:web:evil.example"
			c["proof"].(map[string]any)["verificationMethod"] = "did:web:evil.example#key-1"
		}), cmex.CheckIssuer},
		{"unknown key", change(func(c map[string]any) {
			c["proof"].(map[string]any)["verificationMethod"] = "did:web:cme.example.org#key-9"
		}), cmex.CheckIssuer},
		{"context not held", change(func(c map[string]any) {
			c["@context"] = []any{"https://www.w3.org/ns/credentials/v2", "https://example.org/ctx.json"}
		}), cmex.CheckProof},
		{"not yet valid", change(func(c map[string]any) { c["validFrom"] = "2999-01-01T00:00:00Z" }), cmex.CheckProof},
	}
	for _, c := range cases {
		v := verify(t, s, c.cred)
		got, made := v.Check(c.check)
		if v.Verified || !made || got.OK {
			t.Errorf("%s: verified %v, %s check %v", c.name, v.Verified, c.check, got)
		}
	}
	// A JWT whose payload is changed.
	parts := strings.Split(jwt.JWT, ".")
	payload := decode(t, mustB64(t, parts[1]))
	payload["credentialSubject"].(map[string]any)["creditsEarned"] = 9
	pb, _ := json.Marshal(payload)
	if v := verify(t, s, []byte(parts[0]+"."+b64(pb)+"."+parts[2])); v.Verified {
		t.Error("a changed JWT verifies")
	}
	// Revocation: deletion and a board's rejection.
	r.m[1].Record.Deleted = true
	if v := verify(t, s, di.Credential); v.Verified {
		t.Error("the credential of a deleted record verifies")
	} else if c, _ := v.Check(cmex.CheckStatus); c.OK || !strings.Contains(c.Message, "revoked") {
		t.Errorf("status: %v", c)
	}
	r.m[1].Record.Deleted = false
	r.m[1].Record.Status = cmex.StatusRejected
	if v := verify(t, s, []byte(jwt.JWT)); v.Verified {
		t.Error("the JWT of a rejected record verifies")
	}
	if _, err := s.RecordCredential(context.Background(), 1, cmex.CredentialDataIntegrity); cmex.ErrorCode(err) != cmex.ECONFLICT {
		t.Errorf("issuing a rejected record: %v", err)
	}
	for _, junk := range []string{"", "{", "{}", "a.b.c", "null", `{"proof":[1,2]}`} {
		if v := verify(t, s, []byte(junk)); v.Verified {
			t.Errorf("%q verifies", junk)
		} else if c, _ := v.Check(cmex.CheckFormat); c.OK {
			t.Errorf("%q: format check holds", junk)
		}
	}
}

// TestRotation: after a new key, new credentials are signed with it and
// the old key's still verify; the DID document lists both.
func TestRotation(t *testing.T) {
	s, k, _ := newService(t)
	old := issue(t, s, 1, cmex.CredentialDataIntegrity)
	oldJWT := issue(t, s, 1, cmex.CredentialJWT)
	if _, err := k.CreateIssuerKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := issue(t, s, 1, cmex.CredentialDataIntegrity)
	if vm := decode(t, now.Credential)["proof"].(map[string]any)["verificationMethod"]; vm != "did:web:cme.example.org#key-2" {
		t.Errorf("new credentials are signed by %v", vm)
	}
	for _, b := range [][]byte{old.Credential, []byte(oldJWT.JWT), now.Credential} {
		if v := verify(t, s, b); !v.Verified {
			t.Errorf("after rotation: %v", failed(v))
		}
	}
	doc, err := s.DIDDocument(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		ID                 string
		VerificationMethod []struct{ ID, Type, Controller, PublicKeyMultibase string }
		AssertionMethod    []string
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if d.ID != "did:web:cme.example.org" || len(d.VerificationMethod) != 2 || len(d.AssertionMethod) != 2 {
		t.Fatalf("DID document: %s", doc)
	}
	for i, vm := range d.VerificationMethod {
		if vm.Type != "Multikey" || vm.Controller != d.ID || !strings.HasPrefix(vm.PublicKeyMultibase, "z6Mk") || vm.PublicKeyMultibase != credential.PublicKeyMultibase(k.ks[i].PublicKey) {
			t.Errorf("verification method %d: %+v", i, vm)
		}
	}
}

// TestDIDKey: a credential of another issuer whose did:key cmex resolves
// offline verifies; its status, on a list elsewhere, cannot be checked.
func TestDIDKey(t *testing.T) {
	s, _, _ := newService(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	did := credential.DIDKey(pub)
	doc := map[string]any{
		"@context":          []any{"https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"},
		"id":                "urn:uuid:6f1c7b8e-0000-4000-8000-000000000001",
		"type":              []any{"VerifiableCredential", "OpenBadgeCredential"},
		"name":              "Teamwork",
		"issuer":            map[string]any{"id": did, "type": []any{"Profile"}, "name": "Elsewhere"},
		"validFrom":         "2026-01-01T00:00:00Z",
		"credentialSubject": map[string]any{"id": "did:example:123", "type": []any{"AchievementSubject"}, "achievement": map[string]any{"id": "https://example.org/a", "type": []any{"Achievement"}, "name": "Teamwork", "description": "d", "criteria": map[string]any{"narrative": "n"}}},
	}
	signed, err := credential.Sign(doc, priv, credential.DIDKeyMethod(pub), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(signed)
	if v := verify(t, s, b); !v.Verified || v.Issuer != did {
		t.Errorf("did:key credential: %v", failed(v))
	}
	pk, err := credential.ParsePublicKeyMultibase(strings.TrimPrefix(did, "did:key:"))
	if err != nil || !pk.Equal(pub) {
		t.Errorf("multibase round trip: %v", err)
	}
	doc["credentialStatus"] = map[string]any{"id": "https://elsewhere.example/status/1#5", "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
		"statusListIndex": "5", "statusListCredential": "https://elsewhere.example/status/1"}
	delete(doc, "proof")
	signed, _ = credential.Sign(doc, priv, credential.DIDKeyMethod(pub), time.Now())
	b, _ = json.Marshal(signed)
	v := verify(t, s, b)
	if c, _ := v.Check(cmex.CheckStatus); v.Verified || c.OK {
		t.Errorf("a status list cmex cannot fetch: %v", v.Checks)
	}
	if c, _ := v.Check(cmex.CheckProof); !c.OK {
		t.Errorf("proof: %v", c)
	}
}

// TestStatusList: the list credential is signed, verifies, and has the
// bit of each revoked record set and no other.
func TestStatusList(t *testing.T) {
	s, _, r := newService(t)
	r.m[2].Record.Deleted = true
	b, err := s.StatusListCredential(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if v := verify(t, s, b); !v.Verified {
		t.Errorf("status list credential: %v", failed(v))
	}
	c := decode(t, b)
	if !hasType(c["type"], "BitstringStatusListCredential") || c["issuer"] != "did:web:cme.example.org" {
		t.Errorf("status list: %v", c)
	}
	sub := c["credentialSubject"].(map[string]any)
	bits, err := credential.DecodeList(sub["encodedList"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if len(bits) != cmex.GuessStatusListSize/8 {
		t.Errorf("%d bytes", len(bits))
	}
	for i, want := range map[int]bool{0: false, 1: false, 2: true, 3: false} {
		if got := bits[i/8]&(0x80>>(i%8)) != 0; got != want {
			t.Errorf("bit %d: %v", i, got)
		}
	}
	if _, err := s.StatusListCredential(context.Background(), 0); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("list 0: %v", err)
	}
}

// TestNoIssuer: without a public URL or a key nothing is issued, with a
// message saying what to do.
func TestNoIssuer(t *testing.T) {
	s, _, _ := newService(t)
	s.BaseURL = ""
	if _, err := s.RecordCredential(context.Background(), 1, ""); cmex.ErrorCode(err) != cmex.EUNAVAILABLE || !strings.Contains(cmex.ErrorMessage(err), "-public-url") {
		t.Errorf("no public URL: %v", err)
	}
	s, _, _ = newService(t)
	s.Keys = &keys{}
	if _, err := s.RecordCredential(context.Background(), 1, ""); cmex.ErrorCode(err) != cmex.EUNAVAILABLE || !strings.Contains(cmex.ErrorMessage(err), "cmex keys create") {
		t.Errorf("no key: %v", err)
	}
}

func TestDIDWeb(t *testing.T) {
	for in, want := range map[string]string{
		"https://cme.example.org":          "did:web:cme.example.org",
		"https://cme.example.org/":         "did:web:cme.example.org",
		"http://127.0.0.1:8080":            "did:web:127.0.0.1%3A8080",
		"https://example.org/cmex/tenant1": "did:web:example.org:cmex:tenant1",
	} {
		if got, err := credential.DIDWeb(in); err != nil || got != want {
			t.Errorf("%s: %s %v", in, got, err)
		}
	}
}

// BenchmarkIssue issues credentials (eddsa-rdfc-2022, the costlier form):
// the README's figure is for b.N = 1,000.
func BenchmarkIssue(b *testing.B) {
	s, _, _ := newService(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.RecordCredential(ctx, 1, cmex.CredentialDataIntegrity); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssueJWT is the JWT form.
func BenchmarkIssueJWT(b *testing.B) {
	s, _, _ := newService(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.RecordCredential(ctx, 1, cmex.CredentialJWT); err != nil {
			b.Fatal(err)
		}
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkTranscript1000 issues a transcript of 1,000 credentials
// (eddsa-rdfc-2022), as GET /api/v1/account/credentials does, on every
// CPU: the README's figure is its time per operation.
func BenchmarkTranscript1000(b *testing.B) {
	s, _, r := newService(b)
	for i := cmex.LearnerRecordID(3); i <= 1000; i++ {
		r.m[i] = record(i, "AMA PRA Category 1", cmex.Points(25*(i%8+1)))
	}
	ctx := context.Background()
	for b.Loop() {
		cs, err := s.TranscriptCredentials(ctx, 7, cmex.CredentialDataIntegrity)
		if err != nil || len(cs) != 1000 {
			b.Fatal(len(cs), err)
		}
	}
}

// TestTranscriptParallel issues a transcript on every CPU at once (run
// with -race) and checks every credential.
func TestTranscriptParallel(t *testing.T) {
	s, _, r := newService(t)
	for i := cmex.LearnerRecordID(3); i <= 40; i++ {
		r.m[i] = record(i, "AMA PRA Category 1", cmex.Points(25*(i%8+1)))
	}
	cs, err := s.TranscriptCredentials(context.Background(), 7, cmex.CredentialDataIntegrity)
	if err != nil || len(cs) != 40 {
		t.Fatal(len(cs), err)
	}
	for i, c := range cs {
		if c.RecordID != cmex.LearnerRecordID(i+1) {
			t.Errorf("credential %d is record %d's", i, c.RecordID)
		}
		if v := verify(t, s, c.Credential); !v.Verified {
			t.Errorf("record %d: %v", c.RecordID, failed(v))
		}
	}
}
