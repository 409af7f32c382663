package credential

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// verifying is one verification under way.
type verifying struct {
	v *cmex.Verification
}

func (vf *verifying) add(check string, err error) bool {
	c := cmex.VerificationCheck{Check: check, OK: err == nil}
	if err != nil {
		c.Message = err.Error()
	}
	vf.v.Checks = append(vf.v.Checks, c)
	return err == nil
}

func (vf *verifying) done() *cmex.Verification {
	vf.v.Verified = len(vf.v.Checks) > 0
	for _, c := range vf.v.Checks {
		vf.v.Verified = vf.v.Verified && c.OK
	}
	return vf.v
}

// Verify implements cmex.CredentialService.
func (s *Service) Verify(ctx context.Context, data []byte) (*cmex.Verification, error) {
	vf := &verifying{v: &cmex.Verification{Checks: []cmex.VerificationCheck{}}}
	data = bytes.TrimSpace(data)
	var cred map[string]any
	var pub ed25519.PublicKey
	var verifyProof func() error
	if len(data) > 0 && data[0] == '{' {
		vf.v.Format = cmex.CredentialDataIntegrity
		if err := json.Unmarshal(data, &cred); err != nil {
			vf.add(cmex.CheckFormat, errors.New("the credential is not JSON"))
			return vf.done(), nil
		}
		unsecured, p, err := readProof(cred)
		if !vf.add(cmex.CheckFormat, err) {
			return vf.done(), nil
		}
		vf.v.Credential = data
		issuer := issuerID(cred)
		vf.v.Issuer = issuer
		pub, err = s.resolve(ctx, p.VerificationMethod, issuer)
		if !vf.add(cmex.CheckIssuer, err) {
			return vf.done(), nil
		}
		verifyProof = func() error { return checkProof(unsecured, p, pub) }
	} else {
		vf.v.Format = cmex.CredentialJWT
		j, err := parseJWT(string(data))
		if err == nil && (j.header.Alg != "EdDSA" || j.header.Typ != "vc+jwt" && j.header.Typ != "vc-ld+jwt") {
			err = fmt.Errorf("the JWT is alg %q typ %q; cmex checks alg EdDSA, typ vc+jwt", j.header.Alg, j.header.Typ)
		}
		if err == nil {
			if err = json.Unmarshal(j.payload, &cred); err != nil {
				err = errors.New("the JWT's payload is not a JSON credential")
			}
		}
		if !vf.add(cmex.CheckFormat, err) {
			return vf.done(), nil
		}
		vf.v.Credential = j.payload
		issuer := issuerID(cred)
		vf.v.Issuer = issuer
		pub, err = s.resolve(ctx, j.header.Kid, issuer)
		if !vf.add(cmex.CheckIssuer, err) {
			return vf.done(), nil
		}
		verifyProof = func() error {
			if !ed25519.Verify(pub, []byte(j.input), j.sig) {
				return errors.New("the signature does not match the credential")
			}
			return nil
		}
	}
	if err := checkContexts(cred); err != nil {
		vf.add(cmex.CheckFormat, err)
		return vf.done(), nil
	}
	vf.add(cmex.CheckProof, verifyProof())
	now := s.now()
	vf.add(cmex.CheckValidFrom, checkDate(cred, "validFrom", func(t time.Time) error {
		if t.After(now) {
			return fmt.Errorf("not valid before %s", t.Format(time.RFC3339))
		}
		return nil
	}))
	vf.add(cmex.CheckValidUntil, checkDate(cred, "validUntil", func(t time.Time) error {
		if !t.After(now) {
			return fmt.Errorf("expired at %s", t.Format(time.RFC3339))
		}
		return nil
	}))
	vf.add(cmex.CheckStatus, s.checkStatus(ctx, cred, vf.v.Issuer))
	return vf.done(), nil
}

// checkContexts requires the VC 2.0 context first.
func checkContexts(cred map[string]any) error {
	ctxs, _ := cred["@context"].([]any)
	if len(ctxs) == 0 || ctxs[0] != ContextVC {
		return fmt.Errorf("the first @context is not %s", ContextVC)
	}
	return nil
}

// issuerID is the credential's issuer: a URL, or an object's id.
func issuerID(cred map[string]any) string {
	switch v := cred["issuer"].(type) {
	case string:
		return v
	case map[string]any:
		id, _ := v["id"].(string)
		return id
	}
	return ""
}

// checkDate applies ok to a date member, when present.
func checkDate(cred map[string]any, name string, ok func(time.Time) error) error {
	raw, present := cred[name]
	if !present {
		if name == "validFrom" {
			return errors.New("the credential has no validFrom")
		}
		return nil
	}
	s, _ := raw.(string)
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("%s is not a date-time", name)
	}
	return ok(t)
}

// resolve returns the public key of verification method vm, which must
// belong to issuer: a did:key, or a key of this installation's did:web.
// Nothing is fetched.
func (s *Service) resolve(ctx context.Context, vm, issuer string) (ed25519.PublicKey, error) {
	did, frag, ok := strings.Cut(vm, "#")
	if !ok || frag == "" {
		return nil, fmt.Errorf("the verification method %q is not a DID URL with a fragment", vm)
	}
	if did != issuer {
		return nil, fmt.Errorf("the key %s is not the issuer's (%s)", vm, issuer)
	}
	switch {
	case strings.HasPrefix(did, "did:key:"):
		mb := strings.TrimPrefix(did, "did:key:")
		if frag != mb {
			return nil, errors.New("a did:key's verification method is its own key")
		}
		pub, err := ParsePublicKeyMultibase(mb)
		if err != nil {
			return nil, fmt.Errorf("did:key: %v", err)
		}
		return pub, nil
	case did == s.DID() && did != "":
		keys, err := s.Keys.IssuerKeys(ctx)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if k.ID == frag {
				return k.PublicKey, nil
			}
		}
		return nil, fmt.Errorf("%s lists no key %s", did, frag)
	}
	return nil, fmt.Errorf("cmex resolves only did:key and its own did:web (%s), not %s", orNone(s.DID()), did)
}

func orNone(s string) string {
	if s == "" {
		return "none here"
	}
	return s
}

// checkStatus reads the credential's status entry and, when its list is
// this installation's, the bit from the ledger.
func (s *Service) checkStatus(ctx context.Context, cred map[string]any, issuer string) error {
	raw, ok := cred["credentialStatus"]
	if !ok {
		return nil
	}
	entry, ok := raw.(map[string]any)
	if !ok {
		return errors.New("credentialStatus is not one entry")
	}
	if t, _ := entry["type"].(string); t != "BitstringStatusListEntry" {
		return fmt.Errorf("cmex checks BitstringStatusListEntry, not %v", entry["type"])
	}
	purpose, _ := entry["statusPurpose"].(string)
	listURL, _ := entry["statusListCredential"].(string)
	idx, err := strconv.Atoi(fmt.Sprint(entry["statusListIndex"]))
	if err != nil || idx < 0 {
		return errors.New("statusListIndex is not a number")
	}
	prefix := strings.TrimRight(s.BaseURL, "/") + "/credentials/status/"
	n, err := strconv.Atoi(strings.TrimPrefix(listURL, prefix))
	if s.BaseURL == "" || !strings.HasPrefix(listURL, prefix) || err != nil || issuer != s.DID() {
		return fmt.Errorf("its status list %s is not this cmex's, and cmex fetches nothing", listURL)
	}
	if purpose != "revocation" {
		return fmt.Errorf("cmex's lists are for revocation, not %q", purpose)
	}
	size := cmex.GuessStatusListSize
	if idx >= size {
		return errors.New("statusListIndex is beyond the list")
	}
	id := cmex.LearnerRecordID(int64(n-1)*int64(size) + int64(idx))
	revoked, err := s.Records.RevokedRecords(ctx, id, id)
	if err != nil {
		return err
	}
	if len(revoked) > 0 {
		return errors.New("revoked: the record was deleted or rejected by its board")
	}
	return nil
}
