package cmex_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
)

func TestParseDate(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string
		hadTime bool
		bad     bool
	}{
		{in: "2021-01-30", want: "2021-01-30"},
		{in: " 2021-01-30 ", want: "2021-01-30"},
		{in: "2021-12-31T00:00:00", want: "2021-12-31", hadTime: true},
		{in: "2021-12-31T23:59:59.123", want: "2021-12-31", hadTime: true},
		{in: "2021-12-31T23:00:00-06:00", want: "2021-12-31", hadTime: true},
		{in: "2021-12-31T23:00:00Z", want: "2021-12-31", hadTime: true},
		{in: "2021-02-29", bad: true},
		{in: "2020-02-29", want: "2020-02-29"},
		{in: "2021-02-31", bad: true},
		{in: "2021-13-01", bad: true},
		{in: "21-01-30", bad: true},
		{in: "01/30/2021", bad: true},
		{in: "2021-01-018", bad: true},
		{in: "", bad: true},
	} {
		d, hadTime, err := cmex.ParseDate(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseDate(%q) = %v, want an error", tc.in, d)
			}
			continue
		}
		if err != nil || d.String() != tc.want || hadTime != tc.hadTime {
			t.Errorf("ParseDate(%q) = %v, %v, %v; want %s, %v", tc.in, d, hadTime, err, tc.want, tc.hadTime)
		}
	}
	a, b := cmex.MustParseDate("2021-01-30"), cmex.MustParseDate("2021-02-01")
	if !a.Before(b) || !b.After(a) || a.Compare(a) != 0 {
		t.Error("date comparison is wrong")
	}
}

func TestParsePoints(t *testing.T) {
	for in, want := range map[string]cmex.Points{
		"2": 200, "2.0": 200, "2.00": 200, "2.0000": 200, "1.25": 125, "0.5": 50, ".75": 75, " 12.5 ": 1250, "2.": 200,
	} {
		if got, err := cmex.ParsePoints(in); err != nil || got != want {
			t.Errorf("ParsePoints(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "two", "-1", "+1", "1e2", "1.333", "2.008", "1,5", "NaN", "1234567890"} {
		if got, err := cmex.ParsePoints(in); err == nil {
			t.Errorf("ParsePoints(%q) = %v, want an error", in, got)
		}
	}
	if s := cmex.Points(1250).String(); s != "12.50" {
		t.Errorf("String = %q", s)
	}
	if !cmex.Points(125).QuarterSteps() || cmex.Points(110).QuarterSteps() {
		t.Error("QuarterSteps is wrong")
	}
	if s := cmex.Money(1200000).String(); s != "12000.0000" {
		t.Errorf("Money.String = %q", s)
	}
}

func TestParseIDs(t *testing.T) {
	for in, want := range map[string]cmex.ProviderID{"1234567": "1234567", "0001234567": "1234567", " 42 ": "42"} {
		if got, err := cmex.ParseProviderID(in); err != nil || got != want {
			t.Errorf("ParseProviderID(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0", "000", "12345678901", "12a4", "-1"} {
		if _, err := cmex.ParseProviderID(in); err == nil {
			t.Errorf("ParseProviderID(%q) succeeded", in)
		}
	}
	if id, err := cmex.ParseActivityID("210015702"); err != nil || id != 210015702 {
		t.Errorf("ParseActivityID = %v, %v", id, err)
	}
	for _, in := range []string{"12345", "0210015702", "021001570", "abcdefghi", ""} {
		if _, err := cmex.ParseActivityID(in); err == nil {
			t.Errorf("ParseActivityID(%q) succeeded", in)
		}
	}
}

func TestVocabulary(t *testing.T) {
	for in, want := range map[string]string{
		"live course": "Live Course", "  Live   Course ": "Live Course", "Journal-based CME": "Journal-based CE",
	} {
		if got, ok := cmex.ActivityTypes.Lookup(in); !ok || got != want {
			t.Errorf("ActivityTypes.Lookup(%q) = %q, %v", in, got, ok)
		}
	}
	if got, ok := cmex.Boards.Lookup("ABPATH"); !ok || got != "ABPath" {
		t.Errorf("Boards.Lookup(ABPATH) = %q, %v", got, ok)
	}
	if got, ok := cmex.FeeKinds.Lookup("No, it's free"); !ok || got != "No, it’s free" {
		t.Errorf("FeeKinds.Lookup with a straight apostrophe = %q, %v", got, ok)
	}
	if _, ok := cmex.ActivityTypes.Lookup("Webinar"); ok {
		t.Error("Webinar is not a PARS activity type")
	}
}

// appendixCodes are every code of seed 003's Appendices A and B.
var appendixCodes = strings.Fields(`
101 102 103 104 105 106 107 200 202 203 204 205 206 207 208 209 210 211 212 213 214 215 216 217 218 219 220
302 303 304 305 306 307 308 309 310 311 312 313 314 315 316 317 318 319 320 321 322
451 452 453 454 455 456 457 458 459 460 461 462 463 464 465 466 467 468 469 472 473 474 475 476 477 478 479
480 481 482 483 484 485 486 487 488 489 490 491 492 999
601 602 603 605 606 607 621 622 623 624 630 631 632 650 661 664 665 670 671 672 673 674 675 676 677 678 680 681
690 705 706 709 710 711 712 713 714 715 716 717 718 719 720 721 722 723 724 725 726 727 728 729 730 731 732 733
734 735 736 737 738 739 740 741 742 743 744 745 746 747 748 749 750 751 998`)

func TestCatalogueIsComplete(t *testing.T) {
	rules := cmex.Catalogue()
	if len(rules) != len(appendixCodes) {
		t.Errorf("catalogue has %d rules, the appendices %d codes", len(rules), len(appendixCodes))
	}
	placeholder := regexp.MustCompile(`\{[a-z]+\}`)
	for _, c := range appendixCodes {
		r, ok := cmex.LookupRule(cmex.RuleCode(c))
		if !ok {
			t.Errorf("code %s is missing from the catalogue", c)
			continue
		}
		p := r.Problem(cmex.Args{Entry: "E", Element: "El", Value: "V", Detail: "D"})
		if p.Message == "" || placeholder.MatchString(p.Message) || len(r.Code) != 3 {
			t.Errorf("rule %s: message %q", c, p.Message)
		}
	}
}

func TestValidActivityHasNoProblems(t *testing.T) {
	a := cmextest.Activity("valid", 2025)
	if ps := cmex.ValidateActivity(a, nil); len(ps) != 0 {
		t.Fatalf("the fixture activity has problems: %v", ps)
	}
}

// TestActivityRules breaks a valid activity one way at a time and checks
// that the rule for that way, and no other, reports it.
func TestActivityRules(t *testing.T) {
	p := cmextest.Ptr[cmex.Points]
	for _, tc := range []struct {
		name   string
		break_ func(a *cmex.Activity)
		want   cmex.RuleCode
	}{
		{"no reporting start", func(a *cmex.Activity) { a.ReportingStart = cmex.Date{} }, "209"},
		{"no reporting end", func(a *cmex.Activity) { a.ReportingEnd = cmex.Date{} }, "210"},
		{"reporting end before start", func(a *cmex.Activity) { a.ReportingEnd = cmex.MustParseDate("2024-01-01") }, "310"},
		{"no provider activity id", func(a *cmex.Activity) { a.ProviderActivityID = "" }, "216"},
		{"provider activity id too long", func(a *cmex.Activity) { a.ProviderActivityID = strings.Repeat("x", 51) }, "456"},
		{"provider activity id is the provider id", func(a *cmex.Activity) { a.ProviderID, a.ProviderActivityID = "1234567", "01234567" }, "474"},
		{"URL required when public", func(a *cmex.Activity) { a.URL = "" }, "220"},
		{"URL not a URL", func(a *cmex.Activity) { a.URL = "javascript:alert(1)" }, "456"},
		{"no title", func(a *cmex.Activity) { a.Title = "  " }, "203"},
		{"title too long", func(a *cmex.Activity) { a.Title = strings.Repeat("t", cmex.GuessMaxTitle+1) }, "303"},
		{"no credits", func(a *cmex.Activity) { a.Credits = nil }, "200"},
		{"AMA credits without amount", func(a *cmex.Activity) { a.Credits[0].Amount = nil }, "200"},
		{"credits not in quarters", func(a *cmex.Activity) { a.Credits[0].Amount = p(110) }, "468"},
		{"zero credits", func(a *cmex.Activity) { a.Credits[0].Amount = p(0) }, "468"},
		{"no certification", func(a *cmex.Activity) { a.Credits[0].Certification = "" }, "484"},
		{"unknown certification", func(a *cmex.Activity) { a.Credits[0].Certification = "CME Gold" }, "456"},
		{"joint without joint provider", func(a *cmex.Activity) { a.Sponsorship = "joint" }, "214"},
		{"empty joint provider", func(a *cmex.Activity) { a.Sponsorship, a.JointProviders = "joint", []string{" "} }, "314"},
		{"MOC without specialties", func(a *cmex.Activity) { a.Specialties = nil }, "204"},
		{"repeated specialty", func(a *cmex.Activity) { a.Specialties = []string{"Nephrology", "nephrology"} }, "304"},
		{"live course without city", func(a *cmex.Activity) { a.Type = "Live Course" }, "457"},
		{"US state unknown", func(a *cmex.Activity) { a.Location = &cmex.Location{City: "X", StateOrProvince: "ZZ", Country: "USA"} }, "456"},
		{"country not alpha-3", func(a *cmex.Activity) { a.Location = &cmex.Location{City: "X", Country: "US"} }, "456"},
		{"no start date", func(a *cmex.Activity) { a.StartDate = cmex.Date{} }, "205"},
		{"no end date", func(a *cmex.Activity) { a.EndDate = cmex.Date{} }, "215"},
		{"end before start", func(a *cmex.Activity) { a.EndDate = cmex.MustParseDate("2025-01-01") }, "469"},
		{"no sponsorship", func(a *cmex.Activity) { a.Sponsorship = "" }, "212"},
		{"bad sponsorship", func(a *cmex.Activity) { a.Sponsorship = "solo" }, "312"},
		{"no type", func(a *cmex.Activity) { a.Type = "" }, "211"},
		{"bad type", func(a *cmex.Activity) { a.Type = "Webinar" }, "459"},
		{"commercial support not yes/no", func(a *cmex.Activity) { a.CommercialSupport = "true" }, "456"},
		{"supporter without name", func(a *cmex.Activity) { a.CommercialSupportAmounts[0].Source = "" }, "457"},
		{"unknown participant category", func(a *cmex.Activity) { a.Participants[0].Category = "surgeon" }, "456"},
		{"empty commendation tag", func(a *cmex.Activity) { a.CommendationTags = []string{""} }, "479"},
		{"bad delivery method", func(a *cmex.Activity) { a.DeliveryMethods = []string{"Fax"} }, "488"},
		{"bad measured outcome", func(a *cmex.Activity) { a.MeasuredOutcomes[0].Outcome = "Happiness" }, "456"},
		{"bad fee", func(a *cmex.Activity) { a.FeeForParticipation = "Sometimes" }, "456"},
		{"unknown board", func(a *cmex.Activity) { a.MOCRegistrations[0].Board = "ABXYZ" }, "456"},
		{"board twice", func(a *cmex.Activity) { a.MOCRegistrations = append(a.MOCRegistrations, a.MOCRegistrations[0]) }, "456"},
		{"no MOC points", func(a *cmex.Activity) { a.MOCRegistrations[0].Points = nil }, "206"},
		{"zero MOC points", func(a *cmex.Activity) { a.MOCRegistrations[0].Points = p(0) }, "306"},
		{"MOC points not quarters", func(a *cmex.Activity) { a.MOCRegistrations[0].Points = p(130) }, "319"},
		{"unknown ABIM credit type", func(a *cmex.Activity) { a.MOCRegistrations[0].CreditTypes = []string{"Medical Knowledge", "Charm"} }, "456"},
		{"ABIM without Medical Knowledge", func(a *cmex.Activity) { a.MOCRegistrations[0].CreditTypes = []string{"Patient Safety"} }, "218"},
		{"ABA without content outline", func(a *cmex.Activity) { a.MOCRegistrations[0].Board = "ABA" }, "217"},
		{"bad MOCA keyword", func(a *cmex.Activity) { a.Keywords = []cmex.Keyword{{Source: "03_ABAMCO", ID: "Tag ID", Value: "x"}} }, "472"},
		{"too many MOCA keywords", func(a *cmex.Activity) {
			for range 4 {
				a.Keywords = append(a.Keywords, cmex.Keyword{Source: "01_ABAMCO", ID: "Tag ID", Value: "x"})
			}
		}, "489"},
		{"claim date before end", func(a *cmex.Activity) { a.CreditClaimDate = cmex.MustParseDate("2025-12-01") }, "475"},
	} {
		a := cmextest.Activity("valid", 2025)
		tc.break_(a)
		ps := cmex.ValidateActivity(a, nil)
		if !ps.Has(tc.want) {
			t.Errorf("%s: problems %v lack %s", tc.name, ps, tc.want)
		}
		if codes := ps.Errors().Codes(); len(codes) != 1 {
			t.Errorf("%s: one break, several codes: %v", tc.name, codes)
		}
	}
}

func TestValidationCanonicalises(t *testing.T) {
	a := cmextest.Activity("valid", 2025)
	a.Type, a.Sponsorship, a.MOCRegistrations[0].Board = "manuscript REVIEW", "Direct", "abim"
	if ps := cmex.ValidateActivity(a, nil); len(ps) != 0 {
		t.Fatal(ps)
	}
	if a.Type != "Manuscript Review" || a.Sponsorship != "direct" || a.MOCRegistrations[0].Board != "ABIM" {
		t.Errorf("not canonical: %q %q %q", a.Type, a.Sponsorship, a.MOCRegistrations[0].Board)
	}
}

func TestUnknownCommendationTagIsAWarning(t *testing.T) {
	a := cmextest.Activity("valid", 2025)
	a.CommendationTags = []string{"Engages Teams", "Some Future Criterion"}
	ps := cmex.ValidateActivity(a, nil)
	if ps.HasErrors() || len(ps.Warnings()) != 1 || ps[0].Code != "479" {
		t.Errorf("problems = %v", ps)
	}
}

func TestCheckActivityChange(t *testing.T) {
	today := cmex.DateOf(time.Date(2025, 6, 15, 0, 0, 0, 0, time.UTC))
	existing := cmextest.Activity("valid", 2025)
	existing.ID = 300000001
	closed := *existing
	closed.Closed = true

	for _, tc := range []struct {
		name   string
		action string
		mutate func(a *cmex.Activity)
		close  bool
		year   int
		st     cmex.ActivityState
		want   []cmex.RuleCode
	}{
		{name: "add is fine", action: "Add"},
		{name: "action missing", action: "", want: []cmex.RuleCode{"101"}},
		{name: "action unknown", action: "Upsert", want: []cmex.RuleCode{"102"}},
		{name: "add duplicate", action: "Add", st: cmex.ActivityState{ByProviderActivityID: existing}, want: []cmex.RuleCode{"476"}},
		{name: "add with taken id", action: "Add", mutate: func(a *cmex.Activity) { a.ID = 300000001 }, st: cmex.ActivityState{IDTaken: true}, want: []cmex.RuleCode{"103"}},
		{name: "add with unknown id", action: "Add", mutate: func(a *cmex.Activity) { a.ID = 300000009 }, want: []cmex.RuleCode{"458"}},
		{name: "update unknown", action: "Update", want: []cmex.RuleCode{"104"}},
		{name: "update fine", action: "update", mutate: func(a *cmex.Activity) { a.ID = existing.ID }, st: cmex.ActivityState{ByID: existing}},
		{name: "update closed", action: "Update", mutate: func(a *cmex.Activity) { a.ID = existing.ID }, st: cmex.ActivityState{ByID: &closed}, want: []cmex.RuleCode{"473"}},
		{name: "update changes year", action: "Update", mutate: func(a *cmex.Activity) {
			a.ID = existing.ID
			a.StartDate, a.EndDate = cmex.MustParseDate("2024-01-30"), cmex.MustParseDate("2024-12-30")
			a.ReportingStart, a.ReportingEnd = cmex.MustParseDate("2024-01-01"), cmex.MustParseDate("2024-12-31")
			a.CreditClaimDate = cmex.MustParseDate("2024-12-31")
		}, st: cmex.ActivityState{ByID: existing}, want: []cmex.RuleCode{"464"}},
		{name: "delete unknown", action: "Delete", mutate: func(a *cmex.Activity) { *a = cmex.Activity{ID: 300000009} }, want: []cmex.RuleCode{"105"}},
		{name: "delete without id", action: "Delete", mutate: func(a *cmex.Activity) { *a = cmex.Activity{} }, want: []cmex.RuleCode{"202"}},
		{name: "delete ignores data", action: "Delete", mutate: func(a *cmex.Activity) { *a = cmex.Activity{ID: existing.ID} }, st: cmex.ActivityState{ByID: existing}},
		{name: "delete closed", action: "Delete", mutate: func(a *cmex.Activity) { *a = cmex.Activity{ID: existing.ID} }, st: cmex.ActivityState{ByID: &closed}, want: []cmex.RuleCode{"492"}},
		{name: "delete with learners", action: "Delete", mutate: func(a *cmex.Activity) { *a = cmex.Activity{ID: existing.ID} }, st: cmex.ActivityState{ByID: existing, LearnerRecords: 1}, want: []cmex.RuleCode{"106"}},
		{name: "close a running activity", action: "Add", close: true, want: []cmex.RuleCode{"483"}},
		{name: "close a past activity", action: "Add", close: true, mutate: func(a *cmex.Activity) {
			a.EndDate = cmex.MustParseDate("2025-06-14")
			a.CreditClaimDate = cmex.Date{}
		}},
		{name: "reporting year differs", action: "Add", year: 2024, want: []cmex.RuleCode{"462"}},
	} {
		a := cmextest.Activity("valid", 2025)
		if tc.mutate != nil {
			tc.mutate(a)
		}
		ch := cmex.ActivityChange{Action: tc.action, Activity: a, Close: tc.close, ReportingYear: tc.year}
		ps := cmex.CheckActivityChange(&ch, tc.st, today)
		got := ps.Errors().Codes()
		if strings.Join(codes(got), " ") != strings.Join(codes(tc.want), " ") {
			t.Errorf("%s: codes %v, want %v (%v)", tc.name, got, tc.want, ps)
		}
	}
}

func codes(cs []cmex.RuleCode) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}
