package cmars_test

import (
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmars"
)

// FuzzJudge: whatever the exchange answers, the outcome is one of the
// three results, and a refusal carries one code.
func FuzzJudge(f *testing.F) {
	f.Add(200, []byte(`{}`))
	f.Add(400, []byte(`{"code":"OCI_INVALID","message":"bad OCI ID"}`))
	f.Add(503, []byte(`busy`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		o := cmars.Judge(status, body)
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
