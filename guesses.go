package cmex

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// This file holds every GUESS in the rules of activities and learner records: behaviour the specs could
// not establish (specs/pars.md, specs/certainty.md), which cmex had to choose.
// Each is named Guess… so they can all be found and corrected in one place.
// Where a guessed list is used to judge a value, an unknown value is a
// warning, not a rejection, because the list may simply be incomplete.

// GuessCommendationTags: ACCME's criteria for Accreditation with Commendation
// (C23–C38), spelled as ACCME names them. The seed and the JSON draft show
// only "Engages Teams" and "Improves Performance"; Appendix H was not found.
var GuessCommendationTags = NewVocabulary(
	"Engages Teams", "Engages Patients/Public", "Engages Students",
	"Advances Data Use", "Addresses Population Health", "Collaborates Effectively",
	"Optimizes Communication Skills", "Optimizes Technical/Procedural Skills",
	"Creates Individualized Learning Plans", "Utilizes Support Strategies",
	"Engages in Research/Scholarship", "Supports CPD for CPD Team", "Demonstrates Creativity/Innovation",
	"Improves Performance", "Improves Healthcare Quality", "Improves Patient/Community Health",
)

// GuessLocationRequired: the legacy activity template required city, state
// (for the USA) and country for courses and regularly scheduled series
// (jfrux/accme_lib). cmex applies that to the enhanced format when the
// activity is delivered in person, or says nothing of its delivery.
func GuessLocationRequired(a *Activity) bool {
	if a.Type != "Live Course" && a.Type != "Regularly Scheduled Series" {
		return false
	}
	if len(a.DeliveryMethods) == 0 {
		return true
	}
	for _, m := range a.DeliveryMethods {
		if m == "In-Person" {
			return true
		}
	}
	return false
}

// GuessURLRequired: error 220 "Missing activity URL" exists but the seed does
// not say when a URL is needed. Activities listed on CME Passport
// (ForPublicList) link to their page, so cmex requires a URL for them.
func GuessURLRequired(a *Activity) bool { return a.ForPublicList != nil && *a.ForPublicList }

// GuessABIMNeedsMedicalKnowledge: 218 "Missing Medical Knowledge approval
// status" suggests every ABIM registration carries Medical Knowledge, with
// Patient Safety and Practice Assessment as additions.
const GuessABIMNeedsMedicalKnowledge = true

// ABA's MOCA content outline travels in lom:keyword (217, 472, 489; JSON
// draft). GuessMOCASources and GuessMOCAKeywordIDs are the attribute values
// the draft lists; GuessMOCAKeywordsPerSource bounds the count (489): one
// keyword of each id kind per selection.
var (
	GuessMOCASources    = NewVocabulary("01_ABAMCO", "02_ABAMCO")
	GuessMOCAKeywordIDs = NewVocabulary("Level 3 ID", "Tag ID", "Free Text")
)

const GuessMOCAKeywordsPerSource = 3

// Length limits the specs do not give. Provider Activity ID is CERTAIN at 50
// (SearchCriteria.ProviderActivityId is string(50)) and the description is
// LIKELY at 2,500 (JSON draft); the others are guesses that keep records
// within what any registry can be expected to store.
const (
	MaxProviderActivityID  = 50
	MaxDescription         = 2500
	GuessMaxTitle          = 1000
	GuessMaxName           = 255 // specialty, joint provider, supporter, city and other short texts
	GuessMaxURL            = 2048
	GuessMaxListItems      = 200 // specialties, registrations, tags and other repeated elements
	GuessMaxSupportAmount  = 1_000_000_000
	GuessMaxParticipants   = 10_000_000
	GuessMaxCreditsOffered = Points(100000) // 1,000 credits
)

// Learner records.

// GuessCreditIDPattern is the form of a CreditID in the JSON draft
// (^ccid:[^:]+:[^:]+$). The seed's examples follow it but PARS is not known
// to enforce it, so a CreditID of another form is a warning.
var GuessCreditIDPattern = regexp.MustCompile(`^ccid:[^:]+:[^:]+$`)

// GuessOneUniqueIDPerDomain: error 743 says "Exactly 1 UniqueID node
// expected", yet the seed's own sample sends two (a licence and a board
// id). cmex reads 743 as one UniqueID per domain.
const GuessOneUniqueIDPerDomain = true

// GuessPassthroughKey says which records belong to the same learner when
// the server does not match identities against the registry: the first of
// the reported identifiers by kind (a board id, then NPI, then a licence),
// each kind in alphabetical order of domain.
func GuessPassthroughKey(l LearnerIdentity) string {
	rank := map[string]int{KindBoard: 0, KindNPI: 1, KindLicense: 2, KindOCI: 3}
	best, bestRank := "", 99
	for _, u := range l.UniqueIDs {
		kind, domain := IdentifierKind(u.Domain)
		r, ok := rank[kind]
		if !ok || strings.TrimSpace(u.Value) == "" {
			continue
		}
		k := "u:" + domain + ":" + IDKey(u.Value)
		if r < bestRank || r == bestRank && k < best {
			best, bestRank = k, r
		}
	}
	return best
}

// OCIDomain is the UniqueID domain cmex writes an OCI ID under.
const OCIDomain = "OCI"

// GuessOCIDomains are the UniqueID domains that carry an OCI ID. PARS
// defines none (its domains are boards, states and NPI); Dual Code's HCE
// keeps the OCI ID in a user profile field whose recommended short name is
// ociid and whose name is "OCI ID" (specs/cmars.md 5.1), so an LMS passing
// it on is likely to use one of these.
var GuessOCIDomains = NewVocabulary(OCIDomain).WithAlias("OCIID", OCIDomain).WithAlias("OCI ID", OCIDomain).WithAlias("OCI_ID", OCIDomain)

// GuessRepeatParticipation says whether a learner may report AMA credit for
// an activity more than once (751 "Repeat participation is not allowed"):
// only for a Regularly Scheduled Series, whose sessions a physician attends
// again and again.
func GuessRepeatParticipation(a *Activity) bool { return a.Type == "Regularly Scheduled Series" }

// xAPI completion profile (xapiprofile.go). No registry or spec names
// extensions for CME credit in xAPI statements, so cmex invents these
// IRIs; a provider's profile may name others.

// GuessXAPICreditsExtension is the result extension carrying a
// statement's credits: a JSON array of {"certification", "points",
// "unit", "creditId"} objects, as CreditCertificate encodes them.
const GuessXAPICreditsExtension = "https://cmex.example/xapi/extensions/cme-credits"

// GuessXAPIActivityExtension is the extension (on the object's activity
// definition, or the context) carrying the ACCME Activity ID, a string or
// a number of nine digits.
const GuessXAPIActivityExtension = "https://cmex.example/xapi/extensions/accme-activity-id"

// GuessXAPILearnerExtension is the context extension carrying who the
// learner is for the registry: a LearnerIdentity as JSON ({"givenName",
// "familyName", "birthDate", "uniqueIds": [{"domain", "value"}]}), e.g. an
// NPI or a board id with the birth date.
const GuessXAPILearnerExtension = "https://cmex.example/xapi/extensions/learner"

// GuessXAPICreditIDDomain is the provider domain of the CreditIDs cmex
// makes for credits that carry none (ccid:xapi:<statement id>-<n>).
const GuessXAPICreditIDDomain = "xapi"

// Verifiable credentials (Open Badges 3.0). The IRIs below are of cmex's
// own making: neither OB 3.0 nor ACCME names CME activities, providers or
// credit types with IRIs.

// GuessAchievementIRI is the id of the Achievement a credit of an activity
// is: one per ACCME activity and credit type, a URN since cmex serves no
// page for it.
func GuessAchievementIRI(activity ActivityID, certification string) string {
	return fmt.Sprintf("urn:cmex:achievement:%d:%s", activity, url.PathEscape(strings.ToLower(strings.Join(strings.Fields(certification), "-"))))
}

// GuessProviderIRI is the id of a provider's Profile (the achievement's
// creator).
func GuessProviderIRI(p ProviderID) string { return "urn:cmex:provider:" + string(p) }

// GuessCredentialCriteria is the achievement's criteria: cmex knows of an
// activity's requirements only that the provider reported a completion.
const GuessCredentialCriteria = "Completed the accredited continuing medical education activity, as its provider reported to the ledger."

// GuessCredentialFieldOfStudy is every achievement's fieldOfStudy.
const GuessCredentialFieldOfStudy = "Continuing Medical Education"

// GuessCredentialIdentityType is the identityType of a learner's hashed
// identifier: OB 3.0's IdentifierTypeEnum has no NPI, licence or board
// id, so these are extension types ("ext:").
func GuessCredentialIdentityType(kind, domain string) string {
	switch kind {
	case KindNPI:
		return "ext:NPI"
	case KindLicense:
		return "ext:License:" + domain
	case KindBoard:
		return "ext:BoardID:" + domain
	case KindOCI:
		return "ext:OCIID"
	}
	return "ext:" + domain
}

// GuessAccreditationAlignment is an achievement's alignment to the system
// its credit belongs to.
type GuessAccreditationAlignment struct{ Name, Framework, Type, URL string }

// GuessAccreditation is the alignment of a credit type where cmex knows
// the accrediting system: AMA PRA Category 1 credit, designated by
// ACCME-accredited providers (the records PARS takes). MOC credit carries
// its board as a tag only.
func GuessAccreditation(certification, board string) (GuessAccreditationAlignment, bool) {
	if board == "" && strings.Contains(strings.ToLower(certification), "ama pra category 1") {
		return GuessAccreditationAlignment{Name: "AMA PRA Category 1 Credit", Framework: "AMA PRA credit system (ACCME-accredited provider)",
			Type: "ext:CMECreditType", URL: "https://www.ama-assn.org/education/ama-pra-credit-system"}, true
	}
	return GuessAccreditationAlignment{}, false
}

// GuessStatusListSize is how many credentials one Bitstring Status List
// covers: 131,072 bits (16 KiB), the spec's minimum for herd privacy. A
// credential's index is its learner record's id (list = id / size + 1), so
// that a deletion or a board's rejection revokes it with no bookkeeping;
// the spec recommends random indexes, which this trades for that.
const GuessStatusListSize = 131072
