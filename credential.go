package cmex

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"time"
)

// Verifiable credentials: cmex issues each accepted learner record as an
// Open Badges 3.0 OpenBadgeCredential (a W3C Verifiable Credential 2.0),
// signed by the installation's issuer key, and checks credentials anyone
// brings. internal/credential builds and verifies them.

// IssuerKey is one of the installation's Ed25519 issuer keys. The newest
// signs new credentials; older ones stay in the DID document, so that
// what they signed still verifies (rotation).
type IssuerKey struct {
	// ID is the key's fragment in the DID document: key-1, key-2, ….
	ID        string            `json:"id"`
	PublicKey ed25519.PublicKey `json:"-"`
	CreatedAt time.Time         `json:"createdAt"`
}

// IssuerKeyService keeps the issuer keys, their private halves encrypted
// with the server key.
type IssuerKeyService interface {
	// CreateIssuerKey generates a key and makes it the signing key;
	// without a server key it is EINVALID.
	CreateIssuerKey(ctx context.Context) (*IssuerKey, error)
	// IssuerKeys returns every key, oldest first (the last signs).
	IssuerKeys(ctx context.Context) ([]*IssuerKey, error)
	// SigningKey returns the newest key with its private key, or
	// ENOTFOUND when no key was made (cmex keys create).
	SigningKey(ctx context.Context) (*IssuerKey, ed25519.PrivateKey, error)
}

// CredentialRecord is a learner record with what its credential says of
// its activity and provider.
type CredentialRecord struct {
	Record       *LearnerRecord
	Activity     *Activity
	ProviderName string
}

// CredentialRecords reads the ledger for the issuer.
type CredentialRecords interface {
	// CredentialRecord returns a live learner record, or ENOTFOUND.
	CredentialRecord(ctx context.Context, id LearnerRecordID) (*CredentialRecord, error)
	// PersonCredentialRecords returns a registry person's live records
	// that no board rejected, by completion date.
	PersonCredentialRecords(ctx context.Context, person PersonID) ([]*CredentialRecord, error)
	// RevokedRecords returns the ids in [from, to] of records deleted or
	// rejected by a board: their credentials are revoked.
	RevokedRecords(ctx context.Context, from, to LearnerRecordID) ([]LearnerRecordID, error)
}

// CredentialFormat is how a credential is secured.
type CredentialFormat string

const (
	// CredentialDataIntegrity: JSON-LD with an embedded Data Integrity
	// proof (eddsa-rdfc-2022).
	CredentialDataIntegrity CredentialFormat = "di"
	// CredentialJWT: VC-JOSE-COSE, a compact JWS (alg EdDSA, typ vc+jwt)
	// whose payload is the credential.
	CredentialJWT CredentialFormat = "jwt"
)

// ParseCredentialFormat reads a format name: di (the default, also
// "ldp" and "json") or jwt.
func ParseCredentialFormat(s string) (CredentialFormat, bool) {
	switch s {
	case "", "di", "ldp", "json":
		return CredentialDataIntegrity, true
	case "jwt":
		return CredentialJWT, true
	}
	return "", false
}

// IssuedCredential is one credential as issued.
type IssuedCredential struct {
	RecordID LearnerRecordID  `json:"recordId,omitempty"`
	CreditID CreditID         `json:"creditId,omitempty"`
	Format   CredentialFormat `json:"format"`
	// Credential is the JSON-LD credential with its proof (di).
	Credential json.RawMessage `json:"credential,omitempty"`
	// JWT is the compact JWS (jwt).
	JWT string `json:"jwt,omitempty"`
}

// Checks of a verification, in the order they are made.
const (
	CheckFormat     = "format"     // the credential can be read
	CheckIssuer     = "issuer"     // its issuer's DID resolves offline and lists the key that signed
	CheckProof      = "proof"      // the signature holds over the credential
	CheckValidFrom  = "validFrom"  // it is valid from before now
	CheckValidUntil = "validUntil" // it has not expired
	CheckStatus     = "status"     // its status list says it is not revoked
)

// VerificationCheck is the outcome of one check.
type VerificationCheck struct {
	Check   string `json:"check"`
	OK      bool   `json:"ok"`
	Message string `json:"message,omitempty"`
}

// Verification says what holds of a credential.
type Verification struct {
	// Verified is true when every check holds.
	Verified bool                `json:"verified"`
	Format   CredentialFormat    `json:"format,omitempty"`
	Issuer   string              `json:"issuer,omitempty"`
	Checks   []VerificationCheck `json:"checks"`
	// Credential is the credential checked (a JWT's payload).
	Credential json.RawMessage `json:"credential,omitempty"`
}

// Check returns the outcome of the named check, and whether it was made.
func (v *Verification) Check(name string) (VerificationCheck, bool) {
	for _, c := range v.Checks {
		if c.Check == name {
			return c, true
		}
	}
	return VerificationCheck{}, false
}

// CredentialService issues and verifies credentials. The JSON API and the
// portal call it; internal/credential implements it.
type CredentialService interface {
	// Issuing says whether credentials can be issued now: nil, or the
	// EUNAVAILABLE error that every issuing call would return (no public
	// URL to be the issuer's did:web, no issuer key).
	Issuing(ctx context.Context) error
	// RecordCredential issues the credential of a live learner record no
	// board rejected (ENOTFOUND, ECONFLICT for a rejected one).
	RecordCredential(ctx context.Context, id LearnerRecordID, f CredentialFormat) (*IssuedCredential, error)
	// PersonCredential is RecordCredential for a record of person only:
	// anyone else's is ENOTFOUND.
	PersonCredential(ctx context.Context, person PersonID, id LearnerRecordID, f CredentialFormat) (*IssuedCredential, error)
	// TranscriptCredentials issues one credential for each of a person's
	// live records no board rejected: her transcript, as a set.
	TranscriptCredentials(ctx context.Context, person PersonID, f CredentialFormat) ([]*IssuedCredential, error)
	// StatusListCredential returns status list n (from 1) as a signed
	// BitstringStatusListCredential, or ENOTFOUND.
	StatusListCredential(ctx context.Context, n int) (json.RawMessage, error)
	// DIDDocument returns the did:web document of the installation,
	// listing every issuer key.
	DIDDocument(ctx context.Context) (json.RawMessage, error)
	// Verify checks a credential: JSON-LD with a Data Integrity proof, or
	// a JWT. A credential that cannot be read is a Verification whose
	// format check fails, not an error.
	Verify(ctx context.Context, credential []byte) (*Verification, error)
}
