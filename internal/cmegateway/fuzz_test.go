package cmegateway_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cmexhub/cmex/internal/cmegateway"
)

// addGolden seeds f with the bodies of the golden answers matching pattern
// (each file is a status line, a blank line, then the body).
func addGolden(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", pattern))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		_, body, _ := bytes.Cut(b, []byte("\n\n"))
		f.Add(body)
	}
}

// FuzzReadOrder feeds the ceu_order decoder anything: it must never panic,
// and what it accepts must survive encoding and decoding again unchanged.
func FuzzReadOrder(f *testing.F) {
	addGolden(f, "*.xml")
	f.Add([]byte(`<ceu_order><status>OK</status><customer customer_id="1"><ceu><ceu_date>2001-01-01</ceu_date></ceu></customer></ceu_order>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := cmegateway.ReadOrder(data)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := cmegateway.WriteOrder(&b, o); err != nil {
			t.Fatalf("cannot write what was read: %v", err)
		}
		again, err := cmegateway.ReadOrder(b.Bytes())
		if err != nil {
			t.Fatalf("cannot read what was written: %v\n%s", err, b.String())
		}
		if diff := cmp.Diff(o, again); diff != "" {
			t.Fatalf("round trip changed the order (-first +second):\n%s", diff)
		}
	})
}

// FuzzReadBinding feeds the customer_binding decoder anything: it never
// panics, and what it accepts survives encoding and decoding unchanged.
func FuzzReadBinding(f *testing.F) {
	addGolden(f, "*binding*.xml")
	f.Add([]byte(`<CUSTOMER_BINDING><STATUS>OK</STATUS><CUSTOMER CUSTOMER_ID="01234567"><CUSTOMER_USERNAME>NedBaker</CUSTOMER_USERNAME></CUSTOMER></CUSTOMER_BINDING>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := cmegateway.ReadBinding(data)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := cmegateway.WriteBinding(&out, b); err != nil {
			return // a value the writer refuses (say, a control character) is an error, not a panic
		}
		again, err := cmegateway.ReadBinding(out.Bytes())
		if err != nil {
			t.Fatalf("cannot read what was written: %v\n%s", err, out.String())
		}
		if diff := cmp.Diff(b, again); diff != "" {
			t.Fatalf("round trip changed the answer (-read +again):\n%s", diff)
		}
	})
}

// FuzzReadOrderFile: the import's reader never panics, and agrees with
// ReadOrder: a document ReadOrder accepts gives the same CEUs, without
// error, and one it refuses for a CEU gives that CEU's error.
func FuzzReadOrderFile(f *testing.F) {
	addGolden(f, "order*.xml")
	f.Add([]byte(`<ceu_order><status>OK</status><customer customer_id="1"><ceu><ceu_date>2001-01-01</ceu_date></ceu><ceu><ceu_date>x</ceu_date></ceu></customer></ceu_order>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, ferr := cmegateway.ReadOrderFile(data)
		o, oerr := cmegateway.ReadOrder(data)
		if ferr != nil {
			if oerr == nil {
				t.Fatalf("ReadOrder reads what ReadOrderFile refuses: %v", ferr)
			}
			return
		}
		failed := false
		for _, c := range file.CEUs {
			failed = failed || c.Err != nil
			if c.Line < 1 {
				t.Fatalf("a CEU without a line: %+v", c)
			}
		}
		if (oerr != nil) != failed {
			t.Fatalf("ReadOrder: %v; ReadOrderFile's CEUs failed: %v", oerr, failed)
		}
		if oerr != nil || o.Customer == nil {
			return
		}
		if len(o.Customer.CEUs) != len(file.CEUs) {
			t.Fatalf("%d CEUs, ReadOrder %d", len(file.CEUs), len(o.Customer.CEUs))
		}
		for i, c := range file.CEUs {
			if diff := cmp.Diff(o.Customer.CEUs[i], c.CEU); diff != "" {
				t.Fatalf("CEU %d:\n%s", i+1, diff)
			}
		}
	})
}
