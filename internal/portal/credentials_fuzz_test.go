package portal

import (
	"encoding/json"
	"testing"
)

// FuzzCredentialInput: whatever a stranger pastes on /verify, reading it
// as a set of credentials and reading what a credential says neither
// panic nor yield more than the page checks at once.
func FuzzCredentialInput(f *testing.F) {
	f.Add([]byte(`{"credentials":[{"recordId":1,"format":"di","credential":{"@context":["https://www.w3.org/ns/credentials/v2"],"name":"x"}},{"format":"jwt","jwt":"a.b.c"},"d.e.f",3]}`))
	f.Add([]byte(`{"@context":[],"issuer":"did:key:z6Mk","credentialSubject":{"identifier":[{"identityType":"name","identityHash":"Jane"}],"achievement":{"name":"A","creditsAvailable":2,"creator":"x"},"creditsEarned":"1.5"}}`))
	f.Add([]byte(`{"credentials":[]}`))
	f.Add([]byte(`{"issuer":{"id":5},"credentialSubject":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, isSet, err := credentialSet(data)
		if len(set) > maxSetCredentials || (err == nil && isSet && len(set) == 0) || (!isSet && set != nil) {
			t.Fatalf("set %d, isSet %v, err %v", len(set), isSet, err)
		}
		for _, c := range set {
			contentOf(c)
		}
		if c := contentOf(data); c != nil && !json.Valid(data) {
			t.Fatalf("content read from invalid JSON: %+v", c)
		}
	})
}
