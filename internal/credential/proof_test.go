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
