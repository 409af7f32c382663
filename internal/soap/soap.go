// Package soap is the SOAP 1.1 envelope and fault codec the SOAP adapters
// share: it reads the one element of a request's Body within size, depth
// and element-count limits, never resolving entities or reading DTDs, and
// writes envelopes and faults.
package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// NSEnvelope is the SOAP 1.1 envelope namespace.
const NSEnvelope = "http://schemas.xmlsoap.org/soap/envelope/"

// Element is an element of a request body.
type Element struct {
	Name     xml.Name
	Text     string // character data directly inside, trimmed
	Children []*Element
}

// Child returns the first child with the local name in one of the
// namespaces (any namespace when none is given), or nil.
func (e *Element) Child(local string, spaces ...string) *Element {
	for _, c := range e.Children {
		if c.Name.Local == local && (len(spaces) == 0 || contains(spaces, c.Name.Space)) {
			return c
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Limits bound what ReadBody accepts.
type Limits struct {
	MaxDepth    int
	MaxElements int
	MaxText     int // bytes of text in one element
}

// DefaultLimits fit any real request of the SOAP services cmex serves.
var DefaultLimits = Limits{MaxDepth: 32, MaxElements: 10000, MaxText: 64 << 10}

// ErrMalformed marks a request that is not a well-formed SOAP 1.1 envelope
// with one element in its Body. Its message is safe to return in a fault.
var ErrMalformed = errors.New("malformed SOAP envelope")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// ReadBody parses a SOAP 1.1 envelope and returns the element of its
// Body.
func ReadBody(data []byte, lim Limits) (*Element, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = func(charset string, in io.Reader) (io.Reader, error) {
		if strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "us-ascii") {
			return in, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported; send UTF-8", charset)
	}
	var root *Element
	var stack []*Element
	var text []*strings.Builder
	elements := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, malformed("%s", strings.TrimPrefix(err.Error(), "xml: "))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if elements++; elements > lim.MaxElements {
				return nil, malformed("more than %d elements", lim.MaxElements)
			}
			if len(stack) >= lim.MaxDepth {
				return nil, malformed("nested deeper than %d elements", lim.MaxDepth)
			}
			e := &Element{Name: t.Name}
			if len(stack) == 0 {
				if root != nil {
					return nil, malformed("more than one root element")
				}
				root = e
			} else {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, e)
			}
			stack = append(stack, e)
			text = append(text, &strings.Builder{})
		case xml.EndElement:
			top := stack[len(stack)-1]
			top.Text = strings.TrimSpace(text[len(text)-1].String())
			stack, text = stack[:len(stack)-1], text[:len(text)-1]
		case xml.CharData:
			if len(text) > 0 {
				b := text[len(text)-1]
				if b.Len()+len(t) > lim.MaxText {
					return nil, malformed("more than %d bytes of text in one element", lim.MaxText)
				}
				b.Write(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, malformed("text outside the envelope")
			}
		case xml.Directive:
			return nil, malformed("DTDs are not accepted")
		}
	}
	if root == nil {
		return nil, malformed("no XML document")
	}
	if root.Name.Local != "Envelope" || root.Name.Space != NSEnvelope {
		return nil, malformed("the root is not a SOAP 1.1 Envelope (namespace %s)", NSEnvelope)
	}
	body := root.Child("Body", NSEnvelope)
	if body == nil {
		return nil, malformed("the Envelope has no Body")
	}
	if len(body.Children) != 1 {
		return nil, malformed("the Body holds %d elements, not one", len(body.Children))
	}
	return body.Children[0], nil
}

// Fault codes of SOAP 1.1.
const (
	FaultClient = "Client" // the request is wrong
	FaultServer = "Server" // the server failed
)

// WriteFault writes a SOAP 1.1 fault envelope.
func WriteFault(w io.Writer, code, message string) error {
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString(`<s:Envelope xmlns:s="` + NSEnvelope + `"><s:Body><s:Fault><faultcode>s:` + code + `</faultcode><faultstring xml:lang="en-US">`)
	_ = xml.EscapeText(&b, []byte(message))
	b.WriteString("</faultstring></s:Fault></s:Body></s:Envelope>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
