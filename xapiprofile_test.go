package cmex_test

import (
	"strings"
	"testing"

	"github.com/cmexhub/cmex"
)

func TestParseXAPIProfile(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		line       int
		msg        string
	}{
		{"syntax", "{\n  \"verbs\": [\n    \"https://a.example/v\",,\n  ]\n}", 3, "not valid JSON"},
		{"unknown field", "{\n  \"verbs\": [],\n  \"colour\": 1\n}", 3, `unknown field "colour"`},
		{"type", "{\n  \"verbs\": [],\n  \"activity\": {\"table\": {\"https://a.example/1\": 123456789}}\n}", 3, "not valid JSON"},
		{"verb not an IRI", "{\n  \"verbs\": [\n    \"passed\"\n  ]\n}", 3, `verb "passed" is not an IRI`},
		{"bad activity id", "{\"activity\": {\n  \"table\": {\n    \"https://a.example/1\": \"12\"\n  }\n}}", 3, "not an ACCME Activity ID"},
		{"default credits without points", "{\"credits\": {\"defaults\": {\n  \"123456789\": [{\"certification\": \"AMA PRA Category 1\"}]\n}}}", 2, "certification and points"},
		{"learner key", "{\"learner\": {\"table\": {\n\n  \"jane@example.org\": {}\n}}}", 3, "a key is mbox:"},
		{"trailing", "{}\n{}", 2, "more follows"},
		{"empty", "", 1, "empty or cut short"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ps := cmex.ParseXAPIProfile([]byte(tc.file))
			if p != nil || len(ps) == 0 {
				t.Fatalf("parsed %+v, problems %v", p, ps)
			}
			if ps[0].Line != tc.line || !strings.Contains(ps[0].Message, tc.msg) {
				t.Errorf("problem %+v, want line %d and %q", ps[0], tc.line, tc.msg)
			}
		})
	}

	p, ps := cmex.ParseXAPIProfile([]byte(`{"activity": {"table": {"https://lms.example/course/1": "123456789"}}}`))
	if len(ps) != 0 {
		t.Fatal(ps)
	}
	if !p.Counts(cmex.XAPIVerbCmi5Passed) || !p.Counts(cmex.XAPIVerbADLCompleted) || p.Counts("http://adlnet.gov/expapi/verbs/attempted") {
		t.Errorf("default verbs: %v", p.Verbs)
	}
	if p.Credits.Extension != cmex.GuessXAPICreditsExtension || p.Activity.Table["https://lms.example/course/1"] != "123456789" {
		t.Errorf("profile %+v", p)
	}
}

func TestXAPIProfileReport(t *testing.T) {
	profile, ps := cmex.ParseXAPIProfile([]byte(`{
  "verbs": ["https://w3id.org/xapi/adl/verbs/passed", "https://lms.example/verbs/finished"],
  "activity": {"table": {"https://lms.example/course/2": "123456780"}},
  "credits": {"defaults": {"123456780": [{"certification": "AMA PRA Category 1", "points": 2}]}},
  "learner": {"table": {
    "mbox:mailto:jane@example.org": {"givenName": "Jane", "familyName": "ACCME", "birthDate": "1904-10-30", "uniqueIds": [{"domain": "ABIM", "value": "999902"}]},
    "account:https://lms.example|helen": {"givenName": "Helen", "familyName": "Markman", "birthDate": "1970-09-26", "uniqueIds": [{"domain": "NPI", "value": "1234567890"}]}
  }},
  "creditIdDomain": "lms.example"
}`))
	if len(ps) != 0 {
		t.Fatal(ps)
	}
	const learnerExt = `"context": {"extensions": {"` + cmex.GuessXAPILearnerExtension + `": {"givenName": "Riley", "familyName": "Rejected", "birthDate": "1975-05-05", "uniqueIds": [{"domain": "ABIM", "value": "999990"}]}}}`
	const credits = `"result": {"success": true, "extensions": {"` + cmex.GuessXAPICreditsExtension + `": [{"certification": "ABIM Medical Knowledge", "points": 1.5, "creditId": "ccid:lms.example:c-1"}]}}`
	stmt := func(verb, actor, object, rest string) string {
		s := `{"id": "1F0B5C6E-0000-4000-8000-000000000001", "timestamp": "2026-03-04T23:30:00-05:00", "verb": {"id": "` + verb + `"}, "actor": ` + actor + `, "object": ` + object
		if rest != "" {
			s += ", " + rest
		}
		return s + "}"
	}
	jane := `{"mbox": "mailto:jane@example.org"}`
	mapped := `{"id": "https://lms.example/course/2"}`
	withExt := `{"id": "https://lms.example/course/9", "definition": {"name": {"en-US": "Sepsis"}, "extensions": {"` + cmex.GuessXAPIActivityExtension + `": 123456789}}}`
	offered := func(id cmex.ActivityID) []cmex.CreditCertificate {
		if id != 123456789 {
			return nil
		}
		three := cmex.Points(300)
		return []cmex.CreditCertificate{{Certification: "AMA PRA Category 1", Points: &three}}
	}
	for _, tc := range []struct {
		name, statement string
		counts          bool
		activity        cmex.ActivityID
		credit          string // certification/points/creditId of the first credit
		learner         string // family name and first unique id
		problem         string
	}{
		{"other verb", stmt("http://adlnet.gov/expapi/verbs/attempted", jane, mapped, ""), false, 0, "", "", ""},
		{"profile's own verb", stmt("https://lms.example/verbs/finished", jane, mapped, ""), true, 123456780, "AMA PRA Category 1/2.00/ccid:lms.example:1f0b5c6e-0000-4000-8000-000000000001-1", "ACCME/999902", ""},
		{"failed", stmt(cmex.XAPIVerbCmi5Passed, jane, mapped, `"result": {"success": false}`), false, 0, "", "", ""},
		{"ADL completed is not this profile's", stmt(cmex.XAPIVerbADLCompleted, jane, mapped, ""), false, 0, "", "", ""},
		{"extensions", stmt(cmex.XAPIVerbCmi5Passed, `{"mbox": "mailto:riley@example.org"}`, withExt, credits+", "+learnerExt), true, 123456789, "ABIM Medical Knowledge/1.50/ccid:lms.example:c-1", "Rejected/999990", ""},
		{"account", stmt(cmex.XAPIVerbCmi5Passed, `{"account": {"homePage": "https://lms.example", "name": "helen"}}`, mapped, ""), true, 123456780, "AMA PRA Category 1/2.00/", "Markman/1234567890", ""},
		{"unknown actor", stmt(cmex.XAPIVerbCmi5Passed, `{"mbox": "mailto:who@example.org"}`, mapped, ""), true, 123456780, "AMA PRA Category 1/2.00/", "/", "not in the profile's learner table"},
		{"unmapped activity", stmt(cmex.XAPIVerbCmi5Passed, jane, `{"id": "https://lms.example/course/3"}`, ""), true, 0, "", "ACCME/999902", "names no ACCME Activity ID"},
		{"the activity's credits", stmt(cmex.XAPIVerbCmi5Passed, jane, withExt, ""), true, 123456789, "AMA PRA Category 1/3.00/ccid:lms.example:1f0b5c6e", "ACCME/999902", ""},
		{"no credits", stmt(cmex.XAPIVerbCmi5Passed, jane, `{"id": "https://lms.example/course/9", "definition": {"extensions": {"`+cmex.GuessXAPIActivityExtension+`": "123456788"}}}`, ""), true, 123456788, "", "ACCME/999902", "no credits"},
		{"bad credits", stmt(cmex.XAPIVerbCmi5Passed, jane, mapped, `"result": {"extensions": {"`+cmex.GuessXAPICreditsExtension+`": {"points": 1}}}`), true, 123456780, "", "ACCME/999902", "is an array of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, counts, ps := profile.Report([]byte(tc.statement), offered)
			if counts != tc.counts {
				t.Fatalf("counts %v, want %v", counts, tc.counts)
			}
			if !counts {
				if rep != nil {
					t.Errorf("report %+v for a statement that does not count", rep)
				}
				return
			}
			if tc.problem == "" && len(ps) != 0 || tc.problem != "" && (len(ps) == 0 || !strings.Contains(ps[0].Message, tc.problem) || ps[0].Code != "998") {
				t.Errorf("problems %v, want %q", ps, tc.problem)
			}
			if rep.ActivityID != tc.activity || rep.Action != cmex.LearnerAdd || rep.CompletionDate != (cmex.Date{Year: 2026, Month: 3, Day: 5}) {
				t.Errorf("report %+v", rep)
			}
			if tc.credit != "" {
				c := rep.Credits[0]
				got := c.Certification + "/" + c.Points.String() + "/" + string(c.CreditID)
				if !strings.HasPrefix(got, tc.credit) {
					t.Errorf("credit %s, want %s", got, tc.credit)
				}
			}
			got := rep.Learner.FamilyName + "/"
			if len(rep.Learner.UniqueIDs) > 0 {
				got += rep.Learner.UniqueIDs[0].Value
			}
			if got != tc.learner {
				t.Errorf("learner %s, want %s", got, tc.learner)
			}
		})
	}
}
