// Package batch reads and writes cmex's batch files: the learner registry
// CSV that `cmex learners import` and the sandbox load, the learner-record
// CSV, and a local society's members and credits CSV files.
package batch

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"slices"
	"strings"

	"github.com/cmexhub/cmex"
)

// PersonColumns are the columns of the learner registry CSV, in the order
// cmex writes them. A file may order them as it likes; first_name,
// last_name and birth_date are required.
var PersonColumns = []string{"first_name", "last_name", "birth_date", "npi", "board", "board_id",
	"license_state", "license_id", "oci_id", "medical_school", "email"}

// MaxCSVRows bounds one import; larger registries are imported in parts.
const MaxCSVRows = 1_000_000

// RowProblem is what is wrong with one line of a CSV file.
type RowProblem = cmex.FileProblem

// ImportedPerson is a person read from the file, with the line of its
// first row.
type ImportedPerson struct {
	Person *cmex.Person
	Line   int
}

// ReadPersons reads the learner registry CSV. A person is one row; a
// person with several board ids or licences repeats name and birth date on
// extra rows, which are merged. Every problem of every row is returned;
// the persons are returned only when there is none.
func ReadPersons(r io.Reader) ([]ImportedPerson, []RowProblem, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, []RowProblem{{Line: 1, Message: "the file is empty; it needs a header row: " + strings.Join(PersonColumns, ",")}}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read header: %w", err)
	}
	col := map[string]int{}
	var problems []RowProblem
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		known := false
		for _, c := range PersonColumns {
			known = known || c == h
		}
		switch {
		case !known:
			problems = append(problems, RowProblem{Line: 1, Column: h, Message: "unknown column; the columns are " + strings.Join(PersonColumns, ",")})
		case col[h] != 0:
			problems = append(problems, RowProblem{Line: 1, Column: h, Message: "column given twice"})
		}
		col[h] = i + 1
	}
	for _, req := range []string{"first_name", "last_name", "birth_date"} {
		if col[req] == 0 {
			problems = append(problems, RowProblem{Line: 1, Column: req, Message: "required column missing"})
		}
	}
	if len(problems) > 0 {
		return nil, problems, nil
	}

	var out []ImportedPerson
	index := map[string]int{} // name and birth date → position in out
	rows := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				problems = append(problems, RowProblem{Line: pe.Line, Message: pe.Err.Error()})
				break
			}
			return nil, nil, err
		}
		line, _ := cr.FieldPos(0)
		if rows++; rows > MaxCSVRows {
			problems = append(problems, RowProblem{Line: line, Message: fmt.Sprintf("more than %d rows; import the file in parts", MaxCSVRows)})
			break
		}
		get := func(c string) string {
			if i := col[c]; i > 0 && i <= len(rec) {
				return strings.TrimSpace(rec[i-1])
			}
			return ""
		}
		if strings.Join(rec, "") == "" {
			continue // a blank line
		}
		p, rowProblems := readPersonRow(get, line)
		problems = append(problems, rowProblems...)
		if p == nil {
			continue
		}
		key := cmex.NameKey(p.FamilyName) + "|" + cmex.NameKey(p.GivenName) + "|" + p.BirthDate.String()
		if i, seen := index[key]; seen {
			if msg := mergeRow(out[i].Person, p); msg != "" {
				problems = append(problems, RowProblem{Line: line, Message: msg + fmt.Sprintf(" (line %d says otherwise)", out[i].Line)})
			}
			continue
		}
		index[key] = len(out)
		out = append(out, ImportedPerson{Person: p, Line: line})
	}
	if len(problems) > 0 {
		return nil, problems, nil
	}
	return out, nil, nil
}

// readPersonRow reads one row into a person holding at most one board id
// and one licence.
func readPersonRow(get func(string) string, line int) (*cmex.Person, []RowProblem) {
	var ps []RowProblem
	bad := func(column, format string, args ...any) {
		ps = append(ps, RowProblem{Line: line, Column: column, Message: fmt.Sprintf(format, args...)})
	}
	p := &cmex.Person{GivenName: get("first_name"), FamilyName: get("last_name"), MedicalSchool: get("medical_school")}
	if p.GivenName == "" {
		bad("first_name", "required")
	}
	if p.FamilyName == "" {
		bad("last_name", "required")
	}
	if d, _, err := cmex.ParseDate(get("birth_date")); err != nil {
		bad("birth_date", "%q is not a date (YYYY-MM-DD)", get("birth_date"))
	} else {
		p.BirthDate = d
	}
	if npi := get("npi"); npi != "" {
		if len(npi) != 10 || strings.Trim(npi, "0123456789") != "" {
			bad("npi", "%q is not ten digits", npi)
		}
		p.NPI = npi
	}
	switch board, id := get("board"), get("board_id"); {
	case board == "" && id == "":
	case board == "" || id == "":
		bad("board", "board and board_id go together")
	default:
		b, ok := cmex.Boards.Lookup(board)
		if !ok {
			bad("board", "%q is not a participating board (%s)", board, strings.Join(cmex.Boards.Values(), ", "))
		}
		p.BoardIDs = []cmex.BoardID{{Board: b, ID: id}}
	}
	switch state, id := get("license_state"), get("license_id"); {
	case state == "" && id == "":
	case state == "" || id == "":
		bad("license_state", "license_state and license_id go together")
	default:
		s, ok := cmex.USStates.Lookup(state)
		if !ok {
			bad("license_state", "%q is not a US state or territory", state)
		}
		p.Licenses = []cmex.License{{State: s, Number: id}}
	}
	if oci := get("oci_id"); oci != "" {
		if !cmex.OCIIDPattern.MatchString(oci) {
			bad("oci_id", "%q is not an OCI ID such as CA-ON-CPSO-12345", oci)
		}
		p.OCIID = oci
	}
	if email := get("email"); email != "" {
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
			bad("email", "%q is not an e-mail address", email)
		}
		p.Email = email
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return p, nil
}

// mergeRow adds a later row's identifiers to the person of an earlier row.
func mergeRow(into, row *cmex.Person) string {
	for _, f := range []struct{ name, have, want string }{
		{"npi", into.NPI, row.NPI}, {"oci_id", into.OCIID, row.OCIID},
		{"medical_school", into.MedicalSchool, row.MedicalSchool}, {"email", into.Email, row.Email},
	} {
		if f.have != "" && f.want != "" && f.have != f.want {
			return fmt.Sprintf("%s %q differs for the same person", f.name, f.want)
		}
	}
	if into.NPI == "" {
		into.NPI = row.NPI
	}
	if into.OCIID == "" {
		into.OCIID = row.OCIID
	}
	if into.MedicalSchool == "" {
		into.MedicalSchool = row.MedicalSchool
	}
	if into.Email == "" {
		into.Email = row.Email
	}
	for _, b := range row.BoardIDs {
		if !slices.ContainsFunc(into.BoardIDs, func(h cmex.BoardID) bool { return h.Board == b.Board && cmex.IDKey(h.ID) == cmex.IDKey(b.ID) }) {
			into.BoardIDs = append(into.BoardIDs, b)
		}
	}
	for _, l := range row.Licenses {
		if !slices.ContainsFunc(into.Licenses, func(h cmex.License) bool { return h.State == l.State && cmex.IDKey(h.Number) == cmex.IDKey(l.Number) }) {
			into.Licenses = append(into.Licenses, l)
		}
	}
	return ""
}

// Persons returns the persons of an import, in file order.
func Persons(ips []ImportedPerson) []*cmex.Person {
	out := make([]*cmex.Person, len(ips))
	for i, ip := range ips {
		out[i] = ip.Person
	}
	return out
}
