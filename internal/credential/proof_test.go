package credential

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCanonicalizeExample(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(`{
  "@context": ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
  "id": "http://example.com/credentials/3527",
  "type": ["VerifiableCredential", "OpenBadgeCredential"],
  "issuer": {"id": "https://example.com/issuers/876543", "type": ["Profile"], "name": "Example Corp"},
  "validFrom": "2010-01-01T00:00:00Z",
  "name": "Teamwork Badge",
  "credentialSubject": {"id": "did:example:ebfeb1f712ebc6f1c276e12ec21", "type": ["AchievementSubject"], "creditsEarned": 1.25,
    "achievement": {"id": "https://example.com/achievements/21st-century-skills/teamwork", "type": ["Achievement"],
      "criteria": {"narrative": "Team members are nominated."}, "description": "d", "name": "Teamwork"}}
}`), &doc); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	nq, err := canonicalize(doc)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v\n%s", time.Since(start), nq)
	if !strings.Contains(nq, "creditsEarned") {
		t.Fatal("no creditsEarned")
	}
	_, priv, _ := ed25519.GenerateKey(nil)
	signed, err := Sign(doc, priv, "did:key:x#x", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u, p, err := readProof(signed)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkProof(u, p, priv.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
}

// TestFastCanonicalization holds the fast path to json-gold's Normalize,
// document after document (the processed contexts are reused), for
// credentials, proof configurations and status lists, and for IRIs the
// check drops.
func TestFastCanonicalization(t *testing.T) {
	docs := []string{
		`{"@context":["https://www.w3.org/ns/credentials/v2","https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],"id":"urn:uuid:1","type":["VerifiableCredential","OpenBadgeCredential"],"name":"n","issuer":{"id":"did:web:x","type":["Profile"],"name":"cmex"},"validFrom":"2026-01-01T00:00:00Z","credentialSubject":{"type":["AchievementSubject"],"creditsEarned":1.25,"identifier":[{"type":"IdentityObject","hashed":true,"identityHash":"sha256$ab","identityType":"ext:NPI","salt":"s"},{"type":"IdentityObject","hashed":false,"identityHash":"Helen","identityType":"name"}],"achievement":{"id":"urn:cmex:a:1","type":["Achievement"],"name":"A","description":"d","criteria":{"narrative":"c"},"creator":{"id":"urn:cmex:provider:1","type":["Profile"],"name":"P"},"creditsAvailable":2,"tag":["x","y"],"alignment":[{"type":["Alignment"],"targetName":"t","targetUrl":"https://www.ama-assn.org/x","targetType":"ext:T"}]}},"credentialStatus":{"id":"https://cme.example.org/credentials/status/1#3","type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"3","statusListCredential":"https://cme.example.org/credentials/status/1"}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2","https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],"type":"DataIntegrityProof","cryptosuite":"eddsa-rdfc-2022","created":"2026-12-03T10:00:00Z","verificationMethod":"did:web:cme.example.org#key-1","proofPurpose":"assertionMethod"}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2"],"id":"https://cme.example.org/credentials/status/1","type":["VerifiableCredential","BitstringStatusListCredential"],"issuer":"did:web:cme.example.org","validFrom":"2026-12-03T10:00:00Z","credentialSubject":{"id":"https://cme.example.org/credentials/status/1#list","type":"BitstringStatusList","statusPurpose":"revocation","encodedList":"uH4sI"}}`,
		`{"@context":["https://www.w3.org/ns/credentials/v2"],"id":"https://ok.example/c","type":"VerifiableCredential","issuer":"http://bad iri/i","name":{"@value":"x","@language":"en"},"description":"d"}`,
	}
	for round := 0; round < 3; round++ {
		for i, d := range docs {
			var doc map[string]any
			if err := json.Unmarshal([]byte(d), &doc); err != nil {
				t.Fatal(err)
			}
			fast, ok, err := fastCanonicalize(doc, round == 2)
			if !ok || err != nil {
				t.Fatalf("doc %d: fast path not taken: %v", i, err)
			}
			slow, err := slowCanonicalize(doc)
			if err != nil {
				t.Fatal(err)
			}
			if fast != slow {
				t.Errorf("doc %d round %d:\nfast:\n%s\nslow:\n%s", i, round, fast, slow)
			}
			if fast == "" {
				t.Errorf("doc %d: nothing", i)
			}
		}
	}
}

// TestProofConfigTemplate holds the templated proof configuration to a
// canonicalization of each.
func TestProofConfigTemplate(t *testing.T) {
	ctx := []any{ContextVC, ContextOB}
	for _, created := range []string{"2026-12-03T10:00:00Z", "1999-01-01T23:59:59Z", "2026-12-03T10:00:00.123Z", "2026-12-03T10:00:00+01:00"} {
		p := Proof{Type: ProofType, Cryptosuite: Cryptosuite, Created: created, VerificationMethod: "did:web:cme.example.org#key-1", ProofPurpose: "assertionMethod"}
		got, err := canonicalProofConfig(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := canonicalProofConfigOf(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if got != want || !strings.Contains(got, created) {
			t.Errorf("%s:\n%s\nwant\n%s", created, got, want)
		}
	}
}

// TestTemplateExpansion holds template expansion to json-gold's for the
// credentials cmex issues, in their shapes (with and without
// creditsAvailable, alignment, several identifiers), twice each so that
// the second is filled from the template.
func TestTemplateExpansion(t *testing.T) {
	base := func() map[string]any {
		var doc map[string]any
		_ = json.Unmarshal([]byte(`{"@context":["https://www.w3.org/ns/credentials/v2","https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],"id":"urn:uuid:1","type":["VerifiableCredential","OpenBadgeCredential"],"name":"n","issuer":{"id":"did:web:x","type":["Profile"],"name":"cmex"},"validFrom":"2026-01-01T00:00:00Z","credentialSubject":{"type":["AchievementSubject"],"creditsEarned":1.25,"identifier":[{"type":"IdentityObject","hashed":true,"identityHash":"sha256$ab","identityType":"ext:NPI","salt":"s"},{"type":"IdentityObject","hashed":false,"identityHash":"Helen","identityType":"name"}],"achievement":{"id":"urn:cmex:a:1","type":["Achievement"],"name":"A","description":"d","criteria":{"narrative":"c"},"creator":{"id":"urn:cmex:provider:1","type":["Profile"],"name":"P"},"creditsAvailable":2,"tag":["x","y"],"alignment":[{"type":["Alignment"],"targetName":"t","targetUrl":"https://www.ama-assn.org/x","targetType":"ext:T"}]}},"credentialStatus":{"id":"https://cme.example.org/credentials/status/1#3","type":"BitstringStatusListEntry","statusPurpose":"revocation","statusListIndex":"3","statusListCredential":"https://cme.example.org/credentials/status/1"}}`), &doc)
		return doc
	}
	variants := []func(d map[string]any){
		func(d map[string]any) {},
		func(d map[string]any) { d["name"] = "another name"; d["id"] = "urn:uuid:2" },
		func(d map[string]any) {
			a := d["credentialSubject"].(map[string]any)["achievement"].(map[string]any)
			delete(a, "creditsAvailable")
			delete(a, "alignment")
		},
		func(d map[string]any) { d["credentialSubject"].(map[string]any)["creditsEarned"] = 3.0 },
		func(d map[string]any) { d["issuer"].(map[string]any)["id"] = "did:web:127.0.0.1%3A8080" },
		func(d map[string]any) { d["issuer"].(map[string]any)["id"] = "relative/iri" }, // read as an IRI: not templated
		func(d map[string]any) { d["validFrom"] = "not a date" },
	}
	for i, v := range variants {
		for round := 0; round < 2; round++ {
			doc := base()
			v(doc)
			templated, ok, err := fastCanonicalize(doc, true)
			if !ok || err != nil {
				t.Fatalf("variant %d: %v %v", i, ok, err)
			}
			want, err := slowCanonicalize(doc)
			if err != nil {
				t.Fatal(err)
			}
			if templated != want {
				t.Errorf("variant %d round %d:\n%s\nwant\n%s", i, round, templated, want)
			}
		}
	}
}
