package pars_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/pars"
	"github.com/google/go-cmp/cmp"
)

// syntheticReports makes n distinct learner reports.
func syntheticReports(n int) []*cmex.LearnerReport {
	out := make([]*cmex.LearnerReport, n)
	for i := range out {
		pts := cmex.Points(100 + 25*(i%8))
		out[i] = &cmex.LearnerReport{
			Action: "add", ReportingOrganization: "AAA Test Organization & Co",
			Learner: cmex.LearnerIdentity{
				UniqueIDs: []cmex.UniqueID{{Domain: "ME", Value: fmt.Sprintf("MD%06d", i)}, {Domain: "ABIM", Value: fmt.Sprint(900000 + i)}},
				GivenName: "Jane", FamilyName: fmt.Sprintf("Doe-%d", i), BirthDate: cmex.Date{Year: 1970, Month: time.Month(1 + i%12), Day: 1 + i%28},
			},
			ProviderOrganization: "1234567", ActivityID: cmex.ActivityID(210015516 + i%3), ActivityTitle: "Update <2>",
			Status: "Completed", CompletionDate: cmex.Date{Year: 2025, Month: 3, Day: 1 + i%28},
			Credits: []cmex.CreditCertificate{{Certification: "AMA PRA Category 1", Unit: "Point", Points: &pts, CreditID: cmex.CreditID(fmt.Sprintf("ccid:example.org:%d", i))}},
		}
	}
	return out
}

func learnerFile(t testing.TB, reports []*cmex.LearnerReport) []byte {
	var b bytes.Buffer
	w := pars.NewFileWriter(&b, pars.FileLearners)
	for _, r := range reports {
		if err := w.WriteLearnerReport(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readAll(t *testing.T, file []byte) (string, []*pars.FileRecord, error) {
	t.Helper()
	var recs []*pars.FileRecord
	// A reader that returns a few bytes at a time exercises every refill.
	kind, err := pars.ReadFile(context.Background(), io.LimitReader(&slowReader{b: file}, int64(len(file))), pars.Strict, func(r *pars.FileRecord) error {
		recs = append(recs, r)
		return nil
	})
	return kind, recs, err
}

type slowReader struct {
	b []byte
	n int
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	s.n++
	k := min(len(p), 1+s.n%7919, len(s.b))
	copy(p, s.b[:k])
	s.b = s.b[k:]
	return k, nil
}

func TestReadFileRoundTrip(t *testing.T) {
	want := syntheticReports(3000)
	kind, recs, err := readAll(t, learnerFile(t, want))
	if err != nil || kind != pars.FileLearners {
		t.Fatalf("ReadFile: %q, %v", kind, err)
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if r.Position != i+1 || r.Line != i+3 {
			t.Fatalf("record %d: position %d line %d, want %d and %d", i, r.Position, r.Line, i+1, i+3)
		}
		if r.Problems.HasErrors() {
			t.Fatalf("record %d: %v", i, r.Problems)
		}
		if d := cmp.Diff(want[i], r.Learner); d != "" {
			t.Fatalf("record %d differs (-written +read):\n%s", i, d)
		}
		if r.ID() != string(want[i].Credits[0].CreditID) {
			t.Fatalf("record %d: ID %q", i, r.ID())
		}
	}
}

func TestReadFileBrokenRecordsAndFiles(t *testing.T) {
	file := string(learnerFile(t, syntheticReports(5)))
	lines := strings.Split(file, "\n")
	// Record 2 is malformed, record 4 is not an ActivityReport, and a
	// comment and CRLF line ends stand between records.
	lines[3] = strings.Replace(lines[3], "</n:GivenName>", "</n:Given>", 1)
	lines[5] = "<ar:Mystery/>\r"
	lines[4] += "<!-- a comment -->\r"
	broken := strings.Join(lines, "\n")
	_, recs, err := readAll(t, []byte(broken))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5", len(recs))
	}
	for i, wantErr := range []bool{false, true, false, true, false} {
		if got := recs[i].Problems.HasErrors(); got != wantErr {
			t.Errorf("record %d: rejected=%v, want %v: %v", i+1, got, wantErr, recs[i].Problems)
		}
	}
	if p := recs[1].Problems[0]; p.Line != 4 || !strings.Contains(p.Message, "Given") {
		t.Errorf("malformed record: %+v", p)
	}
	if p := recs[3].Problems[0]; p.Line != 6 || !strings.Contains(p.Message, "ar:Mystery") {
		t.Errorf("stray element: %+v", p)
	}

	// Cut short: the whole records before the cut are read, then an error
	// with the line.
	cut := file[:strings.Index(file, "ccid:example.org:3")]
	_, recs, err = readAll(t, []byte(cut))
	if len(recs) != 3 || cmex.ErrorCode(err) != cmex.EINVALID || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("cut file: %d records, %v", len(recs), err)
	}
	for _, c := range []struct{ name, doc, want string }{
		{"not XML", "first_name,last_name\n", "expected the start"},
		{"other root", `<SubmitMessage xmlns="x"/>`, "SubmitMessage"},
		{"other root element", `<SubmitMessage xmlns="x"></SubmitMessage>`, "where accme:ACCMEActivities or"},
		{"wrong namespace", `<ACCMELearnerReports xmlns="urn:x"><ActivityReports/></ACCMELearnerReports>`, "namespace"},
		{"DTD", `<!DOCTYPE x [<!ENTITY a "b">]><x/>`, "DTD"},
		{"trailing", strings.Replace(file, "</accme:ACCMELearnerReports>", "</accme:ACCMELearnerReports><x/>", 1), "after the end"},
		{"empty", "", "ends where"},
	} {
		_, _, err := readAll(t, []byte(c.doc))
		if cmex.ErrorCode(err) != cmex.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want EINVALID with %q", c.name, err, c.want)
		}
	}
}

func TestReadFileStopsWhenAsked(t *testing.T) {
	file := learnerFile(t, syntheticReports(5000))
	n := 0
	stop := fmt.Errorf("enough")
	_, err := pars.ReadFile(context.Background(), bytes.NewReader(file), pars.Strict, func(*pars.FileRecord) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if err != stop || n != 10 {
		t.Fatalf("err %v after %d records", err, n)
	}
}

func BenchmarkReadFile(b *testing.B) {
	file := learnerFile(b, syntheticReports(20000))
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if _, err := pars.ReadFile(context.Background(), bytes.NewReader(file), pars.Strict, func(*pars.FileRecord) error { n++; return nil }); err != nil || n != 20000 {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "records/s")
}
