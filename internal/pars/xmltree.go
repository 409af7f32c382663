package pars

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// node is an element of a parsed document. PARS documents are small (one
// activity per call) and must be judged as a whole, with every problem
// reported and its line known, so decoders work on a tree rather than on
// Go structs filled by xml.Unmarshal, which skips what it does not know.
type node struct {
	name     xml.Name // Space is the namespace URI
	attrs    []xml.Attr
	text     string // character data directly inside, concatenated
	children []*node
	line     int // line of the start tag, 1-based, offset by limits.lineOffset
}

// limits bound what a decoder accepts, so a hostile document cannot exhaust
// memory or the stack. Body size is bounded before decoding starts.
type limits struct {
	maxDepth    int
	maxElements int
	lineOffset  int // added to every line, for documents nested in another
}

// WCF's recommended maxDepth for PARS is 128; one activity has a few hundred
// elements at most, so 20,000 leaves room for every real document.
var defaultLimits = limits{maxDepth: 128, maxElements: 20000}

// syntaxError reports a document this reader refuses, in the form the
// parser reports its own errors, so every failure has a line.
func syntaxError(line int, msg string) error { return &xml.SyntaxError{Msg: msg, Line: line} }

// parseTree parses one XML document. Entities other than XML's five
// predefined ones and numeric references are errors: encoding/xml does not
// read DTDs, so nothing external is ever resolved.
func parseTree(data []byte, lim limits) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		if strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "us-ascii") {
			return input, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported; send UTF-8", charset)
	}
	var root *node
	var stack []*node
	elements := 0
	for {
		line, _ := d.InputPos()
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if _, ok := err.(*xml.SyntaxError); !ok {
				err = syntaxError(line, strings.TrimPrefix(err.Error(), "xml: "))
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			elements++
			if elements > lim.maxElements {
				return nil, syntaxError(line, fmt.Sprintf("the document has more than %d elements", lim.maxElements))
			}
			if len(stack) >= lim.maxDepth {
				return nil, syntaxError(line, fmt.Sprintf("the document is nested deeper than %d elements", lim.maxDepth))
			}
			n := &node{name: t.Name, attrs: t.Attr, line: line + lim.lineOffset}
			if len(stack) == 0 {
				if root != nil {
					return nil, syntaxError(line, "the document has more than one root element")
				}
				root = n
			} else {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.text += string(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, syntaxError(line, "text outside the root element")
			}
		case xml.Directive:
			return nil, syntaxError(line, "DTDs and other directives are not accepted")
		}
	}
	if root == nil {
		line, _ := d.InputPos()
		return nil, syntaxError(line, "the document has no root element")
	}
	return root, nil
}

// value is the element's text with surrounding space removed.
func (n *node) value() string { return strings.TrimSpace(n.text) }

// attr returns the value of the attribute with the given local name, in no
// namespace or any, whichever comes first.
func (n *node) attr(local string) (string, bool) {
	for _, a := range n.attrs {
		if a.Name.Local == local && a.Name.Space != "xmlns" {
			return strings.TrimSpace(a.Value), true
		}
	}
	return "", false
}

// isNil reports whether the element carries i:nil="true".
func (n *node) isNil() bool {
	for _, a := range n.attrs {
		if a.Name.Space == NSInstance && a.Name.Local == "nil" {
			return strings.TrimSpace(a.Value) == "true"
		}
	}
	return false
}

// is reports whether n has the local name and one of the namespaces.
func (n *node) is(local string, spaces ...string) bool {
	if n.name.Local != local {
		return false
	}
	for _, s := range spaces {
		if n.name.Space == s {
			return true
		}
	}
	return false
}
