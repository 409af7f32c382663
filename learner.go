package cmex

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// CreditID is the provider's identifier of one credit a learner earned:
// ccid:<provider-domain>:<local-id>, at most 300 characters. It names one
// learner record.
type CreditID string

// MaxCreditID is the longest CreditID PARS stores.
const MaxCreditID = 300

// LearnerRecordID is cmex's key for a learner record.
type LearnerRecordID int64

// UniqueID is one identifier of a learner as a provider reports it: the
// domain is a two-letter state (a licence), a board acronym (a diplomate
// id) or NPI.
type UniqueID struct {
	Domain string `json:"domain"`
	Value  string `json:"value"`
}

// LearnerIdentity is who a provider says the learner is.
type LearnerIdentity struct {
	UniqueIDs  []UniqueID `json:"uniqueIds"`
	GivenName  string     `json:"givenName"`
	FamilyName string     `json:"familyName"`
	BirthDate  Date       `json:"birthDate"`
}

// OCIID returns the OCI ID the identity reports (a UniqueID of the OCI
// domain), or "".
func (l LearnerIdentity) OCIID() string {
	for _, u := range l.UniqueIDs {
		if kind, _ := IdentifierKind(u.Domain); kind == KindOCI {
			return strings.TrimSpace(u.Value)
		}
	}
	return ""
}

// Value returns the value of the identifier with domain d, if reported.
func (l LearnerIdentity) Value(d string) (string, bool) {
	for _, u := range l.UniqueIDs {
		if strings.EqualFold(u.Domain, d) {
			return u.Value, true
		}
	}
	return "", false
}

// Query returns the registry query for the identity: every identifier,
// the names, and the birth month and day.
func (l LearnerIdentity) Query() MatchQuery {
	q := MatchQuery{GivenName: l.GivenName, FamilyName: l.FamilyName, BirthMonth: l.BirthDate.Month, BirthDay: l.BirthDate.Day}
	for _, u := range l.UniqueIDs {
		switch kind, domain := IdentifierKind(u.Domain); kind {
		case KindBoard:
			q.BoardIDs = append(q.BoardIDs, BoardID{Board: domain, ID: u.Value})
		case KindLicense:
			q.LicenseState, q.LicenseNumber = domain, u.Value
		case KindNPI:
			q.NPI = u.Value
		case KindOCI:
			q.OCIID = u.Value
		}
	}
	return q
}

// Kinds of UniqueID domain.
const (
	KindBoard   = "board"
	KindLicense = "license"
	KindNPI     = "npi"
	// KindOCI is an Ontario physician's OCI ID (CA-ON-CPSO-12345), which
	// PARS does not define; cmex takes it under the domains of
	// GuessOCIDomains, so that a report can name the learner CMaRS needs.
	KindOCI = "oci"
)

// IdentifierKind says what a UniqueID domain names, and returns it in
// canonical spelling: a board, a state licence, NPI, or "" for a domain
// cmex does not know.
func IdentifierKind(domain string) (kind, canonical string) {
	d := strings.TrimSpace(domain)
	if b, ok := Boards.Lookup(d); ok {
		return KindBoard, b
	}
	if s, ok := USStates.Lookup(d); ok {
		return KindLicense, s
	}
	if strings.EqualFold(d, "NPI") {
		return KindNPI, "NPI"
	}
	if oci, ok := GuessOCIDomains.Lookup(d); ok {
		return KindOCI, oci
	}
	return "", d
}

// LearnerReport is one completion as an LMS reports it (a PARS
// ActivityReport): who, which activity, when, and the credits earned, each
// with its CreditID.
type LearnerReport struct {
	// Action is "add" or "delete" as sent; "" when missing.
	Action                string              `json:"action"`
	ReportingOrganization string              `json:"reportingOrganization,omitempty"`
	Learner               LearnerIdentity     `json:"learner"`
	ProviderOrganization  string              `json:"providerOrganization,omitempty"`
	ActivityID            ActivityID          `json:"activityId"`
	ActivityTitle         string              `json:"activityTitle,omitempty"`
	Status                string              `json:"status,omitempty"` // Completed
	CompletionDate        Date                `json:"completionDate"`
	Credits               []CreditCertificate `json:"credits"`
	// Origin says how the credit came to be issued ("" for a completion);
	// PARS documents have none, the JSON API may say.
	Origin string `json:"origin,omitempty"`
}

// Origins of a learner record: how the provider came to issue it. A
// registry may take some and not others (CMaRS takes neither legacy
// records nor equivalencies issued without evidence; specs/cmars.md).
const (
	// OriginCompletion: the learner completed the activity ("" means it).
	OriginCompletion = "completion"
	// OriginEquivalency: credit granted on an application that another
	// course was equivalent, without evidence being asked for.
	OriginEquivalency = "equivalency"
	// OriginEquivalencyEvidence: an equivalency for which the provider
	// asked for and checked evidence before issuing the record (Dual Code's
	// "Requesting Evidence before Issuing a Learning Record").
	OriginEquivalencyEvidence = "equivalency-evidence"
	// OriginLegacy: a record of a completion from before the provider
	// reported through cmex, migrated from its earlier system.
	OriginLegacy = "legacy"
)

// Origins are the values Origin may take.
var Origins = []string{OriginCompletion, OriginEquivalency, OriginEquivalencyEvidence, OriginLegacy}

// CreditCertificate is one credit of a report.
type CreditCertificate struct {
	Certification string   `json:"certification"` // "AMA PRA Category 1", "ABIM Medical Knowledge"
	Unit          string   `json:"unit,omitempty"`
	Points        *Points  `json:"points,omitempty"`
	CreditID      CreditID `json:"creditId"`
}

// Learner record actions.
const (
	LearnerAdd    = "add"
	LearnerDelete = "delete"
)

// LearnerStatus is where a learner record stands. Every record is Accepted
// (or rejected outright) when reported; a record carrying MOC credit then
// becomes Submitted when handed to its board, and Approved or Rejected by
// the board.
type LearnerStatus string

const (
	StatusAccepted  LearnerStatus = "Accepted"
	StatusSubmitted LearnerStatus = "Submitted"
	StatusApproved  LearnerStatus = "Approved"
	StatusRejected  LearnerStatus = "Rejected"
	StatusDeleted   LearnerStatus = "Deleted"
)

// LearnerRecord is one credit a learner earned for an activity, as the
// ledger keeps it. Its content never changes: a correction is a delete and
// a new record. Only its status moves, and every move is kept.
type LearnerRecord struct {
	ID                    LearnerRecordID `json:"id"`
	CreditID              CreditID        `json:"creditId"`
	ProviderID            ProviderID      `json:"providerId"`
	ActivityID            ActivityID      `json:"activityId"`
	ActivityTitle         string          `json:"activityTitle,omitempty"`
	ReportingOrganization string          `json:"reportingOrganization,omitempty"`
	// PersonID is the registry person the learner was matched to; 0 when
	// the server checks identities for form only (passthrough).
	PersonID PersonID        `json:"personId,omitempty"`
	Learner  LearnerIdentity `json:"learner"`
	// LearnerKey says which records are the same learner's: the person in
	// the registry, or the reported identity in passthrough mode.
	LearnerKey     string `json:"learnerKey"`
	CompletionDate Date   `json:"completionDate"`
	// Origin is the report's: "" for a completion, or another of Origins.
	Origin        string        `json:"origin,omitempty"`
	Certification string        `json:"certification"`
	Board         string        `json:"board,omitempty"`      // the MOC board, "" for AMA credit
	CreditType    string        `json:"creditType,omitempty"` // the MOC credit type
	Unit          string        `json:"unit,omitempty"`
	Points        Points        `json:"points"`
	Status        LearnerStatus `json:"status"`
	StatusCode    string        `json:"statusCode,omitempty"`   // the board's code, on rejection
	StatusReason  string        `json:"statusReason,omitempty"` // the board's reason, on rejection
	Deleted       bool          `json:"deleted,omitempty"`
	SubmittedAt   time.Time     `json:"submittedAt"` // when the provider reported it
	StatusAt      time.Time     `json:"statusAt"`
}

// IsMOC reports whether the record carries MOC credit for a board.
func (r *LearnerRecord) IsMOC() bool { return r.Board != "" }

// LearnerNumber is the learner's number shown in PARS's status strings
// ("Learner Id: 278846"): the registry person, or in passthrough mode the
// identifier the records are grouped by.
func (r *LearnerRecord) LearnerNumber() string {
	if r.PersonID != 0 {
		return strconv.FormatInt(int64(r.PersonID), 10)
	}
	_, v, _ := strings.Cut(strings.TrimPrefix(r.LearnerKey, "u:"), ":")
	return v
}

// StatusChange is one move of a learner record's status.
type StatusChange struct {
	RecordID LearnerRecordID `json:"recordId"`
	Status   LearnerStatus   `json:"status"`
	At       time.Time       `json:"at"`
	Source   string          `json:"source"` // who moved it: "pars:user", "api:user", "board:ABIM"
	Code     string          `json:"code,omitempty"`
	Reason   string          `json:"reason,omitempty"`
}

// MatchingMode is how a server checks the identity of reported learners.
type MatchingMode string

const (
	// MatchRegistry requires the identity to match exactly one registry
	// person, as PARS does against board data.
	MatchRegistry MatchingMode = "registry"
	// MatchPassthrough checks the identity for form only and leaves
	// matching to the registry downstream.
	MatchPassthrough MatchingMode = "passthrough"
)

// ParseMatchingMode returns the mode named s.
func ParseMatchingMode(s string) (MatchingMode, bool) {
	switch MatchingMode(strings.ToLower(s)) {
	case MatchRegistry:
		return MatchRegistry, true
	case MatchPassthrough:
		return MatchPassthrough, true
	}
	return "", false
}

// LearnerChange is one request to add or delete the records of a report.
type LearnerChange struct {
	Report *LearnerReport
	// Problems are those the decoder already found.
	Problems Problems
	By       Principal
	// Source says where the change came from, for the status history:
	// "pars", "api".
	Source string
}

// LearnerRecordFilter selects a provider's live learner records.
type LearnerRecordFilter struct {
	ProviderID ProviderID
	CreditID   CreditID
	// By learner, as GetLearnerStatusByLearner asks: all of these.
	ActivityID     ActivityID
	CompletionDate Date
	UniqueID       string // the value of any of the learner's UniqueIDs
	BirthMonth     time.Month
	BirthDay       int
	// LearnerKey selects one learner's records (LearnerRecord.LearnerKey).
	LearnerKey string
	// From and To bound the completion dates, inclusive (zero: no bound).
	From, To Date
	// Newest lists the most recent records first.
	Newest bool
	Limit  int
}

// LearnerService is the ledger of learner records.
type LearnerService interface {
	// SaveLearnerReport adds the report's records, or deletes those its
	// CreditIDs name, and returns them with the warnings raised; or an
	// EINVALID error listing every problem, and then nothing changes.
	SaveLearnerReport(ctx context.Context, ch LearnerChange) ([]*LearnerRecord, Problems, error)
	// FindLearnerRecords returns the provider's live records matching f.
	FindLearnerRecords(ctx context.Context, f LearnerRecordFilter) ([]*LearnerRecord, error)
	// LearnerRecordHistory returns every status change of a provider's
	// record, oldest first, or ENOTFOUND.
	LearnerRecordHistory(ctx context.Context, provider ProviderID, id LearnerRecordID) ([]*StatusChange, error)
	// RecordsAwaiting returns live MOC records in status s that have been
	// so since before t, oldest first: the work of a board.
	RecordsAwaiting(ctx context.Context, s LearnerStatus, t time.Time, limit int) ([]*LearnerRecord, error)
	// MoveLearnerRecord changes a record's status from one to another, if
	// it is still in the first, and records the change. It reports whether
	// it moved the record, so that several workers may race.
	MoveLearnerRecord(ctx context.Context, id LearnerRecordID, from LearnerStatus, ch StatusChange) (bool, error)
}

// Outcomes of a record in an import.
const (
	// OutcomeAccepted: the record was added (or deleted) now.
	OutcomeAccepted = "accepted"
	// OutcomePresent: the ledger already holds the record exactly as
	// reported (or, for a delete, already deleted it), so nothing changed.
	OutcomePresent = "present"
	// OutcomeRejected: the rules refused the record; nothing changed.
	OutcomeRejected = "rejected"
)

// LearnerImportResult is what became of one change of an import.
type LearnerImportResult struct {
	Outcome string
	// Records are those added or deleted (accepted), or found (present).
	Records []*LearnerRecord
	// Problems are the errors of a rejection, or the warnings of an
	// accepted record.
	Problems Problems
}

// LearnerImporter takes learner reports in bulk, as batch files bring them.
type LearnerImporter interface {
	// ImportLearnerReports judges each change by the same rules as
	// SaveLearnerReport, in order, each seeing those before it, and
	// returns one result per change. A change the ledger already holds
	// exactly is present rather than a duplicate, so that a file may be
	// imported again, or after an interruption, and end with the records
	// of one clean run. The changes are committed together: when an error
	// is returned, none of them is.
	ImportLearnerReports(ctx context.Context, chs []LearnerChange) ([]LearnerImportResult, error)
}

// Matches reports whether the record is what credit c of report rep
// describes: the same activity, completion, credit and learner.
func (r *LearnerRecord) Matches(rep *LearnerReport, c CreditCertificate) bool {
	if r.CreditID != c.CreditID || r.ActivityID != rep.ActivityID || r.CompletionDate != rep.CompletionDate ||
		!strings.EqualFold(strings.TrimSpace(r.Certification), strings.TrimSpace(c.Certification)) ||
		c.Points == nil || r.Points != *c.Points {
		return false
	}
	a, b := r.Learner, rep.Learner
	if NameKey(a.GivenName) != NameKey(b.GivenName) || NameKey(a.FamilyName) != NameKey(b.FamilyName) ||
		a.BirthDate != b.BirthDate || len(a.UniqueIDs) != len(b.UniqueIDs) {
		return false
	}
	for i := range a.UniqueIDs {
		if !strings.EqualFold(a.UniqueIDs[i].Domain, b.UniqueIDs[i].Domain) || IDKey(a.UniqueIDs[i].Value) != IDKey(b.UniqueIDs[i].Value) {
			return false
		}
	}
	return true
}
