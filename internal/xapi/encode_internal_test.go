package xapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

// encodeSeeds are values encodeJSON must encode as json.Marshal does.
var encodeSeeds = []string{
	`{"actor":{"objectType":"Agent","mbox":"mailto:jane@example.org","name":"Jane <&> \"Q\" \\ é 中 \u2028 \u2029 \u0001 \t\n\r\b\f"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"}}`,
	`{"result":{"score":{"scaled":0.5,"raw":-1.25e3,"min":0,"max":100},"success":true,"completion":false,"response":null},"a":[],"b":{},"c":[1,"x",null,true,{"z":1,"a":2}]}`,
	`{"zz":1,"a":2,"A":3,"_":4,"é":5,"":6}`,
	`[1e400, -0, 0.000001, 123456789012345678901234567890]`,
	`"just a string"`,
}

func TestEncodeJSONAsMarshal(t *testing.T) {
	for _, s := range encodeSeeds {
		checkEncode(t, []byte(s))
	}
	// Invalid UTF-8 in a string is replaced as json.Marshal replaces it.
	checkValue(t, map[string]any{"k\xff": "a\xffb\xc3", "n": json.Number("12")})
	// A value of another type is left to json.Marshal.
	checkValue(t, map[string]any{"f": 1.5, "i": 3})
}

// FuzzEncodeJSON: any JSON document decodes to a value that encodeJSON
// encodes byte for byte as json.Marshal does.
func FuzzEncodeJSON(f *testing.F) {
	for _, s := range encodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkEncode(t, data)
	})
}

func checkEncode(t *testing.T, data []byte) {
	t.Helper()
	x, err := decodeJSON(data)
	if err != nil {
		return
	}
	checkValue(t, x)
}

func checkValue(t *testing.T, x any) {
	t.Helper()
	want, werr := json.Marshal(x)
	got, gerr := encodeJSON(x)
	if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
		t.Fatalf("encodeJSON(%#v) = %s, %v; json.Marshal: %s, %v", x, got, gerr, want, werr)
	}
}

// isIRI and isUUID are iriRe and uuidRe written out: they agree.
func TestIRIAndUUIDAsRegexps(t *testing.T) {
	for _, s := range idSeeds {
		checkIDs(t, s)
	}
}

var idSeeds = []string{"", ":", "a:", "a:b", "http://example.org/x y", "1a:b", "a+b.c-d:e", "a_b:c", "urn:x:y", "mailto:a@b",
	"a:\u00e9", "a:\xff", "a:b\tc", "a:b|c", "a:`", "http://x.org/^", "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
	"FD41C918-B88B-4B20-A0A5-A4C32391AAA0", "fd41c918-b88b-4b20-a0a5-a4c32391aaa", "fd41c918xb88b-4b20-a0a5-a4c32391aaa0",
	"fd41c918-b88b-4b20-a0a5-a4c32391aaag", "a:b\n", "a:b\v",
	"en", "en-US", "EN-us", "e", "en-", "-en", "en--US", "abcdefgh", "abcdefghi", "en-abcdefgh", "en-abcdefghi", "x-klingon", "i-default", "zh-Hant-TW", "en-1", "1en", "en_US"}

func FuzzIRIAndUUID(f *testing.F) {
	for _, s := range idSeeds {
		f.Add(s)
	}
	f.Fuzz(checkIDs)
}

func checkIDs(t *testing.T, s string) {
	if got, want := isIRI(s), iriRe.MatchString(s); got != want {
		t.Errorf("isIRI(%q) = %v, iriRe %v", s, got, want)
	}
	if got, want := isLangTag(s), langRe.MatchString(s); got != want {
		t.Errorf("isLangTag(%q) = %v, langRe %v", s, got, want)
	}
	if got, want := isUUID(s), uuidRe.MatchString(s); got != want {
		t.Errorf("isUUID(%q) = %v, uuidRe %v", s, got, want)
	}
}
