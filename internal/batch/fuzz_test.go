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
