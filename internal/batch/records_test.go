package batch_test

import (
	"bytes"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/batch"
)

// A record written as a CSV row reads back as the same report, OCI ID
// included (the column an Ontario physician's records need for CMaRS).
func TestRecordCSVRoundTrip(t *testing.T) {
	rec := &cmex.LearnerRecord{CreditID: "ccid:x:1", ActivityID: 300000001, ActivityTitle: "Opioid Stewardship", CompletionDate: cmex.MustParseDate("2026-02-02"),
		Certification: cmex.CreditAMA, Points: 150, ReportingOrganization: "AAA",
		Learner: cmex.LearnerIdentity{GivenName: "Olivia", FamilyName: "Ontario", BirthDate: cmex.MustParseDate("1985-03-15"),
			UniqueIDs: []cmex.UniqueID{{Domain: "NPI", Value: "9900000001"}, {Domain: "OCI", Value: "CA-ON-CPSO-12345"}}}}
	var b bytes.Buffer
	w, err := batch.NewRecordWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	r, err := batch.NewRecordReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	row, err := r.Next()
	if err != nil || len(row.Problems) != 0 {
		t.Fatalf("%v %v", err, row)
	}
	l := row.Report.Learner
	if l.OCIID() != "CA-ON-CPSO-12345" || len(l.UniqueIDs) != 2 || l.GivenName != "Olivia" || row.Report.Credits[0].CreditID != "ccid:x:1" {
		t.Errorf("read back %+v", row.Report)
	}
}
