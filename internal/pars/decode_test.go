package pars

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/google/go-cmp/cmp"
)

var today = cmex.DateOf(time.Date(2025, 6, 15, 0, 0, 0, 0, time.UTC))

// TestRoundTrip: what cmex encodes, it decodes to the same activity, with
// no problem, in Strict mode. This is what lets a client send back the
// document GetActivity gave it.
func TestRoundTrip(t *testing.T) {
	full := readSave(t, "live-course-full.xml")
	d, f := decodeActivityData(full, Strict, 0)
	if f != nil {
		t.Fatal(f.problem)
	}
	ch := cmex.ActivityChange{Action: d.action, Activity: d.activity}
	if ps := cmex.CheckActivityData(&ch, today); ps.HasErrors() {
		t.Fatalf("fixture has problems: %v", ps)
	}
	d.activity.ID = 300000123
	for name, a := range map[string]*cmex.Activity{
		"live-course-full": d.activity,
		"fixture":          withID(cmextest.Activity("fixture", 2025), 300000124),
	} {
		doc := encodeActivities([]*cmex.Activity{a}, encodeOptions{providerName: "AAA Test Organization", action: "Update"})
		again, f := decodeActivityData(doc, Strict, 0)
		if f != nil {
			t.Fatalf("%s: re-decoding: %v", name, f.problem)
		}
		if len(again.problems) != 0 {
			t.Errorf("%s: re-decoding found %v", name, again.problems)
		}
		if again.action != "Update" {
			t.Errorf("%s: action %q", name, again.action)
		}
		if diff := cmp.Diff(a, again.activity); diff != "" {
			t.Errorf("%s: round trip changed the activity (-sent +decoded):\n%s", name, diff)
		}
	}
}

func withID(a *cmex.Activity, id cmex.ActivityID) *cmex.Activity {
	a.ID = id
	return a
}

func readSave(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "save", name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestProblemLines: cmex validate points at the line of each problem.
func TestProblemLines(t *testing.T) {
	doc := readSave(t, "many-problems.xml")
	lines := strings.Split(doc, "\n")
	lineOf := func(s string) int {
		for i, l := range lines {
			if strings.Contains(l, s) {
				return i + 1
			}
		}
		t.Fatalf("%q not in the fixture", s)
		return 0
	}
	ps := ValidateDocument([]byte(doc), Strict, today)
	want := map[cmex.RuleCode]int{
		"302": lineOf("<lom:entry>12345</lom:entry>"),
		"468": lineOf("<hx:numberOfCredits>two"),
		"315": lineOf("<hx:startDateTime>2025-02-30"),
		"459": lineOf("<lom:string>Webinar"),
		"488": lineOf("Carrier Pigeon"),
		"319": lineOf("<ex:mocPoints>1.1"),
		"218": lineOf("<ex:MOCRegistration>") + 4, // the second registration, ABIM
		"475": lineOf("<ex:CreditClaimDate>"),
		"210": lineOf("<ReportDescription>"),
	}
	got := map[cmex.RuleCode]int{}
	for _, p := range ps {
		if _, seen := got[p.Code]; !seen {
			got[p.Code] = p.Line
		}
	}
	for code, line := range want {
		if got[code] != line {
			t.Errorf("%s reported on line %d, want %d", code, got[code], line)
		}
	}
}

// TestValidateEnvelopeLines: in a SubmitMessage, lines inside the escaped
// Data are lines of the file.
func TestValidateEnvelopeLines(t *testing.T) {
	doc := strings.Replace(readSave(t, "live-course-full.xml"), "<hx:numberOfCredits>12.5<", "<hx:numberOfCredits>lots<", 1)
	var b strings.Builder
	b.WriteString("<SubmitMessage xmlns=\"" + NSService + "\">\n  <Data>")
	escapeDoc(&b, doc)
	b.WriteString("</Data>\n  <ProviderId>0002025</ProviderId>\n  <ReportingYear>2025</ReportingYear>\n</SubmitMessage>\n")
	doc = strings.Replace(doc, "ANES-2025-03", "2025", 1) // the provider id as internal id: 474
	ps := ValidateDocument([]byte(strings.Replace(b.String(), "ANES-2025-03", "2025", 1)), Strict, today)
	want := 2 + strings.Count(doc[:strings.Index(doc, "lots")], "\n")
	wantID := 2 + strings.Count(doc[:strings.Index(doc, "<lom:entry>2025<")], "\n")
	if len(ps) != 2 || ps[0].Code != "468" || ps[0].Line != want || ps[1].Code != "474" || ps[1].Line != wantID {
		t.Errorf("problems %v, want 468 on line %d and 474 on line %d", ps, want, wantID)
	}
}

func escapeDoc(b *strings.Builder, s string) {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	b.WriteString(r.Replace(s))
}

func TestPermissiveDecoding(t *testing.T) {
	doc := readSave(t, "live-course-full.xml")
	doc = strings.Replace(doc, "<ex:activityRecordAction>Add</ex:activityRecordAction>", "<ex:ActivityRecordAction>Add</ex:ActivityRecordAction>", 1)
	doc = strings.Replace(doc, "<ex:ForPublicList>", "<ex:REMS>Opioid Analgesic</ex:REMS><ex:ForPublicList>", 1)

	strict := ValidateDocument([]byte(doc), Strict, today)
	if !strict.Has("463") || !strict.Has("101") {
		t.Errorf("strict: %v, want 463 for the unknown elements and 101 for the missing action", strict)
	}
	permissive := ValidateDocument([]byte(doc), Permissive, today)
	if permissive.HasErrors() {
		t.Errorf("permissive rejects: %v", permissive.Errors())
	}
	if len(permissive.Warnings()) != 2 {
		t.Errorf("permissive warnings %v, want one for the spelling and one for the dropped element", permissive.Warnings())
	}
}

func TestHostileDocuments(t *testing.T) {
	deep := strings.Repeat("<a>", 200) + strings.Repeat("</a>", 200)
	many := "<r>" + strings.Repeat("<a/>", defaultLimits.maxElements+1) + "</r>"
	for name, doc := range map[string]string{
		"too deep":        deep,
		"too many":        many,
		"entity":          `<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>`,
		"billion laughs":  `<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><r>&b;</r>`,
		"two roots":       `<a/><b/>`,
		"utf-16 declared": `<?xml version="1.0" encoding="utf-16"?><r/>`,
		"empty":           ``,
	} {
		if _, err := parseTree([]byte(doc), defaultLimits); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}
