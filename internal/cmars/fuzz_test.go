package cmars_test

import (
	"testing"
	"unicode/utf8"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmars"
)

// FuzzJudge: whatever the exchange answers, the outcome is one of the
// three results, a refusal carries one code, and what is kept of the
// answer is valid UTF-8 cut to size.
func FuzzJudge(f *testing.F) {
	f.Add(200, []byte(`{}`))
	f.Add(400, []byte(`{"code":"OCI_INVALID","message":"bad OCI ID"}`))
	f.Add(503, []byte(`busy`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		o := cmars.Judge(status, body)
		for _, c := range o.Codes {
			if !utf8.ValidString(c.Code+c.Message) || len(c.Message) > cmex.MaxRemoteText || len(c.Code) > 64 {
				t.Fatalf("a remote code kept uncut: %+v", c)
			}
		}
		switch o.Result {
		case cmex.DeliveryDelivered:
		case cmex.DeliveryPending:
			if o.Error == "" {
				t.Fatal("a retry without a reason")
			}
		case cmex.DeliveryRejected:
			if len(o.Codes) != 1 || o.Codes[0].Code == "" {
				t.Fatalf("a refusal with codes %+v", o.Codes)
			}
		default:
			t.Fatalf("result %q", o.Result)
		}
	})
}
