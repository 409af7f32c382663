package credential

import (
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Expansion templates, for the credentials cmex signs. JSON-LD expansion
// of a document depends on its keys, its types and its contexts, and on
// its leaf values only as they are IRIs or literals: cmex's credentials
// come in a few shapes, and each shape is expanded once by json-gold with
// a unique placeholder for every leaf; the expansion of a credential of
// that shape is the template with its leaves put in place. A leaf that
// expansion reads as an IRI is put in place only when it is an absolute
// IRI of a scheme no context defines as a term (urn, did, http, https), so
// that expansion would leave it as it is; any other document is expanded
// by json-gold. TestTemplateExpansion holds the two equal.

const leafPrefix = "urn:x-cmex-leaf:"

// shape is the key of a document's template: its structure with every
// leaf replaced by its kind, types and contexts kept.
func shape(v any, key string, b *strings.Builder) {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for _, k := range keys {
			b.WriteString(strconv.Quote(k))
			b.WriteByte(':')
			shape(t[k], k, b)
			b.WriteByte(',')
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for _, x := range t {
			shape(x, key, b)
			b.WriteByte(',')
		}
		b.WriteByte(']')
	case string:
		if structural(key) {
			b.WriteString(strconv.Quote(t))
		} else {
			b.WriteString("s")
		}
	case float64, json.Number:
		b.WriteString("n")
	default:
		bs, _ := json.Marshal(t)
		b.Write(bs)
	}
}

// structural keys' values are part of the shape, not leaves.
func structural(key string) bool { return key == "type" || key == "@type" || key == "@context" }

// leaves returns a document's leaves in shape order, and the document
// with each replaced by its placeholder.
func leaves(v any, key string, out *[]any) any {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		m := make(map[string]any, len(t))
		for _, k := range keys {
			m[k] = leaves(t[k], k, out)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, x := range t {
			a[i] = leaves(x, key, out)
		}
		return a
	case string:
		if structural(key) {
			return t
		}
		*out = append(*out, t)
		return leafPrefix + strconv.Itoa(len(*out)-1)
	case float64:
		*out = append(*out, t)
		return placeholderNumber(len(*out) - 1)
	}
	return v
}

// placeholderNumber is the number standing for leaf i: one no credential
// holds, with a fractional part so that it stays a double.
func placeholderNumber(i int) float64 { return 7.25e12 + float64(i) + 0.5 }

// template is one shape's expansion, and how each leaf was read.
type template struct {
	expanded any
	iri      []bool // leaf i was read as an IRI
}

var (
	templates     sync.Map // shape -> *template (nil: this shape is not templated)
	templateCount atomic.Int64
)

const maxTemplates = 256

// plainIRI reports whether expansion leaves s as it is when read as an IRI.
func plainIRI(s string) bool {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return false
	}
	switch u.Scheme {
	case "urn", "did", "http", "https":
		return true
	}
	return false
}

// expandTemplated returns the expansion of doc from its shape's template,
// or ok false when it has none (or doc does not fit it).
func expandTemplated(doc map[string]any, expand func(map[string]any) (any, error)) (any, bool) {
	var b strings.Builder
	shape(doc, "", &b)
	key := b.String()
	var vals []any
	placed, _ := leaves(doc, "", &vals).(map[string]any)
	t, seen := templates.Load(key)
	if !seen {
		if templateCount.Add(1) > maxTemplates {
			return nil, false
		}
		t = makeTemplate(placed, len(vals), expand)
		templates.Store(key, t)
	}
	tmpl, _ := t.(*template)
	if tmpl == nil {
		return nil, false
	}
	for i, v := range vals {
		if s, isString := v.(string); tmpl.iri[i] && (!isString || !plainIRI(s)) {
			return nil, false
		}
	}
	return fill(tmpl.expanded, vals), true
}

// makeTemplate expands the placeholder document and checks that every
// placeholder appears at most once, whole, so that filling it in is
// expansion; else the shape gets no template (nil).
func makeTemplate(placed map[string]any, n int, expand func(map[string]any) (any, error)) *template {
	expanded, err := expand(placed)
	if err != nil {
		return nil
	}
	counts := make([]int, n)
	iri := make([]bool, n)
	ok := true
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch t := v.(type) {
		case map[string]any:
			for k, x := range t {
				if strings.Contains(k, leafPrefix) {
					ok = false
				}
				walk(x, k)
			}
		case []any:
			for _, x := range t {
				walk(x, key)
			}
		case string:
			if i := strings.Index(t, leafPrefix); i >= 0 {
				n, err := strconv.Atoi(t[len(leafPrefix):])
				if i != 0 || err != nil || n < 0 || n >= len(counts) || key != "@id" && key != "@value" {
					ok = false
					return
				}
				counts[n]++
				iri[n] = key == "@id"
			}
		case float64:
			if t >= 7.25e12 && t < 7.25e12+float64(len(counts))+1 {
				n := int(t - 7.25e12)
				if placeholderNumber(n) != t || key != "@value" {
					ok = false
					return
				}
				counts[n]++
			}
		}
	}
	walk(expanded, "")
	for _, c := range counts {
		if c > 1 {
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return &template{expanded: expanded, iri: iri}
}

// fill copies a template with its leaves in place.
func fill(v any, vals []any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = fill(x, vals)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, x := range t {
			a[i] = fill(x, vals)
		}
		return a
	case string:
		if strings.HasPrefix(t, leafPrefix) {
			n, _ := strconv.Atoi(t[len(leafPrefix):])
			return vals[n]
		}
	case float64:
		if t >= 7.25e12 {
			n := int(t - 7.25e12)
			if n < len(vals) && placeholderNumber(n) == t {
				return vals[n]
			}
		}
	}
	return v
}
