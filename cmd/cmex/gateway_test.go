package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmegateway"
)

// remoteSociety is a simulated society on its own server: one member whose
// credits it serves after delay, or a failure when broken.
func remoteSociety(t *testing.T, code, username, password, memberID string, delay time.Duration, broken bool, credits ...cmex.CEU) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		today := cmex.DateOf(time.Now())
		switch r.URL.Path {
		case "/customer_binding":
			b := &cmegateway.BindingResponse{Source: code, Date: today, CryptMethod: "plaintext", Username: r.FormValue("customer_username_crypt"),
				Status: "User record not found. Contact " + code + " membership."}
			if r.FormValue("customer_username_crypt") == username && r.FormValue("customer_password_crypt") == password {
				b.Status, b.MemberID = "OK", memberID
			}
			_ = cmegateway.WriteBinding(w, b)
		case "/ceu_order":
			if broken {
				http.Error(w, "Internal Server Error", http.StatusInternalServerError)
				return
			}
			o := &cmegateway.OrderResponse{Source: code, Date: today, Status: "User record not found."}
			if r.FormValue("customer_id") == memberID {
				o.Status, o.Customer = "OK", &cmex.Customer{ID: memberID, GivenName: "Ned", FamilyName: "Baker", CEUs: credits}
			}
			_ = cmegateway.WriteOrder(w, o)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// apiCall sends a JSON request and decodes the JSON answer into out.
func (s *server) apiCall(method, path string, auth func(*http.Request), body, out any) int {
	s.t.Helper()
	var rd bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = *bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, &rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			s.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return res.StatusCode
}

// TestEndToEndGateway runs the CME Gateway as a physician meets it: the
// sandbox's local societies, three remote ones (one slow, one failing),
// bindings through the JSON API, and one transcript from all of them.
func TestEndToEndGateway(t *testing.T) {
	seed := cmegateway.ExampleCredits()
	acr := remoteSociety(t, "ACR", "nbaker", "acr-secret", "ACR-77", 0, false,
		seed[0], // the seed's symposium, also reported by EXAMPLE: shown once
		cmex.CEU{Sponsor: "ACR", Title: "Radiation Safety 2026", Date: cmex.MustParseDate("2026-02-02"), ActivityType: "Enduring Material",
			Details: []cmex.CEUDetail{{Type: cmex.DetailCME, Credits: 500, Category: cmex.CategoryAMA1}}})
	slow := remoteSociety(t, "SLOW", "ned", "slow-secret", "S-1", 1500*time.Millisecond, false,
		cmex.CEU{Sponsor: "Slow Society", Title: "Patient Safety Grand Rounds", Date: cmex.MustParseDate("2026-04-04"),
			Details: []cmex.CEUDetail{{Type: cmex.DetailMOC, Focus: []string{"Patient Care"}, Credits: 200, Category: cmex.CategoryAMA1}}})
	down := remoteSociety(t, "DOWN", "ned", "down-secret", "D-1", 0, true)

	db := "sqlite:" + filepath.Join(t.TempDir(), "cmex.db")
	env := []string{"CMEX_DB=" + db}
	// The remote societies are on 127.0.0.1.
	s := startServer(t, env, "-sandbox", "-gateway-timeout", "5s", "-allow-private-destinations")

	opToken, code := runCLI(t, env, "", "apikey", "add", "-operator", "-name", "e2e")
	if code != 0 {
		t.Fatalf("apikey add -operator: %s", opToken)
	}
	opToken = strings.TrimSpace(strings.Split(opToken, "\n")[0])
	operator := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+opToken) }
	for code, srv := range map[string]*httptest.Server{"ACR": acr, "SLOW": slow, "DOWN": down} {
		var out map[string]any
		if st := s.apiCall("POST", "/api/v1/societies", operator, map[string]string{
			"code": code, "name": code + " Society", "bindingUrl": srv.URL + "/customer_binding", "orderUrl": srv.URL + "/ceu_order"}, &out); st != 201 {
			t.Fatalf("add society %s: %d %v", code, st, out)
		}
	}

	// The sandbox's Ned is bound to EXAMPLE and RAD; he binds the three
	// remote societies with their logins, which are never stored.
	ned := func(r *http.Request) { r.SetBasicAuth("ned.baker", "sandbox") }
	for _, b := range [][3]string{{"ACR", "nbaker", "acr-secret"}, {"SLOW", "ned", "slow-secret"}, {"DOWN", "ned", "down-secret"}} {
		var out map[string]any
		if st := s.apiCall("POST", "/api/v1/account/bindings", ned, map[string]string{"society": b[0], "username": b[1], "password": b[2]}, &out); st != 201 {
			t.Fatalf("bind %s: %d %v", b[0], st, out)
		}
	}
	var refused map[string]map[string]any
	if st := s.apiCall("POST", "/api/v1/account/bindings", ned, map[string]string{"society": "ACR", "username": "nbaker", "password": "wrong"}, &refused); st != 401 ||
		!strings.Contains(fmt.Sprint(refused["error"]["message"]), "User record not found") {
		t.Errorf("a wrong society password: %d %v", st, refused)
	}
	// Another account cannot take Ned's EXAMPLE membership.
	if st := s.apiCall("POST", "/api/v1/accounts", nil, map[string]string{"username": "mallory", "password": "mallory-pw", "givenName": "M", "familyName": "M"}, nil); st != 202 {
		t.Fatalf("sign up: %d", st)
	}
	mallory := func(r *http.Request) { r.SetBasicAuth("mallory", "mallory-pw") }
	if st := s.apiCall("POST", "/api/v1/account/bindings", mallory, map[string]string{"society": "EXAMPLE", "username": "NedBaker", "password": "mYpAsSwOrD"}, nil); st != 409 {
		t.Errorf("binding someone else's membership: %d", st)
	}
	var self map[string]any
	if st := s.apiCall("POST", "/api/v1/account/self-credits", ned, map[string]any{"title": "Reading: Radiology, vol. 318", "date": "2026-05-01",
		"details": []map[string]any{{"type": "CME", "credits": 1, "category": "CAT1"}}}, &self); st != 201 {
		t.Fatalf("self-attested credit: %d %v", st, self)
	}

	var tr cmex.Transcript
	if st := s.apiCall("GET", "/api/v1/account/transcript", ned, nil, &tr); st != 200 {
		t.Fatalf("transcript: %d", st)
	}
	status := map[string]cmex.TranscriptSource{}
	for _, src := range tr.Sources {
		status[src.Society] = src
	}
	for code, want := range map[string]string{"ACR": "ok", "SLOW": "ok", "EXAMPLE": "ok", "RAD": "ok", "DOWN": "failed"} {
		if status[code].Status != want {
			t.Errorf("%s: %+v, want %s", code, status[code], want)
		}
	}
	if !strings.Contains(status["DOWN"].Error, "HTTP 500") {
		t.Errorf("the failure marker does not say why: %+v", status["DOWN"])
	}
	// EXAMPLE 17 + 13.25, RAD 6.5, ACR 5 (its copy of the symposium counted
	// once), SLOW 2, self-attested 1.
	if tr.Totals.Category1 != 1700+1325+650+500+200+100 || tr.Totals.Category1Subspecialty != 300+1325+650 || tr.Totals.SelfAttestedCategory1 != 100 {
		t.Errorf("totals = %+v", tr.Totals)
	}
	if len(tr.Credits) != 6 || strings.Join(tr.Credits[0].Sources, ",") != "ACR,EXAMPLE" {
		t.Errorf("credits = %+v", tr.Credits)
	}

	// The CLI prints the same transcript, with the failure marked.
	out, code := runCLI(t, env, "", "transcript", "-account", "ned.baker")
	for _, want := range []string{"Total Overall Category 1 Credits: 44.75", "Total Category 1 Subspecialties Credits: 22.75", "FAILED: it answered HTTP 500",
		"ACR+EXAMPLE", "self-attested", "WARNING: 1 of 5 societies did not answer"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("cmex transcript lacks %q (exit %d):\n%s", want, code, out)
		}
	}

	// No society password and no feed credential reaches the log.
	feed := s.base + "/cmegateway/credit_feed?username=example-admin&password=sandbox&customer=01234567"
	res, err := http.Get(feed)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(res.Body)
	res.Body.Close()
	if !strings.Contains(body.String(), "Chest CT: Interstitial Lung Disease Update") || strings.Contains(body.String(), "Pneumoconioses") {
		t.Errorf("credit feed for EXAMPLE should hold RAD's credit only:\n%s", body.String())
	}
	s.stop()
	for _, secret := range []string{"acr-secret", "slow-secret", "down-secret", "mYpAsSwOrD", "password=", "mallory-pw"} {
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}
