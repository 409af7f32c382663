package cmegateway_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cmexhub/cmex/internal/cmegateway"
)

// TestReadOrderFile: a society's own ceu_order file is read CEU by CEU,
// each with its line; a CEU that cannot be read keeps out only itself.
func TestReadOrderFile(t *testing.T) {
	b, err := os.ReadFile("testdata/golden/order-ok.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := bytes.Cut(b, []byte("\n\n"))
	f, err := cmegateway.ReadOrderFile(body)
	if err != nil || !f.OK() || f.Source != "EXAMPLE" || f.Customer.ID != "01234567" || f.Customer.Address.City != "Fred" || len(f.CEUs) != 2 {
		t.Fatalf("%+v, %v", f, err)
	}
	// Lines of the body, which starts two lines into the golden file.
	if f.CEUs[0].Line != 14 || f.CEUs[1].Line != 28 || f.CEUs[0].Err != nil || f.CEUs[1].Err != nil {
		t.Errorf("lines or errors: %+v", f.CEUs)
	}
	o, err := cmegateway.ReadOrder(body)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range f.CEUs {
		if diff := cmp.Diff(o.Customer.CEUs[i], c.CEU); diff != "" {
			t.Errorf("CEU %d differs from ReadOrder's:\n%s", i+1, diff)
		}
	}

	bad := strings.Replace(string(body), "<CEU_CREDITS>3</CEU_CREDITS>", "<CEU_CREDITS>three</CEU_CREDITS>", 1)
	if _, err := cmegateway.ReadOrder([]byte(bad)); err == nil {
		t.Fatal("ReadOrder took a CEU without a number of credits")
	}
	f, err = cmegateway.ReadOrderFile([]byte(bad))
	if err != nil || len(f.CEUs) != 2 || f.CEUs[0].Err != nil || f.CEUs[1].Err == nil || !strings.Contains(f.CEUs[1].Err.Error(), "credits") {
		t.Fatalf("one bad CEU: %+v, %v", f, err)
	}

	for name, doc := range map[string]string{
		"not XML":         "member_id,date\n",
		"another element": "<CUSTOMER_BINDING/>",
		"a DTD":           `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><CEU_ORDER>&e;</CEU_ORDER>`,
	} {
		if _, err := cmegateway.ReadOrderFile([]byte(doc)); err == nil {
			t.Errorf("%s: read", name)
		}
	}
	f, err = cmegateway.ReadOrderFile([]byte("<CEU_ORDER><STATUS>OK</STATUS></CEU_ORDER>"))
	if err != nil || f.OK() || f.Customer != nil {
		t.Errorf("no customer: %+v, %v", f, err)
	}
}
