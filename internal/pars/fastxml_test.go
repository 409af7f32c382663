package pars

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// treeDiff compares two trees field by field.
func treeDiff(a, b *node) string {
	return cmp.Diff(a, b, cmp.AllowUnexported(node{}), cmp.Comparer(func(x, y xml.Attr) bool { return x == y }), cmpopts.EquateEmpty())
}

// checkFast holds fastTree to parseTree: whatever the fast reader accepts,
// the reference accepts as the same tree.
func checkFast(t *testing.T, doc []byte, lim limits) (accepted bool) {
	t.Helper()
	fast, ok := fastTree(doc, lim)
	if !ok {
		return false
	}
	ref, err := parseTree(doc, lim)
	if err != nil {
		t.Fatalf("the fast reader accepted a document encoding/xml refuses (%v):\n%q", err, doc)
	}
	if d := treeDiff(ref, fast); d != "" {
		t.Fatalf("trees differ (-encoding/xml +fast):\n%s\ndocument: %q", d, doc)
	}
	return true
}

func corpus(tb testing.TB) [][]byte {
	var out [][]byte
	for _, pattern := range []string{"testdata/save/*.xml", "testdata/learner/*.xml", "../../../shared/specs/samples/*.xml", "testdata/wire/*.xml"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

func TestFastTreeMatchesEncodingXML(t *testing.T) {
	docs := corpus(t)
	if len(docs) < 5 {
		t.Fatalf("only %d corpus documents", len(docs))
	}
	accepted, wellFormed := 0, 0
	for _, d := range docs {
		if checkFast(t, d, defaultLimits) {
			accepted++
		}
		if _, err := parseTree(d, defaultLimits); err == nil {
			wellFormed++
		}
	}
	// Every well-formed real document must take the fast path, or it
	// brings no speed.
	if accepted != wellFormed {
		t.Errorf("the fast reader accepted %d of %d well-formed corpus documents", accepted, wellFormed)
	}
	for _, c := range []struct {
		doc  string
		fast bool // whether the fast reader should take it
	}{
		{`<a xmlns="u" xmlns:p="v"><p:b p:x="1" y='2'>t&amp;&lt;&#65;&#x42;</p:b><c/></a>`, true},
		{"<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<a>x\r\ny\rz<![CDATA[<&>]]><!-- c --></a>\n", true},
		{`<a><b xmlns:q="w"><q:c/></b><q:c/></a>`, true},
		{`<a xml:lang="en" xmlns:x=""><x:b/></a>`, true},
		{`<a>é ünïcode 𝄞</a>`, true},
		{`<!DOCTYPE a><a/>`, false},
		{`<a>&bogus;</a>`, false},
		{`<a>&#0;</a>`, false},
		{`<a></b>`, false},
		{`<a>]]></a>`, false},
		{`<a x="<"/>`, false},
		{`<a/><b/>`, false},
		{`<a>` + "\xff" + `</a>`, false},
		{`<?xml version="1.1"?><a/>`, false},
		{`<?xml version="1.0" encoding="latin1"?><a/>`, false},
		{`<a>unclosed`, false},
		{`<a:b:c/>`, false},
		{`x<a/>`, false},
	} {
		if got := checkFast(t, []byte(c.doc), defaultLimits); got != c.fast {
			t.Errorf("%q: fast path taken = %v, want %v", c.doc, got, c.fast)
		}
	}
	deep := strings.Repeat("<a>", 200) + strings.Repeat("</a>", 200)
	if checkFast(t, []byte(deep), defaultLimits) {
		t.Errorf("the fast reader took a document deeper than the limit")
	}
	if _, err := parseTreeFast([]byte(deep), defaultLimits); err == nil || !strings.Contains(err.Error(), "deeper than") {
		t.Errorf("too deep: %v, want the reference's error", err)
	}
}

// FuzzFastTree is the differential test: for every input the fast reader
// accepts, encoding/xml builds the same tree; parseTreeFast never panics.
func FuzzFastTree(f *testing.F) {
	for _, d := range corpus(f) {
		f.Add(d)
	}
	f.Add([]byte(`<a xmlns="u" xmlns:p="v"><p:b p:x="1">t&amp;&#65;</p:b><c/></a>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		lim := limits{maxDepth: 16, maxElements: 200, lineOffset: 3}
		checkFast(t, doc, lim)
		_, _ = parseTreeFast(doc, lim)
	})
}

func BenchmarkParseTree(b *testing.B) {
	doc, err := os.ReadFile("testdata/save/live-course-full.xml")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		parse func([]byte, limits) (*node, error)
	}{{"encoding-xml", parseTree}, {"fast", parseTreeFast}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.parse(doc, defaultLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
