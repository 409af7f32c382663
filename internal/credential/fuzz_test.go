package credential_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/cmexhub/cmex"
)

// FuzzVerify: whatever it is sent, the verifier answers a Verification
// (never an error, never a panic), and verifies nothing it did not issue
// unchanged.
func FuzzVerify(f *testing.F) {
	s, _, _ := newService(f)
	ctx := context.Background()
	di, err := s.RecordCredential(ctx, 1, cmex.CredentialDataIntegrity)
	if err != nil {
		f.Fatal(err)
	}
	jwt, err := s.RecordCredential(ctx, 2, cmex.CredentialJWT)
	if err != nil {
		f.Fatal(err)
	}
	issued := map[string]bool{string(di.Credential): true, jwt.JWT: true}
	f.Add([]byte(di.Credential))
	f.Add([]byte(jwt.JWT))
	f.Add([]byte(`{"@context":["https://www.w3.org/ns/credentials/v2"],"proof":{"type":"DataIntegrityProof","cryptosuite":"eddsa-rdfc-2022","proofPurpose":"assertionMethod","verificationMethod":"did:key:z6Mk#z6Mk","proofValue":"z1"}}`))
	f.Add([]byte("eyJhbGciOiJFZERTQSJ9.e30.AA"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := s.Verify(ctx, b)
		if err != nil {
			t.Fatalf("error: %v", err)
		}
		// A JWT's signature covers its exact bytes; a JSON-LD credential may
		// change only as JSON-LD does not see (white space, key order).
		if v.Verified && v.Format == cmex.CredentialJWT && !issued[string(bytes.TrimSpace(b))] {
			t.Fatalf("a JWT cmex did not issue verifies: %q", b)
		}
		if v.Verified && len(v.Checks) != 6 {
			t.Fatalf("verified after %d checks", len(v.Checks))
		}
	})
}
