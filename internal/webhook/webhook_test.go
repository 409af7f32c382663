package webhook_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/webhook"
)

func TestJudge(t *testing.T) {
	for name, tc := range map[string]struct {
		status     int
		retryAfter string
		body       string
		apiID      string
		want       cmex.DeliveryState
		wait       time.Duration
	}{
		"204, no api_id":             {204, "", "", "", cmex.DeliveryDelivered, 0},
		"200 with the echo":          {200, "", `{"api_id":"a1","result":"success"}`, "a1", cmex.DeliveryDelivered, 0},
		"200 with another id":        {200, "", `{"api_id":"a2","result":"success"}`, "a1", cmex.DeliveryPending, 0},
		"200 with a failure":         {200, "", `{"api_id":"a1","result":"error"}`, "a1", cmex.DeliveryPending, 0},
		"200 with garbage":           {200, "", `<html>`, "a1", cmex.DeliveryPending, 0},
		"429 with Retry-After":       {429, "120", "", "", cmex.DeliveryPending, 2 * time.Minute},
		"503":                        {503, "", "", "", cmex.DeliveryPending, 0},
		"408":                        {408, "", "", "", cmex.DeliveryPending, 0},
		"422":                        {422, "", "unknown licence", "", cmex.DeliveryRejected, 0},
		"310 (Infoway's bad api_id)": {310, "", "", "a1", cmex.DeliveryRejected, 0},
	} {
		o := webhook.Judge(tc.status, tc.retryAfter, []byte(tc.body), tc.apiID)
		if o.Result != tc.want || o.RetryAfter != tc.wait {
			t.Errorf("%s: %+v", name, o)
		}
	}
}

func TestSignature(t *testing.T) {
	body := []byte(`{"event":"learner-record.add"}`)
	sig := webhook.Sign("k", body)
	if len(sig) != len("sha256=")+64 || !webhook.Verify("k", body, sig) || webhook.Verify("other", body, sig) || webhook.Verify("k", append(body, ' '), sig) {
		t.Errorf("signature %s", sig)
	}
}

// TestJudgeKeepsNoBody: a refusal keeps the receiver's status; its body
// only when it is an Ack echoing the destination's api_id, cut on a rune
// boundary.
func TestJudgeKeepsNoBody(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		apiID  string
		text   string
	}{
		{400, "<html>SECRET-BODY</html>", "", ""},
		{400, `{"api_id":"a1","result":"error","message":"SECRET-BODY"}`, "", ""},   // no api_id to prove it
		{422, `{"api_id":"a2","result":"error","message":"SECRET-BODY"}`, "a1", ""}, // the wrong one
		{422, `{"api_id":"a1","result":"error","message":"unknown licence"}`, "a1", "unknown licence"},
		{422, `{"api_id":"a1","result":"error","message":"` + strings.Repeat("€", 200) + `"}`, "a1", strings.Repeat("€", 99) + "…"},
	} {
		o := webhook.Judge(tc.status, "", []byte(tc.body), tc.apiID)
		if o.Result != cmex.DeliveryRejected || len(o.Codes) != 1 || o.Codes[0].Code != strconv.Itoa(tc.status) || o.Codes[0].Message != tc.text || strings.Contains(o.Error, "SECRET") {
			t.Errorf("HTTP %d %.40s (api_id %q): %+v", tc.status, tc.body, tc.apiID, o)
		}
	}
}
