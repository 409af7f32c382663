package cmegateway

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cmexhub/cmex"
)

// BindingResponse is a customer_binding answer.
type BindingResponse struct {
	Source      string
	Date        cmex.Date
	CryptMethod string
	// Status is "OK" on success, otherwise the society's message for the
	// physician.
	Status   string
	MemberID string // on success
	Username string
}

// OK reports whether the binding succeeded.
func (b *BindingResponse) OK() bool { return strings.EqualFold(b.Status, statusOK) && b.MemberID != "" }

// OrderResponse is a ceu_order answer (and a credit feed's).
type OrderResponse struct {
	Source string
	Date   cmex.Date
	// Status is "OK" on success; otherwise the society's message, or a
	// credit feed's error code with StatusMessage.
	Status        string
	StatusMessage string
	Customer      *cmex.Customer // on success
}

// OK reports whether the order succeeded.
func (o *OrderResponse) OK() bool { return strings.EqualFold(o.Status, statusOK) && o.Customer != nil }

// xmlWriter writes an indented document, remembering the first error.
type xmlWriter struct {
	w   io.Writer
	enc *xml.Encoder
	err error
}

func newXMLWriter(w io.Writer) *xmlWriter {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return &xmlWriter{err: err}
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	return &xmlWriter{w: w, enc: enc}
}

func (x *xmlWriter) start(name string, attrs ...xml.Attr) {
	if x.err == nil {
		x.err = x.enc.EncodeToken(xml.StartElement{Name: xml.Name{Local: name}, Attr: attrs})
	}
}

func (x *xmlWriter) end(name string) {
	if x.err == nil {
		x.err = x.enc.EncodeToken(xml.EndElement{Name: xml.Name{Local: name}})
	}
}

// leaf writes <name>text</name>; an empty text gives an empty element, so
// every field the DTD may require is present.
func (x *xmlWriter) leaf(name, text string) {
	x.start(name)
	if x.err == nil && text != "" {
		x.err = x.enc.EncodeToken(xml.CharData(text))
	}
	x.end(name)
}

func (x *xmlWriter) close() error {
	if x.err == nil {
		x.err = x.enc.Close()
	}
	if x.err == nil {
		_, x.err = io.WriteString(x.w, "\n")
	}
	return x.err
}

// WriteBinding writes a customer_binding answer. It never carries a
// password, whatever the seed's example echoes.
func WriteBinding(w io.Writer, b *BindingResponse) error {
	x := newXMLWriter(w)
	x.start(elemBinding)
	x.leaf(elemSource, b.Source)
	x.leaf(elemDate, b.Date.String())
	x.leaf(elemCryptMethod, b.CryptMethod)
	x.leaf(elemStatus, b.Status)
	var attrs []xml.Attr
	if b.MemberID != "" {
		attrs = append(attrs, xml.Attr{Name: xml.Name{Local: attrCustomerID}, Value: b.MemberID})
	}
	x.start(elemCustomer, attrs...)
	x.leaf(elemCustomerUsername, b.Username)
	x.end(elemCustomer)
	x.end(elemBinding)
	return x.close()
}

// WriteOrder writes a ceu_order answer.
func WriteOrder(w io.Writer, o *OrderResponse) error {
	x := newXMLWriter(w)
	x.start(elemOrder)
	x.leaf(elemSource, o.Source)
	x.leaf(elemDate, o.Date.String())
	x.leaf(elemStatus, o.Status)
	if o.StatusMessage != "" {
		x.leaf(elemStatusMessage, o.StatusMessage)
	}
	if c := o.Customer; c != nil {
		x.start(elemCustomer, xml.Attr{Name: xml.Name{Local: attrCustomerID}, Value: c.ID})
		x.leaf(elemCustomerFirstName, c.GivenName)
		x.leaf(elemCustomerLastName, c.FamilyName)
		x.leaf(elemCustomerAddress, c.Address.Street)
		x.leaf(elemCustomerCity, c.Address.City)
		x.leaf(elemCustomerState, c.Address.State)
		x.leaf(elemCustomerZip, c.Address.Zip)
		x.leaf(elemCustomerCountry, c.Address.Country)
		for _, ceu := range c.CEUs {
			x.start(elemCEU)
			x.leaf(elemCEUSponsor, ceu.Sponsor)
			x.leaf(elemCEUName, ceu.ShortName)
			x.leaf(elemCEUTitle, ceu.Title)
			x.leaf(elemCEULocation, ceu.Location)
			x.leaf(elemCEUDate, ceu.Date.String())
			for _, d := range ceu.Details {
				x.start(elemCEUDetail, xml.Attr{Name: xml.Name{Local: attrDetailType}, Value: d.Type})
				for _, f := range d.Focus {
					x.leaf(elemCEUFocus, f)
				}
				x.leaf(elemCEUCredits, formatCredits(d.Credits))
				x.leaf(elemCEUCategory, d.Category)
				x.end(elemCEUDetail)
			}
			x.leaf(elemCEUActivityType, ceu.ActivityType)
			x.end(elemCEU)
		}
		x.end(elemCustomer)
	}
	x.end(elemOrder)
	return x.close()
}

// formatCredits writes credits as the seed does: 17, 13.25, 13.5.
func formatCredits(p cmex.Points) string {
	s := p.String()
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// Limits on what the decoders accept from a society. A ceu_order of a
// physician's whole career is a few hundred CEUs; these leave a wide margin
// and still stop a hostile answer early.
const (
	// MaxResponseBytes is the largest answer read from a society.
	MaxResponseBytes = 8 << 20
	maxDepth         = 16
	maxElements      = 200_000
	maxTextBytes     = 16 << 10
)

// ErrTooLarge reports an answer over MaxResponseBytes.
var ErrTooLarge = errors.New("the answer is larger than the limit")

// node is an element of a parsed answer.
type node struct {
	name     string
	line     int // where its start tag ends
	attrs    []xml.Attr
	text     strings.Builder
	children []*node
}

// parse reads one document into a tree, within the limits above. Entities
// beyond XML's own are errors and DTDs are refused: nothing external is
// ever resolved.
func parse(data []byte) (*node, error) {
	if len(data) > MaxResponseBytes {
		return nil, ErrTooLarge
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		if strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "us-ascii") {
			return input, nil
		}
		// ISO-8859-1 is common on old society servers: map it to UTF-8.
		if strings.EqualFold(charset, "iso-8859-1") || strings.EqualFold(charset, "latin1") {
			return latin1Reader{input}, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported", charset)
	}
	var root *node
	var stack []*node
	elements := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed XML: %s", strings.TrimPrefix(err.Error(), "xml: "))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if elements++; elements > maxElements {
				return nil, fmt.Errorf("more than %d elements", maxElements)
			}
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("nested deeper than %d elements", maxDepth)
			}
			line, _ := d.InputPos()
			n := &node{name: t.Name.Local, line: line, attrs: t.Attr}
			if len(stack) == 0 {
				if root != nil {
					return nil, errors.New("more than one root element")
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				if top.text.Len()+len(t) > maxTextBytes {
					return nil, fmt.Errorf("<%s> holds more than %d bytes of text", top.name, maxTextBytes)
				}
				top.text.Write(t)
			}
		case xml.Directive:
			return nil, errors.New("DTDs and other directives are not accepted")
		}
	}
	if root == nil {
		return nil, errors.New("no XML document")
	}
	return root, nil
}

// latin1Reader turns ISO-8859-1 into UTF-8.
type latin1Reader struct{ r io.Reader }

func (l latin1Reader) Read(p []byte) (int, error) {
	if len(p) < 2 {
		return 0, io.ErrShortBuffer
	}
	buf := make([]byte, len(p)/2) // each byte becomes at most two
	n, err := l.r.Read(buf)
	out := p[:0]
	for _, b := range buf[:n] {
		if b < 0x80 {
			out = append(out, b)
		} else {
			out = append(out, 0xC0|b>>6, 0x80|b&0x3F)
		}
	}
	return len(out), err
}

func (n *node) value() string { return strings.TrimSpace(n.text.String()) }

// is compares element names without regard to case: the names are a GUESS
// (guesses.go), and societies' servers may differ in case.
func (n *node) is(name string) bool { return strings.EqualFold(n.name, name) }

func (n *node) child(name string) *node {
	for _, c := range n.children {
		if c.is(name) {
			return c
		}
	}
	return nil
}

func (n *node) childValue(name string) string {
	if c := n.child(name); c != nil {
		return c.value()
	}
	return ""
}

func (n *node) attr(name string) string {
	for _, a := range n.attrs {
		if strings.EqualFold(a.Name.Local, name) {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

// header reads SOURCE, DATE and STATUS. A date the society writes oddly is
// dropped rather than refused: it is the date of the answer, not of a credit.
func header(n *node) (source string, date cmex.Date, status string) {
	date, _, _ = cmex.ParseDate(n.childValue(elemDate))
	return n.childValue(elemSource), date, n.childValue(elemStatus)
}

// ReadBinding decodes a customer_binding answer.
func ReadBinding(data []byte) (*BindingResponse, error) {
	root, err := parse(data)
	if err != nil {
		return nil, err
	}
	if !root.is(elemBinding) {
		return nil, fmt.Errorf("the answer is <%s>, not <%s>", root.name, elemBinding)
	}
	b := &BindingResponse{CryptMethod: root.childValue(elemCryptMethod)}
	b.Source, b.Date, b.Status = header(root)
	if c := root.child(elemCustomer); c != nil {
		b.MemberID = c.attr(attrCustomerID)
		b.Username = c.childValue(elemCustomerUsername)
	}
	return b, nil
}

// ReadOrder decodes a ceu_order answer. Elements it does not know are
// skipped; a credit whose credits, date or detail type cannot be read is an
// error naming it, since a transcript must not show a wrong number.
func ReadOrder(data []byte) (*OrderResponse, error) {
	root, err := parse(data)
	if err != nil {
		return nil, err
	}
	if !root.is(elemOrder) {
		return nil, fmt.Errorf("the answer is <%s>, not <%s>", root.name, elemOrder)
	}
	o := &OrderResponse{StatusMessage: root.childValue(elemStatusMessage)}
	o.Source, o.Date, o.Status = header(root)
	c := root.child(elemCustomer)
	if c == nil {
		return o, nil
	}
	cust := readCustomer(c)
	for _, e := range c.children {
		if !e.is(elemCEU) {
			continue
		}
		ceu, err := readCEU(e)
		if err != nil {
			return nil, fmt.Errorf("CEU %d: %w", len(cust.CEUs)+1, err)
		}
		cust.CEUs = append(cust.CEUs, ceu)
	}
	o.Customer = cust
	return o, nil
}

// readCustomer reads a CUSTOMER element's member, without her CEUs.
func readCustomer(c *node) *cmex.Customer {
	return &cmex.Customer{
		ID:         c.attr(attrCustomerID),
		GivenName:  c.childValue(elemCustomerFirstName),
		FamilyName: c.childValue(elemCustomerLastName),
		Address: cmex.Address{
			Street: c.childValue(elemCustomerAddress), City: c.childValue(elemCustomerCity),
			State: c.childValue(elemCustomerState), Zip: c.childValue(elemCustomerZip), Country: c.childValue(elemCustomerCountry),
		},
		CEUs: []cmex.CEU{},
	}
}

func readCEU(e *node) (cmex.CEU, error) {
	ceu := cmex.CEU{
		Sponsor: e.childValue(elemCEUSponsor), ShortName: e.childValue(elemCEUName), Title: e.childValue(elemCEUTitle),
		Location: e.childValue(elemCEULocation), ActivityType: e.childValue(elemCEUActivityType),
	}
	d, _, err := cmex.ParseDate(e.childValue(elemCEUDate))
	if err != nil {
		return ceu, err
	}
	ceu.Date = d
	for _, dn := range e.children {
		if !dn.is(elemCEUDetail) {
			continue
		}
		var det cmex.CEUDetail
		switch t := strings.ToUpper(dn.attr(attrDetailType)); t {
		case cmex.DetailCME, cmex.DetailMOC:
			det.Type = t
		default:
			return ceu, fmt.Errorf("detail type %q: want CME or MOC", t)
		}
		for _, f := range dn.children {
			if f.is(elemCEUFocus) && f.value() != "" {
				det.Focus = append(det.Focus, f.value())
			}
		}
		p, err := cmex.ParsePoints(dn.childValue(elemCEUCredits))
		if err != nil {
			return ceu, fmt.Errorf("credits: %w", err)
		}
		det.Credits, det.Category = p, dn.childValue(elemCEUCategory)
		ceu.Details = append(ceu.Details, det)
	}
	return ceu, nil
}
