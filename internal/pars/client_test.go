package pars_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/pars"
)

// TestForwarderToAnotherCmex forwards an activity and a learner record to
// another cmex's PARS services, as to the ACCME's: the upstream assigns
// its own Activity ID, the learner record is reported under it, a resent
// record counts as delivered, and a record upstream refuses is rejected
// with its codes.
func TestForwarderToAnotherCmex(t *testing.T) {
	up := cmextest.NewStore(t, time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC))
	if _, err := up.Persons.ImportPersons(context.Background(), []*cmex.Person{cmextest.Jane()}); err != nil {
		t.Fatal(err)
	}
	// The upstream has registered other activities, so its ids differ.
	up.MOCActivity(t, "someone-else")
	mux := http.NewServeMux()
	(&pars.Handler{Users: up.Users, Activities: up.Activities, Learners: up.Learners, Persons: up.Persons,
		Logger: slog.New(slog.DiscardHandler), Mode: pars.Strict, MaxBody: pars.DefaultMaxBody}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dest := &cmex.Destination{ID: 7, Kind: cmex.DestPARS, URL: srv.URL, Enabled: true, Routing: cmex.RoutingRule{Activities: true},
		Secrets:  cmex.DestinationSecrets{Username: "webserviceuser@yourdomain.org", Password: cmextest.Password},
		Settings: cmex.DestinationSettings{ProviderID: cmextest.ProviderA}}
	remote := map[cmex.ActivityID]string{}
	// The upstream is a local test server over plain http.
	f := &pars.Forwarder{PlainHTTP: true, RemoteID: func(_ context.Context, d cmex.DestinationID, a cmex.ActivityID) (string, bool, error) {
		id, ok := remote[a]
		return id, ok, nil
	}}
	ctx := context.Background()

	a := cmextest.Activity("fwd-1", 2025)
	a.ID = 300000042 // the local id, which upstream must not see
	snap, _ := json.Marshal(a)
	act := &cmex.Delivery{ID: 1, Subject: cmex.SubjectActivity, RecordID: int64(a.ID), ActivityID: a.ID, Event: "add", Snapshot: snap}
	payload, err := f.Encode(ctx, dest, act)
	if err != nil || strings.Contains(string(payload), "300000042") {
		t.Fatalf("activity payload (%v): %s", err, payload)
	}
	o := f.Send(ctx, dest, act, payload)
	if o.Result != cmex.DeliveryDelivered || o.RemoteID == "" || o.RemoteID == "300000042" {
		t.Fatalf("activity outcome = %+v", o)
	}

	rec := &cmex.LearnerRecord{ID: 5, CreditID: "ccid:aaatestorganization.org:fwd-1", ActivityID: a.ID, ActivityTitle: "Internal Medicine Manuscript",
		ReportingOrganization: "AAA Test Organization", Learner: cmextest.JaneReport(0, "2025-06-01", "x").Learner,
		CompletionDate: cmex.MustParseDate("2025-06-01"), Certification: "ABIM Medical Knowledge", Board: "ABIM", CreditType: "Medical Knowledge", Points: 150}
	snap, _ = json.Marshal(cmex.LearnerSnapshot{Record: rec})
	lr := &cmex.Delivery{ID: 2, Subject: cmex.SubjectLearnerRecord, RecordID: 5, CreditID: rec.CreditID, ActivityID: a.ID, Event: "add", Snapshot: snap}
	if _, err := f.Encode(ctx, dest, lr); err == nil || !strings.Contains(err.Error(), "not registered upstream") {
		t.Fatalf("learner record before its activity: %v", err)
	}
	remote[a.ID] = o.RemoteID
	payload, err = f.Encode(ctx, dest, lr)
	if err != nil || !strings.Contains(string(payload), o.RemoteID) {
		t.Fatalf("learner payload (%v): %s", err, payload)
	}
	if o := f.Send(ctx, dest, lr, payload); o.Result != cmex.DeliveryDelivered || o.Status != cmex.StatusSubmitted {
		t.Fatalf("learner outcome = %+v", o)
	}
	if recs, _ := up.Learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderA, CreditID: rec.CreditID}); len(recs) != 1 || recs[0].ActivityID.String() != o.RemoteID {
		t.Fatalf("upstream records = %+v", recs)
	}
	// The board's decision upstream flows back.
	if o := f.Status(ctx, dest, lr); o.Status != "" {
		t.Errorf("status before the board decided = %+v", o)
	}
	upRecs, _ := up.Learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: cmextest.ProviderA, CreditID: rec.CreditID})
	up.Learners.MoveLearnerRecord(ctx, upRecs[0].ID, upRecs[0].Status, cmex.StatusChange{Status: cmex.StatusRejected, At: time.Now(), Source: "board:ABIM",
		Code: "661", Reason: "Diplomate ID not found in Board records."})
	if o := f.Status(ctx, dest, lr); o.Status != cmex.StatusRejected || len(o.Codes) == 0 || !strings.Contains(o.Codes[0].Message, "Diplomate ID not found") {
		t.Errorf("status after the board rejected = %+v", o)
	}
	// The same bytes again, as after a lost answer: already there.
	if o := f.Send(ctx, dest, lr, payload); o.Result != cmex.DeliveryDelivered || len(o.Codes) == 0 || o.Codes[0].Code != "603" {
		t.Errorf("resent learner record = %+v", o)
	}
	// Upstream refuses a record of a learner it does not know.
	rec.CreditID, rec.Learner.GivenName = "ccid:aaatestorganization.org:fwd-2", "Janet"
	snap, _ = json.Marshal(cmex.LearnerSnapshot{Record: rec})
	bad := &cmex.Delivery{ID: 3, Subject: cmex.SubjectLearnerRecord, RecordID: 6, ActivityID: a.ID, Event: "add", Snapshot: snap}
	payload, _ = f.Encode(ctx, dest, bad)
	if o := f.Send(ctx, dest, bad, payload); o.Result != cmex.DeliveryRejected || len(o.Codes) == 0 || o.Status != cmex.StatusRejected {
		t.Errorf("refused record = %+v", o)
	}
	// Wrong credentials are PARS's 451: a permanent refusal.
	wrong := *dest
	wrong.Secrets.Password = "nope"
	if o := f.Send(ctx, &wrong, act, payload); o.Result != cmex.DeliveryRejected || o.Codes[0].Code != "451" {
		t.Errorf("wrong password = %+v", o)
	}
	// An upstream that is down is retried.
	down := *dest
	down.URL = "http://127.0.0.1:1"
	if o := f.Send(ctx, &down, act, payload); o.Result != cmex.DeliveryPending {
		t.Errorf("upstream down = %+v", o)
	}
}

// An upstream PARS knows no OCI ID domain (cmex's own): the forwarder
// leaves that UniqueID out and sends the others.
func TestForwarderLeavesOutOCIID(t *testing.T) {
	rec := &cmex.LearnerRecord{CreditID: "ccid:aaatestorganization.org:oci-1", ActivityID: 300000042, CompletionDate: cmex.MustParseDate("2025-06-01"),
		Learner: cmex.LearnerIdentity{UniqueIDs: []cmex.UniqueID{{Domain: "ABIM", Value: "999902"}, {Domain: "OCI", Value: "CA-ON-CPSO-12345"}},
			GivenName: "Jane", FamilyName: "ACCME", BirthDate: cmex.MustParseDate("1904-10-30")},
		Certification: "AMA PRA Category 1", Points: 100}
	snap, _ := json.Marshal(cmex.LearnerSnapshot{Record: rec})
	dest := &cmex.Destination{Kind: cmex.DestPARS, Settings: cmex.DestinationSettings{ProviderID: cmextest.ProviderA}}
	payload, err := (&pars.Forwarder{}).Encode(context.Background(), dest, &cmex.Delivery{Subject: cmex.SubjectLearnerRecord, Event: "add", Snapshot: snap})
	if err != nil || strings.Contains(string(payload), "CA-ON-CPSO") || !strings.Contains(string(payload), "999902") {
		t.Fatalf("payload (%v): %s", err, payload)
	}
	if len(rec.Learner.UniqueIDs) != 2 {
		t.Errorf("the record itself was changed")
	}
}

// TestForwarderKeepsOnlyPARSCodes: of an upstream's answer only a
// ResponseMessage's codes and messages are kept, cut to size on a rune
// boundary; of anything else, only its HTTP status. A plain http:// URL is
// not sent the password unless PlainHTTP is set.
func TestForwarderKeepsOnlyPARSCodes(t *testing.T) {
	var status int
	var reply string
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(status)
		w.Write([]byte(reply))
	}))
	defer srv.Close()
	dest := &cmex.Destination{Kind: cmex.DestPARS, URL: srv.URL, Secrets: cmex.DestinationSecrets{Username: "u", Password: "p"},
		Settings: cmex.DestinationSettings{ProviderID: cmextest.ProviderA}}
	dl := &cmex.Delivery{Subject: cmex.SubjectLearnerRecord, Event: "add", Snapshot: []byte(`{}`)}
	if o := (&pars.Forwarder{}).Send(context.Background(), dest, dl, []byte("<x/>")); calls != 0 || !strings.Contains(o.Error, "plain http") {
		t.Fatalf("http:// without PlainHTTP: %d calls, %+v", calls, o)
	}
	f := &pars.Forwarder{PlainHTTP: true}
	long := strings.Repeat("日", 200)
	for _, tc := range []struct {
		status      int
		reply       string
		code, text  string
		errContains string
	}{
		{400, "<html>SECRET-BODY</html>", "", "", "PARS answered HTTP 400"},
		{200, "SECRET-BODY", "", "", "without a ResponseMessage"},
		{200, `<ResponseMessage><StatusCode>Rejected</StatusCode><ErrorMessages><ErrorMessage><Code>104</Code><Message>` + long +
			`</Message></ErrorMessage></ErrorMessages></ResponseMessage>`, "104", strings.Repeat("日", 99) + "…", "PARS rejected it"},
		{200, `<ResponseMessage><StatusCode>SECRET-BODY-` + long + `</StatusCode></ResponseMessage>`, "", "", "neither Accepted nor Rejected"},
	} {
		status, reply = tc.status, tc.reply
		o := f.Send(context.Background(), dest, dl, []byte("<x/>"))
		got := fmt.Sprint(o.Codes)
		if !strings.Contains(o.Error, tc.errContains) || tc.code == "" && len(o.Codes) != 0 || tc.code != "" && (len(o.Codes) != 1 || o.Codes[0].Code != tc.code || o.Codes[0].Message != tc.text) ||
			strings.Contains(got+o.Error, "SECRET") || !utf8.ValidString(o.Error) {
			t.Errorf("HTTP %d %.40s: %+v", tc.status, tc.reply, o)
		}
	}
}
