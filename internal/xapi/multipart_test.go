package xapi_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/xapi"
)

// multipartBody is a multipart/mixed statement request of boundary b: the
// statements part, then each attachment as a part with its hash header
// (hash "" leaves the header out).
func multipartBody(b, statements string, parts ...[2]string) string {
	var s strings.Builder
	s.WriteString("--" + b + "\r\nContent-Type: application/json\r\n\r\n" + statements + "\r\n")
	for _, p := range parts {
		s.WriteString("--" + b + "\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n")
		if p[0] != "" {
			s.WriteString("X-Experience-API-Hash: " + p[0] + "\r\n")
		}
		s.WriteString("\r\n" + p[1] + "\r\n")
	}
	s.WriteString("--" + b + "--\r\n")
	return s.String()
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// withAttachment is statement(id) with one attachment of content.
func withAttachment(id, usage, contentType, content string) string {
	return strings.TrimSuffix(statement(id), "}") + fmt.Sprintf(`,"attachments":[{"usageType":%q,"display":{"en":"x"},"contentType":%q,"length":%d,"sha2":%q}]}`,
		usage, contentType, len(content), sha256Hex(content))
}

// FuzzMultipart reads any body as a multipart/mixed statement request
// (the reader's part of POST and PUT /xapi/statements): it never panics,
// refuses with the 400 kind of error (cmex.EINVALID) only, and a body it
// accepts holds valid statements and attachments whose content matches
// their SHA-2.
func FuzzMultipart(f *testing.F) {
	const jws = "eyJhbGciOiJSUzI1NiJ9.eyJpZCI6IngifQ.c2ln"
	seeds := []struct{ body, boundary string }{
		{multipartBody("b", withAttachment(id1, "http://x.org/u", "text/plain", "hello"), [2]string{sha256Hex("hello"), "hello"}), "b"},
		{multipartBody("b", withAttachment(id1, "http://adlnet.gov/expapi/attachments/signature", "application/octet-stream", jws), [2]string{sha256Hex(jws), jws}), "b"},
		{multipartBody("xyz", "["+statement(id1)+"]"), "xyz"},
		// Broken boundaries: another one, none closing, a prefix of it.
		{multipartBody("b", statement(id1)), "c"},
		{strings.TrimSuffix(multipartBody("b", statement(id1), [2]string{sha256Hex("hi"), "hi"}), "--b--\r\n"), "b"},
		{multipartBody("bb", statement(id1)), "b"},
		{"--b\r\nContent-Type: application/json\r\n\r\n" + statement(id1), "b"},
		// Hashes: wrong, missing, SHA-512, of no attachment.
		{multipartBody("b", withAttachment(id1, "http://x.org/u", "text/plain", "hello"), [2]string{strings.Repeat("0", 64), "hello"}), "b"},
		{multipartBody("b", withAttachment(id1, "http://x.org/u", "text/plain", "hello"), [2]string{"", "hello"}), "b"},
		{multipartBody("b", statement(id1), [2]string{hex.EncodeToString(sha512.New().Sum(nil)), ""}), "b"},
		// The statements not first, not JSON, not valid.
		{"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n", "b"},
		{multipartBody("b", `{"actor":{}}`), "b"},
		{multipartBody("b", `{`), "b"},
		{"--b\r\nContent-Type: application/json\r\n\r\n" + statement(id1) + "\r\n--b\r\nContent-Transfer-Encoding: base64\r\nX-Experience-API-Hash: " + sha256Hex("x") + "\r\n\r\nx\r\n--b--\r\n", "b"},
		{"", ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.boundary)
	}
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		sts, parts, err := xapi.ReadMultipart(body, boundary)
		if err != nil {
			if code := cmex.ErrorCode(err); code != cmex.EINVALID {
				t.Fatalf("refused with %q (%v), want %q: a 400", code, err, cmex.EINVALID)
			}
			return
		}
		if len(sts) == 0 {
			t.Fatal("accepted without statements")
		}
		for i, st := range sts {
			if err := xapi.Validate(st); err != nil {
				t.Fatalf("accepted an invalid statement %d: %v", i, err)
			}
		}
		for sum, a := range parts {
			var got string
			switch len(sum) {
			case 64:
				h := sha256.Sum256(a.Content)
				got = hex.EncodeToString(h[:])
			case 96:
				h := sha512.Sum384(a.Content)
				got = hex.EncodeToString(h[:])
			case 128:
				h := sha512.Sum512(a.Content)
				got = hex.EncodeToString(h[:])
			}
			if got != sum || a.SHA2 != sum {
				t.Fatalf("accepted a part under %s (%s) whose content's hash is %q", sum, a.SHA2, got)
			}
		}
	})
}

// TestMultipartSeeds: what the fuzz target's seeds say of the reader.
func TestMultipartSeeds(t *testing.T) {
	good := multipartBody("b", withAttachment(id1, "http://x.org/u", "text/plain", "hello"), [2]string{sha256Hex("hello"), "hello"})
	sts, parts, err := xapi.ReadMultipart([]byte(good), "b")
	if err != nil || len(sts) != 1 || len(parts) != 1 || string(parts[sha256Hex("hello")].Content) != "hello" {
		t.Fatalf("a statement with its attachment: %v %v %v", sts, parts, err)
	}
	for name, c := range map[string]struct{ body, boundary string }{
		"another boundary":      {good, "c"},
		"no closing":            {strings.TrimSuffix(good, "--b--\r\n"), "b"},
		"a hash mismatch":       {multipartBody("b", statement(id1), [2]string{strings.Repeat("0", 64), "hello"}), "b"},
		"a part's hash missing": {multipartBody("b", statement(id1), [2]string{"", "hello"}), "b"},
		"no boundary":           {good, ""},
	} {
		if _, _, err := xapi.ReadMultipart([]byte(c.body), c.boundary); cmex.ErrorCode(err) != cmex.EINVALID {
			t.Errorf("%s: %v, want an %s error", name, err, cmex.EINVALID)
		}
	}
}
