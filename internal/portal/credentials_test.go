package portal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	_ "image/png"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/credential"
	"github.com/cmexhub/cmex/internal/portal"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// withCredentials makes e's portal issue and verify credentials, signed
// by a fresh issuer key, with e's address as the public URL; an address
// may verify verifications at once.
func (e *env) withCredentials(t *testing.T, verifications int) {
	t.Helper()
	keys := sqlstore.NewIssuerKeyService(e.store.DB)
	if _, err := keys.CreateIssuerKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc := &credential.Service{Keys: keys, Records: sqlstore.NewCredentialRecords(e.store.DB), BaseURL: e.srv.URL, Name: "cmex test", Now: func() time.Time { return e.now }}
	guard := cmex.DefaultLoginGuard()
	guard.Verifications = cmex.Rate{Burst: verifications, Every: time.Second}
	guard.Now = svc.Now
	e.h.Credentials = cmex.Guarded{Guard: guard}.Credentials(svc)
	e.h.CredentialLinkKey = portal.CredentialLinkKey(cmextest.SecretKey)
	e.h.PublicURL = e.srv.URL
}

// decodeQR reads the text of the QR code in a PNG.
func decodeQR(t *testing.T, png []byte) string {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(png))
	if err != nil {
		t.Fatalf("not an image: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("no QR code in the image: %v", err)
	}
	return res.GetText()
}

// verifyPaste posts a pasted credential to /verify.
func (e *env) verifyPaste(t *testing.T, c *http.Client, cred string) page {
	t.Helper()
	return e.post(t, c, "/verify", map[string][]string{"credential": {cred}})
}

// uploadCredential posts a credential's file to /verify, as the form's
// file field does.
func (e *env) uploadCredential(t *testing.T, c *http.Client, name string, file []byte) page {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("credential", "")
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(file)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/verify", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", e.srv.URL)
	return do(t, c, req)
}

var (
	credentialLinkRE = regexp.MustCompile(`href="/transcript/credentials/([0-9]+)\.json"`)
	shortLinkRE      = regexp.MustCompile(`href="(/verify/credential/[0-9]+/[A-Za-z0-9_-]{22})" class="credential-link"`)
)

// TestCredentialPages: a linked physician downloads each of her credits
// as a credential in both forms and her transcript as a set, and no one
// else's; anyone verifies them on /verify, pasted or uploaded, and sees a
// changed byte, a revoked credit and bad input for what they are; each
// credit's QR code opens its verification, and the PDF's opens the
// transcript's.
func TestCredentialPages(t *testing.T) {
	e := newEnv(t, false)
	e.withCredentials(t, 100)
	recs := helenRecords(t, e)
	ctx := context.Background()
	// B's Patient Safety points rejected by the board: no credential.
	if _, err := e.store.Learners.MoveLearnerRecord(ctx, recs[5].ID, cmex.StatusAccepted, cmex.StatusChange{Status: cmex.StatusRejected, Code: "661",
		Reason: "Diplomate ID not found in Board records.", Source: "board:ABIM"}); err != nil {
		t.Fatal(err)
	}
	// Jane's record, of another person.
	pa, actA := e.store.MOCActivity(t, "moc-jane")
	if _, err := e.store.Persons.ImportPersons(ctx, []*cmex.Person{cmextest.Jane()}); err != nil {
		t.Fatal(err)
	}
	janes, _, err := e.store.Learners.SaveLearnerReport(ctx, cmex.LearnerChange{Report: cmextest.JaneReport(actA.ID, "2025-07-01", "jane"), By: pa})
	if err != nil {
		t.Fatal(err, cmex.ErrorProblems(err))
	}

	helen := e.physician(t, "helen.vc")
	if p := e.get(t, helen, "/transcript/credentials/"+strconv.FormatInt(int64(recs[0].ID), 10)+".json"); p.status != 404 || !strings.Contains(p.body, "not linked") {
		t.Errorf("before her account is linked: %d %s", p.status, p.body)
	}
	e.post(t, helen, "/claim", claimForm("Helen", "Markman", "1970-09-26", "npi", "", "1234567890"))
	tp := e.get(t, helen, "/transcript")
	var ids []string
	for _, m := range credentialLinkRE.FindAllStringSubmatch(tp.body, -1) {
		ids = append(ids, m[1])
	}
	if len(ids) != 5 || strings.Contains(tp.body, `/transcript/credentials/`+strconv.FormatInt(int64(recs[5].ID), 10)+`.json`) {
		t.Fatalf("the transcript links %v (want her 5 records that no board rejected):\n%s", ids, tp.body)
	}
	links := shortLinkRE.FindAllStringSubmatch(tp.body, -1)
	if len(links) != 5 || !strings.Contains(tp.body, `<img src="`+links[0][1]+`/qr.png"`) {
		t.Fatalf("short links %v", links)
	}

	// One credit, both forms.
	one := e.get(t, helen, "/transcript/credentials/"+ids[0]+".json")
	if one.status != 200 || one.header.Get("Content-Type") != "application/vc" || !strings.Contains(one.header.Get("Content-Disposition"), `filename="cme-credit-`+ids[0]+`.json"`) ||
		!strings.Contains(one.body, `"OpenBadgeCredential"`) || !strings.Contains(one.body, `"eddsa-rdfc-2022"`) {
		t.Fatalf("credential: %d %v\n%s", one.status, one.header, one.body)
	}
	jwt := e.get(t, helen, "/transcript/credentials/"+ids[0]+".jwt")
	if jwt.status != 200 || jwt.header.Get("Content-Type") != "application/vc+jwt" || strings.Count(jwt.body, ".") != 2 {
		t.Fatalf("JWT: %d %v\n%s", jwt.status, jwt.header, jwt.body)
	}
	// Her transcript as a set, as the JSON API's.
	all := e.get(t, helen, "/transcript/credentials.json")
	var set struct {
		Credentials []cmex.IssuedCredential `json:"credentials"`
	}
	if all.status != 200 || json.Unmarshal([]byte(all.body), &set) != nil || len(set.Credentials) != 5 || set.Credentials[0].Format != cmex.CredentialDataIntegrity ||
		len(set.Credentials[0].Credential) == 0 {
		t.Fatalf("the set: %d %.300s", all.status, all.body)
	}
	if p := e.get(t, helen, "/transcript/credentials.json?format=jwt"); p.status != 200 || !strings.Contains(p.body, `"jwt": "ey`) {
		t.Errorf("the set as JWTs: %d %.300s", p.status, p.body)
	}
	// No one else's: Jane's record, a rejected one, nonsense, and nobody's.
	for path, want := range map[string]int{
		"/transcript/credentials/" + strconv.FormatInt(int64(janes[0].ID), 10) + ".json": 404,
		"/transcript/credentials/" + strconv.FormatInt(int64(recs[5].ID), 10) + ".jwt":   409,
		"/transcript/credentials/" + ids[0] + ".pdf":                                     404,
		"/transcript/credentials/x.json":                                                 404,
		"/transcript/credentials.json?format=pdf":                                        400,
	} {
		if p := e.get(t, helen, path); p.status != want {
			t.Errorf("%s: %d %s (want %d)", path, p.status, p.body, want)
		}
	}
	if p := e.get(t, e.client(t), "/transcript/credentials/"+ids[0]+".json"); p.status != http.StatusSeeOther {
		t.Errorf("signed out: %d", p.status)
	}

	// Anyone verifies it, pasted or uploaded, in either form.
	anyone := e.client(t)
	if p := e.get(t, anyone, "/verify"); p.status != 200 || !strings.Contains(p.body, `<textarea id="credential"`) || !strings.Contains(p.body, `type="file"`) {
		t.Fatalf("the form: %d %s", p.status, p.body)
	}
	ok := e.verifyPaste(t, anyone, one.body)
	for _, want := range []string{"Verified: every check holds.", "Helen Markman", "<dt>Provider</dt>", "Credits earned", e.srv.URL[len("http://"):], "2025-06-01",
		`data-check="proof"`, `data-check="status"`, `data-check="issuer"`} {
		if !strings.Contains(ok.body, want) && !strings.Contains(ok.body, strings.ReplaceAll(want, ":", "%3A")) {
			t.Errorf("the verified credential's page lacks %q:\n%s", want, ok.body)
		}
	}
	if p := e.verifyPaste(t, anyone, jwt.body); !strings.Contains(p.body, "Verified: every check holds.") || !strings.Contains(p.body, "Helen Markman") {
		t.Errorf("the JWT: %d %s", p.status, p.body)
	}
	if p := e.uploadCredential(t, anyone, "cme-credit.json", []byte(one.body)); !strings.Contains(p.body, "Verified: every check holds.") {
		t.Errorf("uploaded: %d %s", p.status, p.body)
	}
	// Her transcript's file, uploaded: each credential checked, in either
	// form.
	if p := e.uploadCredential(t, anyone, "cme-credentials.json", []byte(all.body)); p.status != 200 || !strings.Contains(p.body, "Verified: all 5 credentials hold.") ||
		strings.Count(p.body, "✓ verified") != 5 || !strings.Contains(p.body, "Grand Rounds of B") {
		t.Errorf("the set uploaded: %d %s", p.status, p.body)
	}
	jwts := e.get(t, helen, "/transcript/credentials.json?format=jwt")
	if p := e.uploadCredential(t, anyone, "cme-credentials-jwt.json", []byte(jwts.body)); !strings.Contains(p.body, "Verified: all 5 credentials hold.") {
		t.Errorf("the set of JWTs uploaded: %d %s", p.status, p.body)
	}
	if p := e.verifyPaste(t, anyone, `{"credentials": []}`); p.status != 400 || !strings.Contains(p.body, "This set of credentials is empty.") {
		t.Errorf("an empty set: %d %s", p.status, p.body)
	}
	// One byte of creditsEarned changed: not verified, the proof fails.
	tampered := regexp.MustCompile(`"creditsEarned": ([0-9])`).ReplaceAllStringFunc(one.body, func(s string) string {
		return s[:len(s)-1] + string(s[len(s)-1]^1)
	})
	if tampered == one.body {
		t.Fatal("nothing tampered")
	}
	if p := e.verifyPaste(t, anyone, tampered); p.status != 200 || !strings.Contains(p.body, "Not verified") ||
		!regexp.MustCompile(`class="check-failed" data-check="proof"`).MatchString(p.body) || !strings.Contains(p.body, "(not verified)") {
		t.Errorf("tampered: %d %s", p.status, p.body)
	}
	// Bad input: a clear message in the page, never a 5xx.
	for _, bad := range []string{"", "{", `"unterminated`, "a.b.c", `{"@context":["https://example.org/evil"],"proof":{}}`, strings.Repeat("x", 300<<10), "\x00\xff"} {
		p := e.verifyPaste(t, anyone, bad)
		if p.status >= 500 || !strings.Contains(p.body, `class="error`) {
			t.Errorf("verify %.30q: %d %s", bad, p.status, p.body)
		}
	}

	// The QR code of a credit opens its verification; a forged token is
	// refused.
	qr := e.get(t, anyone, links[0][1]+"/qr.png")
	if qr.status != 200 || qr.header.Get("Content-Type") != "image/png" {
		t.Fatalf("qr.png: %d %v", qr.status, qr.header)
	}
	if got := decodeQR(t, []byte(qr.body)); got != e.srv.URL+links[0][1] {
		t.Errorf("the QR code says %q, want %q", got, e.srv.URL+links[0][1])
	}
	short := e.get(t, anyone, links[0][1])
	if short.status != 200 || !strings.Contains(short.body, "Verified: every check holds.") || !strings.Contains(short.body, "Helen Markman") {
		t.Errorf("the short link: %d %s", short.status, short.body)
	}
	if p := e.get(t, anyone, links[0][1]+"/credential.json"); p.status != 200 || !strings.Contains(p.body, `"OpenBadgeCredential"`) {
		t.Errorf("the short link's credential: %d %.200s", p.status, p.body)
	}
	forged := links[0][1][:len(links[0][1])-1] + "A"
	if forged == links[0][1] {
		forged = links[0][1][:len(links[0][1])-1] + "B"
	}
	other := regexp.MustCompile(`/verify/credential/[0-9]+/`).ReplaceAllString(links[0][1], "/verify/credential/"+strconv.FormatInt(int64(janes[0].ID), 10)+"/")
	for _, p := range []string{forged, other, forged + "/qr.png", other + "/credential.json", "/verify/credential/x/y"} {
		if pg := e.get(t, anyone, p); pg.status != 404 {
			t.Errorf("%s: %d %s", p, pg.status, pg.body)
		}
	}

	// A board rejects the credit: its credential is revoked, on the short
	// link and through the status list for the copy she downloaded.
	id0, _ := strconv.ParseInt(ids[0], 10, 64)
	var rec *cmex.LearnerRecord
	for _, r := range recs {
		if int64(r.ID) == id0 {
			rec = r
		}
	}
	if _, err := e.store.Learners.MoveLearnerRecord(ctx, rec.ID, rec.Status, cmex.StatusChange{Status: cmex.StatusRejected, Code: "661", Source: "board:ABIM"}); err != nil {
		t.Fatal(err)
	}
	if p := e.verifyPaste(t, anyone, one.body); !strings.Contains(p.body, "Not verified") || !strings.Contains(p.body, `class="check-failed" data-check="status"`) {
		t.Errorf("revoked, pasted: %d %s", p.status, p.body)
	}
	if p := e.uploadCredential(t, anyone, "cme-credentials.json", []byte(all.body)); !strings.Contains(p.body, "Not verified: 4 of 5 credentials hold.") ||
		!strings.Contains(p.body, `class="check-failed" data-check="status"`) {
		t.Errorf("the set, one revoked: %d %s", p.status, p.body)
	}
	if p := e.get(t, anyone, links[0][1]); !strings.Contains(p.body, "Not verified: revoked.") || !strings.Contains(p.body, "A board rejected") {
		t.Errorf("revoked, short link: %d %s", p.status, p.body)
	}

	// The PDF carries a QR code opening the transcript's verification.
	pdf := e.get(t, helen, "/transcript.pdf")
	text := cmextest.PDFText(t, []byte(pdf.body))
	code := regexp.MustCompile(`/verify/([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})`).FindStringSubmatch(text)
	if code == nil || !strings.Contains(text, "Scan to verify this transcript") {
		t.Fatalf("no verification code:\n%s", text)
	}
	imgs := cmextest.PDFImages(t, []byte(pdf.body))
	if len(imgs) != 1 {
		t.Fatalf("the PDF has %d images, want its QR code", len(imgs))
	}
	if got := decodeQR(t, imgs[0]); got != e.srv.URL+"/verify/"+code[1] {
		t.Errorf("the PDF's QR code says %q, want %q", got, e.srv.URL+"/verify/"+code[1])
	}
}

// TestVerifyRateLimited: /verify counts against the address's allowance
// of verifications, and says when to try again.
func TestVerifyRateLimited(t *testing.T) {
	e := newEnv(t, false)
	e.withCredentials(t, 40)
	anyone := e.client(t)
	var last page
	for range 41 {
		last = e.verifyPaste(t, anyone, `{"not":"a credential"}`)
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" || !strings.Contains(last.body, "Too many verifications") {
		t.Errorf("the 41st verification: %d %v %s", last.status, last.header, last.body)
	}
}

// TestNoCredentials: a portal without a credential service shows no
// credential links, and /verify says it verifies none.
func TestNoCredentials(t *testing.T) {
	e := newEnv(t, false)
	helenRecords(t, e)
	helen := e.physician(t, "helen.nocred")
	e.post(t, helen, "/claim", claimForm("Helen", "Markman", "1970-09-26", "npi", "", "1234567890"))
	if p := e.get(t, helen, "/transcript"); p.status != 200 || strings.Contains(p.body, "/transcript/credentials") || !strings.Contains(p.body, "Grand Rounds of B") {
		t.Errorf("transcript: %d %s", p.status, p.body)
	}
	if p := e.get(t, e.client(t), "/verify"); p.status != 404 || !strings.Contains(p.body, "verifies no credentials") {
		t.Errorf("/verify: %d %s", p.status, p.body)
	}
}

// TestNoIssuerKey: a portal whose credential service has no issuer key
// yet offers no credential links, which would only answer 503, and shows
// the transcript as before; a key created later brings them.
func TestNoIssuerKey(t *testing.T) {
	e := newEnv(t, false)
	helenRecords(t, e)
	keys := sqlstore.NewIssuerKeyService(e.store.DB)
	e.h.Credentials = &credential.Service{Keys: keys, Records: sqlstore.NewCredentialRecords(e.store.DB), BaseURL: e.srv.URL, Name: "cmex test"}
	e.h.PublicURL = e.srv.URL
	helen := e.physician(t, "helen.nokey")
	e.post(t, helen, "/claim", claimForm("Helen", "Markman", "1970-09-26", "npi", "", "1234567890"))
	if p := e.get(t, helen, "/transcript"); p.status != 200 || strings.Contains(p.body, "/transcript/credentials") || !strings.Contains(p.body, "Grand Rounds of B") {
		t.Errorf("transcript without a key: %d %s", p.status, p.body)
	}
	if _, err := keys.CreateIssuerKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := e.get(t, helen, "/transcript"); p.status != 200 || !strings.Contains(p.body, "/transcript/credentials") {
		t.Errorf("transcript with a key: %d %s", p.status, p.body)
	}
}
