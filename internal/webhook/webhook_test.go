package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/webhook"
)

func TestJudge(t *testing.T) {
	for name, tc := range map[string]struct {
		status int
		body   string
		apiID  string
		want   cmex.DeliveryState
	}{
		"204, no api_id":             {204, "", "", cmex.DeliveryDelivered},
		"200 with the echo":          {200, `{"api_id":"a1","result":"success"}`, "a1", cmex.DeliveryDelivered},
		"200 with another id":        {200, `{"api_id":"a2","result":"success"}`, "a1", cmex.DeliveryPending},
		"200 with a failure":         {200, `{"api_id":"a1","result":"error"}`, "a1", cmex.DeliveryPending},
		"200 with garbage":           {200, `<html>`, "a1", cmex.DeliveryPending},
		"429":                        {429, "", "", cmex.DeliveryPending},
		"503":                        {503, "", "", cmex.DeliveryPending},
		"408":                        {408, "", "", cmex.DeliveryPending},
		"422":                        {422, "unknown licence", "", cmex.DeliveryRejected},
		"310 (Infoway's bad api_id)": {310, "", "a1", cmex.DeliveryRejected},
	} {
		o := webhook.Judge(tc.status, []byte(tc.body), tc.apiID)
		if o.Result != tc.want || o.RetryAfterGiven {
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
		o := webhook.Judge(tc.status, []byte(tc.body), tc.apiID)
		if o.Result != cmex.DeliveryRejected || len(o.Codes) != 1 || o.Codes[0].Code != strconv.Itoa(tc.status) || o.Codes[0].Message != tc.text || strings.Contains(o.Error, "SECRET") {
			t.Errorf("HTTP %d %.40s (api_id %q): %+v", tc.status, tc.body, tc.apiID, o)
		}
	}
}

// TestSendRetryAfter: the receiver's Retry-After, in seconds or as a date
// read against its own Date header, comes back with the retried outcome.
func TestSendRetryAfter(t *testing.T) {
	var status int
	var retryAfter, date string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		if date != "" {
			w.Header().Set("Date", date)
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	now := time.Date(2026, time.March, 2, 10, 0, 0, 0, time.UTC)
	f := &webhook.Forwarder{Now: func() time.Time { return now }}
	d := &cmex.Destination{URL: srv.URL, Secrets: cmex.DestinationSecrets{WebhookSecret: "k"}}
	for name, tc := range map[string]struct {
		status           int
		retryAfter, date string
		want             cmex.DeliveryState
		wait             time.Duration
		given            bool
	}{
		"429, 1 s":                 {429, "1", "", cmex.DeliveryPending, time.Second, true},
		"503, a date":              {503, "Mon, 02 Mar 2026 09:00:30 GMT", "Mon, 02 Mar 2026 09:00:00 GMT", cmex.DeliveryPending, 30 * time.Second, true},
		"500, none":                {500, "", "", cmex.DeliveryPending, 0, false},
		"204 with one (not asked)": {204, "60", "", cmex.DeliveryDelivered, 0, false},
		"422 with one (refused)":   {422, "60", "", cmex.DeliveryRejected, 0, false},
	} {
		status, retryAfter, date = tc.status, tc.retryAfter, tc.date
		o := f.Send(context.Background(), d, &cmex.Delivery{ID: 1, Subject: "learner-record", Event: "add"}, []byte(`{}`))
		if o.Result != tc.want || o.RetryAfter != tc.wait || o.RetryAfterGiven != tc.given {
			t.Errorf("%s: %+v", name, o)
		}
	}
}
