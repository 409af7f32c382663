package cmex

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"time"
)

// What a society admin keeps of her society: its members (searched,
// imported from a file, their passwords reset), the credits it holds for
// them (imported from ceu_order documents or a CSV file, each judged on
// its own), which societies may pull them through the credit feed, and
// its own feed login.

// MemberFilter selects a society's members.
type MemberFilter struct {
	// Text matches part of a member id, a username, or a given or family
	// name (or both, as "Ned Baker"), without regard to case.
	Text  string
	Limit int // at most; DefaultMemberLimit if 0
}

// DefaultMemberLimit is how many members a search returns unless told.
const DefaultMemberLimit = 200

// NewMember is a member to import with her password; an empty one is
// generated (GeneratePassword) and returned once in the import's outcome.
type NewMember struct {
	Member   Member
	Password string
}

// What a member import did with each member.
const (
	// MemberAdded: she was not a member; she is now, with her password.
	MemberAdded = "added"
	// MemberUpdated: she was a member under the same username; her names
	// or address changed to the file's. Her password did not.
	MemberUpdated = "updated"
	// MemberUnchanged: she was a member exactly as the file says.
	MemberUnchanged = "unchanged"
)

// MemberOutcome is what an import did with one member, and the password
// generated for a new member who came without one (shown once: only its
// hash is kept).
type MemberOutcome struct {
	MemberID string `json:"memberId"`
	Outcome  string `json:"outcome"`
	Password string `json:"password,omitempty"`
}

// SocietyCredit is a credit a local society holds for one of its members.
// It never changes once recorded.
type SocietyCredit struct {
	ID         int64     `json:"id"`
	MemberID   string    `json:"memberId"`
	CEU        CEU       `json:"ceu"`
	RecordedAt time.Time `json:"recordedAt,omitzero"`
	// GivenName and FamilyName are the member's, when listed.
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
}

// SocietyCreditFilter selects a society's own credits; zero fields do not
// filter.
type SocietyCreditFilter struct {
	MemberID string // exact
	// Text matches part of a credit's title, short name, sponsor,
	// location or activity type, without regard to case.
	Text     string
	From, To Date // the credit's date, both included
	Limit    int  // at most; DefaultSocietyCreditLimit if 0
}

// DefaultSocietyCreditLimit is how many credits a search returns unless
// told.
const DefaultSocietyCreditLimit = 200

// CreditOutcome is what an import did with one credit: OutcomeAccepted
// (recorded now), OutcomePresent (the member has it already, with the same
// content, so nothing changed) or OutcomeRejected, with the problem that
// kept it out.
type CreditOutcome struct {
	Outcome string `json:"outcome"`
	Problem string `json:"problem,omitempty"`
}

// FileProblem is what is wrong at one line of an imported file (Line 0:
// the file as a whole), in one column when Column is set.
type FileProblem struct {
	Line    int
	Column  string
	Message string
}

func (p FileProblem) String() string {
	if p.Column == "" {
		return fmt.Sprintf("line %d: %s", p.Line, p.Message)
	}
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Column, p.Message)
}

// MemberRow is a member read from a file, with the line she was on.
type MemberRow struct {
	Line int
	NewMember
}

// CreditRow is one credit read from a file: the line it starts on, its
// place among the file's credits (1, 2, …), and the problems that keep it
// out (none when it may be recorded).
type CreditRow struct {
	Line     int
	Position int
	Credit   SocietyCredit
	Problems []FileProblem
}

// SocietyFiles reads the files a society's admin uploads. ReadMembers
// returns the members of a members CSV, or every problem of the file and
// no member; ReadCredits the credits of a ceu_order document or a credits
// CSV, each with its own problems, or the problems of a file that cannot
// be read at all and no credit. The error is for a failure to read.
type SocietyFiles interface {
	ReadMembers(r io.Reader) ([]MemberRow, []FileProblem, error)
	ReadCredits(name string, data []byte) ([]CreditRow, []FileProblem, error)
}

// passwordAlphabet leaves out letters and digits easily taken for one
// another (0 and o, 1 and l), since generated passwords are read out and
// typed by people.
const passwordAlphabet = "23456789abcdefghijkmnpqrstuvwxyz"

// GeneratePassword returns a new random password of 100 bits in four
// groups of five (k7m2p-x9qrt-…), readable aloud, safe in a URL.
func GeneratePassword() string {
	var b [20]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	var s strings.Builder
	for i, c := range b {
		if i > 0 && i%5 == 0 {
			s.WriteByte('-')
		}
		s.WriteByte(passwordAlphabet[int(c)%len(passwordAlphabet)])
	}
	return s.String()
}

// ImportCreditRows records the credits of a file that have no problem
// (ImportSocietyCredits) and returns what became of every credit of the
// file, in its order: those with problems rejected, with their text.
func ImportCreditRows(ctx context.Context, s SocietyService, society SocietyID, rows []CreditRow) ([]CreditOutcome, error) {
	out := make([]CreditOutcome, len(rows))
	var good []SocietyCredit
	var at []int
	for i, r := range rows {
		if len(r.Problems) > 0 {
			msgs := make([]string, len(r.Problems))
			for j, p := range r.Problems {
				msgs[j] = strings.TrimPrefix(p.String(), fmt.Sprintf("line %d: ", p.Line))
			}
			out[i] = CreditOutcome{Outcome: OutcomeRejected, Problem: strings.Join(msgs, "; ")}
			continue
		}
		good = append(good, r.Credit)
		at = append(at, i)
	}
	if len(good) == 0 {
		return out, nil
	}
	got, err := s.ImportSocietyCredits(ctx, society, good)
	if err != nil {
		return nil, err
	}
	for j, o := range got {
		out[at[j]] = o
	}
	return out, nil
}

// MemberImportProblems turns the problems ImportMembers found with rows
// (fields member[N]) into problems at their lines.
func MemberImportProblems(rows []MemberRow, err error) []FileProblem {
	var out []FileProblem
	for _, p := range ErrorProblems(err) {
		var n int
		if _, serr := fmt.Sscanf(p.Field, "member[%d]", &n); serr == nil && n >= 1 && n <= len(rows) {
			out = append(out, FileProblem{Line: rows[n-1].Line, Message: p.Message})
		} else {
			out = append(out, FileProblem{Message: p.Message})
		}
	}
	return out
}

// OneLine is the address on one line: 42 Xyzzy Drive, Fred VA 22222 US.
func (a Address) OneLine() string {
	var parts []string
	for _, p := range []string{a.City, a.State, a.Zip, a.Country} {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	place := strings.Join(parts, " ")
	if street := strings.TrimSpace(a.Street); street != "" && place != "" {
		return street + ", " + place
	} else if street != "" {
		return street
	}
	return place
}
