package cmars_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// A passthrough record has no registry person: its OCI ID comes from the
// report's UniqueID.
func TestEncodePassthrough(t *testing.T) {
	rec := &cmex.LearnerRecord{CreditID: "ccid:x:1", ActivityID: 300000001, CompletionDate: cmex.MustParseDate("2026-02-02"),
		Learner: cmex.LearnerIdentity{GivenName: "Olivia", FamilyName: "Ontario", UniqueIDs: []cmex.UniqueID{{Domain: "OCI", Value: "CA-ON-CPSO-12345"}}}}
	snap, _ := json.Marshal(cmex.LearnerSnapshot{Record: rec})
	payload, err := (&cmars.Forwarder{}).Encode(context.Background(), &cmex.Destination{}, &cmex.Delivery{Event: "add", Snapshot: snap})
	if err != nil || !strings.Contains(string(payload), `"ociId":"CA-ON-CPSO-12345"`) || !strings.Contains(string(payload), `"void":false`) {
		t.Fatalf("payload (%v): %s", err, payload)
	}
	rec.Learner.UniqueIDs = nil
	snap, _ = json.Marshal(cmex.LearnerSnapshot{Record: rec})
	if _, err := (&cmars.Forwarder{}).Encode(context.Background(), &cmex.Destination{}, &cmex.Delivery{Event: "add", Snapshot: snap}); err == nil ||
		!strings.Contains(err.Error(), "WS400") {
		t.Errorf("no OCI ID anywhere: %v", err)
	}
}

// A course's record waits for a record of its mandatory activity in the
// same reporting period, and is refused once the period is over without
// one; a void does not wait.
func TestMandatoryActivity(t *testing.T) {
	rec := &cmex.LearnerRecord{CreditID: "ccid:x:1", ProviderID: "1234567", ActivityID: 300000001, LearnerKey: "p:9", CompletionDate: cmex.MustParseDate("2026-02-02"),
		Learner: cmex.LearnerIdentity{GivenName: "Olivia", FamilyName: "Ontario"}}
	snap, _ := json.Marshal(cmex.LearnerSnapshot{Record: rec, Person: &cmex.Person{OCIID: "CA-ON-CPSO-12345"}})
	d := &cmex.Destination{Kind: cmex.DestCMaRS, Routing: cmex.RoutingRule{ActivityIDs: []cmex.ActivityID{300000001},
		Mandatory: []cmex.MandatoryActivity{{Course: 300000001, Activity: 300000002}}}}
	var asked cmex.LearnerRecordFilter
	var held []*cmex.LearnerRecord
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f := &cmars.Forwarder{Now: func() time.Time { return now }, Records: func(_ context.Context, q cmex.LearnerRecordFilter) ([]*cmex.LearnerRecord, error) {
		asked = q
		return held, nil
	}}
	add := &cmex.Delivery{Event: "add", Snapshot: snap}
	_, err := f.Encode(context.Background(), d, add)
	if !errors.Is(err, cmex.ErrNotReady) || !strings.Contains(err.Error(), "mandatory activity 300000002 in reporting period 2026") {
		t.Errorf("without the mandatory activity: %v", err)
	}
	if asked.ActivityID != 300000002 || asked.LearnerKey != "p:9" || asked.ProviderID != "1234567" ||
		asked.From != cmex.MustParseDate("2026-01-01") || asked.To != cmex.MustParseDate("2026-12-31") {
		t.Errorf("asked for %+v", asked)
	}
	if _, err := f.Encode(context.Background(), d, &cmex.Delivery{Event: "delete", Snapshot: snap}); err != nil {
		t.Errorf("a void waits: %v", err)
	}
	now = time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC)
	if _, err := f.Encode(context.Background(), d, add); err == nil || errors.Is(err, cmex.ErrNotReady) || !strings.Contains(err.Error(), "retry this delivery") {
		t.Errorf("after the period: %v", err)
	}
	held = []*cmex.LearnerRecord{{ActivityID: 300000002}}
	if p, err := f.Encode(context.Background(), d, add); err != nil || !strings.Contains(string(p), `"reportingPeriod":"2026"`) {
		t.Errorf("with the mandatory activity: %s %v", p, err)
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
