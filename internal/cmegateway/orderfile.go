package cmegateway

import (
	"fmt"

	"github.com/cmexhub/cmex"
)

// OrderFile is a ceu_order document as a society imports it, its own
// credits for one member: each CEU on its own, with its line, so that one
// that cannot be read keeps out that credit alone.
type OrderFile struct {
	Source, Status string
	// Customer is the member, without her CEUs; nil when the document
	// names none.
	Customer *cmex.Customer
	CEUs     []OrderCEU
}

// OK reports whether the document is a successful order naming a member.
func (f *OrderFile) OK() bool { return (&OrderResponse{Status: f.Status, Customer: f.Customer}).OK() }

// OrderCEU is one CEU of an OrderFile: the line its element starts on,
// and the CEU, or why it could not be read.
type OrderCEU struct {
	Line int
	CEU  cmex.CEU
	Err  error
}

// ReadOrderFile decodes a ceu_order document for import. A document that
// is not well-formed, or not a ceu_order, is an error; a CEU whose date,
// credits or detail type cannot be read is that CEU's error, and the
// others are read as ReadOrder reads them.
func ReadOrderFile(data []byte) (*OrderFile, error) {
	root, err := parse(data)
	if err != nil {
		return nil, err
	}
	if !root.is(elemOrder) {
		return nil, fmt.Errorf("the document is <%s>, not <%s>", root.name, elemOrder)
	}
	f := &OrderFile{}
	f.Source, _, f.Status = header(root)
	c := root.child(elemCustomer)
	if c == nil {
		return f, nil
	}
	f.Customer = readCustomer(c)
	for _, e := range c.children {
		if !e.is(elemCEU) {
			continue
		}
		ceu, err := readCEU(e)
		f.CEUs = append(f.CEUs, OrderCEU{Line: e.line, CEU: ceu, Err: err})
	}
	return f, nil
}
