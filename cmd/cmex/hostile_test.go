package main_test

import (
	"bytes"
	"database/sql"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/processsync"
)

// hostileXML are documents no XML surface may act on, each with what it
// tries: a body over the limit, a DTD with an entity bomb, an external
// entity, deep nesting, 100,000 elements, a 10 MB attribute, bytes that
// are not UTF-8, a NUL byte.
func hostileXML(root string) map[string][]byte {
	open, close := "<"+root+">", "</"+root+">"
	return map[string][]byte{
		"over the size limit": append([]byte(open+"<User>"), append(bytes.Repeat([]byte("a"), 11<<20), []byte("</User>"+close)...)...),
		"entity bomb": []byte(`<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">` +
			`<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>` + open + `<User>&d;</User>` + close),
		"external entity":  []byte(`<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + open + `<User>&x;</User>` + close),
		"deep nesting":     []byte(open + strings.Repeat("<a>", 100_000) + strings.Repeat("</a>", 100_000) + close),
		"100,000 elements": []byte(open + strings.Repeat("<User/>", 100_000) + close),
		"10 MB attribute":  []byte("<" + root + ` a="` + strings.Repeat("a", 10_000_000) + `">` + close),
		"invalid UTF-8":    []byte(open + "<User>\xff\xfe\xc3</User>" + close),
		"NUL byte":         []byte(open + "<User>a\x00b</User>" + close),
	}
}

// TestHostileInput sends hostile bodies to every surface that reads XML,
// and into the Data of the PARS services, whose documents are XML too:
// each is refused in the protocol's own shape (never a 5xx), the server
// stays up, and nothing is stored.
func TestHostileInput(t *testing.T) {
	dbFile := filepath.Join(t.TempDir(), "cmex.db")
	env := []string{"CMEX_DB=sqlite:" + dbFile}
	s := startServer(t, env, "-sandbox")
	client := &http.Client{Timeout: 60 * time.Second}
	send := func(path, contentType string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Origin", s.base)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	parsShape := regexp.MustCompile(`(?s)<(ResponseMessage|SearchResult)[^>]*>.*<ErrorMessages>.*<Code>\d+</Code>`)
	learnerShape := regexp.MustCompile(`(?s)<(ResponseMessage|ArrayOfResponseMessage|LearnerMatchResponse)[^>]*>.*(<Code>\d+</Code>|<Message>)`)
	faultShape := regexp.MustCompile(`(?s)<(\w+:)?Fault>.*<faultcode>`)
	surfaces := []struct {
		name, path, root, contentType string
		shape                         *regexp.Regexp
	}{
		{"SaveActivity", savePath, "SubmitMessage", "application/xml; charset=utf-8", parsShape},
		{"GetActivity", getPath, "SearchCriteria", "application/xml; charset=utf-8", parsShape},
		{"SaveLearnerActivity", saveLearnerPath, "SubmitMessage", "application/xml; charset=utf-8", learnerShape},
		{"GetLearnerMatch", matchPath, "LearnerMatchRequest", "application/xml; charset=utf-8", learnerShape},
		{"GetRoleData", processsync.Path, "Envelope", "text/xml; charset=utf-8", faultShape},
	}
	for _, sf := range surfaces {
		for what, body := range hostileXML(sf.root) {
			status, out := send(sf.path, sf.contentType, body)
			if status >= 500 || !sf.shape.MatchString(out) {
				t.Errorf("%s, %s: HTTP %d, not a refusal in the protocol's shape: %.300s", sf.name, what, status, out)
			}
		}
	}
	// Inside the Data of a SubmitMessage, with right credentials.
	for what, doc := range hostileXML("ACCMEActivities") {
		if what == "over the size limit" {
			continue // the envelope is over the limit already
		}
		for _, path := range []string{savePath, saveLearnerPath} {
			status, out := send(path, "application/xml; charset=utf-8", submit(string(doc), providerA, "2021"))
			if status >= 500 || !strings.Contains(out, "<StatusCode>Rejected</StatusCode>") {
				t.Errorf("%s Data, %s: HTTP %d: %.300s", path, what, status, out)
			}
		}
	}
	// The CME Gateway's form and the JSON API.
	for what, body := range hostileXML("x") {
		if status, out := send("/cmegateway/customer_binding", "application/x-www-form-urlencoded",
			[]byte("customer_username_crypt="+url.QueryEscape(string(body[:min(len(body), 1<<20)]))+"&customer_password_crypt=x&customer_binding_crypt_method=plaintext")); status >= 500 || !strings.Contains(out, "<STATUS>") {
			t.Errorf("customer_binding, %s: HTTP %d: %.300s", what, status, out)
		}
		req, _ := http.NewRequest(http.MethodPost, s.base+"/api/v1/learner-records", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(providerA.user, providerA.password)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 || !strings.Contains(string(b), `"code"`) {
			t.Errorf("JSON API, %s: HTTP %d: %.300s", what, resp.StatusCode, b)
		}
	}

	// Still up, and nothing stored.
	if resp, err := http.Get(s.base + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the hostile input the server is not ready: %v", err)
	}
	s.stop()
	d, err := sql.Open("sqlite", "file:"+dbFile+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, table := range []string{"activities", "learner_records"} {
		var n int
		if err := d.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s holds %d rows after the hostile input (%v)", table, n, err)
		}
	}
}

var titleRE = regexp.MustCompile(`title uniqueElementName="title"><lom:string>([^<]*)</lom:string>`)

// TestMetacharacters: SQL and template metacharacters in a record's text
// are data. An activity titled with them is stored and read back exactly,
// the ledger goes on working, and the portal shows the title escaped.
func TestMetacharacters(t *testing.T) {
	env := []string{"CMEX_DB=sqlite:" + filepath.Join(t.TempDir(), "cmex.db")}
	s := startServer(t, env, "-sandbox")
	titles := []string{
		`Robert'); DROP TABLE activities;-- Rounds`,
		`{{.Password}} {{template "signin"}} ${7*7} Rounds`,
		`<script>alert("x")</script> & Rounds`,
		`Rounds " OR 1=1 -- /* */ ; \ %s %n`,
	}
	for i, title := range titles {
		var esc bytes.Buffer
		xml.EscapeText(&esc, []byte(title))
		r := s.post(savePath, submit(activityDoc(t, "meta-"+string(rune('a'+i)), esc.String(), "Add"), providerA, "2021"))
		if r.StatusCode != "Accepted" {
			t.Fatalf("%q: %+v", title, r)
		}
		id := activityID(t, r)
		got := s.post(getPath, search(providerA, map[string]string{"ActivityID": id}))
		if got.Data == nil {
			t.Fatalf("%q: GetActivity found nothing", title)
		}
		m := titleRE.FindStringSubmatch(*got.Data)
		var read string
		if m == nil || xml.Unmarshal([]byte("<t>"+m[1]+"</t>"), &read) != nil || read != title {
			t.Errorf("%q reads back as %q", title, read)
		}
	}
	// The portal's activity list, as the provider's staff.
	_, page := s.page(s.signIn("aaa.staff", "sandbox"), "/provider/activities")
	if strings.Contains(string(page), `<script>alert`) || !strings.Contains(string(page), `&lt;script&gt;alert`) {
		t.Errorf("the portal does not escape a title: %.2000s", page)
	}
	if !strings.Contains(string(page), `{{.Password}}`) {
		t.Errorf("the portal does not show a template-like title as text")
	}
}
