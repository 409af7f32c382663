package webhook_test

import (
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
