package cmex_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
)

// TestRouteCMaRS: what CMaRS is sent (specs/cmars.md). The OCI ID comes
// from the report itself before the registry, so that passthrough
// matching, which matches no person, still reaches CMaRS.
func TestRouteCMaRS(t *testing.T) {
	dest := &cmex.Destination{Kind: cmex.DestCMaRS, Routing: cmex.RoutingRule{ActivityIDs: []cmex.ActivityID{300000001}}}
	rec := func(origin string, ids ...cmex.UniqueID) *cmex.LearnerRecord {
		return &cmex.LearnerRecord{ActivityID: 300000001, Origin: origin, Learner: cmex.LearnerIdentity{UniqueIDs: ids, GivenName: "Olivia", FamilyName: "Ontario"}}
	}
	oci := cmex.UniqueID{Domain: "OCI", Value: "CA-ON-CPSO-12345"}
	olivia := &cmex.Person{OCIID: "CA-ON-CPSO-12345"}
	for _, tc := range []struct {
		name     string
		rr       cmex.RoutedRecord
		send     bool
		rejected bool
	}{
		{"passthrough, OCI ID in the report", cmex.RoutedRecord{Record: rec("", oci), Source: "pars:lms"}, true, false},
		{"passthrough, the HCE profile field's name as domain", cmex.RoutedRecord{Record: rec("", cmex.UniqueID{Domain: "ociid", Value: "CA-ON-CMO-7"}), Source: "api:lms"}, true, false},
		{"passthrough, no OCI ID", cmex.RoutedRecord{Record: rec("", cmex.UniqueID{Domain: "ABIM", Value: "1"}), Source: "pars:lms"}, false, true},
		{"registry person's OCI ID", cmex.RoutedRecord{Record: rec(""), Person: olivia, Source: "pars:lms"}, true, false},
		{"a college CMaRS does not take", cmex.RoutedRecord{Record: rec("", cmex.UniqueID{Domain: "OCI", Value: "CA-ON-CNO-1"}), Person: olivia, Source: "pars:lms"}, false, true},
		{"CSV upload", cmex.RoutedRecord{Record: rec("", oci), Source: "csv:import"}, false, false},
		{"legacy record", cmex.RoutedRecord{Record: rec(cmex.OriginLegacy, oci), Source: "api:lms"}, false, false},
		{"equivalency", cmex.RoutedRecord{Record: rec(cmex.OriginEquivalency, oci), Source: "api:lms"}, false, false},
		{"equivalency with evidence requested", cmex.RoutedRecord{Record: rec(cmex.OriginEquivalencyEvidence, oci), Source: "api:lms"}, true, false},
	} {
		send, reject := cmex.Route(dest, tc.rr)
		if send != tc.send || (reject != nil) != tc.rejected || reject != nil && reject.Code != "WS400" {
			t.Errorf("%s: send %v, reject %+v", tc.name, send, reject)
		}
	}
	if got := cmex.LearnerOCIID(rec("", oci), &cmex.Person{OCIID: "CA-ON-CPSO-999"}); got != "CA-ON-CPSO-12345" {
		t.Errorf("the report's OCI ID goes first: %q", got)
	}
}

func TestNotReady(t *testing.T) {
	err := cmex.NotReady("waiting for %s", "x")
	if !errors.Is(err, cmex.ErrNotReady) || err.Error() != "waiting for x" {
		t.Errorf("%v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, time.March, 2, 10, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		value, date string
		want        time.Duration
		ok          bool
	}{
		"seconds":                {"1", "", time.Second, true},
		"zero is now":            {"0", "", 0, true},
		"two minutes":            {" 120 ", "", 2 * time.Minute, true},
		"too many seconds":       {"99999999999999999999999", "", 24 * time.Hour, true},
		"a day and more":         {"90000", "", 24 * time.Hour, true},
		"negative":               {"-1", "", 0, false},
		"fraction":               {"1.5", "", 0, false},
		"words":                  {"soon", "", 0, false},
		"none":                   {"", "", 0, false},
		"date against Date":      {"Mon, 02 Mar 2026 09:01:30 GMT", "Mon, 02 Mar 2026 09:00:00 GMT", 90 * time.Second, true},
		"date against now":       {"Mon, 02 Mar 2026 10:00:45 GMT", "", 45 * time.Second, true},
		"date, unreadable Date":  {"Mon, 02 Mar 2026 10:00:45 GMT", "yesterday", 45 * time.Second, true},
		"date past":              {"Mon, 02 Mar 2026 08:00:00 GMT", "", 0, true},
		"RFC 850 date":           {"Monday, 02-Mar-26 10:00:10 GMT", "", 10 * time.Second, true},
		"asctime date":           {"Mon Mar  2 10:00:20 2026", "", 20 * time.Second, true},
		"date a year on":         {"Tue, 02 Mar 2027 10:00:00 GMT", "", 24 * time.Hour, true},
		"date in another format": {"2026-03-02T10:01:00Z", "", 0, false},
	} {
		got, ok := cmex.ParseRetryAfter(tc.value, tc.date, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %q (Date %q) = %v, %v; want %v, %v", name, tc.value, tc.date, got, ok, tc.want, tc.ok)
		}
	}
	// Only an outcome to be retried takes it.
	if o := (cmex.Outcome{Result: cmex.DeliveryDelivered}).WithRetryAfter("5", "", now); o.RetryAfterGiven {
		t.Errorf("delivered with a Retry-After: %+v", o)
	}
	if o := (cmex.Outcome{Result: cmex.DeliveryPending}).WithRetryAfter("5", "", now); !o.RetryAfterGiven || o.RetryAfter != 5*time.Second {
		t.Errorf("retried with a Retry-After: %+v", o)
	}
	if o := (cmex.Outcome{Result: cmex.DeliveryPending}).WithRetryAfter("", "", now); o.RetryAfterGiven {
		t.Errorf("retried without one: %+v", o)
	}
}
