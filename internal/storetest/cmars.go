package storetest

import (
	"context"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
)

func init() { extra = append(extra, named{"CMaRSPassthrough", testCMaRSPassthrough}) }

// testCMaRSPassthrough: with passthrough matching (no registry person) a
// record whose report carries an OCI ID is queued for CMaRS, not refused
// with WS400; its origin is kept; a learner's records can be found by
// learner key, as the CMaRS forwarder asks for a mandatory activity's.
func testCMaRSPassthrough(t *testing.T, open Opener) {
	le := newLearnerEnv(t, open, cmex.MatchPassthrough)
	ctx := context.Background()
	ds, box := le.deliveries(t)
	bad := &cmex.Destination{OrganizationID: le.p.Organization.ID, Name: "bad", Kind: cmex.DestCMaRS, URL: "https://lrx.example/records", Enabled: true,
		Routing: cmex.RoutingRule{ActivityIDs: []cmex.ActivityID{le.activity.ID}, Mandatory: []cmex.MandatoryActivity{{Course: 300000999, Activity: le.activity.ID}}}}
	if err := ds.CreateDestination(ctx, bad); cmex.ErrorCode(err) != cmex.EINVALID {
		t.Errorf("a mandatory activity for a course the destination does not take: %v", err)
	}
	dest := &cmex.Destination{OrganizationID: le.p.Organization.ID, Name: "CMaRS", Kind: cmex.DestCMaRS, URL: "https://lrx.example/records", Enabled: true,
		Routing: cmex.RoutingRule{ActivityIDs: []cmex.ActivityID{le.activity.ID}, Mandatory: []cmex.MandatoryActivity{{Course: le.activity.ID, Activity: 300000002}}},
		Secrets: cmex.DestinationSecrets{Token: "exchange-token"}}
	if err := ds.CreateDestination(ctx, dest); err != nil {
		t.Fatal(err)
	}
	// Routing and listing need no secrets, so a process without the server
	// key (cmex import, say) accepts records and queues their deliveries;
	// only sending opens them.
	le.db.Secrets = nil
	if l, err := ds.ListDestinations(ctx, le.p.Organization.ID); err != nil || len(l) != 1 || l[0].Secrets.Token != "" {
		t.Errorf("list without the key: %+v, %v", l, err)
	}
	if _, err := ds.Destination(ctx, dest.ID); err == nil {
		t.Error("a destination's secrets opened without the key")
	}
	rep := cmextest.JaneReport(le.activity.ID, "2025-06-01", "oci")
	rep.Learner = cmex.LearnerIdentity{UniqueIDs: []cmex.UniqueID{{Domain: "OCI", Value: "CA-ON-CPSO-12345"}}, GivenName: "Olivia", FamilyName: "Ontario",
		BirthDate: cmex.MustParseDate("1985-03-15")}
	rep.Credits = rep.Credits[:1]
	rep.Origin = cmex.OriginEquivalencyEvidence
	recs, err := le.report(t, rep)
	if err != nil {
		t.Fatalf("report: %v %v", err, cmex.ErrorProblems(err))
	}
	list, err := ds.ListDeliveries(ctx, cmex.DeliveryFilter{OrganizationID: le.p.Organization.ID})
	if err != nil || len(list) != 1 || list[0].State != cmex.DeliveryPending || len(list[0].RemoteCodes) != 0 {
		t.Fatalf("deliveries = %+v, %v", list, err)
	}
	le.db.Secrets = box
	got, err := ds.Destination(ctx, dest.ID)
	if err != nil || len(got.Routing.Mandatory) != 1 || got.Routing.Mandatory[0].Activity != 300000002 {
		t.Errorf("destination read back: %+v, %v", got, err)
	}
	found, err := le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: le.p.Organization.ProviderID, ActivityID: le.activity.ID,
		LearnerKey: recs[0].LearnerKey})
	if err != nil || len(found) != 1 || found[0].Origin != cmex.OriginEquivalencyEvidence || found[0].Learner.OCIID() != "CA-ON-CPSO-12345" {
		t.Fatalf("by learner key %q: %+v, %v", recs[0].LearnerKey, found, err)
	}
	if none, _ := le.learners.FindLearnerRecords(ctx, cmex.LearnerRecordFilter{ProviderID: le.p.Organization.ProviderID, LearnerKey: "u:OCI:CA-ON-CPSO-99"}); len(none) != 0 {
		t.Errorf("another learner's key found %d records", len(none))
	}
}
