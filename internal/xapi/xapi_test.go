package xapi_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
	"github.com/cmexhub/cmex/internal/xapi"
)

var today = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	h     http.Handler
	token string
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	store := cmextest.NewStore(tb, today)
	p, err := store.Users.Authenticate(tb.Context(), cmextest.ProviderA, "webserviceuser@yourdomain.org", cmextest.Password)
	if err != nil {
		tb.Fatal(err)
	}
	keys := sqlstore.NewAPIKeyService(store.DB)
	_, token, err := keys.CreateAPIKey(tb.Context(), p.Organization.ID, "lms")
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	(&xapi.Handler{Users: store.Users, APIKeys: keys, Store: sqlstore.NewXAPIService(store.DB), Now: store.Clock.Now,
		Logger: slog.New(slog.DiscardHandler), MaxBody: 64 << 10}).Register(mux)
	return &fixture{h: mux, token: token}
}

// call makes a request as user ("a", "b", "key", "" for none) with the
// 2.0.0 version header unless headers say otherwise.
func (f *fixture) call(t testing.TB, user, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("X-Experience-API-Version", "2.0.0")
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	switch user {
	case "a":
		req.SetBasicAuth("webserviceuser@yourdomain.org", cmextest.Password)
	case "b":
		req.SetBasicAuth("otheruser@example.org", cmextest.Password)
	case "key":
		req.SetBasicAuth("lms", f.token)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func statement(id string) string {
	return fmt.Sprintf(`{"id":%q,"actor":{"mbox":"mailto:jane@example.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"http://example.org/course"}}`, id)
}

const id1 = "fd41c918-b88b-4b20-a0a5-a4c32391aaa0"

func TestStatementLifecycle(t *testing.T) {
	f := newFixture(t)
	if rec := f.call(t, "a", "PUT", "/xapi/statements?statementId="+id1, statement(id1)); rec.Code != 204 {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	if rec := f.call(t, "a", "PUT", "/xapi/statements?statementId="+id1, statement(id1)); rec.Code != 204 {
		t.Errorf("the same statement again: %d %s, want 204", rec.Code, rec.Body)
	}
	changed := strings.Replace(statement(id1), "completed", "attempted", 1)
	if rec := f.call(t, "a", "PUT", "/xapi/statements?statementId="+id1, changed); rec.Code != 409 {
		t.Errorf("a different statement under the id: %d, want 409", rec.Code)
	}
	rec := f.call(t, "key", "GET", "/xapi/statements?statementId="+id1, "")
	if rec.Code != 200 {
		t.Fatalf("GET with an API key: %d %s", rec.Code, rec.Body)
	}
	var st map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	auth, _ := st["authority"].(map[string]any)
	if st["stored"] != "2026-03-01T12:00:00.000Z" || st["version"] != "2.0.0" || auth == nil {
		t.Errorf("stored statement lacks what the store sets: %v", st)
	}
	if rec.Header().Get("Last-Modified") == "" || rec.Header().Get("X-Experience-API-Version") != "2.0.0" {
		t.Errorf("headers: %v", rec.Header())
	}
	if rec := f.call(t, "b", "GET", "/xapi/statements?statementId="+id1, ""); rec.Code != 404 {
		t.Errorf("provider B reads A's statement: %d", rec.Code)
	}

	// Voiding hides it; voidedStatementId finds it.
	void := `{"actor":{"mbox":"mailto:jane@example.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},"object":{"objectType":"StatementRef","id":"` + id1 + `"}}`
	if rec := f.call(t, "a", "POST", "/xapi/statements", void); rec.Code != 200 {
		t.Fatalf("void: %d %s", rec.Code, rec.Body)
	}
	if rec := f.call(t, "a", "GET", "/xapi/statements?statementId="+id1, ""); rec.Code != 404 {
		t.Errorf("a voided statement by statementId: %d, want 404", rec.Code)
	}
	if rec := f.call(t, "a", "GET", "/xapi/statements?voidedStatementId="+id1, ""); rec.Code != 200 {
		t.Errorf("a voided statement by voidedStatementId: %d, want 200", rec.Code)
	}
}

func TestStatementPaging(t *testing.T) {
	f := newFixture(t)
	var batch []string
	for i := range 5 {
		batch = append(batch, statement(fmt.Sprintf("00000000-0000-4000-8000-%012d", i)))
	}
	if rec := f.call(t, "a", "POST", "/xapi/statements", "["+strings.Join(batch, ",")+"]"); rec.Code != 200 {
		t.Fatalf("batch: %d %s", rec.Code, rec.Body)
	}
	seen := 0
	path := "/xapi/statements?limit=2&ascending=true"
	for page := 0; path != "" && page < 5; page++ {
		rec := f.call(t, "a", "GET", path, "")
		if rec.Code != 200 || rec.Header().Get("X-Experience-API-Consistent-Through") == "" {
			t.Fatalf("GET %s: %d %v", path, rec.Code, rec.Header())
		}
		var res struct {
			Statements []map[string]any
			More       string
		}
		json.Unmarshal(rec.Body.Bytes(), &res)
		for _, st := range res.Statements {
			if want := fmt.Sprintf("00000000-0000-4000-8000-%012d", seen); st["id"] != want {
				t.Errorf("statement %d is %v, want %s", seen, st["id"], want)
			}
			seen++
		}
		path = res.More
	}
	if seen != 5 {
		t.Errorf("pages held %d statements, want 5", seen)
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name, user, method, path, body string
		headers                        []string
		want                           int
	}{
		{"no credentials", "", "GET", "/xapi/statements", "", nil, 401},
		{"no version header", "a", "GET", "/xapi/statements", "", []string{"X-Experience-API-Version", ""}, 400},
		{"an unknown version", "a", "GET", "/xapi/statements", "", []string{"X-Experience-API-Version", "0.9"}, 400},
		{"an unknown parameter", "a", "GET", "/xapi/statements?colour=blue", "", nil, 400},
		{"statementId with a filter", "a", "GET", "/xapi/statements?statementId=" + id1 + "&verb=http://x.org/v", "", nil, 400},
		{"an invalid statement", "a", "POST", "/xapi/statements", `{"actor":{}}`, nil, 400},
		{"a batch with one id twice", "a", "POST", "/xapi/statements", "[" + statement(id1) + "," + statement(id1) + "]", nil, 400},
		{"PUT without statementId", "a", "PUT", "/xapi/statements", statement(id1), nil, 400},
		{"PUT under another id", "a", "PUT", "/xapi/statements?statementId=00000000-0000-4000-8000-000000000001", statement(id1), nil, 400},
		{"a body too large", "a", "POST", "/xapi/statements", `{"x":"` + strings.Repeat("a", 70<<10) + `"}`, nil, 413},
		{"form data", "a", "POST", "/xapi/statements", statement(id1), []string{"Content-Type", "multipart/form-data; boundary=x"}, 400},
		{"an attachment without its part", "a", "POST", "/xapi/statements", strings.TrimSuffix(statement(id1), "}") +
			`,"attachments":[{"usageType":"http://x.org/u","display":{"en":"x"},"contentType":"text/plain","length":1,"sha2":"abc"}]}`, nil, 400},
		{"about needs no credentials", "", "GET", "/xapi/about", "", nil, 200},
	} {
		rec := f.call(t, c.user, c.method, c.path, c.body, c.headers...)
		if rec.Code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, rec.Code, rec.Body, c.want)
		}
		if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"message"`) {
			t.Errorf("%s: error without a message: %s", c.name, rec.Body)
		}
	}
}

func TestAttachments(t *testing.T) {
	f := newFixture(t)
	content := "hello"
	sum := "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	st := strings.TrimSuffix(statement(id1), "}") +
		`,"attachments":[{"usageType":"http://x.org/u","display":{"en":"x"},"contentType":"text/plain","length":5,"sha2":"` + sum + `"}]}`
	body := func(hash string) string {
		return "--b\r\nContent-Type: application/json\r\n\r\n" + st + "\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\nX-Experience-API-Hash: " +
			hash + "\r\n\r\n" + content + "\r\n--b--\r\n"
	}
	mp := []string{"Content-Type", "multipart/mixed; boundary=b"}
	if rec := f.call(t, "a", "POST", "/xapi/statements", body(strings.Repeat("0", 64)), mp...); rec.Code != 400 {
		t.Errorf("a part whose hash is wrong: %d, want 400", rec.Code)
	}
	if rec := f.call(t, "a", "POST", "/xapi/statements", body(sum), mp...); rec.Code != 200 {
		t.Fatalf("multipart: %d %s", rec.Code, rec.Body)
	}
	rec := f.call(t, "a", "GET", "/xapi/statements?attachments=true&statementId="+id1, "")
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "multipart/mixed") || !strings.Contains(rec.Body.String(), "\r\n\r\nhello\r\n") {
		t.Errorf("GET with attachments: %v\n%s", rec.Header(), rec.Body)
	}
}

func TestDocuments(t *testing.T) {
	f := newFixture(t)
	p := "/xapi/agents/profile?profileId=prefs&agent=" + `%7B%22mbox%22%3A%22mailto%3Ajane%40example.org%22%7D`
	if rec := f.call(t, "a", "PUT", p, `{"a":1}`, "If-None-Match", "*"); rec.Code != 204 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if rec := f.call(t, "a", "PUT", p, `{"a":2}`); rec.Code != 409 {
		t.Errorf("PUT over a document without a precondition: %d, want 409", rec.Code)
	}
	if rec := f.call(t, "a", "PUT", p, `{"a":2}`, "If-Match", `"wrong"`); rec.Code != 412 {
		t.Errorf("PUT with a wrong ETag: %d, want 412", rec.Code)
	}
	rec := f.call(t, "a", "GET", p, "")
	etag := rec.Header().Get("ETag")
	if rec.Code != 200 || rec.Body.String() != `{"a":1}` || etag == "" {
		t.Fatalf("GET: %d %q %q", rec.Code, rec.Body, etag)
	}
	if rec := f.call(t, "a", "POST", p, `{"b":2}`, "If-Match", etag); rec.Code != 204 {
		t.Errorf("POST merge: %d %s", rec.Code, rec.Body)
	}
	if rec := f.call(t, "a", "GET", p, ""); rec.Body.String() != `{"a":1,"b":2}` {
		t.Errorf("merged: %s", rec.Body)
	}
	if rec := f.call(t, "a", "POST", p, `not json`, "Content-Type", "text/plain"); rec.Code != 400 {
		t.Errorf("POST of text over JSON: %d, want 400", rec.Code)
	}
	if rec := f.call(t, "b", "GET", p, ""); rec.Code != 404 {
		t.Errorf("provider B reads A's document: %d", rec.Code)
	}
	if rec := f.call(t, "a", "DELETE", p, ""); rec.Code != 204 {
		t.Errorf("DELETE: %d", rec.Code)
	}
	if rec := f.call(t, "a", "GET", p, ""); rec.Code != 404 {
		t.Errorf("after DELETE: %d", rec.Code)
	}
}

// FuzzStatements posts any body as statements, as JSON and as a
// multipart/mixed body: the answer is never a 5xx and an error is JSON
// with a message.
func FuzzStatements(f *testing.F) {
	fx := newFixture(f)
	f.Add([]byte(statement(id1)))
	f.Add([]byte("[" + statement(id1) + "]"))
	f.Add([]byte(`{"actor":{"objectType":"Group","member":[{"mbox":"mailto:a@b.org"}]},"verb":{"id":"http://x.org/v"},"object":{"objectType":"SubStatement"}}`))
	f.Add([]byte(`{"result":{"score":{"raw":1e400}}}`))
	f.Add([]byte("--b\r\nContent-Type: application/json\r\n\r\n" + statement(id1) + "\r\n--b\r\nX-Experience-API-Hash: 00\r\n\r\nhello\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = xapi.DecodeStatements(body) // never panics
		if _, err := xapi.DecodeStatement(body); err != nil && cmex.ErrorCode(err) != cmex.EINVALID {
			t.Fatalf("a line refused with %q: %v", cmex.ErrorCode(err), err)
		}
		for _, ct := range []string{"application/json", "multipart/mixed; boundary=b"} {
			rec := fx.call(t, "a", "POST", "/xapi/statements", string(body), "Content-Type", ct)
			if rec.Code >= 500 {
				t.Fatalf("%s: HTTP %d: %s", ct, rec.Code, rec.Body)
			}
			if rec.Code >= 400 {
				b, _ := io.ReadAll(bytes.NewReader(rec.Body.Bytes()))
				var out map[string]any
				if json.Unmarshal(b, &out) != nil || out["error"] == nil {
					t.Fatalf("%s: HTTP %d without a JSON error: %s", ct, rec.Code, b)
				}
			}
		}
	})
}

// A signed statement whose JWS carries its certificate is verified: the
// right signature is accepted, another key's refused.
func TestSignedStatement(t *testing.T) {
	f := newFixture(t)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: today.Add(-time.Hour), NotAfter: today.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		signer *rsa.PrivateKey
		want   int
	}{{key, 200}, {other, 400}} {
		id := fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i)
		payload := statement(id)
		hdr, _ := json.Marshal(map[string]any{"alg": "RS256", "x5c": []string{base64.StdEncoding.EncodeToString(der)}})
		signed := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
		sum := sha256.Sum256([]byte(signed))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, c.signer, crypto.SHA256, sum[:])
		jws := signed + "." + base64.RawURLEncoding.EncodeToString(sig)
		jwsSum := sha256.Sum256([]byte(jws))
		st := strings.TrimSuffix(payload, "}") + `,"attachments":[{"usageType":"http://adlnet.gov/expapi/attachments/signature","display":{"en":"sig"},` +
			`"contentType":"application/octet-stream","length":` + fmt.Sprint(len(jws)) + `,"sha2":"` + hex.EncodeToString(jwsSum[:]) + `"}]}`
		body := "--b\r\nContent-Type: application/json\r\n\r\n" + st + "\r\n--b\r\nContent-Type: application/octet-stream\r\nX-Experience-API-Hash: " +
			hex.EncodeToString(jwsSum[:]) + "\r\n\r\n" + jws + "\r\n--b--\r\n"
		if rec := f.call(t, "a", "POST", "/xapi/statements", body, "Content-Type", "multipart/mixed; boundary=b"); rec.Code != c.want {
			t.Errorf("signed by key %d: %d %s, want %d", i, rec.Code, rec.Body, c.want)
		}
	}
}

// TestVersionDeclared checks the X-Experience-API-Version each answer
// declares: the client's version line, and 0.9 for the refusal of a
// request that names none (a pre-header, 0.9 request).
func TestVersionDeclared(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name, method, path, version string
		wantCode                    int
		want                        string
	}{
		{"no header", "GET", "/xapi/statements", "", 400, "0.9"},
		{"no header, a PUT", "PUT", "/xapi/statements?statementId=" + id1, "", 400, "0.9"},
		{"a 1.0 client", "GET", "/xapi/statements", "1.0.1", 200, "1.0.3"},
		{"a 1.0 client, 1.0", "GET", "/xapi/statements", "1.0", 200, "1.0.3"},
		{"a 2.0 client", "GET", "/xapi/statements", "2.0.0", 200, "2.0.0"},
		{"a newer version", "GET", "/xapi/statements", "3.0.0", 400, "2.0.0"},
		{"about without a header", "GET", "/xapi/about", "", 200, "2.0.0"},
	} {
		rec := f.call(t, "a", c.method, c.path, statement(id1), "X-Experience-API-Version", c.version)
		if rec.Code != c.wantCode || rec.Header().Get("X-Experience-API-Version") != c.want {
			t.Errorf("%s: %d declaring %q, want %d declaring %q (%s)", c.name, rec.Code,
				rec.Header().Get("X-Experience-API-Version"), c.wantCode, c.want, rec.Body)
		}
	}
}
