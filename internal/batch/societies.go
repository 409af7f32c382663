package batch

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cmexhub/cmex"
)

// A local society's files: its members, and the credits it holds for
// them. A members file is imported whole or not at all (every problem of
// every row is reported, and nothing is imported while there is one); a
// credits file credit by credit (a credit with a problem is left out, the
// others are recorded), unless the file itself cannot be read.

// MemberColumns are the columns of a society's members CSV, in the order
// cmex writes them. member_id, username, first_name and last_name are
// required; a member without a password gets one generated.
var MemberColumns = []string{"member_id", "username", "first_name", "last_name", "password", "street", "city", "state", "zip", "country"}

var memberRequired = []string{"member_id", "username", "first_name", "last_name"}

// SocietyCreditColumns are the columns of a society's credits CSV. A row
// is one detail of a credit (CME credits in subspecialties, or MOC credits
// toward competencies); rows with the same member_id, date, title,
// sponsor, short_name, location and activity_type are one credit with
// several details. member_id, date, title and credits are required; type
// is CME or MOC (CME when empty), category CAT1 when empty, and focus
// holds subspecialties or competencies separated by semicolons.
var SocietyCreditColumns = []string{"member_id", "date", "title", "sponsor", "short_name", "location", "activity_type", "type", "credits", "category", "focus"}

var creditRequired = []string{"member_id", "date", "title", "credits"}

// csvFile reads a CSV file with a header row naming its columns.
type csvFile struct {
	cr  *csv.Reader
	col map[string]int // column name → position + 1
	rec []string
	// Line is the current row's line; Rows how many rows were read.
	Line, Rows int
}

// openCSV reads the header of a file whose columns are among columns and
// include required: it returns the file, or the header's problems.
func openCSV(r io.Reader, columns, required []string) (*csvFile, []RowProblem, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, []RowProblem{{Line: 1, Message: "the file is empty; it needs a header row: " + strings.Join(columns, ",")}}, nil
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return nil, []RowProblem{{Line: max(pe.Line, 1), Message: pe.Err.Error()}}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read header: %w", err)
	}
	f := &csvFile{cr: cr, col: map[string]int{}}
	var problems []RowProblem
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		known := false
		for _, c := range columns {
			known = known || c == h
		}
		switch {
		case !known:
			problems = append(problems, RowProblem{Line: 1, Column: h, Message: "unknown column; the columns are " + strings.Join(columns, ",")})
		case f.col[h] != 0:
			problems = append(problems, RowProblem{Line: 1, Column: h, Message: "column given twice"})
		}
		f.col[h] = i + 1
	}
	for _, req := range required {
		if f.col[req] == 0 {
			problems = append(problems, RowProblem{Line: 1, Column: req, Message: "required column missing"})
		}
	}
	if len(problems) > 0 {
		return nil, problems, nil
	}
	return f, nil, nil
}

// next reads the next row that is not blank; io.EOF at the end, a
// problem for a row that is not CSV or one row too many.
func (f *csvFile) next() (*RowProblem, error) {
	for {
		rec, err := f.cr.Read()
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return &RowProblem{Line: pe.Line, Message: pe.Err.Error()}, nil
			}
			return nil, err
		}
		f.rec = rec
		f.Line, _ = f.cr.FieldPos(0)
		if strings.Join(rec, "") == "" {
			continue
		}
		if f.Rows++; f.Rows > MaxCSVRows {
			return &RowProblem{Line: f.Line, Message: fmt.Sprintf("more than %d rows; import the file in parts", MaxCSVRows)}, nil
		}
		return nil, nil
	}
}

// get is the current row's value of column c, trimmed; "" when absent.
func (f *csvFile) get(c string) string {
	if i := f.col[c]; i > 0 && i <= len(f.rec) {
		return strings.TrimSpace(f.rec[i-1])
	}
	return ""
}

// ReadMembers reads a society's members CSV. Every problem of every row is
// returned; the members are returned only when there is none. A member
// id, or a username (compared without regard to case), appears once.
func ReadMembers(r io.Reader) ([]cmex.MemberRow, []RowProblem, error) {
	f, problems, err := openCSV(r, MemberColumns, memberRequired)
	if f == nil {
		return nil, problems, err
	}
	var out []cmex.MemberRow
	ids, names := map[string]int{}, map[string]int{}
	for {
		p, err := f.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if p != nil {
			problems = append(problems, *p)
			break
		}
		line := f.Line
		bad := func(column, format string, args ...any) {
			problems = append(problems, RowProblem{Line: line, Column: column, Message: fmt.Sprintf(format, args...)})
		}
		m := cmex.MemberRow{Line: line, NewMember: cmex.NewMember{Password: f.get("password"), Member: cmex.Member{
			MemberID: f.get("member_id"), Username: f.get("username"), GivenName: f.get("first_name"), FamilyName: f.get("last_name"),
			Address: cmex.Address{Street: f.get("street"), City: f.get("city"), State: f.get("state"), Zip: f.get("zip"), Country: f.get("country")},
		}}}
		before := len(problems)
		switch id := m.Member.MemberID; {
		case id == "":
			bad("member_id", "required")
		case len(id) > 64:
			bad("member_id", "at most 64 characters")
		case ids[id] != 0:
			bad("member_id", "%q is also on line %d", id, ids[id])
		default:
			ids[id] = line
		}
		switch u, key := m.Member.Username, strings.ToLower(m.Member.Username); {
		case u == "":
			bad("username", "required")
		case len(u) > 100:
			bad("username", "at most 100 characters")
		case names[key] != 0:
			bad("username", "%q is also on line %d", u, names[key])
		default:
			names[key] = line
		}
		for _, c := range []struct{ column, value string }{{"first_name", m.Member.GivenName}, {"last_name", m.Member.FamilyName}} {
			switch {
			case c.value == "":
				bad(c.column, "required")
			case len(c.value) > 200:
				bad(c.column, "at most 200 characters")
			}
		}
		for _, c := range []string{"street", "city", "state", "zip", "country"} {
			if len(f.get(c)) > 200 {
				bad(c, "at most 200 characters")
			}
		}
		if len(m.Password) > cmex.MaxPasswordBytes {
			bad("password", "longer than %d bytes", cmex.MaxPasswordBytes)
		}
		if len(problems) == before {
			out = append(out, m)
		}
	}
	if len(problems) > 0 {
		return nil, problems, nil
	}
	return out, nil, nil
}

// ReadSocietyCredits reads a society's credits CSV into credits, each with
// its own problems (with their lines), in the order their first rows come.
// The problems of a file that is not CSV, or whose header is wrong, are
// returned instead, with no credit: nothing of such a file is recorded.
func ReadSocietyCredits(r io.Reader) ([]cmex.CreditRow, []RowProblem, error) {
	f, problems, err := openCSV(r, SocietyCreditColumns, creditRequired)
	if f == nil {
		return nil, problems, err
	}
	var out []cmex.CreditRow
	index := map[string]int{} // the credit's columns → position in out
	for {
		p, err := f.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if p != nil {
			return nil, []RowProblem{*p}, nil
		}
		line := f.Line
		key := strings.Join([]string{f.get("member_id"), f.get("date"), f.get("title"), f.get("sponsor"),
			f.get("short_name"), f.get("location"), f.get("activity_type")}, "\x00")
		i, seen := index[key]
		if !seen {
			i = len(out)
			index[key] = i
			c := cmex.CreditRow{Line: line, Position: i + 1, Credit: cmex.SocietyCredit{MemberID: f.get("member_id"), CEU: cmex.CEU{
				Title: f.get("title"), Sponsor: f.get("sponsor"), ShortName: f.get("short_name"), Location: f.get("location"),
				ActivityType: f.get("activity_type")}}}
			bad := func(column, format string, args ...any) {
				c.Problems = append(c.Problems, RowProblem{Line: line, Column: column, Message: fmt.Sprintf(format, args...)})
			}
			switch id := c.Credit.MemberID; {
			case id == "":
				bad("member_id", "required")
			case len(id) > 64:
				bad("member_id", "at most 64 characters")
			}
			if c.Credit.CEU.Title == "" {
				bad("title", "required")
			}
			switch d, _, err := cmex.ParseDate(f.get("date")); {
			case f.get("date") == "":
				bad("date", "required")
			case err != nil:
				bad("date", "%q is not a date (YYYY-MM-DD)", f.get("date"))
			default:
				c.Credit.CEU.Date = d
			}
			out = append(out, c)
		}
		c := &out[i]
		bad := func(column, format string, args ...any) {
			c.Problems = append(c.Problems, RowProblem{Line: line, Column: column, Message: fmt.Sprintf(format, args...)})
		}
		d := cmex.CEUDetail{Type: strings.ToUpper(f.get("type")), Category: f.get("category")}
		switch d.Type {
		case "":
			d.Type = cmex.DetailCME
		case cmex.DetailCME, cmex.DetailMOC:
		default:
			bad("type", "%q is neither CME nor MOC", f.get("type"))
		}
		if d.Category == "" {
			d.Category = cmex.CategoryAMA1
		}
		switch p, err := cmex.ParsePoints(f.get("credits")); {
		case f.get("credits") == "":
			bad("credits", "required")
		case err != nil || p <= 0 || p > 100000:
			bad("credits", "%q is not a positive number of credits, such as 1.5", f.get("credits"))
		default:
			d.Credits = p
		}
		for _, focus := range strings.Split(f.get("focus"), ";") {
			if focus = strings.TrimSpace(focus); focus != "" {
				d.Focus = append(d.Focus, focus)
			}
		}
		c.Credit.CEU.Details = append(c.Credit.CEU.Details, d)
	}
	for i := range out {
		c := &out[i]
		if len(c.Problems) > 0 {
			continue
		}
		if err := cmex.CheckCEU(&c.Credit.CEU); err != nil {
			c.Problems = append(c.Problems, RowProblem{Line: c.Line, Message: cmex.ErrorMessage(err)})
		}
	}
	return out, nil, nil
}
