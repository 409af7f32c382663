package cmex

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// PersonID is cmex's key for a person of the learner registry.
type PersonID int64

// Person is a physician as the learner registry knows her: every identifier
// the field uses to say who someone is. PARS matches a reported completion
// against board and licensing data; the registry plays that part in cmex.
type Person struct {
	ID            PersonID  `json:"id"`
	GivenName     string    `json:"givenName"`
	FamilyName    string    `json:"familyName"`
	BirthDate     Date      `json:"birthDate"` // month and day are what matching uses
	NPI           string    `json:"npi,omitempty"`
	Licenses      []License `json:"licenses,omitempty"`
	BoardIDs      []BoardID `json:"boardIds,omitempty"`
	OCIID         string    `json:"ociId,omitempty"` // Ontario: CA-ON-CPSO-12345
	MedicalSchool string    `json:"medicalSchool,omitempty"`
	Email         string    `json:"email,omitempty"`
	CreatedAt     time.Time `json:"createdAt,omitzero"`
	UpdatedAt     time.Time `json:"updatedAt,omitzero"`
}

// License is a state medical licence.
type License struct {
	State  string `json:"state"` // two-letter US state
	Number string `json:"number"`
}

// BoardID is a certifying board's id for its diplomate.
type BoardID struct {
	Board string `json:"board"`
	ID    string `json:"id"`
}

// ImportResult counts what an import did.
type ImportResult struct {
	Created, Updated, Unchanged int
}

// MatchQuery is what is known of a learner when looking her up: the
// fields of PARS's LearnerMatchRequest, and the birth year, which PARS
// never asks for but a physician claiming her registry record gives (an
// exact match of name, whole birth date and identifier). Empty fields are
// not compared. It is the one matcher of the registry: GetLearnerMatch,
// the JSON API's match, reported identities and claims all ask
// PersonService.MatchPersons with one.
type MatchQuery struct {
	GivenName     string
	FamilyName    string
	BirthYear     int
	BirthMonth    time.Month
	BirthDay      int
	BoardIDs      []BoardID // a BoardID with no ID asks for any id of that board
	LicenseState  string
	LicenseNumber string
	NPI           string
	OCIID         string
	MedicalSchool string
}

// HasIdentifier reports whether q names an identifier the registry indexes.
func (q MatchQuery) HasIdentifier() bool {
	for _, b := range q.BoardIDs {
		if b.ID != "" {
			return true
		}
	}
	return q.NPI != "" || q.LicenseNumber != "" || q.OCIID != ""
}

// Matches reports whether p fits every field of q that is given. Names are
// compared with NameKey, identifiers without regard to case or spacing.
func (q MatchQuery) Matches(p *Person) bool {
	switch {
	case q.GivenName != "" && NameKey(q.GivenName) != NameKey(p.GivenName):
		return false
	case q.FamilyName != "" && NameKey(q.FamilyName) != NameKey(p.FamilyName):
		return false
	case q.BirthYear != 0 && q.BirthYear != p.BirthDate.Year:
		return false
	case q.BirthMonth != 0 && q.BirthMonth != p.BirthDate.Month:
		return false
	case q.BirthDay != 0 && q.BirthDay != p.BirthDate.Day:
		return false
	case q.NPI != "" && IDKey(q.NPI) != IDKey(p.NPI):
		return false
	case q.OCIID != "" && IDKey(q.OCIID) != IDKey(p.OCIID):
		return false
	case q.MedicalSchool != "" && NameKey(q.MedicalSchool) != NameKey(p.MedicalSchool):
		return false
	}
	for _, b := range q.BoardIDs {
		if !p.hasBoardID(b) {
			return false
		}
	}
	if q.LicenseNumber != "" || q.LicenseState != "" {
		found := false
		for _, l := range p.Licenses {
			if (q.LicenseState == "" || strings.EqualFold(q.LicenseState, l.State)) &&
				(q.LicenseNumber == "" || IDKey(q.LicenseNumber) == IDKey(l.Number)) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (p *Person) hasBoardID(b BoardID) bool {
	for _, have := range p.BoardIDs {
		if strings.EqualFold(have.Board, b.Board) && (b.ID == "" || IDKey(have.ID) == IDKey(b.ID)) {
			return true
		}
	}
	return false
}

// NameKey is how names are compared: without regard to case, spacing,
// punctuation or the accents of Latin letters, so "O'Brien-Smith" and
// "obrien smith" agree.
func NameKey(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		r = foldAccent(r)
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// IDKey is how identifiers are compared: upper case, without spaces.
func IDKey(s string) string { return strings.ToUpper(strings.Join(strings.Fields(s), "")) }

// foldAccent maps the accented Latin letters of the names of North America
// and Europe to their base letters (the standard library has no Unicode
// decomposition).
func foldAccent(r rune) rune {
	if r < 0xC0 || r > 0x17F {
		return r
	}
	const from = "àáâãäåāăąçćčďèéêëēėęěìíîïīįıñńňòóôõöøōőùúûüūůűųýÿžźż"
	const to = "aaaaaaaaacccdeeeeeeeeiiiiiiinnnooooooooouuuuuuuuyyzzz"
	for i, f := range []rune(from) {
		if f == r {
			return []rune(to)[i]
		}
	}
	return r
}

// PersonFilter selects registry persons for listing.
type PersonFilter struct {
	Name  string // a substring of the given or family name, compared with NameKey
	Limit int
}

// PersonService is the learner registry.
type PersonService interface {
	// ImportPersons adds the persons, or completes those already known, in
	// one transaction: a person already in the registry (by any identifier,
	// or by name and birth date) gains the identifiers it lacks. An
	// identifier that belongs to someone else rejects the whole import
	// (EINVALID). Importing the same persons again changes nothing.
	ImportPersons(ctx context.Context, ps []*Person) (ImportResult, error)
	// Person returns one person, or ENOTFOUND.
	Person(ctx context.Context, id PersonID) (*Person, error)
	// FindPersons lists persons by family and given name.
	FindPersons(ctx context.Context, f PersonFilter) ([]*Person, error)
	// MatchPersons returns the persons matching q: those holding any of its
	// identifiers (or, with none, its name) that fit all of its fields.
	MatchPersons(ctx context.Context, q MatchQuery) ([]*Person, error)
}

// OCIIDPattern is the form of an OCI ID: country, province, college
// acronym and registrant number, hyphen-separated (CA-ON-CPSO-12345;
// specs/cmars.md, CERTAIN). Which colleges CMaRS accepts is a matter for
// the CMaRS forwarder.
var OCIIDPattern = regexp.MustCompile(`^[A-Z]{2}-[A-Z]{2}-[A-Z]+-[0-9A-Za-z]+$`)
