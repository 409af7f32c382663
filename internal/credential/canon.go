package credential

import (
	"errors"
	"strings"
	"sync"

	"github.com/piprate/json-gold/ld"
)

// The fast path of canonicalize. json-gold's Normalize spends most of a
// credential's time in two places that do the same work for every
// credential: processing the @context (the OB context is large, with a
// scoped context per class), and checking each http(s) IRI of the graph
// against a large regular expression (remembered per call only). For the
// context lists cmex uses, the processed context is kept (a pool of them,
// one per goroutine at a time), and IRI checks are remembered across
// calls; the steps are otherwise json-gold's own (expansion, node map,
// GraphToRDF, URDNA2015). TestFastCanonicalization holds the output to
// Normalize's, and TestIndependentVerifier to @digitalbazaar/vc's.

// contextPools are processed contexts by their @context list.
var contextPools sync.Map // string -> *sync.Pool of *ld.Context

// contextKey is the key of a document's @context when it is a list of the
// URLs cmex holds, else "".
func contextKey(doc map[string]any) string {
	list, ok := doc["@context"].([]any)
	if !ok || len(list) == 0 {
		return ""
	}
	parts := make([]string, len(list))
	for i, c := range list {
		s, ok := c.(string)
		if !ok || contextPaths[s] == "" {
			return ""
		}
		parts[i] = s
	}
	return strings.Join(parts, " ")
}

func options() *ld.JsonLdOptions {
	opts := ld.NewJsonLdOptions("")
	opts.Algorithm = ld.AlgorithmURDNA2015
	opts.Format = "application/n-quads"
	opts.DocumentLoader = loader()
	opts.ProcessingMode = ld.JsonLd_1_1
	return opts
}

// iriOK remembers json-gold's verdict on http(s) IRIs (ld.IsURL), up to a
// bound, so that a flood of distinct IRIs cannot grow it without end.
var iriOK = struct {
	sync.RWMutex
	m map[string]bool
}{m: map[string]bool{}}

const maxIRIMemo = 10000

func validIRI(s string) bool {
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return true
	}
	iriOK.RLock()
	ok, seen := iriOK.m[s]
	iriOK.RUnlock()
	if seen {
		return ok
	}
	ok = ld.IsURL(s)
	iriOK.Lock()
	if len(iriOK.m) < maxIRIMemo {
		iriOK.m[s] = ok
	}
	iriOK.Unlock()
	return ok
}

// hidden marks every absolute IRI of the graph while json-gold's
// GraphToRDF runs, so that it checks none itself (it checks only IRIs
// beginning http:// or https://); each is restored, and checked here,
// after. Every absolute IRI is marked, so that restoring takes off exactly
// one mark even from an IRI that began with it.
const hidden = "x-cmex-hidden:"

// hider hides IRIs; bad is set when a hidden IRI would not be read as
// absolute as the original was, and the fast path is then left.
type hider struct{ bad bool }

func (h *hider) hide(s string) string {
	if strings.HasPrefix(s, "_:") || strings.HasPrefix(s, "@") || ld.IsRelativeIri(s) {
		return s
	}
	out := hidden + s
	if ld.IsRelativeIri(out) {
		h.bad = true
	}
	return out
}

func unhide(s string) string { return strings.TrimPrefix(s, hidden) }

// hideGraph marks every http(s) IRI of a node map: subjects, properties,
// @id and @type values, and value datatypes.
func (h *hider) hideGraph(graph map[string]any) map[string]any {
	out := make(map[string]any, len(graph))
	for id, n := range graph {
		node, _ := n.(map[string]any)
		hn := make(map[string]any, len(node))
		for p, v := range node {
			switch p {
			case "@id":
				s, _ := v.(string)
				hn[p] = h.hide(s)
			case "@type":
				ts, _ := v.([]any)
				ht := make([]any, len(ts))
				for i, t := range ts {
					s, _ := t.(string)
					ht[i] = h.hide(s)
				}
				hn[p] = ht
			default:
				if strings.HasPrefix(p, "@") {
					hn[p] = v
					continue
				}
				vs, _ := v.([]any)
				hv := make([]any, len(vs))
				for i, x := range vs {
					hv[i] = h.hideValue(x)
				}
				hn[h.hide(p)] = hv
			}
		}
		out[h.hide(id)] = hn
	}
	return out
}

func (h *hider) hideValue(x any) any {
	m, ok := x.(map[string]any)
	if !ok {
		return x
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch k {
		case "@id":
			s, _ := v.(string)
			out[k] = h.hide(s)
		case "@type":
			if s, ok := v.(string); ok {
				out[k] = h.hide(s)
			} else {
				out[k] = v
			}
		case "@list":
			l, _ := v.([]any)
			hl := make([]any, len(l))
			for i, e := range l {
				hl[i] = h.hideValue(e)
			}
			out[k] = hl
		default:
			out[k] = v
		}
	}
	return out
}

// restore undoes hide in a node and reports whether its IRIs are valid.
func restore(n ld.Node) (ld.Node, bool) {
	switch v := n.(type) {
	case ld.IRI:
		v.Value = unhide(v.Value)
		return v, validIRI(v.Value)
	case ld.Literal:
		v.Datatype = unhide(v.Datatype)
		return v, v.Datatype == "" || validIRI(v.Datatype)
	}
	return n, true
}

// fastCanonicalize is canonicalize for documents whose @context is a list
// of held contexts; ok is false for any other document. With templated,
// the expansion comes from the document's shape's template when it has
// one (template.go): cmex uses it for what it signs.
func fastCanonicalize(doc map[string]any, templated bool) (nquads string, ok bool, err error) {
	if contextKey(doc) == "" {
		return "", false, nil
	}
	var expanded any
	if templated {
		expanded, ok = expandTemplated(doc, expandFast)
	}
	if !ok {
		if expanded, err = expandFast(doc); err != nil {
			return "", true, err
		}
	}
	return toNQuads(expanded)
}

// expandFast expands doc, whose @context is a list of held contexts, with
// a kept processed context.
func expandFast(doc map[string]any) (any, error) {
	key := contextKey(doc)
	if key == "" {
		return nil, errors.New("not a document of held contexts")
	}
	opts := options()
	p, _ := contextPools.LoadOrStore(key, &sync.Pool{})
	pool := p.(*sync.Pool)
	active, _ := pool.Get().(*ld.Context)
	if active == nil {
		var err error
		if active, err = ld.NewContext(nil, opts).Parse(doc["@context"]); err != nil {
			return nil, err
		}
	}
	body := make(map[string]any, len(doc))
	for k, v := range doc {
		if k != "@context" {
			body[k] = v
		}
	}
	expanded, err := ld.NewJsonLdApi().Expand(active, "", body, opts, false, nil)
	pool.Put(active)
	return expanded, err
}

// toNQuads is the rest of Normalize after expansion: the node map, RDF,
// and URDNA2015 to N-Quads.
func toNQuads(expanded any) (string, bool, error) {
	opts := options()
	api := ld.NewJsonLdApi()
	// Expansion's final step, as json-gold's processor does it.
	var input []any
	switch e := expanded.(type) {
	case nil:
	case []any:
		input = e
	case map[string]any:
		if g, ok := e["@graph"]; ok && len(e) == 1 {
			input, _ = g.([]any)
		} else if len(e) > 0 {
			input = []any{e}
		}
	}
	issuer := ld.NewIdentifierIssuer("_:b")
	nodeMap := map[string]any{"@default": map[string]any{}}
	if _, err := api.GenerateNodeMap(input, nodeMap, "@default", issuer, "", "", nil); err != nil {
		return "", true, err
	}
	dataset := ld.NewRDFDataset()
	h := &hider{}
	for name, g := range nodeMap {
		if ld.IsRelativeIri(name) {
			continue
		}
		graph, _ := g.(map[string]any)
		dataset.GraphToRDF(h.hide(name), h.hideGraph(graph), issuer, false)
	}
	if h.bad {
		return "", false, nil
	}
	graphs := make(map[string][]*ld.Quad, len(dataset.Graphs))
	for name, quads := range dataset.Graphs {
		kept := quads[:0]
		for _, q := range quads {
			var ok1, ok2, ok3 bool
			q.Subject, ok1 = restore(q.Subject)
			q.Predicate, ok2 = restore(q.Predicate)
			q.Object, ok3 = restore(q.Object)
			if q.Graph != nil {
				var ok4 bool
				if q.Graph, ok4 = restore(q.Graph); !ok4 {
					continue
				}
			}
			if ok1 && ok2 && ok3 {
				kept = append(kept, q)
			}
		}
		graphs[unhide(name)] = kept
	}
	dataset.Graphs = graphs
	out, err := api.Normalize(dataset, opts)
	if err != nil {
		return "", true, err
	}
	s, _ := out.(string)
	return s, true, nil
}
