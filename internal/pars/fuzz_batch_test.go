package pars

import (
	"bytes"
	"context"
	"testing"
	"unicode/utf8"

	"github.com/cmexhub/cmex"
)

// FuzzReadFile feeds the batch file reader anything: it never panics, its
// records come in file order with their lines rising, and a record it
// passes on either decoded or carries problems, never neither.
func FuzzReadFile(f *testing.F) {
	addCorpus(f, "save", "learner")
	f.Add([]byte(`<ACCMELearnerReports xmlns="http://docs.accme.org/schemas/ACCMELearnerReports/v1/"><Report/>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mode := range []Mode{Strict, Permissive} {
			last := 0
			kind, err := ReadFile(context.Background(), bytes.NewReader(data), mode, func(r *FileRecord) error {
				if r.Line < last {
					t.Fatalf("record at line %d after one at line %d", r.Line, last)
				}
				last = r.Line
				if r.Activity == nil && r.Learner == nil && !r.Problems.HasErrors() {
					t.Fatalf("record at line %d: nothing decoded and no problem", r.Line)
				}
				return nil
			})
			if err != nil && cmex.ErrorCode(err) != cmex.EINVALID && cmex.ErrorCode(err) != cmex.ETOOLARGE {
				t.Fatalf("a bad file is a %q error: %v", cmex.ErrorCode(err), err)
			}
			if err == nil && kind == "" {
				t.Fatal("a file read without error has no kind")
			}
		}
	})
}

// FuzzJudgePARS: whatever an upstream PARS answers, the forwarder's
// judgement is one of the three results, a rejection keeps PARS's codes,
// and what is kept of the answer is valid UTF-8 cut to size.
func FuzzJudgePARS(f *testing.F) {
	f.Add(200, []byte(`<ResponseMessage xmlns="http://schemas.datacontract.org/2004/07/BLL.Service"><StatusCode>Accepted</StatusCode></ResponseMessage>`))
	f.Add(200, []byte(`<ResponseMessage><ErrorMessages><ErrorMessage><Code>603</Code><Message>dup</Message></ErrorMessage></ErrorMessages><StatusCode>Rejected</StatusCode></ResponseMessage>`))
	f.Add(500, []byte(`oops`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, subject := range []string{cmex.SubjectActivity, cmex.SubjectLearnerRecord} {
			o := judgePARS(status, body, &cmex.Delivery{Subject: subject})
			switch o.Result {
			case cmex.DeliveryDelivered, cmex.DeliveryPending, cmex.DeliveryRejected:
			default:
				t.Fatalf("result %q", o.Result)
			}
			if o.Result != cmex.DeliveryDelivered && o.Error == "" {
				t.Fatalf("a %s outcome without an error text", o.Result)
			}
			for _, c := range o.Codes {
				if !utf8.ValidString(c.Code+c.Message) || len(c.Message) > cmex.MaxRemoteText || len(c.Code) > 16 {
					t.Fatalf("a remote code kept uncut: %+v", c)
				}
			}
		}
	})
}
