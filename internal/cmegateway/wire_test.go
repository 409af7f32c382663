package cmegateway_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmegateway"
)

// goldenBody returns the XML of a golden answer, without its status line.
func goldenBody(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		tb.Fatal(err)
	}
	_, body, _ := bytes.Cut(b, []byte("\n\n"))
	return body
}

func TestReadOrderOfGolden(t *testing.T) {
	o, err := cmegateway.ReadOrder(goldenBody(t, "order-ok.xml"))
	if err != nil {
		t.Fatal(err)
	}
	want := cmegateway.ExampleMember()
	if !o.OK() || o.Source != "EXAMPLE" || o.Customer.ID != want.MemberID || o.Customer.Address != want.Address {
		t.Fatalf("order = %+v", o)
	}
	if diff := cmp.Diff(cmegateway.ExampleCredits(), o.Customer.CEUs); diff != "" {
		t.Errorf("credits differ (-want +got):\n%s", diff)
	}
	b, err := cmegateway.ReadBinding(goldenBody(t, "binding-ok.xml"))
	if err != nil || !b.OK() || b.MemberID != "01234567" || b.Username != "NedBaker" {
		t.Errorf("binding = %+v, %v", b, err)
	}
	b, err = cmegateway.ReadBinding(goldenBody(t, "binding-refused.xml"))
	if err != nil || b.OK() || !strings.HasPrefix(b.Status, "User record not found") {
		t.Errorf("refused binding = %+v, %v", b, err)
	}
	o, err = cmegateway.ReadOrder(goldenBody(t, "feed-not-opted-in.xml"))
	if err != nil || o.OK() || o.Status != "CUSTOMER_NOT_OPTED_IN" || o.StatusMessage == "" {
		t.Errorf("feed error = %+v, %v", o, err)
	}
}

// TestReadOrderTolerates holds the decoder to what old society servers
// send: other letter case, unknown elements, the seed's error shape with
// no customer, and ISO-8859-1.
func TestReadOrderTolerates(t *testing.T) {
	o, err := cmegateway.ReadOrder([]byte(`<?xml version="1.0" encoding="ISO-8859-1"?>
<ceu_order><source>ACR</source><date>2004-07-13</date><status>OK</status><extra/>
<customer CUSTOMER_ID="7"><customer_first_name>Ren` + "\xe9" + `e</customer_first_name><customer_last_name>Roe</customer_last_name>
<ceu><ceu_title>T</ceu_title><ceu_date>2004-01-02</ceu_date><ceu_detail type="cme"><ceu_credits>1.5</ceu_credits><ceu_category>CAT1</ceu_category></ceu_detail></ceu></customer></ceu_order>`))
	if err != nil {
		t.Fatal(err)
	}
	if !o.OK() || o.Customer.GivenName != "Renée" || o.Customer.ID != "7" || o.Customer.CEUs[0].Details[0].Credits != 150 {
		t.Errorf("order = %+v", o.Customer)
	}
	o, err = cmegateway.ReadOrder([]byte(`<CEU_ORDER><SOURCE>ACR</SOURCE><DATE>2004-07-13</DATE><STATUS>User record not found.</STATUS></CEU_ORDER>`))
	if err != nil || o.OK() || o.Status != "User record not found." {
		t.Errorf("the seed's error response = %+v, %v", o, err)
	}
}

func TestReadOrderRefusesHostile(t *testing.T) {
	for name, doc := range map[string]string{
		"deep":      strings.Repeat("<CEU_ORDER>", 100),
		"huge":      "<CEU_ORDER>" + strings.Repeat(" ", cmegateway.MaxResponseBytes) + "</CEU_ORDER>",
		"long text": "<CEU_ORDER><STATUS>" + strings.Repeat("x", 1<<20) + "</STATUS></CEU_ORDER>",
		"entity":    `<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><CEU_ORDER>&a;</CEU_ORDER>`,
		"external":  `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><CEU_ORDER>&e;</CEU_ORDER>`,
		"two roots": "<CEU_ORDER/><CEU_ORDER/>",
		"empty":     "",
		"not xml":   "OK",
		"bad date":  `<CEU_ORDER><STATUS>OK</STATUS><CUSTOMER><CEU><CEU_DATE>Oct 21</CEU_DATE></CEU></CUSTOMER></CEU_ORDER>`,
		"bad type":  `<CEU_ORDER><STATUS>OK</STATUS><CUSTOMER><CEU><CEU_DATE>2001-10-21</CEU_DATE><CEU_DETAIL type="CPD"><CEU_CREDITS>1</CEU_CREDITS></CEU_DETAIL></CEU></CUSTOMER></CEU_ORDER>`,
	} {
		if o, err := cmegateway.ReadOrder([]byte(doc)); err == nil {
			t.Errorf("%s: accepted as %+v", name, o)
		}
	}
}

// TestWriteOrderRoundTrip holds encoder and decoder together on values
// that need escaping.
func TestWriteOrderRoundTrip(t *testing.T) {
	c := &cmex.Customer{ID: `A&B "1"`, GivenName: "Zoë", FamilyName: "O'Neil <MD>", CEUs: []cmex.CEU{{
		Sponsor: "R&D", Title: "Ultrasound <Advanced>", Date: cmex.MustParseDate("2026-01-31"),
		Details: []cmex.CEUDetail{{Type: cmex.DetailMOC, Focus: []string{"Patient Care"}, Credits: 25, Category: "CAT1"}},
	}}}
	var b bytes.Buffer
	if err := cmegateway.WriteOrder(&b, &cmegateway.OrderResponse{Source: "X", Status: "OK", Customer: c}); err != nil {
		t.Fatal(err)
	}
	o, err := cmegateway.ReadOrder(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, o.Customer); diff != "" {
		t.Errorf("round trip (-want +got):\n%s\n%s", diff, b.String())
	}
}
