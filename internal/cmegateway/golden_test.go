package cmegateway_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden holds every answer of the society services and the credit
// feed to testdata/golden, byte for byte. Run with -update after a
// deliberate change (a corrected GUESS, say) and read the diff.
func TestGolden(t *testing.T) {
	e := newEnv(t)
	e.handler.DefaultSociety = "EXAMPLE" // as -sandbox has it; RAD answers at /cmegateway/RAD/…
	ctx := context.Background()

	// A second local society that approved EXAMPLE, and an account bound
	// to both, so that EXAMPLE can pull through the credit feed.
	other := &cmex.Society{Code: "RAD", Name: "Radiology Society", Kind: cmex.SocietyLocal}
	if err := e.store.Societies.CreateSociety(ctx, other); err != nil {
		t.Fatal(err)
	}
	m := cmex.Member{SocietyID: other.ID, MemberID: "R-42", Username: "ned", GivenName: "Ned", FamilyName: "Baker"}
	if err := e.store.Societies.AddMember(ctx, &m, "rad-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Societies.AddSocietyCredits(ctx, other.ID, "R-42", []cmex.CEU{
		ceu("Radiology Society", "Breast Imaging Update", "2025-03-08", 650),
	}); err != nil {
		t.Fatal(err)
	}
	// RAD serves gateways holding its credential only.
	_, radSecret, err := e.store.Societies.AddOrderCredential(ctx, other.ID, "test-gateway")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Societies.Approve(ctx, other.ID, e.example.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Societies.SetFeedLogin(ctx, e.example.ID, "example-admin", "sandbox"); err != nil {
		t.Fatal(err)
	}
	a := e.account(t, "ned.baker")
	for _, b := range [][3]string{{"EXAMPLE", "NedBaker", "mYpAsSwOrD"}, {"RAD", "ned", "rad-password"}} {
		if _, err := e.gateway.Bind(ctx, a.ID, b[0], b[1], b[2]); err != nil {
			t.Fatal(err)
		}
	}

	login := func(user, password, method string) url.Values {
		return url.Values{"customer_username_crypt": {user}, "customer_password_crypt": {password}, "customer_binding_crypt_method": {method}}
	}
	feed := func(user, password, customer string) string {
		return "/cmegateway/credit_feed?" + url.Values{"username": {user}, "password": {password}, "customer": {customer}}.Encode()
	}
	type golden struct {
		name string
		path string
		form url.Values // nil: GET
		// user and password, when set, go as HTTP Basic.
		user, password string
	}
	plain := func(name, path string, form url.Values) golden { return golden{name: name, path: path, form: form} }
	cases := []golden{
		plain("binding-ok", "/cmegateway/customer_binding", login("NedBaker", "mYpAsSwOrD", "plaintext")),
		plain("binding-misspelt-password-field", "/cmegateway/EXAMPLE/customer_binding",
			url.Values{"customer_username_crypt": {"nedbaker"}, "cusomter_password_crypt": {"mYpAsSwOrD"}, "customer_binding_crypt_method": {"PLAINTEXT"}}),
		plain("binding-refused", "/cmegateway/customer_binding", login("NOTNedBaker", "NOTmYpAsSwOrD", "plaintext")),
		plain("binding-wrong-password", "/cmegateway/customer_binding", login("NedBaker", "mypassword", "plaintext")),
		plain("binding-md5", "/cmegateway/customer_binding", login("NedBaker", "0f1e2d", "md5")),
		plain("binding-no-method", "/cmegateway/customer_binding", login("NedBaker", "mYpAsSwOrD", "")),
		plain("binding-empty", "/cmegateway/customer_binding", url.Values{}),
		plain("binding-unknown-society", "/cmegateway/NOPE/customer_binding", login("NedBaker", "mYpAsSwOrD", "plaintext")),
		// The seed's diagram: customer_binding "via HTTP GET", the fields
		// in the query string.
		plain("binding-get", "/cmegateway/customer_binding?"+login("NedBaker", "mYpAsSwOrD", "plaintext").Encode(), nil),
		plain("binding-get-refused", "/cmegateway/RAD/customer_binding?"+login("ned", "wrong", "plaintext").Encode(), nil),
		plain("order-ok", "/cmegateway/ceu_order", url.Values{"customer_id": {"01234567"}}),
		plain("order-unknown-customer", "/cmegateway/ceu_order", url.Values{"customer_id": {"99999999"}}),
		plain("order-no-customer-id", "/cmegateway/ceu_order", url.Values{}),
		{name: "order-other-society", path: "/cmegateway/RAD/ceu_order", form: url.Values{"customer_id": {"R-42"}}, user: "test-gateway", password: radSecret},
		{name: "order-gateway-not-allowed", path: "/cmegateway/RAD/ceu_order", form: url.Values{"customer_id": {"R-42"}}},
		{name: "order-wrong-credential", path: "/cmegateway/RAD/ceu_order", form: url.Values{"customer_id": {"R-42"}}, user: "test-gateway", password: "cmexgw_" + strings.Repeat("0", 64)},
		plain("feed-ok", feed("example-admin", "sandbox", "01234567"), nil),
		plain("feed-invalid-login", feed("example-admin", "wrong", "01234567"), nil),
		plain("feed-no-login", "/cmegateway/credit_feed?customer=01234567", nil),
		plain("feed-not-opted-in", feed("example-admin", "sandbox", "99999999"), nil),
	}
	for _, tc := range cases {
		var status int
		var body string
		switch {
		case tc.user != "":
			req, _ := http.NewRequest(http.MethodPost, e.server.URL+tc.path, strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(tc.user, tc.password)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			status, body = resp.StatusCode, string(b)
		case tc.form == nil:
			status, body = e.get(t, tc.path)
		default:
			status, body = e.post(t, tc.path, tc.form)
		}
		got := fmt.Sprintf("HTTP %d\n\n%s", status, body)
		if status >= 500 {
			t.Errorf("%s: HTTP %d", tc.name, status)
		}
		if strings.Contains(body, "mYpAsSwOrD") || strings.Contains(body, "sandbox<") {
			t.Errorf("%s: the answer echoes a password:\n%s", tc.name, body)
		}
		cmextest.Golden(t, filepath.Join("testdata", "golden", tc.name+".xml"), got, *update)
	}
}

// TestBadRequests: whatever arrives, the answer is the protocol's document
// with a 4xx, never a 5xx, and nothing is bound.
func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	for name, tc := range map[string]struct {
		path, contentType, body string
		want                    int
	}{
		"huge body":       {"/cmegateway/customer_binding", "application/x-www-form-urlencoded", "customer_username_crypt=" + strings.Repeat("x", 100<<10), 413},
		"bad encoding":    {"/cmegateway/customer_binding", "application/x-www-form-urlencoded", "customer_username_crypt=%zz", 400},
		"bad order form":  {"/cmegateway/ceu_order", "application/x-www-form-urlencoded", "customer_id=%", 400},
		"xml body":        {"/cmegateway/ceu_order", "application/xml", "<customer_id>01234567</customer_id>", 200},
		"unknown society": {"/cmegateway/%3Cscript%3E/ceu_order", "application/x-www-form-urlencoded", "customer_id=1", 404},
	} {
		res, err := http.Post(e.server.URL+tc.path, tc.contentType, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.want || !strings.HasPrefix(string(b), "<?xml") {
			t.Errorf("%s: %d %s", name, res.StatusCode, b)
		}
		if strings.Contains(string(b), "<script>") {
			t.Errorf("%s: the answer carries markup from the request: %s", name, b)
		}
	}
	if n := cmextest.Count(t, e.store.DB, "gateway_bindings"); n != 0 {
		t.Errorf("%d bindings after bad requests", n)
	}
}
