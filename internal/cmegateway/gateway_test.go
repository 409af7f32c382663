package cmegateway_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
)

func TestBindLocalAndRemote(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.account(t, "ned")
	e.remote(t, "ACR", &simSociety{code: "ACR", username: "ned", password: "acr-pw", memberID: "A-1"})

	b, err := e.gateway.Bind(ctx, a.ID, "example", "NedBaker", "mYpAsSwOrD")
	if err != nil || b.MemberID != "01234567" || b.SocietyCode != "EXAMPLE" {
		t.Fatalf("local bind = %+v, %v", b, err)
	}
	if _, err := e.gateway.Bind(ctx, a.ID, "EXAMPLE", "NedBaker", "wrong"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED ||
		!strings.Contains(cmex.ErrorMessage(err), "User record not found") {
		t.Errorf("local bind, wrong password: %v", err)
	}
	if _, err := e.gateway.Bind(ctx, a.ID, "ACR", "ned", "wrong"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED ||
		!strings.Contains(cmex.ErrorMessage(err), "User record not found.") {
		t.Errorf("remote bind, wrong password: %v", err)
	}
	b, err = e.gateway.Bind(ctx, a.ID, "ACR", "ned", "acr-pw")
	if err != nil || b.MemberID != "A-1" {
		t.Fatalf("remote bind = %+v, %v", b, err)
	}
	bs, err := e.store.Gateway.Bindings(ctx, a.ID)
	if err != nil || len(bs) != 2 || bs[0].SocietyCode != "ACR" || bs[1].SocietyCode != "EXAMPLE" {
		t.Fatalf("bindings = %+v, %v", bs, err)
	}
	// Another account cannot bind to the same member.
	other := e.account(t, "impostor")
	if _, err := e.gateway.Bind(ctx, other.ID, "EXAMPLE", "NedBaker", "mYpAsSwOrD"); cmex.ErrorCode(err) != cmex.ECONFLICT {
		t.Errorf("second account binding the same member: %v", err)
	}
	// Nothing of the society passwords is stored anywhere.
	for _, table := range []string{"gateway_bindings", "gateway_accounts", "gateway_orders"} {
		rows, err := e.store.DB.SQL().Query("SELECT * FROM " + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if s, ok := v.(string); ok && (strings.Contains(s, "acr-pw") || strings.Contains(s, "mYpAsSwOrD")) {
					t.Errorf("%s stores a society password: %q", table, s)
				}
			}
		}
		rows.Close()
	}
}

// A society that reads the password from the field the seed's parameter
// table names (cusomter_password_crypt) binds as one that reads the
// example's spelling does: the client sends both.
func TestBindSocietyOfEitherSpelling(t *testing.T) {
	e := newEnv(t)
	a := e.account(t, "ned")
	e.remote(t, "TABLE", &simSociety{code: "TABLE", username: "ned", password: "pw", memberID: "T-1", tableSpelling: true})
	e.remote(t, "EXAMPLE2", &simSociety{code: "EXAMPLE2", username: "ned", password: "pw", memberID: "E-1"})
	for code, want := range map[string]string{"TABLE": "T-1", "EXAMPLE2": "E-1"} {
		b, err := e.gateway.Bind(context.Background(), a.ID, code, "ned", "pw")
		if err != nil || b.MemberID != want {
			t.Errorf("bind %s = %+v, %v", code, b, err)
		}
	}
}

func TestBindUnreachableSociety(t *testing.T) {
	e := newEnv(t)
	a := e.account(t, "ned")
	e.remote(t, "DOWN", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", 500) }))
	_, err := e.gateway.Bind(context.Background(), a.ID, "DOWN", "ned", "pw")
	if cmex.ErrorCode(err) != cmex.EUNAVAILABLE || !strings.Contains(cmex.ErrorMessage(err), "HTTP 500") {
		t.Errorf("bind with a failing society: %v", err)
	}
}

// hostile are societies that answer anything but a ceu_order.
var hostile = map[string]http.HandlerFunc{
	"GARBAGE": func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("\x00\x01 not xml at all <<<")) },
	"HTML": func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<!DOCTYPE html><html><body>Maintenance</body></html>"))
	},
	"EMPTY": func(w http.ResponseWriter, r *http.Request) {},
	"ERROR": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "Internal Server Error", 500) },
	"DEEP":  func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(strings.Repeat("<CEU_ORDER>", 10000))) },
	"HUGE": func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<CEU_ORDER>" + strings.Repeat("x", 9<<20)))
	},
	"WRONG": func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<CUSTOMER_BINDING><STATUS>OK</STATUS></CUSTOMER_BINDING>"))
	},
	"BADNUM": func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<CEU_ORDER><STATUS>OK</STATUS><CUSTOMER customer_id="1"><CEU><CEU_DATE>2020-01-01</CEU_DATE><CEU_DETAIL type="CME"><CEU_CREDITS>lots</CEU_CREDITS></CEU_DETAIL></CEU></CUSTOMER></CEU_ORDER>`))
	},
	"REFUSES": func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<CEU_ORDER><SOURCE>X</SOURCE><STATUS>User record not found.</STATUS></CEU_ORDER>`))
	},
	"SILENT": func(w http.ResponseWriter, r *http.Request) {
		// The server notices the client leaving only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	},
}

func TestTranscriptSurvivesFailingSocieties(t *testing.T) {
	e := newEnv(t)
	e.gateway.Timeout = 300 * time.Millisecond
	ctx := context.Background()
	a := e.account(t, "ned")
	if _, err := e.gateway.Bind(ctx, a.ID, "EXAMPLE", "NedBaker", "mYpAsSwOrD"); err != nil {
		t.Fatal(err)
	}
	for code, h := range hostile {
		s := e.remote(t, code, h)
		if err := e.store.Gateway.SaveBinding(ctx, &cmex.Binding{AccountID: a.ID, SocietyID: s.ID, MemberID: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	tr, err := e.gateway.Transcript(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the transcript took %v: a silent society held it past its timeout", d)
	}
	if len(tr.Sources) != len(hostile)+1 {
		t.Fatalf("sources = %+v", tr.Sources)
	}
	for _, s := range tr.Sources {
		switch {
		case s.Society == "EXAMPLE":
			if s.Status != cmex.SourceOK || s.Credits != 2 {
				t.Errorf("EXAMPLE: %+v", s)
			}
		case s.Status != cmex.SourceFailed || s.Error == "":
			t.Errorf("%s: want failed with a reason, got %+v", s.Society, s)
		default:
			t.Logf("%s: %s", s.Society, s.Error)
		}
	}
	wantReason := map[string]string{"ERROR": "HTTP 500", "EMPTY": "empty body", "SILENT": "in time", "HTML": "HTML page",
		"HUGE": "larger than", "DEEP": "nested deeper", "REFUSES": "User record not found", "BADNUM": "not a number"}
	for _, s := range tr.Sources {
		if w, ok := wantReason[s.Society]; ok && !strings.Contains(s.Error, w) {
			t.Errorf("%s: reason %q lacks %q", s.Society, s.Error, w)
		}
	}
	if tr.Totals.Category1 != 3025 || tr.Totals.Category1Subspecialty != 1625 || len(tr.Credits) != 2 {
		t.Errorf("the example society's credits did not survive the others' failures: %+v", tr.Totals)
	}
}

func TestTranscriptCacheAndStale(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.account(t, "ned")
	sim := &simSociety{code: "ACR", username: "ned", password: "pw", memberID: "A-1",
		credits: []cmex.CEU{ceu("ACR", "Radiology Review", "2026-02-01", 800)}}
	up := true
	calls := 0
	e.remote(t, "ACR", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if !up {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		sim.ServeHTTP(w, r)
	}))
	if _, err := e.gateway.Bind(ctx, a.ID, "ACR", "ned", "pw"); err != nil {
		t.Fatal(err)
	}
	calls = 0
	tr, err := e.gateway.Transcript(ctx, a.ID)
	if err != nil || tr.Sources[0].Status != cmex.SourceOK || calls != 1 {
		t.Fatalf("first transcript: %+v, %v, %d calls", tr, err, calls)
	}
	// Within the TTL the cached answer is served without asking.
	e.store.Clock.Advance(e.gateway.CacheTTL / 2)
	tr, _ = e.gateway.Transcript(ctx, a.ID)
	if tr.Sources[0].Status != cmex.SourceCached || calls != 1 || len(tr.Credits) != 1 {
		t.Fatalf("cached transcript: %+v, %d calls", tr.Sources, calls)
	}
	// After it, the society is asked; when it fails, the last answer is
	// served and marked stale.
	e.store.Clock.Advance(e.gateway.CacheTTL)
	up = false
	tr, _ = e.gateway.Transcript(ctx, a.ID)
	if s := tr.Sources[0]; s.Status != cmex.SourceStale || !strings.Contains(s.Error, "HTTP 502") || calls != 2 {
		t.Fatalf("stale source: %+v, %d calls", s, calls)
	}
	if len(tr.Credits) != 1 || !tr.Credits[0].Stale || tr.Totals.Category1 != 800 {
		t.Fatalf("stale credits: %+v", tr.Credits)
	}
	if len(tr.Failed()) != 1 {
		t.Errorf("Failed() = %+v", tr.Failed())
	}
	up = true
	tr, _ = e.gateway.Transcript(ctx, a.ID)
	if tr.Sources[0].Status != cmex.SourceOK || tr.Credits[0].Stale {
		t.Errorf("recovered: %+v", tr.Sources[0])
	}
}

func TestTranscriptMergesRoutesAndSelfAttested(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.account(t, "ned")
	shared := ceu("Joint Radiology", "Chest CT Course", "2026-03-01", 1000)
	for _, code := range []string{"ACR", "RSNA"} {
		e.remote(t, code, &simSociety{code: code, username: "ned", password: "pw", memberID: code + "-1",
			credits: []cmex.CEU{shared, ceu(code, code+" Annual Meeting", "2026-05-01", 500)}})
		if _, err := e.gateway.Bind(ctx, a.ID, code, "ned", "pw"); err != nil {
			t.Fatal(err)
		}
	}
	self := &cmex.SelfCredit{AccountID: a.ID, CEU: ceu("Journal", "Reading: Radiology 2026", "2026-06-01", 200)}
	if err := e.store.Gateway.AddSelfCredit(ctx, self); err != nil {
		t.Fatal(err)
	}
	tr, err := e.gateway.Transcript(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Credits) != 4 {
		t.Fatalf("credits = %+v", tr.Credits)
	}
	first := tr.Credits[0]
	if first.Title != "Chest CT Course" || strings.Join(first.Sources, ",") != "ACR,RSNA" {
		t.Errorf("the credit both societies report: %+v", first)
	}
	last := tr.Credits[3]
	if !last.SelfAttested || last.Sources[0] != cmex.SourceSelf {
		t.Errorf("self-attested credit: %+v", last)
	}
	if tr.Totals.Category1 != 1000+500+500+200 || tr.Totals.SelfAttestedCategory1 != 200 {
		t.Errorf("totals = %+v", tr.Totals)
	}
}

func TestFeedApprovals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.account(t, "ned")
	puller := &cmex.Society{Code: "PULL", Name: "Pulling Society", Kind: cmex.SocietyLocal}
	if err := e.store.Societies.CreateSociety(ctx, puller); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Societies.SetFeedLogin(ctx, puller.ID, "pull-admin", "pull-pw"); err != nil {
		t.Fatal(err)
	}
	m := cmex.Member{SocietyID: puller.ID, MemberID: "P-9", Username: "ned", GivenName: "Ned", FamilyName: "Baker"}
	if err := e.store.Societies.AddMember(ctx, &m, "p"); err != nil {
		t.Fatal(err)
	}
	acr := e.remote(t, "ACR", &simSociety{code: "ACR", username: "ned", password: "pw", memberID: "A-1",
		credits: []cmex.CEU{ceu("ACR", "ACR Course", "2026-01-10", 400)}})
	for _, b := range [][3]string{{"PULL", "ned", "p"}, {"EXAMPLE", "NedBaker", "mYpAsSwOrD"}, {"ACR", "ned", "pw"}} {
		if _, err := e.gateway.Bind(ctx, a.ID, b[0], b[1], b[2]); err != nil {
			t.Fatal(err)
		}
	}
	// No society approved PULL yet: the feed is empty, not an error.
	c, err := e.gateway.Feed(ctx, "pull-admin", "pull-pw", "P-9")
	if err != nil || len(c.CEUs) != 0 || c.ID != "P-9" {
		t.Fatalf("feed before approvals = %+v, %v", c, err)
	}
	if err := e.store.Societies.Approve(ctx, acr.ID, puller.ID); err != nil {
		t.Fatal(err)
	}
	c, err = e.gateway.Feed(ctx, "pull-admin", "pull-pw", "P-9")
	if err != nil || len(c.CEUs) != 1 || c.CEUs[0].Title != "ACR Course" {
		t.Fatalf("feed with ACR's approval = %+v, %v", c, err)
	}
	if _, err := e.gateway.Feed(ctx, "pull-admin", "pull-pw", "A-1"); err == nil || !strings.Contains(err.Error(), "CUSTOMER_NOT_OPTED_IN") {
		t.Errorf("a member id of another society: %v", err)
	}
	if _, err := e.gateway.Feed(ctx, "pull-admin", "nope", "P-9"); err == nil || !strings.Contains(err.Error(), "INVALID_LOGIN") {
		t.Errorf("wrong login: %v", err)
	}
}

// A society this cmex hosts is read afresh at every transcript: a credit
// it gains shows at once, well within the cache's TTL, and nothing of it
// goes to the cache.
func TestLocalSocietyIsNeverCached(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.account(t, "ned")
	b, err := e.gateway.Bind(ctx, a.ID, "EXAMPLE", "NedBaker", "mYpAsSwOrD")
	if err != nil {
		t.Fatal(err)
	}
	first, err := e.gateway.Transcript(ctx, a.ID)
	if err != nil || first.Sources[0].Status != cmex.SourceOK {
		t.Fatalf("first transcript: %+v, %v", first, err)
	}
	ex, err := e.store.Societies.SocietyByCode(ctx, "EXAMPLE")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Societies.AddSocietyCredits(ctx, ex.ID, b.MemberID, []cmex.CEU{ceu("EXAMPLE", "A new course", "2026-03-01", 100)}); err != nil {
		t.Fatal(err)
	}
	e.store.Clock.Advance(time.Minute)
	tr, err := e.gateway.Transcript(ctx, a.ID)
	if err != nil || tr.Sources[0].Status != cmex.SourceOK || len(tr.Credits) != len(first.Credits)+1 {
		t.Fatalf("after a new credit: %d credits (were %d), %+v, %v", len(tr.Credits), len(first.Credits), tr.Sources, err)
	}
	var cached int
	if err := e.store.DB.SQL().QueryRow(`SELECT count(*) FROM gateway_orders`).Scan(&cached); err != nil || cached != 0 {
		t.Errorf("%d cached orders (%v); a local society's answers are not cached", cached, err)
	}
}
