package portal

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cmexhub/cmex"
)

// chart is a bar chart of a transcript's credits per year, CME and MOC
// side by side, drawn as SVG by the page's template: no script, no
// external resource.
type chart struct {
	Width, Height int
	Bars          []bar
	Ticks         []tick
	// Summary says in words what the bars show, for screen readers.
	Summary string
}

type bar struct {
	X, Y, W, H int
	Class      string // cme or moc
	Label      string // its value, for the tooltip
}

type tick struct {
	X, Y  int
	Label string
}

// Geometry of the chart, in SVG units.
const (
	chartHeight = 200
	chartTop    = 16
	chartBase   = 170 // y of the axis
	barWidth    = 18
	groupWidth  = 56
	chartLeft   = 12
)

// yearChart sums each credit's CME and MOC credit by year. A credit's CME
// details describe the same hours by several subspecialties (the seed's
// PET conference: Mammography 3, PET 13.25, for 13.25 credits), so CME
// counts the largest, as the Category 1 total does; each MOC detail is
// credit of its own (a board's points per competency), so MOC adds them.
// A credit a board rejected counts in no bar, as in no total.
func yearChart(credits []cmex.TranscriptCredit) *chart {
	type sums struct{ cme, moc cmex.Points }
	byYear := map[int]*sums{}
	var years []int
	for _, c := range credits {
		if c.Rejected {
			continue // listed, counted nowhere
		}
		y := c.Date.Year
		if byYear[y] == nil {
			byYear[y] = &sums{}
			years = append(years, y)
		}
		var cme, moc cmex.Points
		for _, d := range c.Details {
			switch d.Type {
			case cmex.DetailCME:
				cme = max(cme, d.Credits)
			case cmex.DetailMOC:
				moc += d.Credits
			}
		}
		byYear[y].cme += cme
		byYear[y].moc += moc
	}
	if len(years) == 0 {
		return nil
	}
	slices.Sort(years)
	var top cmex.Points = 1
	for _, y := range years {
		top = max(top, byYear[y].cme, byYear[y].moc)
	}
	ch := &chart{Width: chartLeft*2 + groupWidth*len(years), Height: chartHeight}
	height := func(p cmex.Points) int { return int(int64(chartBase-chartTop) * int64(p) / int64(top)) }
	var words []string
	for i, y := range years {
		s := byYear[y]
		x := chartLeft + i*groupWidth + (groupWidth-2*barWidth)/2
		for j, v := range []struct {
			class string
			p     cmex.Points
		}{{"cme", s.cme}, {"moc", s.moc}} {
			h := height(v.p)
			ch.Bars = append(ch.Bars, bar{X: x + j*barWidth, Y: chartBase - h, W: barWidth - 2, H: h, Class: v.class,
				Label: fmt.Sprintf("%d %s: %s", y, strings.ToUpper(v.class), v.p)})
		}
		ch.Ticks = append(ch.Ticks, tick{X: chartLeft + i*groupWidth + groupWidth/2, Y: chartBase + 18, Label: fmt.Sprint(y)})
		words = append(words, fmt.Sprintf("%d: CME %s, MOC %s", y, s.cme, s.moc))
	}
	ch.Summary = "Credits per year. " + strings.Join(words, "; ") + "."
	return ch
}
