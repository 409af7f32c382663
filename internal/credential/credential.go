// Package credential issues cmex's learner records as Open Badges 3.0
// OpenBadgeCredentials (W3C Verifiable Credentials 2.0), secured with a
// Data Integrity eddsa-rdfc-2022 proof or as a VC-JOSE-COSE JWT, publishes
// the issuer's DID document and Bitstring Status Lists, and verifies
// credentials whose issuer it can resolve offline (did:key, and the
// did:web of this installation). JSON-LD is processed with json-gold and
// only the embedded contexts; nothing is fetched. README.md states the
// contract.
package credential

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// The OB 3.0 shapes cmex writes. Field order is the order of the JSON.
type (
	obCredential struct {
		Context           []string     `json:"@context"`
		ID                string       `json:"id"`
		Type              []string     `json:"type"`
		Name              string       `json:"name"`
		Issuer            profile      `json:"issuer"`
		ValidFrom         string       `json:"validFrom"`
		ValidUntil        string       `json:"validUntil,omitempty"`
		CredentialSubject subject      `json:"credentialSubject"`
		CredentialStatus  *statusEntry `json:"credentialStatus,omitempty"`
	}
	profile struct {
		ID   string   `json:"id"`
		Type []string `json:"type"`
		Name string   `json:"name,omitempty"`
	}
	subject struct {
		Type          []string         `json:"type"`
		Identifier    []identityObject `json:"identifier"`
		Achievement   achievement      `json:"achievement"`
		CreditsEarned float64          `json:"creditsEarned"`
	}
	identityObject struct {
		Type         string `json:"type"`
		IdentityHash string `json:"identityHash"`
		IdentityType string `json:"identityType"`
		Hashed       bool   `json:"hashed"`
		Salt         string `json:"salt,omitempty"`
	}
	achievement struct {
		ID               string      `json:"id"`
		Type             []string    `json:"type"`
		Name             string      `json:"name"`
		Description      string      `json:"description"`
		Criteria         criteria    `json:"criteria"`
		Creator          profile     `json:"creator"`
		CreditsAvailable *float64    `json:"creditsAvailable,omitempty"`
		FieldOfStudy     string      `json:"fieldOfStudy,omitempty"`
		Tag              []string    `json:"tag,omitempty"`
		Alignment        []alignment `json:"alignment,omitempty"`
	}
	criteria struct {
		Narrative string `json:"narrative"`
	}
	alignment struct {
		Type            []string `json:"type"`
		TargetName      string   `json:"targetName"`
		TargetFramework string   `json:"targetFramework,omitempty"`
		TargetType      string   `json:"targetType,omitempty"`
		TargetURL       string   `json:"targetUrl"`
	}
	statusEntry struct {
		ID                   string `json:"id"`
		Type                 string `json:"type"`
		StatusPurpose        string `json:"statusPurpose"`
		StatusListIndex      string `json:"statusListIndex"`
		StatusListCredential string `json:"statusListCredential"`
	}
)

// points is an amount of credit as a JSON number.
func points(p cmex.Points) float64 {
	f, _ := strconv.ParseFloat(p.String(), 64)
	return f
}

// identityHash is OB's IdentityHash of a plaintext with a salt:
// "sha256$" and the hex SHA-256 of the text followed by the salt.
func identityHash(plain, salt string) string {
	sum := sha256.Sum256([]byte(plain + salt))
	return "sha256$" + hex.EncodeToString(sum[:])
}

// credentialID is a stable urn:uuid for the credential of a record, so
// that asking again gives the same credential (with a new proof).
func credentialID(issuer string, id cmex.LearnerRecordID) string {
	sum := sha256.Sum256([]byte(issuer + "\x00record\x00" + strconv.FormatInt(int64(id), 10)))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8: a name-based UUID of our own hashing (RFC 9562)
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// buildInput is what one credential is made of.
type buildInput struct {
	rec        *cmex.CredentialRecord
	issuerID   string
	issuerName string
	statusBase string // the status lists' URL prefix: …/credentials/status/
	saltKey    []byte // the secret the identifier salts are derived from
}

// salt is the record's identifier salt: derived from a secret, so that the
// same record's credential is the same each time and no one can recompute
// it from the record.
func salt(key []byte, id cmex.LearnerRecordID) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "identity-salt:%d", id)
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// build makes the unsecured OpenBadgeCredential of a record.
func build(in buildInput) obCredential {
	r, a := in.rec.Record, in.rec.Activity
	title := r.ActivityTitle
	if a != nil && a.Title != "" {
		title = a.Title
	}
	if title == "" {
		title = fmt.Sprintf("Activity %d", r.ActivityID)
	}
	cert := strings.TrimSpace(r.Certification)
	s := salt(in.saltKey, r.ID)
	var ids []identityObject
	for _, u := range r.Learner.UniqueIDs {
		kind, domain := cmex.IdentifierKind(u.Domain)
		ids = append(ids, identityObject{Type: "IdentityObject", IdentityType: cmex.GuessCredentialIdentityType(kind, domain),
			Hashed: true, Salt: s, IdentityHash: identityHash(cmex.IDKey(u.Value), s)})
	}
	name := strings.TrimSpace(r.Learner.GivenName + " " + r.Learner.FamilyName)
	ids = append(ids, identityObject{Type: "IdentityObject", IdentityType: "name", Hashed: false, IdentityHash: name})

	ach := achievement{
		ID:           cmex.GuessAchievementIRI(r.ActivityID, cert),
		Type:         []string{"Achievement"},
		Name:         title,
		Description:  fmt.Sprintf("%s for %s, an activity of %s.", cert, title, in.rec.ProviderName),
		Criteria:     criteria{Narrative: cmex.GuessCredentialCriteria},
		Creator:      profile{ID: cmex.GuessProviderIRI(r.ProviderID), Type: []string{"Profile"}, Name: in.rec.ProviderName},
		FieldOfStudy: cmex.GuessCredentialFieldOfStudy,
		Tag:          []string{cert},
	}
	if a != nil {
		for _, o := range a.Credits {
			if o.Amount != nil && strings.EqualFold(strings.TrimSpace(o.Certification), cert) {
				v := points(*o.Amount)
				ach.CreditsAvailable = &v
			}
		}
	}
	if r.Board != "" {
		for _, tag := range []string{r.Board, strings.TrimSpace(r.Board + " " + r.CreditType)} {
			if !slices.Contains(ach.Tag, tag) {
				ach.Tag = append(ach.Tag, tag)
			}
		}
	}
	if al, ok := cmex.GuessAccreditation(cert, r.Board); ok {
		ach.Alignment = []alignment{{Type: []string{"Alignment"}, TargetName: al.Name, TargetFramework: al.Framework, TargetType: al.Type, TargetURL: al.URL}}
	}
	list, index := StatusIndex(r.ID)
	listURL := in.statusBase + strconv.Itoa(list)
	c := obCredential{
		Context:   []string{ContextVC, ContextOB},
		ID:        credentialID(in.issuerID, r.ID),
		Type:      []string{"VerifiableCredential", "OpenBadgeCredential"},
		Name:      fmt.Sprintf("%s: %s", cert, title),
		Issuer:    profile{ID: in.issuerID, Type: []string{"Profile"}, Name: in.issuerName},
		ValidFrom: time.Date(r.CompletionDate.Year, r.CompletionDate.Month, r.CompletionDate.Day, 0, 0, 0, 0, time.UTC).Format(time.RFC3339),
		CredentialSubject: subject{
			Type:          []string{"AchievementSubject"},
			Identifier:    ids,
			Achievement:   ach,
			CreditsEarned: points(r.Points),
		},
		CredentialStatus: &statusEntry{ID: listURL + "#" + strconv.Itoa(index), Type: "BitstringStatusListEntry", StatusPurpose: "revocation",
			StatusListIndex: strconv.Itoa(index), StatusListCredential: listURL},
	}
	return c
}
