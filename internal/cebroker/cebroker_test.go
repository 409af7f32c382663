package cebroker_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cebroker"
)

func delivery(t *testing.T) *cmex.Delivery {
	rec := &cmex.LearnerRecord{CreditID: "ccid:x:1", ActivityID: 300000001, CompletionDate: cmex.MustParseDate("2026-03-04"),
		Certification: cmex.CreditAMA, Points: 300, Learner: cmex.LearnerIdentity{GivenName: "Sam", FamilyName: "O'Hara & Co",
			UniqueIDs: []cmex.UniqueID{{Domain: "OH", Value: "35.123456"}, {Domain: "FL", Value: "ME99999"}}}}
	snap, _ := json.Marshal(cmex.LearnerSnapshot{Record: rec})
	return &cmex.Delivery{ID: 1, Subject: cmex.SubjectLearnerRecord, Event: "add", Snapshot: snap}
}

func TestRosterUpload(t *testing.T) {
	var got string
	receipt := `<rosters id_parent_provider="5087"><roster Message="" TimeStamp="2/10/2004 1:04:33 PM"><attendees><attendee Message="" TimeStamp="2/10/2004 1:04:33 PM"/></attendees></roster></rosters>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.FormValue("InXML")
		w.Write([]byte(`<?xml version="1.0" encoding="utf-8"?><string xmlns="https://webservices.cebroker.com/">` + html.EscapeString(receipt) + `</string>`))
	}))
	defer srv.Close()
	d := &cmex.Destination{Kind: cmex.DestCEBroker, URL: srv.URL, Secrets: cmex.DestinationSecrets{UploadKey: "KEY&1"},
		Settings: cmex.DestinationSettings{ParentProviderID: "5087"}, Routing: cmex.RoutingRule{LicenseStates: []string{"FL"}}}
	f := &cebroker.Forwarder{}
	payload, err := f.Encode(context.Background(), d, delivery(t))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(payload), "KEY") {
		t.Errorf("the stored payload holds the upload key: %s", payload)
	}
	for _, want := range []string{`<rosters id_parent_provider="5087">`, "<license>ME99999</license>", "<cebroker_state>FL</cebroker_state>",
		"<date_completed>03/04/2026</date_completed>", "<ce_credit_hours>3.00</ce_credit_hours>", "<last_name>O&#39;Hara &amp; Co</last_name>", "<provider_course_code>300000001</provider_course_code>"} {
		if !strings.Contains(string(payload), want) {
			t.Errorf("payload lacks %s: %s", want, payload)
		}
	}
	if o := f.Send(context.Background(), d, delivery(t), payload); o.Result != cmex.DeliveryDelivered {
		t.Errorf("outcome = %+v", o)
	}
	if !strings.Contains(got, `<rosters upload_key="KEY&amp;1" id_parent_provider="5087">`) {
		t.Errorf("sent %s", got)
	}
}

func TestJudgeReceipts(t *testing.T) {
	wrap := func(receipt string) []byte {
		return []byte(`<string xmlns="https://webservices.cebroker.com/">` + html.EscapeString(receipt) + `</string>`)
	}
	o := cebroker.Judge(wrap(`<rosters><roster Message=""><attendees><attendee Message="Invalid license Number" ErrorCode="80"/></attendees></roster></rosters>`))
	if o.Result != cmex.DeliveryRejected || len(o.Codes) != 1 || o.Codes[0].Code != "80" || o.Codes[0].Message != "Invalid license Number" {
		t.Errorf("refused attendee = %+v", o)
	}
	for name, body := range map[string][]byte{"garbage": []byte("<html>"), "empty receipt": wrap(""), "no nodes": wrap("<rosters/>")} {
		if o := cebroker.Judge(body); o.Result != cmex.DeliveryPending {
			t.Errorf("%s: %+v", name, o)
		}
	}
}

func TestNoLicence(t *testing.T) {
	dl := delivery(t)
	var snap cmex.LearnerSnapshot
	json.Unmarshal(dl.Snapshot, &snap)
	snap.Record.Learner.UniqueIDs = []cmex.UniqueID{{Domain: "ABIM", Value: "1"}}
	dl.Snapshot, _ = json.Marshal(snap)
	if _, err := (&cebroker.Forwarder{}).Encode(context.Background(), &cmex.Destination{}, dl); err == nil {
		t.Error("encoded a roster without a licence")
	}
}

// TestJudgeCutsMessages: a receipt's messages are kept cut to size on a
// rune boundary; an answer that is no receipt keeps nothing of its body.
func TestJudgeCutsMessages(t *testing.T) {
	long := strings.Repeat("ü", 400)
	o := cebroker.Judge([]byte(`<string xmlns="https://webservices.cebroker.com/">` + html.EscapeString(`<rosters><roster Message="`+long+`" ErrorCode="12"/></rosters>`) + `</string>`))
	if len(o.Codes) != 1 || o.Codes[0].Message != strings.Repeat("ü", 148)+"…" {
		t.Errorf("long message: %+v", o.Codes)
	}
	if o := cebroker.Judge([]byte(`<html>SECRET-BODY</html>`)); len(o.Codes) != 0 || strings.Contains(o.Error, "SECRET") {
		t.Errorf("no receipt: %+v", o)
	}
}
