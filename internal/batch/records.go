package batch

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cmexhub/cmex"
)

// RecordColumns are the columns of the learner-record CSV: one credit a
// learner earned per row, what one ar:CreditCertificate of a PARS
// ActivityReport says, with the learner's identity beside it. cmex writes
// them in this order; a file may order them as it likes and leave out
// those it has no value for. action is add (the default) or delete.
var RecordColumns = []string{"action", "credit_id", "activity_id", "activity_title", "completion_date",
	"certification", "points", "first_name", "last_name", "birth_date",
	"license_state", "license_id", "npi", "board", "board_id", "reporting_organization", "oci_id"}

// IsRecordHeader reports whether a CSV header row is that of the
// learner-record CSV (it names credit_id), as opposed to the registry's.
func IsRecordHeader(header []string) bool {
	return slices.ContainsFunc(header, func(h string) bool { return normColumn(h) == "credit_id" })
}

func normColumn(h string) string {
	return strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
}

// RecordRow is one row of a learner-record CSV read as a report.
type RecordRow struct {
	Line     int
	Report   *cmex.LearnerReport
	Problems cmex.Problems
}

// RecordReader streams a learner-record CSV.
type RecordReader struct {
	cr  *csv.Reader
	col map[string]int
}

// NewRecordReader reads the header; a header that names an unknown
// column, or misses credit_id, is an EINVALID error.
func NewRecordReader(r io.Reader) (*RecordReader, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, cmex.Errorf(cmex.EINVALID, "the file is empty; it needs a header row: %s", strings.Join(RecordColumns, ","))
	}
	if err != nil {
		return nil, cmex.Errorf(cmex.EINVALID, "header: %v", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = normColumn(h)
		if !slices.Contains(RecordColumns, h) {
			return nil, cmex.Errorf(cmex.EINVALID, "line 1: unknown column %q; the columns are %s", h, strings.Join(RecordColumns, ","))
		}
		if _, dup := col[h]; dup {
			return nil, cmex.Errorf(cmex.EINVALID, "line 1: column %q given twice", h)
		}
		col[h] = i
	}
	for _, req := range []string{"credit_id", "activity_id"} {
		if _, ok := col[req]; !ok {
			return nil, cmex.Errorf(cmex.EINVALID, "line 1: required column %q missing", req)
		}
	}
	return &RecordReader{cr: cr, col: col}, nil
}

// Next returns the next row, io.EOF after the last. A row that CSV cannot
// read ends the file with an EINVALID error naming its line.
func (rr *RecordReader) Next() (*RecordRow, error) {
	for {
		rec, err := rr.cr.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, cmex.Errorf(cmex.EINVALID, "line %d: %v", pe.Line, pe.Err)
			}
			return nil, err
		}
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue
		}
		line, _ := rr.cr.FieldPos(0)
		return rr.row(rec, line), nil
	}
}

func (rr *RecordReader) row(rec []string, line int) *RecordRow {
	get := func(c string) string {
		if i, ok := rr.col[c]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	row := &RecordRow{Line: line}
	bad := func(column, format string, args ...any) {
		p := cmex.RuleLearnerGeneral.At(column).Problem(cmex.Args{})
		p.Message += " " + column + ": " + fmt.Sprintf(format, args...)
		p.Line = line
		row.Problems = append(row.Problems, p)
	}
	r := &cmex.LearnerReport{
		Action: strings.ToLower(get("action")), ReportingOrganization: get("reporting_organization"),
		ActivityTitle: get("activity_title"), Status: "Completed",
		Learner: cmex.LearnerIdentity{GivenName: get("first_name"), FamilyName: get("last_name")},
	}
	if r.Action == "" {
		r.Action = cmex.LearnerAdd
	}
	if s := get("activity_id"); s != "" {
		id, err := cmex.ParseActivityID(s)
		if err != nil {
			bad("activity_id", "%q is not an ACCME Activity ID", s)
		}
		r.ActivityID = id
	}
	for _, f := range []struct {
		column string
		dst    *cmex.Date
	}{{"completion_date", &r.CompletionDate}, {"birth_date", &r.Learner.BirthDate}} {
		if s := get(f.column); s != "" {
			d, _, err := cmex.ParseDate(s)
			if err != nil {
				bad(f.column, "%q is not a date (YYYY-MM-DD)", s)
			}
			*f.dst = d
		}
	}
	if s, id := get("license_state"), get("license_id"); s != "" || id != "" {
		r.Learner.UniqueIDs = append(r.Learner.UniqueIDs, cmex.UniqueID{Domain: s, Value: id})
	}
	if s, id := get("board"), get("board_id"); s != "" || id != "" {
		r.Learner.UniqueIDs = append(r.Learner.UniqueIDs, cmex.UniqueID{Domain: s, Value: id})
	}
	if npi := get("npi"); npi != "" {
		r.Learner.UniqueIDs = append(r.Learner.UniqueIDs, cmex.UniqueID{Domain: "NPI", Value: npi})
	}
	if oci := get("oci_id"); oci != "" {
		r.Learner.UniqueIDs = append(r.Learner.UniqueIDs, cmex.UniqueID{Domain: cmex.OCIDomain, Value: oci})
	}
	c := cmex.CreditCertificate{Certification: get("certification"), Unit: "Point", CreditID: cmex.CreditID(get("credit_id"))}
	if s := get("points"); s != "" {
		p, err := cmex.ParsePoints(s)
		if err != nil {
			bad("points", "%q is not a number of credits", s)
		} else {
			c.Points = &p
		}
	}
	r.Credits = []cmex.CreditCertificate{c}
	row.Report = r
	return row
}

// RecordWriter writes the learner-record CSV.
type RecordWriter struct{ w *csv.Writer }

// NewRecordWriter writes the header.
func NewRecordWriter(w io.Writer) (*RecordWriter, error) {
	cw := csv.NewWriter(w)
	return &RecordWriter{cw}, cw.Write(RecordColumns)
}

// Write writes one ledger record as a row.
func (rw *RecordWriter) Write(r *cmex.LearnerRecord) error {
	action := cmex.LearnerAdd
	if r.Deleted {
		action = cmex.LearnerDelete
	}
	var licState, licID, board, boardID, npi, oci string
	for _, u := range r.Learner.UniqueIDs {
		switch kind, domain := cmex.IdentifierKind(u.Domain); kind {
		case cmex.KindLicense:
			licState, licID = domain, u.Value
		case cmex.KindBoard:
			board, boardID = domain, u.Value
		case cmex.KindNPI:
			npi = u.Value
		case cmex.KindOCI:
			oci = u.Value
		}
	}
	return rw.w.Write([]string{action, string(r.CreditID), r.ActivityID.String(), r.ActivityTitle, r.CompletionDate.String(),
		r.Certification, r.Points.String(), r.Learner.GivenName, r.Learner.FamilyName, r.Learner.BirthDate.String(),
		licState, licID, npi, board, boardID, r.ReportingOrganization, oci})
}

// Flush writes what is buffered.
func (rw *RecordWriter) Flush() error {
	rw.w.Flush()
	return rw.w.Error()
}
