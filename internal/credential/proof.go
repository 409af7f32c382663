package credential

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/piprate/json-gold/ld"
)

// Data Integrity, as W3C vc-di-eddsa's eddsa-rdfc-2022 says: the proof
// configuration (the proof without proofValue, under the document's
// @context) and the document without its proof are each canonicalised with
// RDFC-1.0 and hashed with SHA-256; the signature is Ed25519 over
// proofConfigHash || documentHash, in multibase base58btc.
const (
	ProofType   = "DataIntegrityProof"
	Cryptosuite = "eddsa-rdfc-2022"
)

// Proof is a DataIntegrityProof.
type Proof struct {
	Type               string `json:"type"`
	Cryptosuite        string `json:"cryptosuite"`
	Created            string `json:"created,omitempty"`
	VerificationMethod string `json:"verificationMethod"`
	ProofPurpose       string `json:"proofPurpose"`
	ProofValue         string `json:"proofValue,omitempty"`
}

// canonicalize returns the RDFC-1.0 (URDNA2015) N-Quads of a JSON-LD
// document, loading only the embedded contexts.
func canonicalize(doc map[string]any) (string, error) { return canonicalizeWith(doc, false) }

// canonicalizeWith is canonicalize, with expansion templates when
// templated (for what cmex signs).
func canonicalizeWith(doc map[string]any, templated bool) (string, error) {
	if s, ok, err := fastCanonicalize(doc, templated); ok {
		if err != nil {
			return "", fmt.Errorf("canonicalize: %w", err)
		}
		return s, nil
	}
	return slowCanonicalize(doc)
}

// slowCanonicalize is json-gold's Normalize, for any document.
func slowCanonicalize(doc map[string]any) (string, error) {
	out, err := ld.NewJsonLdProcessor().Normalize(doc, options())
	if err != nil {
		return "", fmt.Errorf("canonicalize: %w", err)
	}
	s, _ := out.(string)
	return s, nil
}

// toMap turns v into the generic JSON form json-gold reads.
func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// hashData is proofConfigHash || documentHash for an unsecured document
// and a proof configuration (without proofValue); signing uses expansion
// templates, verifying does not.
func hashData(unsecured map[string]any, p Proof, signing bool) ([]byte, error) {
	p.ProofValue = ""
	cc, err := canonicalProofConfig(unsecured["@context"], p)
	if err != nil {
		return nil, err
	}
	dc, err := canonicalizeWith(unsecured, signing)
	if err != nil {
		return nil, err
	}
	ph, dh := sha256.Sum256([]byte(cc)), sha256.Sum256([]byte(dc))
	return append(ph[:], dh[:]...), nil
}

// Sign adds an eddsa-rdfc-2022 proof to doc (which has none), made by key
// under verification method vm at created, and returns the secured
// document.
func Sign(doc map[string]any, key ed25519.PrivateKey, vm string, created time.Time) (map[string]any, error) {
	if _, ok := doc["proof"]; ok {
		return nil, errors.New("the document already has a proof")
	}
	p := Proof{Type: ProofType, Cryptosuite: Cryptosuite, Created: created.UTC().Format(time.RFC3339),
		VerificationMethod: vm, ProofPurpose: "assertionMethod"}
	data, err := hashData(doc, p, true)
	if err != nil {
		return nil, err
	}
	p.ProofValue = multibase(ed25519.Sign(key, data))
	out := make(map[string]any, len(doc)+1)
	for k, v := range doc {
		out[k] = v
	}
	pm, err := toMap(p)
	if err != nil {
		return nil, err
	}
	out["proof"] = pm
	return out, nil
}

// readProof splits a secured document into its unsecured form and its one
// proof.
func readProof(secured map[string]any) (map[string]any, Proof, error) {
	var p Proof
	raw, ok := secured["proof"]
	if !ok {
		return nil, p, errors.New("the credential has no proof")
	}
	if _, list := raw.([]any); list {
		return nil, p, errors.New("the credential has several proofs; cmex checks credentials with one")
	}
	pm, ok := raw.(map[string]any)
	if !ok {
		return nil, p, errors.New("the proof is not an object")
	}
	b, _ := json.Marshal(pm)
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, p, fmt.Errorf("the proof is malformed: %v", err)
	}
	for k := range pm {
		switch k {
		case "type", "cryptosuite", "created", "verificationMethod", "proofPurpose", "proofValue":
		default:
			return nil, p, fmt.Errorf("the proof has a member cmex does not check (%s)", k)
		}
	}
	if p.Type != ProofType || p.Cryptosuite != Cryptosuite {
		return nil, p, fmt.Errorf("the proof is %s/%s; cmex checks %s/%s", p.Type, p.Cryptosuite, ProofType, Cryptosuite)
	}
	if p.ProofPurpose != "assertionMethod" {
		return nil, p, fmt.Errorf("the proof's purpose is %q, not assertionMethod", p.ProofPurpose)
	}
	if p.Created != "" {
		if _, err := time.Parse(time.RFC3339, p.Created); err != nil {
			return nil, p, errors.New("the proof's created is not a date-time")
		}
	}
	unsecured := make(map[string]any, len(secured))
	for k, v := range secured {
		if k != "proof" {
			unsecured[k] = v
		}
	}
	return unsecured, p, nil
}

// checkProof verifies an eddsa-rdfc-2022 proof with pub.
func checkProof(unsecured map[string]any, p Proof, pub ed25519.PublicKey) error {
	sig, err := unmultibase(p.ProofValue)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("the proofValue is not a multibase Ed25519 signature")
	}
	data, err := hashData(unsecured, p, false)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, data, sig) {
		return errors.New("the signature does not match the credential")
	}
	return nil
}

// proofConfigs are canonical proof configurations by everything but their
// created date, with a placeholder date. A proof configuration is one
// blank node with one statement per member, so its canonical form orders
// the statements by predicate alone and names the node _:c14n0 whatever
// the date: the date is substituted into the canonical form without
// canonicalizing again (TestProofConfigTemplate holds the two equal).
var proofConfigs sync.Map // string -> string

const placeholderCreated = "1970-01-01T00:00:00Z"

// maxProofConfigs bounds the templates kept (a verifier is sent others'
// keys too).
const maxProofConfigs = 1000

var proofConfigCount atomic.Int64

func canonicalProofConfig(ctx any, p Proof) (string, error) {
	created := p.Created
	if _, err := time.Parse(time.RFC3339, created); err != nil || created == "" || strings.ContainsAny(created, `"\\`) {
		return canonicalProofConfigOf(ctx, p)
	}
	c, _ := json.Marshal(ctx)
	p.Created = placeholderCreated
	key, _ := json.Marshal(p)
	k := string(c) + "\x00" + string(key)
	tmpl, ok := proofConfigs.Load(k)
	if !ok {
		s, err := canonicalProofConfigOf(ctx, p)
		if err != nil {
			return "", err
		}
		if strings.Count(s, `"`+placeholderCreated+`"`) != 1 || strings.Count(s, "_:") != strings.Count(s, "_:c14n0 ") {
			return canonicalProofConfigOf(ctx, Proof{Type: p.Type, Cryptosuite: p.Cryptosuite, Created: created, VerificationMethod: p.VerificationMethod, ProofPurpose: p.ProofPurpose})
		}
		if proofConfigCount.Add(1) > maxProofConfigs {
			return strings.Replace(s, `"`+placeholderCreated+`"`, `"`+created+`"`, 1), nil
		}
		tmpl, _ = proofConfigs.LoadOrStore(k, s)
	}
	return strings.Replace(tmpl.(string), `"`+placeholderCreated+`"`, `"`+created+`"`, 1), nil
}

func canonicalProofConfigOf(ctx any, p Proof) (string, error) {
	cfg, err := toMap(p)
	if err != nil {
		return "", err
	}
	cfg["@context"] = ctx
	return canonicalize(cfg)
}
