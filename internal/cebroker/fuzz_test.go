package cebroker_test

import (
	"testing"
	"unicode/utf8"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cebroker"
)

// FuzzJudge: any receipt CE Broker might send is judged one of the three
// results without panicking; a refusal says why, and what is kept of the
// receipt is valid UTF-8 cut to size.
func FuzzJudge(f *testing.F) {
	f.Add([]byte(`<string xmlns="https://webservices.cebroker.com/">&lt;rosters&gt;&lt;roster Message=""/&gt;&lt;/rosters&gt;</string>`))
	f.Add([]byte(`<string xmlns="https://webservices.cebroker.com/">&lt;rosters&gt;&lt;roster Message="License not found"/&gt;&lt;/rosters&gt;</string>`))
	f.Add([]byte(`<html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		o := cebroker.Judge(body)
		for _, c := range o.Codes {
			if !utf8.ValidString(c.Code+c.Message) || len(c.Message) > cmex.MaxRemoteText || len(c.Code) > 64 {
				t.Fatalf("a remote code kept uncut: %+v", c)
			}
		}
		switch o.Result {
		case cmex.DeliveryDelivered:
		case cmex.DeliveryPending, cmex.DeliveryRejected:
			if o.Error == "" {
				t.Fatalf("a %s outcome without a reason", o.Result)
			}
		default:
			t.Fatalf("result %q", o.Result)
		}
	})
}
