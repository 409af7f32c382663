package cmex_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
)

var learnerToday = cmex.DateOf(time.Date(2025, 6, 15, 0, 0, 0, 0, time.UTC))

func learnerPrincipal() cmex.Principal {
	return cmex.Principal{Organization: cmex.Organization{ID: 1, ProviderID: cmextest.ProviderA, Name: "AAA Test Organization"},
		User: cmex.WebServiceUser{Username: "webserviceuser@yourdomain.org"}}
}

// learnerFixture is a valid situation: an ABIM activity, Jane in the
// registry, and her report of the seed's three credits.
func learnerFixture() (*cmex.LearnerReport, cmex.LearnerState) {
	a := cmextest.Activity("moc-1", 2025)
	a.ID = 300000001
	jane := cmextest.Jane()
	jane.ID = 7
	return cmextest.JaneReport(a.ID, "2025-06-01", "v1"), cmex.LearnerState{Activity: a, Candidates: []*cmex.Person{jane}}
}

func TestValidLearnerReport(t *testing.T) {
	rep, st := learnerFixture()
	ch := cmex.LearnerChange{Report: rep, By: learnerPrincipal()}
	v := cmex.CheckLearnerChange(&ch, st, cmex.MatchRegistry, learnerToday)
	if len(v.Problems) != 0 || len(v.Add) != 3 {
		t.Fatalf("problems %v, %d records", v.Problems, len(v.Add))
	}
	for _, r := range v.Add {
		if r.PersonID != 7 || r.LearnerKey != "p:7" || r.Status != cmex.StatusAccepted || r.ProviderID != cmextest.ProviderA {
			t.Errorf("record %+v", r)
		}
	}
	if v.Add[1].Board != "ABIM" || v.Add[1].CreditType != "Medical Knowledge" || v.Add[1].Points != 150 || v.Add[0].Board != "" {
		t.Errorf("certifications were not split: %+v %+v", v.Add[0], v.Add[1])
	}
	v = cmex.CheckLearnerChange(&ch, cmex.LearnerState{Activity: st.Activity}, cmex.MatchPassthrough, learnerToday)
	if len(v.Problems) != 0 || len(v.Add) != 3 || v.Add[0].PersonID != 0 || v.Add[0].LearnerKey != "u:ABIM:999902" {
		t.Fatalf("passthrough: %v %+v", v.Problems, v.Add)
	}
}

func TestLearnerRules(t *testing.T) {
	p := cmextest.Ptr[cmex.Points]
	other := &cmex.Person{ID: 8, GivenName: "Jane", FamilyName: "ACCME", BirthDate: cmex.MustParseDate("1950-10-30")}
	prior := func(status cmex.LearnerStatus, date string, board, creditType string, points cmex.Points) *cmex.LearnerRecord {
		return &cmex.LearnerRecord{ActivityID: 300000001, LearnerKey: "p:7", Status: status, CompletionDate: cmex.MustParseDate(date),
			Board: board, CreditType: creditType, Points: points, CreditID: "ccid:x:old"}
	}
	for _, tc := range []struct {
		name   string
		change func(r *cmex.LearnerReport, st *cmex.LearnerState)
		mode   cmex.MatchingMode
		want   cmex.RuleCode
	}{
		{"no action", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Action = "" }, "", "601"},
		{"bad action", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Action = "update" }, "", "602"},
		{"no unique id", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Learner.UniqueIDs = nil }, "", "621"},
		{"MOC without its board's id", func(r *cmex.LearnerReport, _ *cmex.LearnerState) {
			r.Learner.UniqueIDs = r.Learner.UniqueIDs[:1]
		}, "", "621"},
		{"no first name", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Learner.GivenName = "" }, "", "622"},
		{"no last name", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Learner.FamilyName = " " }, "", "623"},
		{"no birth date", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Learner.BirthDate = cmex.Date{} }, "", "624"},
		{"no activity", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.ActivityID = 0 }, "", "630"},
		{"no completion date", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.CompletionDate = cmex.Date{} }, "", "631"},
		{"no MOC points", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Credits[1].Points = nil }, "", "632"},
		{"no credit id", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Credits[0].CreditID = "" }, "", "650"},
		{"credit id over 300", func(r *cmex.LearnerReport, _ *cmex.LearnerState) {
			r.Credits[0].CreditID = cmex.CreditID("ccid:x:" + strings.Repeat("y", 300))
		}, "", "998"},
		{"unknown board id", func(r *cmex.LearnerReport, st *cmex.LearnerState) { st.Candidates = nil }, "", "661"},
		{"unknown licence only", func(r *cmex.LearnerReport, st *cmex.LearnerState) {
			st.Candidates = nil
			r.Credits = r.Credits[:1]
			r.Learner.UniqueIDs = r.Learner.UniqueIDs[:1]
		}, "", "718"},
		{"birth date differs", func(r *cmex.LearnerReport, _ *cmex.LearnerState) {
			r.Learner.BirthDate = cmex.MustParseDate("1904-10-31")
		}, "", "664"},
		{"name differs", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Learner.FamilyName = "Doe" }, "", "665"},
		{"two persons", func(r *cmex.LearnerReport, st *cmex.LearnerState) { st.Candidates = append(st.Candidates, other) }, "", "737"},
		{"not registered for the board", func(r *cmex.LearnerReport, st *cmex.LearnerState) { st.Activity.MOCRegistrations = nil }, "", "670"},
		{"completion date in the future", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.CompletionDate = cmex.MustParseDate("2025-06-16") }, "", "671"},
		{"completion before the start", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.CompletionDate = cmex.MustParseDate("2025-01-29") }, "", "672"},
		{"MOC points not valid", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Credits[1].Points = p(0) }, "", "673"},
		{"MOC points above the activity's", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Credits[1].Points = p(225) }, "", "674"},
		{"MOC points not in quarters", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Credits[1].Points = p(110) }, "", "675"},
		{"unknown certification", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Credits[0].Certification = "CME Gold" }, "", "676"},
		{"no certificate", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Credits = nil }, "", "677"},
		{"certificate twice", func(r *cmex.LearnerReport, _ *cmex.LearnerState) {
			r.Credits[2].Certification = "ABIM Medical Knowledge"
		}, "", "678"},
		{"patient safety not offered", func(r *cmex.LearnerReport, st *cmex.LearnerState) {
			st.Activity.MOCRegistrations[0].CreditTypes = []string{"Medical Knowledge"}
		}, "", "680"},
		{"practice assessment not offered", func(r *cmex.LearnerReport, _ *cmex.LearnerState) {
			r.Credits[2].Certification = "ABIM Practice Assessment"
		}, "", "681"},
		{"activity unknown", func(r *cmex.LearnerReport, st *cmex.LearnerState) { st.Activity = nil }, "", "690"},
		{"reporting deadline passed", func(r *cmex.LearnerReport, st *cmex.LearnerState) {
			st.Activity.StartDate = cmex.MustParseDate("2023-01-01")
			r.CompletionDate = cmex.MustParseDate("2023-03-01")
		}, "", "705"},
		{"reported to the board already", func(r *cmex.LearnerReport, st *cmex.LearnerState) {
			st.Records = []*cmex.LearnerRecord{prior(cmex.StatusSubmitted, "2025-06-01", "ABIM", "Medical Knowledge", 25)}
		}, "", "709"},
		{"maximum points granted", func(r *cmex.LearnerReport, st *cmex.LearnerState) {
			st.Records = []*cmex.LearnerRecord{prior(cmex.StatusApproved, "2025-05-01", "ABIM", "Medical Knowledge", 200)}
		}, "", "710"},
		{"points beyond the maximum", func(r *cmex.LearnerReport, st *cmex.LearnerState) {
			st.Records = []*cmex.LearnerRecord{prior(cmex.StatusApproved, "2025-05-01", "ABIM", "Medical Knowledge", 100)}
		}, "", "711"},
		{"unknown id type", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Learner.UniqueIDs[0].Domain = "DEA" }, "", "712"},
		{"two completions on one date", func(r *cmex.LearnerReport, st *cmex.LearnerState) {
			st.Records = []*cmex.LearnerRecord{prior(cmex.StatusAccepted, "2025-06-01", "ABIM", "Medical Knowledge", 25)}
		}, "", "717"},
		{"licence without number", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Learner.UniqueIDs[0].Value = "" }, "", "720"},
		{"unknown licensing board", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Learner.UniqueIDs[0].Domain = "ZZ" }, "", "721"},
		{"AMA credits not valid", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Credits[0].Points = p(110) }, "", "722"},
		{"credit unit not Point", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Credits[0].Unit = "Hour" }, "", "722"},
		{"unknown MOC board", func(r *cmex.LearnerReport, _ *cmex.LearnerState) {
			r.Credits[1].Certification = "ABXYZ Medical Knowledge"
		}, "", "728"},
		{"unknown ABIM credit type", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Credits[2].Certification = "ABIM Charm" }, "", "735"},
		{"one UniqueID per domain", func(r *cmex.LearnerReport, _ *cmex.LearnerState) {
			r.Learner.UniqueIDs = append(r.Learner.UniqueIDs, cmex.UniqueID{Domain: "abim", Value: "111111"})
		}, "", "743"},
		{"completion after the claim date", func(r *cmex.LearnerReport, st *cmex.LearnerState) {
			st.Activity.EndDate, st.Activity.CreditClaimDate = cmex.MustParseDate("2025-03-01"), cmex.MustParseDate("2025-04-01")
		}, "", "747"},
		{"AMA credits above the activity's", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Credits[0].Points = p(250) }, "", "748"},
		{"activity in the future", func(r *cmex.LearnerReport, st *cmex.LearnerState) {
			st.Activity.StartDate = cmex.MustParseDate("2025-07-01")
			r.CompletionDate = cmex.MustParseDate("2025-06-10")
		}, "", "750"},
		{"repeat participation", func(r *cmex.LearnerReport, st *cmex.LearnerState) {
			st.Records = []*cmex.LearnerRecord{prior(cmex.StatusAccepted, "2025-04-01", "", "", 200)}
		}, "", "751"},
		{"another provider's activity as provider organization", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.ProviderOrganization = "7654321" }, "", "998"},
		{"NPI not ten digits", func(r *cmex.LearnerReport, _ *cmex.LearnerState) {
			r.Learner.UniqueIDs = append(r.Learner.UniqueIDs, cmex.UniqueID{Domain: "NPI", Value: "12345"})
		}, "", "712"},
		{"duplicate credit id in the ledger", func(r *cmex.LearnerReport, st *cmex.LearnerState) {
			st.ByCreditID = map[cmex.CreditID]*cmex.LearnerRecord{r.Credits[0].CreditID: {}}
		}, "", "603"},
		{"OCI ID not of the OCI form", func(r *cmex.LearnerReport, _ *cmex.LearnerState) {
			r.Learner.UniqueIDs = append(r.Learner.UniqueIDs, cmex.UniqueID{Domain: "OCI", Value: "12345"})
		}, "", "712"},
		{"origin unknown", func(r *cmex.LearnerReport, _ *cmex.LearnerState) { r.Origin = "hearsay" }, "", "998"},
		{"passthrough ignores the registry", func(r *cmex.LearnerReport, st *cmex.LearnerState) {
			st.Candidates = nil
			r.Learner.FamilyName = "Unknown"
			r.ProviderOrganization = "7654321"
		}, cmex.MatchPassthrough, "998"},
	} {
		rep, st := learnerFixture()
		tc.change(rep, &st)
		mode := tc.mode
		if mode == "" {
			mode = cmex.MatchRegistry
		}
		ch := cmex.LearnerChange{Report: rep, By: learnerPrincipal()}
		v := cmex.CheckLearnerChange(&ch, st, mode, learnerToday)
		if !v.Problems.Has(tc.want) {
			t.Errorf("%s: problems %v lack %s", tc.name, v.Problems, tc.want)
		}
		if codes := v.Problems.Errors().Codes(); len(codes) != 1 {
			t.Errorf("%s: one fault, codes %v", tc.name, codes)
		}
		if len(v.Add) != 0 {
			t.Errorf("%s: %d records planned despite the problem", tc.name, len(v.Add))
		}
	}
}

// An OCI ID is a UniqueID like the others: it identifies a learner in the
// registry (Olivia Ontario has no other identifier) and groups a
// passthrough learner's records; an equivalency's origin is kept.
func TestOCIIDAndOrigin(t *testing.T) {
	a, _ := learnerFixture()
	_, st := learnerFixture()
	olivia := &cmex.Person{ID: 9, GivenName: "Olivia", FamilyName: "Ontario", BirthDate: cmex.MustParseDate("1985-03-15"), OCIID: "CA-ON-CPSO-12345"}
	rep := *a
	rep.Learner = cmex.LearnerIdentity{UniqueIDs: []cmex.UniqueID{{Domain: "ociid", Value: "CA-ON-CPSO-12345"}}, GivenName: "Olivia", FamilyName: "Ontario",
		BirthDate: olivia.BirthDate}
	rep.Credits = rep.Credits[:1]
	rep.Origin = "Equivalency-Evidence"
	if q := rep.Learner.Query(); q.OCIID != "CA-ON-CPSO-12345" || !q.HasIdentifier() || !q.Matches(olivia) || q.Matches(cmextest.Jane()) {
		t.Errorf("query %+v", q)
	}
	st.Candidates = []*cmex.Person{olivia}
	ch := cmex.LearnerChange{Report: &rep, By: learnerPrincipal()}
	v := cmex.CheckLearnerChange(&ch, st, cmex.MatchRegistry, learnerToday)
	if len(v.Problems) != 0 || len(v.Add) != 1 || v.Add[0].PersonID != 9 || v.Add[0].Origin != cmex.OriginEquivalencyEvidence ||
		v.Add[0].Learner.UniqueIDs[0].Domain != cmex.OCIDomain {
		t.Fatalf("registry: %v %+v", v.Problems, v.Add)
	}
	st.Candidates = nil
	v = cmex.CheckLearnerChange(&ch, st, cmex.MatchPassthrough, learnerToday)
	if len(v.Problems) != 0 || len(v.Add) != 1 || v.Add[0].LearnerKey != "u:OCI:CA-ON-CPSO-12345" {
		t.Fatalf("passthrough: %v %+v", v.Problems, v.Add)
	}
}

func TestLearnerDelete(t *testing.T) {
	rec := &cmex.LearnerRecord{ID: 5, CreditID: "ccid:x:1", CompletionDate: cmex.MustParseDate("2025-06-01"), Status: cmex.StatusAccepted}
	old := &cmex.LearnerRecord{ID: 6, CreditID: "ccid:x:2", CompletionDate: cmex.MustParseDate("2022-06-01"), Status: cmex.StatusAccepted}
	st := cmex.LearnerState{ByCreditID: map[cmex.CreditID]*cmex.LearnerRecord{rec.CreditID: rec, old.CreditID: old}}
	for _, tc := range []struct {
		ids  []cmex.CreditID
		want cmex.RuleCode
	}{
		{[]cmex.CreditID{"ccid:x:1"}, ""},
		{[]cmex.CreditID{"ccid:x:9"}, "605"},
		{[]cmex.CreditID{""}, "650"},
		{[]cmex.CreditID{"ccid:x:2"}, "706"},
		{nil, "677"},
	} {
		rep := &cmex.LearnerReport{Action: "Delete"}
		for _, id := range tc.ids {
			rep.Credits = append(rep.Credits, cmex.CreditCertificate{CreditID: id})
		}
		ch := cmex.LearnerChange{Report: rep, By: learnerPrincipal()}
		v := cmex.CheckLearnerChange(&ch, st, cmex.MatchRegistry, learnerToday)
		switch {
		case tc.want == "" && (len(v.Problems) != 0 || len(v.Delete) != 1 || v.Delete[0].ID != 5 || rep.Action != "delete"):
			t.Errorf("%v: %v %v", tc.ids, v.Problems, v.Delete)
		case tc.want != "" && (!v.Problems.Has(tc.want) || len(v.Delete) > 0 && v.Problems.HasErrors()):
			t.Errorf("%v: problems %v, want %s", tc.ids, v.Problems, tc.want)
		}
	}
}

func TestReportingWindow(t *testing.T) {
	// Seed 003: 2021 completions can be submitted until 3/31/2023.
	for _, tc := range []struct {
		completed, today string
		ok               bool
	}{
		{"2021-07-06", "2021-07-06", true},
		{"2021-07-06", "2023-03-31", true},
		{"2021-07-06", "2023-04-01", false},
		{"2022-01-01", "2023-04-01", true},
		{"2021-07-07", "2021-07-06", false},
	} {
		if got := cmex.InReportingWindow(cmex.MustParseDate(tc.completed), cmex.MustParseDate(tc.today)); got != tc.ok {
			t.Errorf("completed %s, today %s: %v", tc.completed, tc.today, got)
		}
	}
}

func TestParseCertification(t *testing.T) {
	for in, want := range map[string][2]string{
		"AMA PRA Category 1": {"", ""}, " ama  pra category 1": {"", ""},
		"ABIM Medical Knowledge": {"ABIM", "Medical Knowledge"}, "abpath Lifelong Learning": {"ABPath", "Lifelong Learning"},
	} {
		b, ct, ok := cmex.ParseCertification(in)
		if !ok || b != want[0] || ct != want[1] {
			t.Errorf("ParseCertification(%q) = %q %q %v", in, b, ct, ok)
		}
	}
	for _, in := range []string{"", "ABIM", "AMA", "Nursing", "ABXYZ Medical Knowledge"} {
		if _, _, ok := cmex.ParseCertification(in); ok {
			t.Errorf("ParseCertification(%q) succeeded", in)
		}
	}
}

func TestNameKey(t *testing.T) {
	for a, b := range map[string]string{"O'Brien-Smith": "obrien smith", "  José  ": "JOSE", "Zoë": "zoe"} {
		if cmex.NameKey(a) != cmex.NameKey(b) {
			t.Errorf("NameKey(%q) = %q, NameKey(%q) = %q", a, cmex.NameKey(a), b, cmex.NameKey(b))
		}
	}
	if cmex.NameKey("Jane") == cmex.NameKey("Joan") {
		t.Error("different names share a key")
	}
}
