package cmex_test

import (
	"errors"
	"testing"

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
