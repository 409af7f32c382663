package cmex_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
)

// seedCredits are the seed's two activities of Ned Baker (seed 001).
func seedCredits() []cmex.CEU {
	return []cmex.CEU{
		{Sponsor: "Example Society", Title: "Symposium on Radiology of the Pneumoconioses", Date: cmex.MustParseDate("2001-10-21"),
			Details: []cmex.CEUDetail{{Type: cmex.DetailMOC, Focus: []string{"Patient Care", "Professionalism"}, Credits: 1700, Category: "CAT1"}}},
		{Sponsor: "Example Society", Title: "PET Imaging Conference -- June 2003", Date: cmex.MustParseDate("2003-06-15"),
			Details: []cmex.CEUDetail{
				{Type: cmex.DetailCME, Focus: []string{"Mammography"}, Credits: 300, Category: "CAT1"},
				{Type: cmex.DetailCME, Focus: []string{"PET"}, Credits: 1325, Category: "CAT1"},
				{Type: cmex.DetailMOC, Focus: []string{"Medical Knowledge", "Systems-based Practice"}, Credits: 1325, Category: "CAT1"},
			}},
	}
}

// TestTranscriptTotalsOfTheSeed reproduces the seed's transcript: Total
// Overall Category 1 Credits 30.25, Total Category 1 Subspecialties Credits
// 16.25.
func TestTranscriptTotalsOfTheSeed(t *testing.T) {
	res := []cmex.SourceResult{{TranscriptSource: cmex.TranscriptSource{Society: "EXAMPLE", Status: cmex.SourceOK},
		Customer: &cmex.Customer{ID: "01234567", CEUs: seedCredits()}}}
	tr := cmex.BuildTranscript(cmex.Account{Username: "ned"}, time.Now(), res, nil)
	if tr.Totals.Category1 != 3025 || tr.Totals.Category1Subspecialty != 1625 {
		t.Errorf("totals = %v overall, %v subspecialty; want 30.25 and 16.25", tr.Totals.Category1, tr.Totals.Category1Subspecialty)
	}
	want := map[string]cmex.Points{"Patient Care": 1700, "Professionalism": 1700, "Medical Knowledge": 1325, "Systems-based Practice": 1325}
	if len(tr.Totals.MOC) != len(want) {
		t.Fatalf("MOC totals = %+v", tr.Totals.MOC)
	}
	for _, m := range tr.Totals.MOC {
		if want[m.Competency] != m.Credits || m.Category != "CAT1" {
			t.Errorf("MOC %s = %v in %s, want %v", m.Competency, m.Credits, m.Category, want[m.Competency])
		}
	}
	if tr.Sources[0].Credits != 2 || tr.Credits[0].Title != "Symposium on Radiology of the Pneumoconioses" {
		t.Errorf("transcript = %+v", tr)
	}
}

// TestTranscriptDuplicates removes a credit reported by two routes, keeps
// both sources, and keeps credits that differ in any field.
func TestTranscriptDuplicates(t *testing.T) {
	c := seedCredits()[1]
	same := c
	same.Title = "  pet imaging conference --   june 2003 " // case and spacing do not make a credit new
	other := c
	other.Details = append([]cmex.CEUDetail(nil), c.Details...)
	other.Details[1].Credits = 1350 // the seed's XML says 13.5: a different report
	res := []cmex.SourceResult{
		{TranscriptSource: cmex.TranscriptSource{Society: "RSNA", Status: cmex.SourceStale}, Customer: &cmex.Customer{CEUs: []cmex.CEU{same}}},
		{TranscriptSource: cmex.TranscriptSource{Society: "ACR", Status: cmex.SourceOK}, Customer: &cmex.Customer{CEUs: []cmex.CEU{c, other}}},
		{TranscriptSource: cmex.TranscriptSource{Society: "DOWN", Status: cmex.SourceFailed, Error: "it did not answer in time"}},
	}
	tr := cmex.BuildTranscript(cmex.Account{}, time.Now(), res, []*cmex.SelfCredit{{CEU: c}})
	if len(tr.Credits) != 2 {
		t.Fatalf("credits = %+v", tr.Credits)
	}
	first := tr.Credits[0]
	if len(first.Sources) != 3 || first.Sources[0] != "ACR" || first.Sources[1] != "RSNA" || first.Sources[2] != cmex.SourceSelf {
		t.Errorf("sources = %v", first.Sources)
	}
	if first.Stale || first.SelfAttested {
		t.Errorf("a credit a live society confirms is neither stale nor self-attested: %+v", first)
	}
	if got := tr.Failed(); len(got) != 2 || got[0].Society != "DOWN" || got[1].Society != "RSNA" {
		t.Errorf("failed = %+v", got)
	}
	if tr.Totals.Category1 != 1325+1350 {
		t.Errorf("Category 1 = %v", tr.Totals.Category1)
	}
}

func TestCheckCEU(t *testing.T) {
	good := seedCredits()[0]
	if err := cmex.CheckCEU(&good); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*cmex.CEU){
		"no title":      func(c *cmex.CEU) { c.Title = " " },
		"no date":       func(c *cmex.CEU) { c.Date = cmex.Date{} },
		"no details":    func(c *cmex.CEU) { c.Details = nil },
		"bad type":      func(c *cmex.CEU) { c.Details = []cmex.CEUDetail{{Type: "CPD", Credits: 1, Category: "CAT1"}} },
		"zero credits":  func(c *cmex.CEU) { c.Details = []cmex.CEUDetail{{Type: "CME", Category: "CAT1"}} },
		"no category":   func(c *cmex.CEU) { c.Details = []cmex.CEUDetail{{Type: "CME", Credits: 100}} },
		"long location": func(c *cmex.CEU) { c.Location = string(make([]byte, 501)) },
	} {
		c := seedCredits()[0]
		mutate(&c)
		if err := cmex.CheckCEU(&c); cmex.ErrorCode(err) != cmex.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Key normalises each field as strings.ToLower(strings.Join(strings.Fields(s), " "))
// does, whatever the text: Unicode spaces and capitals, invalid UTF-8.
func FuzzCEUKeyNormalization(f *testing.F) {
	for _, s := range []string{"", " ", "Radiology  Review", "\u00a0Éire\u2003Ünïcode ", "a\xffB\tc\n", "İstanbul ΣΑΣ", "x \x80 y"} {
		f.Add(s)
	}
	empty := (&cmex.CEU{}).Key() // the other fields, empty, after the sponsor's
	f.Fuzz(func(t *testing.T, s string) {
		want := strings.ToLower(strings.Join(strings.Fields(s), " ")) + empty
		if got := (&cmex.CEU{Sponsor: s}).Key(); got != want {
			t.Fatalf("Key(%q) = %q, want %q", s, got, want)
		}
	})
}

func TestTranscriptFilter(t *testing.T) {
	credits := append(seedCredits(), cmex.CEU{Sponsor: "AAA Test Organization", Title: "Internal Medicine Update", Date: cmex.MustParseDate("2026-01-03"),
		Details: []cmex.CEUDetail{
			{Type: cmex.DetailCME, Credits: 200, Category: cmex.CategoryAMA1},
			{Type: cmex.DetailMOC, Focus: []string{"Medical Knowledge"}, Credits: 150, Category: cmex.MOCCategory("ABIM")},
			{Type: cmex.DetailMOC, Focus: []string{"Patient Safety"}, Credits: 50, Category: cmex.MOCCategory("ABP")},
		}})
	tr := cmex.BuildTranscript(cmex.Account{Username: "ned"}, time.Now(), []cmex.SourceResult{{TranscriptSource: cmex.TranscriptSource{Society: "EXAMPLE", Status: cmex.SourceOK},
		Customer: &cmex.Customer{ID: "01234567", CEUs: credits}}}, nil)
	if got := tr.Boards(); len(got) != 2 || got[0] != "ABIM" || got[1] != "ABP" {
		t.Errorf("boards = %v", got)
	}
	if f := tr.Filter(cmex.TranscriptFilter{}); len(f.Credits) != 3 || f.Totals.Category1 != tr.Totals.Category1 {
		t.Errorf("no filter: %d credits, %v", len(f.Credits), f.Totals)
	}
	f := tr.Filter(cmex.TranscriptFilter{From: cmex.MustParseDate("2003-01-01"), To: cmex.MustParseDate("2003-12-31")})
	if len(f.Credits) != 1 || f.Credits[0].Title != "PET Imaging Conference -- June 2003" || f.Totals.Category1 != 1325 {
		t.Errorf("2003: %+v, totals %+v", f.Credits, f.Totals)
	}
	f = tr.Filter(cmex.TranscriptFilter{Type: cmex.DetailMOC, Board: "ABIM"})
	if len(f.Credits) != 1 || len(f.Credits[0].Details) != 1 || f.Totals.Category1 != 0 ||
		len(f.Totals.MOC) != 1 || f.Totals.MOC[0].Credits != 150 || f.Totals.MOC[0].Competency != "Medical Knowledge" {
		t.Errorf("ABIM MOC: %+v, totals %+v", f.Credits, f.Totals)
	}
	f = tr.Filter(cmex.TranscriptFilter{Type: cmex.DetailCME})
	if len(f.Credits) != 2 || f.Totals.Category1Subspecialty != 1625 || len(f.Totals.MOC) != 0 {
		t.Errorf("CME only: %d credits, totals %+v", len(f.Credits), f.Totals)
	}
	if len(tr.Credits[2].Details) != 3 {
		t.Error("filtering changed the transcript it filtered")
	}
}
