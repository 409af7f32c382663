package cmars_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmars"
)

func TestForwarder(t *testing.T) {
	var status int
	var reply, got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("authorization %q", r.Header.Get("Authorization"))
		}
		w.WriteHeader(status)
		w.Write([]byte(reply))
	}))
	defer srv.Close()
	rec := &cmex.LearnerRecord{CreditID: "ccid:x:9", ActivityID: 300000001, ActivityTitle: "Opioid Stewardship", CompletionDate: cmex.MustParseDate("2026-02-02"),
		Learner: cmex.LearnerIdentity{GivenName: "Olivia", FamilyName: "Ontario"}, ReportingOrganization: "AAA"}
	snap, _ := json.Marshal(cmex.LearnerSnapshot{Record: rec, Person: &cmex.Person{OCIID: "CA-ON-CPSO-12345"}})
	dl := &cmex.Delivery{Subject: cmex.SubjectLearnerRecord, Event: "delete", Snapshot: snap}
	d := &cmex.Destination{URL: srv.URL, Secrets: cmex.DestinationSecrets{Token: "tok"}}
	f := &cmars.Forwarder{}
	payload, err := f.Encode(context.Background(), d, dl)
	if err != nil || !strings.Contains(string(payload), `"ociId":"CA-ON-CPSO-12345"`) || !strings.Contains(string(payload), `"void":true`) ||
		!strings.Contains(string(payload), `"recordId":"ccid:x:9"`) {
		t.Fatalf("payload (%v): %s", err, payload)
	}
	for _, tc := range []struct {
		status int
		reply  string
		want   cmex.DeliveryState
		code   string
	}{
		{201, "", cmex.DeliveryDelivered, ""},
		{409, "", cmex.DeliveryDelivered, ""},
		{503, "", cmex.DeliveryPending, ""},
		{400, `{"code":"WS400","message":"not affiliated"}`, cmex.DeliveryRejected, "WS400"},
		{403, `forbidden`, cmex.DeliveryRejected, "403"},
	} {
		status, reply = tc.status, tc.reply
		o := f.Send(context.Background(), d, dl, payload)
		if o.Result != tc.want || tc.code != "" && o.Codes[0].Code != tc.code {
			t.Errorf("HTTP %d: %+v", tc.status, o)
		}
	}
	if got != string(payload) {
		t.Errorf("sent %s", got)
	}
}

// TestJudgeKeepsOnlyTheExchangesCodes: a refusal keeps the exchange's
// WSnnn code and message; any other body (another service's JSON, an
// error page) is not kept, only the HTTP status.
func TestJudgeKeepsOnlyTheExchangesCodes(t *testing.T) {
	for _, tc := range []struct {
		status     int
		body       string
		code, text string
	}{
		{400, `{"code":"WS400","message":"not affiliated"}`, "WS400", "not affiliated"},
		{422, `{"code":"internal","message":"SECRET-BODY"}`, "422", ""},
		{403, `<html>SECRET-BODY</html>`, "403", ""},
		{400, `{"code":"WS400","message":"` + strings.Repeat("é", 400) + `"}`, "WS400", strings.Repeat("é", 148) + "…"},
	} {
		o := cmars.Judge(tc.status, []byte(tc.body))
		if o.Result != cmex.DeliveryRejected || len(o.Codes) != 1 || o.Codes[0].Code != tc.code || o.Codes[0].Message != tc.text || strings.Contains(o.Error, "SECRET") {
			t.Errorf("HTTP %d %.40s: %+v", tc.status, tc.body, o)
		}
	}
}
