// Package cmextest holds helpers shared by cmex's tests: a throwaway
// PostgreSQL cluster, a settable clock, and fixture builders. Only test
// files import it.
package cmextest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"
)

// Clock is a settable time source for the Now fields of cmex's services.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Golden holds got to the golden file at path: it fails the test when they
// differ, or rewrites the file when update is set (go test -update).
func Golden(tb testing.TB, path, got string, update bool) {
	tb.Helper()
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		tb.Errorf("the answer differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// XMLElement is an element of a document read by ParseXML: its name, its
// text (all of it, concatenated) and its child elements, in order.
type XMLElement struct {
	Name, Space, Text string
	Kids              []*XMLElement
}

// ParseXML reads a document into a tree and returns its first element
// named local (searched depth first, in document order), or an error when
// the document is not well-formed or has no such element.
func ParseXML(data []byte, local string) (*XMLElement, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*XMLElement
	var found *XMLElement
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &XMLElement{Name: tok.Name.Local, Space: tok.Name.Space}
			if len(stack) > 0 {
				stack[len(stack)-1].Kids = append(stack[len(stack)-1].Kids, n)
			}
			if n.Name == local && found == nil {
				found = n
			}
			stack = append(stack, n)
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += string(tok)
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no %s in the document", local)
	}
	return found, nil
}
