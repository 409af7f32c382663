package batch_test

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/batch"
)

// FuzzReadPersons: any registry CSV gives persons or row problems (with
// a line), never both and never a panic.
func FuzzReadPersons(f *testing.F) {
	b, err := os.ReadFile("../../cmd/cmex/sandbox-learners.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add("given_name,family_name\nJane,\"Doe\n")
	f.Fuzz(func(t *testing.T, data string) {
		ps, problems, err := batch.ReadPersons(strings.NewReader(data))
		if err != nil {
			return
		}
		if len(ps) > 0 && len(problems) > 0 {
			t.Fatalf("%d persons returned with %d problems", len(ps), len(problems))
		}
		for _, p := range problems {
			if p.Line < 1 || p.Message == "" {
				t.Fatalf("problem %+v", p)
			}
		}
	})
}

// FuzzRecordReader: any learner-record CSV gives rows (each a report or
// problems) until io.EOF or an EINVALID error, never a panic.
func FuzzRecordReader(f *testing.F) {
	f.Add("action,credit_id,activity_id,completion_date,certification,points,first_name,last_name,birth_date,board,board_id\nadd,c1,1,2025-06-03,AMA PRA Category 1,2,Jane,ACCME,1970-01-01,ABIM,999902\n")
	f.Add("credit_id,activity_id\n\"x")
	f.Fuzz(func(t *testing.T, data string) {
		rr, err := batch.NewRecordReader(strings.NewReader(data))
		if err != nil {
			if cmex.ErrorCode(err) != cmex.EINVALID {
				t.Fatalf("a bad header gives %v", err)
			}
			return
		}
		for {
			row, err := rr.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if cmex.ErrorCode(err) != cmex.EINVALID {
					t.Fatalf("a bad row gives %v", err)
				}
				return
			}
			if row.Report == nil && !row.Problems.HasErrors() {
				t.Fatalf("line %d: no report and no problem", row.Line)
			}
		}
	})
}

// FuzzReadMembers: any members CSV gives members or problems (each with a
// line), never both and never a panic; every member has the required
// fields and a member id and username once.
func FuzzReadMembers(f *testing.F) {
	f.Add("member_id,username,first_name,last_name,password,street,city,state,zip,country\n01234567,NedBaker,Ned,Baker,mYpAsSwOrD,42 Xyzzy Drive,Fred,VA,22222,US\n")
	f.Add("member_id,username,first_name,last_name\n1,a,A,B\n1,A,A,B\n\"x")
	f.Fuzz(func(t *testing.T, data string) {
		ms, problems, err := batch.ReadMembers(strings.NewReader(data))
		if err != nil {
			return
		}
		if len(ms) > 0 && len(problems) > 0 {
			t.Fatalf("%d members returned with %d problems", len(ms), len(problems))
		}
		for _, p := range problems {
			if p.Line < 1 || p.Message == "" {
				t.Fatalf("problem %+v", p)
			}
		}
		ids, names := map[string]bool{}, map[string]bool{}
		for _, m := range ms {
			if m.Member.MemberID == "" || m.Member.Username == "" || m.Member.GivenName == "" || m.Member.FamilyName == "" || m.Line < 2 {
				t.Fatalf("member %+v", m)
			}
			if ids[m.Member.MemberID] || names[strings.ToLower(m.Member.Username)] {
				t.Fatalf("member %+v twice", m)
			}
			ids[m.Member.MemberID], names[strings.ToLower(m.Member.Username)] = true, true
		}
	})
}

// FuzzReadSocietyCredits: any credits CSV gives credits or file problems,
// never both and never a panic; a credit without problems passes the
// domain's check, and every problem has a line.
func FuzzReadSocietyCredits(f *testing.F) {
	f.Add("member_id,date,title,sponsor,short_name,location,activity_type,type,credits,category,focus\n" +
		"01234567,2003-06-15,PET Imaging Conference,Example Society,PET,\"Hilton Head Island, SC\",Group Learning,CME,13.25,CAT1,PET;Mammography\n" +
		"01234567,2003-06-15,PET Imaging Conference,Example Society,PET,\"Hilton Head Island, SC\",Group Learning,MOC,13.25,CAT1,\n")
	f.Add("member_id,date,title,credits\n1,2024-02-31,x,-1\n\"")
	f.Fuzz(func(t *testing.T, data string) {
		rows, problems, err := batch.ReadSocietyCredits(strings.NewReader(data))
		if err != nil {
			return
		}
		if len(rows) > 0 && len(problems) > 0 {
			t.Fatalf("%d credits returned with %d file problems", len(rows), len(problems))
		}
		for _, p := range problems {
			if p.Line < 1 || p.Message == "" {
				t.Fatalf("problem %+v", p)
			}
		}
		for i, r := range rows {
			if r.Position != i+1 || r.Line < 2 {
				t.Fatalf("credit %d: %+v", i+1, r)
			}
			for _, p := range r.Problems {
				if p.Line < r.Line || p.Message == "" {
					t.Fatalf("credit %d: problem %+v", i+1, p)
				}
			}
			if len(r.Problems) == 0 && (cmex.CheckCEU(&r.Credit.CEU) != nil || r.Credit.MemberID == "") {
				t.Fatalf("credit %d has no problem but fails the rules: %+v", i+1, r)
			}
		}
	})
}
