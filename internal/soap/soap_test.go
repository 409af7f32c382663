package soap_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cmexhub/cmex/internal/soap"
)

func TestReadBody(t *testing.T) {
	e, err := soap.ReadBody([]byte(`<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:tem="http://tempuri.org/">
	<soapenv:Header/><soapenv:Body><tem:Op><tem:A> 1 </tem:A><B>2</B></tem:Op></soapenv:Body></soapenv:Envelope>`), soap.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if e.Name.Local != "Op" || e.Child("A", "http://tempuri.org/").Text != "1" || e.Child("B").Text != "2" || e.Child("B", "http://tempuri.org/") != nil {
		t.Errorf("body = %+v", e)
	}
	for name, doc := range map[string]string{
		"not xml":      "hello",
		"no envelope":  `<Envelope><Body><Op/></Body></Envelope>`,
		"soap 1.2":     `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><Op/></e:Body></e:Envelope>`,
		"no body":      `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>`,
		"empty body":   `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>`,
		"two ops":      `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><A/><B/></s:Body></s:Envelope>`,
		"deep":         `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>` + strings.Repeat("<a>", 100) + `</s:Body></s:Envelope>`,
		"entity":       `<!DOCTYPE s [<!ENTITY x "y">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><a>&x;</a></s:Body></s:Envelope>`,
		"huge text":    `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><a>` + strings.Repeat("x", 70000) + `</a></s:Body></s:Envelope>`,
		"latin1":       `<?xml version="1.0" encoding="ISO-8859-9"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><a/></s:Body></s:Envelope>`,
		"trailing doc": `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><a/></s:Body></s:Envelope><x/>`,
	} {
		if _, err := soap.ReadBody([]byte(doc), soap.DefaultLimits); !errors.Is(err, soap.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestWriteFault(t *testing.T) {
	var b strings.Builder
	if err := soap.WriteFault(&b, soap.FaultClient, `bad <input> & "more"`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "<faultcode>s:Client</faultcode>") || !strings.Contains(b.String(), "bad &lt;input&gt; &amp;") {
		t.Errorf("fault = %s", b.String())
	}
	if _, err := soap.ReadBody([]byte(b.String()), soap.DefaultLimits); err != nil {
		t.Errorf("the fault is not a readable envelope: %v", err)
	}
}

// FuzzReadBody: the envelope decoder never panics, and what it accepts is
// one element inside a SOAP 1.1 Body.
func FuzzReadBody(f *testing.F) {
	f.Add(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/><s:Body><a:Op xmlns:a="urn:x"><a:P>1</a:P></a:Op></s:Body></s:Envelope>`)
	f.Add(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body></s:Body></s:Envelope>`)
	f.Add(`<?xml version="1.0" encoding="utf-8"?><x/>`)
	f.Fuzz(func(t *testing.T, doc string) {
		e, err := soap.ReadBody([]byte(doc), soap.DefaultLimits)
		if err != nil {
			if !errors.Is(err, soap.ErrMalformed) {
				t.Fatalf("an error that is not ErrMalformed: %v", err)
			}
			return
		}
		if e == nil || e.Name.Local == "" {
			t.Fatalf("accepted without an element: %q", doc)
		}
	})
}
