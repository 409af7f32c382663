package credential

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cmexhub/cmex"
)

// Service implements cmex.CredentialService.
type Service struct {
	Keys    cmex.IssuerKeyService
	Records cmex.CredentialRecords
	// BaseURL is the installation's public address (https://cme.example.org):
	// the issuer is its did:web, and status lists are served under it.
	// Without one nothing can be issued (verification still works).
	BaseURL string
	// Name is the issuer Profile's name.
	Name string
	Now  func() time.Time
}

var _ cmex.CredentialService = (*Service)(nil)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// DIDWeb is the did:web of a base URL: its host (a port's colon
// percent-encoded) and its path segments, separated by colons.
func DIDWeb(base string) (string, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("no host in %q", base)
	}
	did := "did:web:" + strings.ReplaceAll(u.Host, ":", "%3A")
	for _, seg := range strings.Split(strings.Trim(u.Path, "/"), "/") {
		if seg != "" {
			did += ":" + url.PathEscape(seg)
		}
	}
	return did, nil
}

// DID is the installation's did:web, or "" without a base URL.
func (s *Service) DID() string {
	if s.BaseURL == "" {
		return ""
	}
	d, err := DIDWeb(s.BaseURL)
	if err != nil {
		return ""
	}
	return d
}

// StatusListURL is the URL of status list n.
func (s *Service) StatusListURL(n int) string {
	return strings.TrimRight(s.BaseURL, "/") + "/credentials/status/" + strconv.Itoa(n)
}

// signer is the key new credentials are signed with.
type signer struct {
	key  *cmex.IssuerKey
	priv ed25519.PrivateKey
	did  string
	vm   string // the DID URL of the key
}

// Issuing implements cmex.CredentialService.
func (s *Service) Issuing(ctx context.Context) error {
	_, err := s.signer(ctx)
	return err
}

func (s *Service) signer(ctx context.Context) (*signer, error) {
	did := s.DID()
	if did == "" {
		return nil, cmex.Errorf(cmex.EUNAVAILABLE, "this cmex issues no credentials: it has no public URL to be its did:web (set -public-url)")
	}
	k, priv, err := s.Keys.SigningKey(ctx)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		return nil, cmex.Errorf(cmex.EUNAVAILABLE, "this cmex issues no credentials yet: it has no issuer key (cmex keys create)")
	}
	if err != nil {
		return nil, err
	}
	return &signer{key: k, priv: priv, did: did, vm: did + "#" + k.ID}, nil
}

// issue secures the credential of one record.
func (s *Service) issue(sg *signer, rec *cmex.CredentialRecord, f cmex.CredentialFormat) (*cmex.IssuedCredential, error) {
	c := build(buildInput{rec: rec, issuerID: sg.did, issuerName: s.Name, statusBase: strings.TrimRight(s.BaseURL, "/") + "/credentials/status/", saltKey: sg.priv.Seed()})
	out := &cmex.IssuedCredential{RecordID: rec.Record.ID, CreditID: rec.Record.CreditID, Format: f}
	switch f {
	case cmex.CredentialJWT:
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		if out.JWT, err = signJWT(b, sg.priv, sg.vm); err != nil {
			return nil, err
		}
	default:
		out.Format = cmex.CredentialDataIntegrity
		m, err := toMap(c)
		if err != nil {
			return nil, err
		}
		signed, err := Sign(m, sg.priv, sg.vm, s.now())
		if err != nil {
			return nil, fmt.Errorf("sign credential of record %d: %w", rec.Record.ID, err)
		}
		if out.Credential, err = json.Marshal(signed); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func issuable(rec *cmex.CredentialRecord) error {
	if rec.Record.Status == cmex.StatusRejected {
		return cmex.Errorf(cmex.ECONFLICT, "the board rejected this record: it has no credential")
	}
	return nil
}

// RecordCredential implements cmex.CredentialService.
func (s *Service) RecordCredential(ctx context.Context, id cmex.LearnerRecordID, f cmex.CredentialFormat) (*cmex.IssuedCredential, error) {
	sg, err := s.signer(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := s.Records.CredentialRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := issuable(rec); err != nil {
		return nil, err
	}
	return s.issue(sg, rec, f)
}

// PersonCredential implements cmex.CredentialService.
func (s *Service) PersonCredential(ctx context.Context, person cmex.PersonID, id cmex.LearnerRecordID, f cmex.CredentialFormat) (*cmex.IssuedCredential, error) {
	sg, err := s.signer(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := s.Records.CredentialRecord(ctx, id)
	if err == nil && (person == 0 || rec.Record.PersonID != person) {
		err = cmex.Errorf(cmex.ENOTFOUND, "no learner record %d of yours", id)
	}
	if err != nil {
		return nil, err
	}
	if err := issuable(rec); err != nil {
		return nil, err
	}
	return s.issue(sg, rec, f)
}

// TranscriptCredentials implements cmex.CredentialService.
func (s *Service) TranscriptCredentials(ctx context.Context, person cmex.PersonID, f cmex.CredentialFormat) ([]*cmex.IssuedCredential, error) {
	sg, err := s.signer(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := s.Records.PersonCredentialRecords(ctx, person)
	if err != nil {
		return nil, err
	}
	return s.issueAll(ctx, sg, recs, f)
}

// issueAll issues the credentials of recs on every CPU: signing is CPU
// work (JSON-LD processing and canonicalization), independent per record.
func (s *Service) issueAll(ctx context.Context, sg *signer, recs []*cmex.CredentialRecord, f cmex.CredentialFormat) ([]*cmex.IssuedCredential, error) {
	out := make([]*cmex.IssuedCredential, len(recs))
	errs := make([]error, len(recs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(1, len(recs))) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(recs) || ctx.Err() != nil {
					return
				}
				out[i], errs[i] = s.issue(sg, recs[i], f)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// statusListCredential is a BitstringStatusListCredential.
type statusListCredential struct {
	Context           []string          `json:"@context"`
	ID                string            `json:"id"`
	Type              []string          `json:"type"`
	Issuer            string            `json:"issuer"`
	ValidFrom         string            `json:"validFrom"`
	ValidUntil        string            `json:"validUntil"`
	CredentialSubject statusListSubject `json:"credentialSubject"`
}

type statusListSubject struct {
	ID            string `json:"id"`
	Type          string `json:"type"`
	StatusPurpose string `json:"statusPurpose"`
	EncodedList   string `json:"encodedList"`
}

// StatusListTTL is how long a status list credential is valid: a verifier
// fetches it again after that, and sees revocations made since.
const StatusListTTL = 24 * time.Hour

// StatusListCredential implements cmex.CredentialService. The list is
// made at each request from the ledger: bit i of list n is set when the
// record n*size+i is deleted or rejected.
func (s *Service) StatusListCredential(ctx context.Context, n int) (json.RawMessage, error) {
	if n < 1 || n > 1<<20 {
		return nil, cmex.Errorf(cmex.ENOTFOUND, "no status list %d", n)
	}
	sg, err := s.signer(ctx)
	if err != nil {
		return nil, err
	}
	size := cmex.GuessStatusListSize
	from := cmex.LearnerRecordID(int64(n-1) * int64(size))
	revoked, err := s.Records.RevokedRecords(ctx, from, from+cmex.LearnerRecordID(size-1))
	if err != nil {
		return nil, err
	}
	set := make([]int, len(revoked))
	for i, id := range revoked {
		_, set[i] = StatusIndex(id)
	}
	enc, err := encodeList(set, size)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Second)
	u := s.StatusListURL(n)
	c := statusListCredential{Context: []string{ContextVC}, ID: u, Type: []string{"VerifiableCredential", "BitstringStatusListCredential"},
		Issuer: sg.did, ValidFrom: now.Format(time.RFC3339), ValidUntil: now.Add(StatusListTTL).Format(time.RFC3339),
		CredentialSubject: statusListSubject{ID: u + "#list", Type: "BitstringStatusList", StatusPurpose: "revocation", EncodedList: enc}}
	m, err := toMap(c)
	if err != nil {
		return nil, err
	}
	signed, err := Sign(m, sg.priv, sg.vm, now)
	if err != nil {
		return nil, err
	}
	return json.Marshal(signed)
}

// didDocument is a DID document listing Multikey verification methods.
type didDocument struct {
	Context            []string             `json:"@context"`
	ID                 string               `json:"id"`
	VerificationMethod []verificationMethod `json:"verificationMethod"`
	AssertionMethod    []string             `json:"assertionMethod"`
}

type verificationMethod struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

// DID document contexts.
const (
	ContextDID      = "https://www.w3.org/ns/did/v1"
	ContextMultikey = "https://w3id.org/security/multikey/v1"
)

func (s *Service) didDocument(did string, keys []*cmex.IssuerKey) didDocument {
	doc := didDocument{Context: []string{ContextDID, ContextMultikey}, ID: did, VerificationMethod: []verificationMethod{}, AssertionMethod: []string{}}
	for _, k := range keys {
		vm := did + "#" + k.ID
		doc.VerificationMethod = append(doc.VerificationMethod, verificationMethod{ID: vm, Type: "Multikey", Controller: did, PublicKeyMultibase: PublicKeyMultibase(k.PublicKey)})
		doc.AssertionMethod = append(doc.AssertionMethod, vm)
	}
	return doc
}

// DIDDocument implements cmex.CredentialService: every key, the retired
// ones too, so that what they signed still verifies.
func (s *Service) DIDDocument(ctx context.Context) (json.RawMessage, error) {
	did := s.DID()
	if did == "" {
		return nil, cmex.Errorf(cmex.ENOTFOUND, "this cmex has no did:web: it has no public URL (-public-url)")
	}
	keys, err := s.Keys.IssuerKeys(ctx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(s.didDocument(did, keys))
}
