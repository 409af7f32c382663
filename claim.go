package cmex

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// A physician's account reaches her registry person in one of three ways:
// through a society membership linked to the person (Member.PersonID); by
// claiming the person herself, which links at once when the evidence she
// gives names exactly one person and is otherwise decided by an operator;
// or by opening a provider's invitation. A person is linked to one account
// at most, and an account to one person.

// ClaimID is cmex's key for a claim.
type ClaimID int64

// ClaimState is where a claim stands.
type ClaimState string

const (
	// ClaimPending waits for an operator.
	ClaimPending ClaimState = "pending"
	// ClaimLinked matched exactly one person, linked to no account, and
	// linked the account at once.
	ClaimLinked ClaimState = "linked"
	// ClaimApproved was linked by an operator.
	ClaimApproved ClaimState = "approved"
	// ClaimRefused was refused by an operator. The physician sees it as
	// pending (Claim.Seen), so that a refusal tells her no more about the
	// registry than waiting does.
	ClaimRefused ClaimState = "refused"
	// ClaimWithdrawn was pending when the same account claimed again, or
	// when the account was linked otherwise.
	ClaimWithdrawn ClaimState = "withdrawn"
)

// ClaimStates are the states, in the order operators filter by.
var ClaimStates = []ClaimState{ClaimPending, ClaimLinked, ClaimApproved, ClaimRefused, ClaimWithdrawn}

// ClaimEvidence is what a physician types to claim her registry person:
// her name, her birth date and one identifier.
type ClaimEvidence struct {
	GivenName  string `json:"givenName"`
	FamilyName string `json:"familyName"`
	BirthDate  Date   `json:"birthDate"`
	// Kind is KindNPI, KindBoard, KindLicense or KindOCI; Scope the board
	// (ABIM) of a board id or the state (OH) of a licence.
	Kind       string `json:"kind"`
	Scope      string `json:"scope,omitempty"`
	Identifier string `json:"identifier"`
}

// Check normalises e (spaces, canonical board and state names) and returns
// what is wrong with it, field by field (givenName, familyName, birthDate,
// kind, scope, identifier), judged against today.
func (e *ClaimEvidence) Check(today Date) Problems {
	var ps Problems
	add := func(field, msg string) { ps = append(ps, Problem{Field: field, Message: msg, Severity: SeverityError}) }
	e.GivenName, e.FamilyName = strings.TrimSpace(e.GivenName), strings.TrimSpace(e.FamilyName)
	e.Kind, e.Scope, e.Identifier = strings.ToLower(strings.TrimSpace(e.Kind)), strings.TrimSpace(e.Scope), strings.TrimSpace(e.Identifier)
	if e.GivenName == "" || len(e.GivenName) > 100 || NameKey(e.GivenName) == "" {
		add("givenName", "Enter your given name as your licence shows it (at most 100 characters).")
	}
	if e.FamilyName == "" || len(e.FamilyName) > 100 || NameKey(e.FamilyName) == "" {
		add("familyName", "Enter your family name as your licence shows it (at most 100 characters).")
	}
	switch {
	case e.BirthDate.IsZero():
		add("birthDate", "Enter your birth date as YYYY-MM-DD.")
	case e.BirthDate.Year < 1900 || today.Before(e.BirthDate):
		add("birthDate", "Enter your birth date as YYYY-MM-DD; it cannot be in the future or before 1900.")
	}
	if len(e.Identifier) > 50 {
		add("identifier", "An identifier is at most 50 characters.")
		return ps
	}
	switch e.Kind {
	case KindNPI:
		e.Scope = ""
		if len(IDKey(e.Identifier)) != 10 || strings.Trim(IDKey(e.Identifier), "0123456789") != "" {
			add("identifier", "An NPI has ten digits.")
		}
	case KindBoard:
		if b, ok := Boards.Lookup(e.Scope); ok {
			e.Scope = b
		} else {
			add("scope", "Choose the board that certifies you.")
		}
		if IDKey(e.Identifier) == "" {
			add("identifier", "Enter your id at the board.")
		}
	case KindLicense:
		if s, ok := USStates.Lookup(e.Scope); ok {
			e.Scope = s
		} else {
			add("scope", "Choose the state of your licence.")
		}
		if IDKey(e.Identifier) == "" {
			add("identifier", "Enter your licence number.")
		}
	case KindOCI:
		e.Scope = ""
		if !OCIIDPattern.MatchString(IDKey(e.Identifier)) {
			add("identifier", "An OCI ID reads like CA-ON-CPSO-12345.")
		}
	default:
		add("kind", "Choose NPI, a board id, a state licence or an OCI ID.")
	}
	return ps
}

// identifier returns the query of e's identifier alone.
func (e ClaimEvidence) identifier() MatchQuery {
	var q MatchQuery
	switch e.Kind {
	case KindNPI:
		q.NPI = e.Identifier
	case KindBoard:
		q.BoardIDs = []BoardID{{Board: e.Scope, ID: e.Identifier}}
	case KindLicense:
		q.LicenseState, q.LicenseNumber = e.Scope, e.Identifier
	case KindOCI:
		q.OCIID = e.Identifier
	}
	return q
}

// Query is the registry query of an exact match: the names, the whole
// birth date and the identifier.
func (e ClaimEvidence) Query() MatchQuery {
	q := e.identifier()
	q.GivenName, q.FamilyName = e.GivenName, e.FamilyName
	q.BirthYear, q.BirthMonth, q.BirthDay = e.BirthDate.Year, e.BirthDate.Month, e.BirthDate.Day
	return q
}

// CandidateQueries are the queries that find the persons an operator
// compares the evidence with: whoever holds the identifier, and whoever
// has the name and the whole birth date.
func (e ClaimEvidence) CandidateQueries() []MatchQuery {
	named := MatchQuery{GivenName: e.GivenName, FamilyName: e.FamilyName,
		BirthYear: e.BirthDate.Year, BirthMonth: e.BirthDate.Month, BirthDay: e.BirthDate.Day}
	return []MatchQuery{e.identifier(), named}
}

// Differs says which of the name, the birth date and the identifier of e
// person p does not have, as operators are shown it.
func (e ClaimEvidence) Differs(p *Person) (name, born, identifier bool) {
	name = NameKey(e.GivenName) != NameKey(p.GivenName) || NameKey(e.FamilyName) != NameKey(p.FamilyName)
	born = e.BirthDate != p.BirthDate
	identifier = e.Kind == "" || !e.identifier().Matches(p)
	return name, born, identifier
}

// IdentifierText is the identifier in words: "NPI 1234567890", "ABIM id
// 999898", "OH licence 44861", "OCI ID CA-ON-CPSO-12345".
func (e ClaimEvidence) IdentifierText() string {
	switch e.Kind {
	case KindNPI:
		return "NPI " + e.Identifier
	case KindBoard:
		return e.Scope + " id " + e.Identifier
	case KindLicense:
		return e.Scope + " licence " + e.Identifier
	case KindOCI:
		return "OCI ID " + e.Identifier
	}
	return e.Identifier
}

// Claim is a physician's request to link her account to her registry
// person, with what she gave as evidence and, while it waits, the persons
// an operator chooses from.
type Claim struct {
	ID        ClaimID   `json:"id"`
	AccountID AccountID `json:"accountId"`
	// Username is the account's, for operators.
	Username string        `json:"username,omitempty"`
	Evidence ClaimEvidence `json:"evidence"`
	// Invitation is the provider's invitation the claim came from, when
	// the invited person was linked to another account; 0 for a claim
	// typed in the form.
	Invitation InvitationID `json:"invitation,omitempty"`
	State      ClaimState   `json:"state"`
	// Candidates are the persons found for the evidence when it was
	// claimed, by id.
	Candidates []PersonID `json:"candidates"`
	// Person is the person linked, once linked or approved.
	Person PersonID `json:"person,omitempty"`
	// Reason is an operator's reason for refusing; it is never shown to
	// the physician.
	Reason    string    `json:"-"`
	CreatedAt time.Time `json:"createdAt"`
	DecidedAt time.Time `json:"decidedAt,omitzero"`
	DecidedBy string    `json:"-"`
}

// Seen is the state the physician is shown: a refused claim is shown as
// pending.
func (c *Claim) Seen() ClaimState {
	if c.State == ClaimRefused {
		return ClaimPending
	}
	return c.State
}

// How a link came to be.
const (
	LinkByClaim      = "claim"      // an exact claim
	LinkByApproval   = "approval"   // an operator approved a claim
	LinkByInvitation = "invitation" // a provider's invitation was opened
)

// PersonLink ties a physician's account to her registry person.
type PersonLink struct {
	AccountID AccountID `json:"accountId"`
	Username  string    `json:"username"`
	PersonID  PersonID  `json:"personId"`
	// Via is LinkByClaim, LinkByApproval or LinkByInvitation.
	Via      string    `json:"via"`
	LinkedAt time.Time `json:"linkedAt"`
}

// InvitationID is cmex's key for an invitation.
type InvitationID int64

// InvitationTTL is how long an invitation may be opened.
const InvitationTTL = 14 * 24 * time.Hour

// Invitation is a provider's single-use link that links the physician's
// account opening it to a registry person the provider reported records
// for. Its token (256 random bits) is given once, when it is made; the
// store keeps a hash of it.
type Invitation struct {
	ID             InvitationID   `json:"id"`
	OrganizationID OrganizationID `json:"organizationId"`
	Provider       string         `json:"provider"` // the provider's name
	PersonID       PersonID       `json:"personId"`
	PersonName     string         `json:"personName"`
	CreatedAt      time.Time      `json:"createdAt"`
	ExpiresAt      time.Time      `json:"expiresAt"`
	UsedAt         time.Time      `json:"usedAt,omitzero"`
	UsedBy         AccountID      `json:"usedBy,omitempty"`
}

// Usable reports why an invitation cannot be opened at now, or "" when it
// can: used, or expired.
func (i *Invitation) Usable(now time.Time) string {
	switch {
	case !i.UsedAt.IsZero():
		return "used"
	case !now.Before(i.ExpiresAt):
		return "expired"
	}
	return ""
}

// ProviderLearner is a registry person a provider reported records for.
type ProviderLearner struct {
	PersonID   PersonID `json:"personId"`
	GivenName  string   `json:"givenName"`
	FamilyName string   `json:"familyName"`
	Records    int      `json:"records"`
	// Last is the latest completion date of her records.
	Last Date `json:"last"`
}

// ClaimFilter selects claims for operators.
type ClaimFilter struct {
	State ClaimState // "" for every state
	// Decided selects the claims linked, approved or refused.
	Decided bool
	// Newest lists the latest first.
	Newest bool
	Limit  int
}

// ClaimService links physicians' accounts to registry persons: claims,
// operators' decisions, invitations, and the ledger credits a linked
// account's transcript shows. Every link, claim, decision, unlink and
// invitation is appended to the audit log with the change.
type ClaimService interface {
	// ClaimPerson judges an account's claim. Evidence naming exactly one
	// person (Query), linked to no account, links the account at once
	// (ClaimLinked). Anything else (no person, several, a name spelled
	// otherwise, a person linked to another account) is stored as
	// ClaimPending with the candidates an operator compares (those of
	// CandidateQueries), and withdraws the account's earlier pending
	// claims. Both outcomes make the same reads and writes. Evidence with
	// problems (ClaimEvidence.Check) is EINVALID and stores nothing; an
	// account already linked is ECONFLICT.
	ClaimPerson(ctx context.Context, account AccountID, e ClaimEvidence) (*Claim, error)
	// AccountClaims returns an account's claims, newest first.
	AccountClaims(ctx context.Context, account AccountID) ([]*Claim, error)
	// Claims lists the claims f selects, oldest first unless f.Newest,
	// with their accounts' usernames.
	Claims(ctx context.Context, f ClaimFilter) ([]*Claim, error)
	// Claim returns one claim, or ENOTFOUND.
	Claim(ctx context.Context, id ClaimID) (*Claim, error)
	// ApproveClaim links the account of a pending claim to person: one of
	// its candidates or any registry person. No pending claim is
	// ENOTFOUND; a person or an account already linked is ECONFLICT
	// (unlink first).
	ApproveClaim(ctx context.Context, id ClaimID, person PersonID) error
	// RefuseClaim refuses a pending claim, keeping reason (required) in the
	// audit log and the claim; no pending claim is ENOTFOUND.
	RefuseClaim(ctx context.Context, id ClaimID, reason string) error

	// AccountLink returns the link of an account, or ENOTFOUND.
	AccountLink(ctx context.Context, account AccountID) (*PersonLink, error)
	// LinkOfPerson returns the link of a person, or ENOTFOUND.
	LinkOfPerson(ctx context.Context, person PersonID) (*PersonLink, error)
	// Links lists links, newest first, at most limit.
	Links(ctx context.Context, limit int) ([]*PersonLink, error)
	// Unlink removes an account's link, keeping reason (required) in the
	// audit log; an account not linked is ENOTFOUND.
	Unlink(ctx context.Context, account AccountID, reason string) error

	// ProviderLearners lists the persons a provider reported live records
	// for, latest completion first, at most f.Limit: those whose name
	// contains f.Name (NameKey) or who hold an identifier equal to it;
	// without f.Name, some of them (a search finds any).
	ProviderLearners(ctx context.Context, org OrganizationID, f PersonFilter) ([]*ProviderLearner, error)
	// Invite makes a provider's invitation for person and returns it with
	// its token, given only now. A person the provider reported no live
	// record for is ENOTFOUND, as a person who does not exist is.
	Invite(ctx context.Context, org OrganizationID, person PersonID) (*Invitation, string, error)
	// Invitations lists a provider's invitations, newest first.
	Invitations(ctx context.Context, org OrganizationID, limit int) ([]*Invitation, error)
	// InvitationByToken returns the invitation of token, used or expired
	// ones included (Usable says), or ENOTFOUND.
	InvitationByToken(ctx context.Context, token string) (*Invitation, error)
	// AcceptInvitation opens an invitation for account. A usable one
	// links the account to its person and is used up (ClaimLinked); when
	// the person is linked to another account, it is used up into a
	// pending claim for an operator (ClaimPending). An unknown token is
	// ENOTFOUND; a used or expired one EFORBIDDEN, saying which; an
	// account linked to another person ECONFLICT, and the account already
	// linked to this person answers ClaimLinked; neither uses it up.
	AcceptInvitation(ctx context.Context, token string, account AccountID) (*Claim, error)

	// PersonLedger returns every live learner record providers reported
	// for person, from every provider, as transcript credits
	// (LedgerCredits): with the status of each and a board's code and
	// reason for a rejected one.
	PersonLedger(ctx context.Context, person PersonID) ([]TranscriptCredit, error)
}

// ClaimAnswer is what a physician is told of a claim she made: linked, or
// waiting for review (whatever the reason it waits).
func ClaimAnswer(c *Claim) string {
	if c.Seen() == ClaimLinked || c.Seen() == ClaimApproved {
		return "Your account is linked to your registry record: your transcript now shows what providers reported for you."
	}
	return fmt.Sprintf("Your claim of %s is waiting for review by cmex's operators. Your transcript will show your credits once it is approved.",
		c.CreatedAt.UTC().Format("2 January 2006"))
}
