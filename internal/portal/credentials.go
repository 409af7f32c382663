package portal

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cmexhub/cmex"
)

// Verifiable credentials in the portal (issue 20).
//
// A physician downloads the credential of each learner record on her
// transcript (the registry's lines: those providers reported for her
// linked registry person), in either form, and her whole transcript as a
// set:
//
//	GET /transcript/credentials/{id}.json  application/vc: JSON-LD with its eddsa-rdfc-2022 proof
//	GET /transcript/credentials/{id}.jwt   application/vc+jwt: the VC-JOSE-COSE compact JWS
//	GET /transcript/credentials.json       {"credentials": [IssuedCredential…]}, as GET /api/v1/account/credentials
//	                                       (?format=jwt: each with its jwt instead of its credential)
//
// application/vc is the media type VC 2.0 registered (drafts called it
// application/vc+ld+json); the file is named .json so that any program
// opens it. Another person's record id is a 404, a rejected record's 409.
//
// Anyone verifies a credential at /verify (GET: the form; POST: the
// answer), pasting it or uploading its file (a transcript's set is checked
// credential by credential). A phone scanning a QR code
// cannot carry a credential (a JWT is too long for a QR code), so each
// record has a short link instead, /verify/credential/{id}/{token}, the
// token being an HMAC of the record id under a key derived from the
// server key (CredentialLinkKey), so that links cannot be guessed or
// enumerated: it shows the verification of that record's credential as
// issued now (revoked when the record was deleted or a board rejected
// it), and /verify/credential/{id}/{token}/qr.png is its QR code. The
// links last as long as the server key.

// maxCredential is the largest credential the /verify page reads, as
// POST /api/v1/verify: about a hundred times one of cmex's.
const maxCredential = 256 << 10

// maxVerifyForm bounds the /verify form: a pasted credential, or a file.
const maxVerifyForm = 2*maxCredential + 16<<10

// credentialTokenBytes is the length of a short link's HMAC: 128 bits.
const credentialTokenBytes = 16

// CredentialLinkKey derives the key of the short links from the server
// key (none without one), apart from the key that encrypts secrets.
func CredentialLinkKey(serverKey string) []byte {
	if serverKey == "" {
		return nil
	}
	m := hmac.New(sha256.New, []byte(serverKey))
	m.Write([]byte("cmex portal credential links v1"))
	return m.Sum(nil)
}

// credentialToken is the short link token of record id.
func (h *Handler) credentialToken(id cmex.LearnerRecordID) string {
	m := hmac.New(sha256.New, h.CredentialLinkKey)
	fmt.Fprintf(m, "cmex credential link:%d", id)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:credentialTokenBytes])
}

func (h *Handler) credentialPath(id cmex.LearnerRecordID) string {
	return "/verify/credential/" + strconv.FormatInt(int64(id), 10) + "/" + h.credentialToken(id)
}

// shortLinks reports whether the portal makes short links (and QR codes).
func (h *Handler) shortLinks() bool { return h.Credentials != nil && len(h.CredentialLinkKey) > 0 }

// linkRecord reads a short link's record id and checks its token.
func (h *Handler) linkRecord(r *http.Request) (cmex.LearnerRecordID, bool) {
	if !h.shortLinks() {
		return 0, false
	}
	n, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	id := cmex.LearnerRecordID(n)
	want := h.credentialToken(id)
	return id, subtle.ConstantTimeCompare([]byte(r.PathValue("token")), []byte(want)) == 1
}

// credentialLinks are the short links of the records behind the lines of
// t that have a credential (live, not rejected), by record id.
func (h *Handler) credentialLinks(ctx context.Context, t *cmex.Transcript) map[cmex.LearnerRecordID]string {
	if h.Credentials == nil || h.Credentials.Issuing(ctx) != nil {
		return nil // no links that would only answer 503
	}
	out := map[cmex.LearnerRecordID]string{}
	for _, c := range t.Credits {
		for _, s := range c.Statuses {
			if s.RecordID > 0 && s.Status != cmex.StatusRejected {
				out[s.RecordID] = ""
				if h.shortLinks() {
					out[s.RecordID] = h.credentialPath(s.RecordID)
				}
			}
		}
	}
	return out
}

// physicianPerson is the registry person a signed-in physician's account
// is linked to; otherwise it answers the request itself and returns false.
func (h *Handler) physicianPerson(w http.ResponseWriter, r *http.Request, s *cmex.Session) (cmex.PersonID, bool) {
	if h.Credentials == nil || h.Claims == nil {
		http.Error(w, "This cmex issues no credentials.", http.StatusNotFound)
		return 0, false
	}
	l, err := h.Claims.AccountLink(r.Context(), s.User.Account.ID)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		http.Error(w, "Your account is not linked to a registry record: link it first (/claim).", http.StatusNotFound)
		return 0, false
	}
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: account link", "err", err)
		http.Error(w, "Your credentials could not be issued just now; please try again.", http.StatusServiceUnavailable)
		return 0, false
	}
	return l.PersonID, true
}

// credentialFailed answers a credential that could not be issued.
func (h *Handler) credentialFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch cmex.ErrorCode(err) {
	case cmex.ENOTFOUND:
		http.Error(w, "No credit of yours has this record.", http.StatusNotFound)
	case cmex.ECONFLICT:
		http.Error(w, "A board rejected this credit: it has no credential.", http.StatusConflict)
	case cmex.EUNAVAILABLE:
		http.Error(w, cmex.ErrorMessage(err), http.StatusServiceUnavailable)
	default:
		h.Logger.ErrorContext(r.Context(), "portal: issue credential", "err", err)
		http.Error(w, "Your credential could not be issued just now; please try again.", http.StatusServiceUnavailable)
	}
}

// download sends body as an attachment named name.
func download(w http.ResponseWriter, contentType, name string, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
	hd.Set("Cache-Control", "private, no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(body)
}

// credentialBody is an issued credential as its file holds it.
func credentialBody(c *cmex.IssuedCredential) (contentType string, body []byte) {
	if c.Format == cmex.CredentialJWT {
		return "application/vc+jwt", []byte(c.JWT + "\n")
	}
	var b bytes.Buffer
	if json.Indent(&b, c.Credential, "", "  ") != nil {
		b.Reset()
		b.Write(c.Credential)
	}
	b.WriteByte('\n')
	return "application/vc", b.Bytes()
}

// recordCredential sends one of the physician's records as a credential:
// {id}.json (JSON-LD with its proof) or {id}.jwt.
func (h *Handler) recordCredential(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil {
		return
	}
	file := r.PathValue("file")
	idText, ext, _ := strings.Cut(file, ".")
	f := map[string]cmex.CredentialFormat{"json": cmex.CredentialDataIntegrity, "jwt": cmex.CredentialJWT}[ext]
	n, err := strconv.ParseInt(idText, 10, 64)
	if f == "" || err != nil || n <= 0 {
		http.Error(w, "No credential is named "+file+": ask for RECORD.json or RECORD.jwt.", http.StatusNotFound)
		return
	}
	person, ok := h.physicianPerson(w, r, s)
	if !ok {
		return
	}
	c, err := h.Credentials.PersonCredential(r.Context(), person, cmex.LearnerRecordID(n), f)
	if err != nil {
		h.credentialFailed(w, r, err)
		return
	}
	ct, body := credentialBody(c)
	download(w, ct, fmt.Sprintf("cme-credit-%d.%s", n, ext), body)
}

// transcriptCredentials sends the physician's whole transcript (her
// registry records) as a set of credentials, in the shape of
// GET /api/v1/account/credentials.
func (h *Handler) transcriptCredentials(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil {
		return
	}
	f, ok := cmex.ParseCredentialFormat(r.URL.Query().Get("format"))
	if !ok {
		http.Error(w, "format must be di (JSON-LD with a Data Integrity proof) or jwt.", http.StatusBadRequest)
		return
	}
	person, ok := h.physicianPerson(w, r, s)
	if !ok {
		return
	}
	cs, err := h.Credentials.TranscriptCredentials(r.Context(), person, f)
	if err != nil {
		h.credentialFailed(w, r, err)
		return
	}
	if cs == nil {
		cs = []*cmex.IssuedCredential{}
	}
	b, err := json.MarshalIndent(struct {
		Credentials []*cmex.IssuedCredential `json:"credentials"`
	}{cs}, "", "  ")
	if err != nil {
		h.credentialFailed(w, r, err)
		return
	}
	name := "cme-credentials-" + h.today().String()
	if f == cmex.CredentialJWT {
		name += "-jwt"
	}
	download(w, "application/json", name+".json", append(b, '\n'))
}

// credentialView is what the credential verification pages show.
type credentialView struct {
	// Input is what was pasted, kept in the form.
	Input string
	// Result is the verification; Content what the credential says.
	Result  *cmex.Verification
	Content *credentialContent
	// Checks are Result's checks, with their labels.
	Checks []checkView
	// Revoked says why a short link's record has no live credential.
	Revoked string
	// Link is a short link's path, Download its credential's.
	Link, Download string
	// Base is this cmex's address, before Link.
	Base string
	// Set are the verifications of a set of credentials (a transcript's
	// file), SetVerified how many of them hold.
	Set         []*credentialView
	SetVerified int
}

type checkView struct {
	Label string
	cmex.VerificationCheck
}

// checkLabels name the checks for people.
var checkLabels = map[string]string{
	cmex.CheckFormat:     "Readable",
	cmex.CheckIssuer:     "Issuer",
	cmex.CheckProof:      "Proof (signature)",
	cmex.CheckValidFrom:  "Valid from",
	cmex.CheckValidUntil: "Valid until",
	cmex.CheckStatus:     "Status (not revoked)",
}

// credentialContent is what an Open Badges credential says, for people.
type credentialContent struct {
	Name, Subject, Achievement, Description, Provider string
	CreditsEarned, CreditsAvailable                   string
	Issuer, IssuerID, ValidFrom, ValidUntil, ID       string
	Tags                                              []string
}

// contentOf reads the main properties of a credential; nil when it is not
// a JSON object.
func contentOf(raw json.RawMessage) *credentialContent {
	if len(raw) == 0 {
		return nil
	}
	var c struct {
		ID         string          `json:"id"`
		Name       string          `json:"name"`
		Issuer     json.RawMessage `json:"issuer"`
		ValidFrom  string          `json:"validFrom"`
		ValidUntil string          `json:"validUntil"`
		Subject    json.RawMessage `json:"credentialSubject"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return nil
	}
	out := &credentialContent{ID: c.ID, Name: c.Name, ValidFrom: c.ValidFrom, ValidUntil: c.ValidUntil}
	var issuer struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if json.Unmarshal(c.Issuer, &out.IssuerID) != nil && json.Unmarshal(c.Issuer, &issuer) == nil {
		out.IssuerID, out.Issuer = issuer.ID, issuer.Name
	}
	var subj struct {
		Name       string `json:"name"`
		Identifier []struct {
			IdentityHash string `json:"identityHash"`
			IdentityType string `json:"identityType"`
			Hashed       bool   `json:"hashed"`
		} `json:"identifier"`
		Achievement struct {
			Name             string          `json:"name"`
			Description      string          `json:"description"`
			CreditsAvailable json.Number     `json:"creditsAvailable"`
			Tag              []string        `json:"tag"`
			Creator          json.RawMessage `json:"creator"`
		} `json:"achievement"`
		CreditsEarned json.Number `json:"creditsEarned"`
	}
	if json.Unmarshal(c.Subject, &subj) == nil {
		out.Subject = subj.Name
		for _, id := range subj.Identifier {
			if out.Subject == "" && id.IdentityType == "name" && !id.Hashed {
				out.Subject = id.IdentityHash
			}
		}
		a := subj.Achievement
		out.Achievement, out.Description, out.Tags = a.Name, a.Description, a.Tag
		out.CreditsEarned, out.CreditsAvailable = subj.CreditsEarned.String(), a.CreditsAvailable.String()
		var creator struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(a.Creator, &creator) == nil {
			out.Provider = creator.Name
		}
	}
	return out
}

// checked fills the view of a verification.
func checked(v *cmex.Verification) *credentialView {
	cv := &credentialView{Result: v, Content: contentOf(v.Credential)}
	for _, c := range v.Checks {
		cv.Checks = append(cv.Checks, checkView{Label: cmp.Or(checkLabels[c.Check], c.Check), VerificationCheck: c})
	}
	return cv
}

// verifyCredentialForm shows the form anyone checks a credential with.
func (h *Handler) verifyCredentialForm(w http.ResponseWriter, r *http.Request) {
	v := view{Title: "Verify a credential", User: h.user(r), Credential: &credentialView{}}
	if h.Credentials == nil {
		v.Error = "This cmex verifies no credentials."
		h.render(w, r, http.StatusNotFound, "verify_credential", v)
		return
	}
	h.render(w, r, http.StatusOK, "verify_credential", v)
}

// user is the signed-in user of r, or nil.
func (h *Handler) user(r *http.Request) *cmex.PortalUser {
	if s := h.session(r); s != nil {
		return &s.User
	}
	return nil
}

// verifyCredential checks the credential pasted in the form or uploaded
// as its file, and shows each check and what the credential says.
func (h *Handler) verifyCredential(w http.ResponseWriter, r *http.Request) {
	v := view{Title: "Verify a credential", User: h.user(r), Credential: &credentialView{}}
	fail := func(status int, msg string) {
		v.Error = msg
		h.render(w, r, status, "verify_credential", v)
	}
	if h.Credentials == nil {
		fail(http.StatusNotFound, "This cmex verifies no credentials.")
		return
	}
	cred, err := credentialInput(w, r)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	if len(cred) <= 64<<10 {
		v.Credential.Input = string(cred)
	}
	set, isSet, err := credentialSet(cred)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	if isSet {
		h.verifySet(w, r, v, set)
		return
	}
	res, err := h.Credentials.Verify(r.Context(), cred)
	switch {
	case cmex.ErrorCode(err) == cmex.ETOOMANY:
		w.Header().Set("Retry-After", strconv.Itoa(cmex.RetryAfter(err)))
		fail(http.StatusTooManyRequests, cmex.ErrorMessage(err))
		return
	case cmex.ErrorCode(err) == cmex.EINVALID || cmex.ErrorCode(err) == cmex.ETOOLARGE:
		fail(http.StatusBadRequest, cmex.ErrorMessage(err))
		return
	case err != nil:
		h.Logger.ErrorContext(r.Context(), "portal: verify credential", "err", err)
		fail(http.StatusServiceUnavailable, "The credential could not be checked just now; please try again.")
		return
	}
	cv := checked(res)
	cv.Input = v.Credential.Input
	v.Credential = cv
	h.render(w, r, http.StatusOK, "verify_credential", v)
}

// credentialInput reads the credential from the form: the uploaded file
// when one was chosen, else the pasted text; a JSON string (a JWT in
// quotes) is unquoted. Its errors are the page's messages.
func credentialInput(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxVerifyForm)
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		err = r.ParseMultipartForm(maxVerifyForm)
	} else {
		err = r.ParseForm()
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, fmt.Errorf("The form is larger than a credential can be (%d KB at most).", maxCredential>>10)
	}
	if err != nil {
		return nil, errors.New("The form could not be read; please try again.")
	}
	var cred []byte
	if r.MultipartForm != nil && len(r.MultipartForm.File["file"]) > 0 {
		f, err := r.MultipartForm.File["file"][0].Open()
		if err != nil {
			return nil, errors.New("The file could not be read; please try again.")
		}
		cred, err = io.ReadAll(io.LimitReader(f, maxCredential+1))
		f.Close()
		if err != nil {
			return nil, errors.New("The file could not be read; please try again.")
		}
	}
	if len(bytes.TrimSpace(cred)) == 0 {
		cred = []byte(r.PostFormValue("credential"))
	}
	cred = bytes.TrimSpace(cred)
	switch {
	case len(cred) == 0:
		return nil, errors.New("Paste a credential (its JSON, or a JWT) or choose its file.")
	case len(cred) > maxCredential:
		return nil, fmt.Errorf("This is larger than a credential can be (%d KB at most).", maxCredential>>10)
	case cred[0] == '"':
		var s string
		if json.Unmarshal(cred, &s) != nil {
			return nil, errors.New("This is neither a credential's JSON nor a JWT: it starts with a quote but is not a JSON string.")
		}
		cred = bytes.TrimSpace([]byte(s))
	}
	return cred, nil
}

// verifyLink shows the verification of the credential of the record a
// short link names, as issued now: a deleted or rejected record's
// credential is revoked.
func (h *Handler) verifyLink(w http.ResponseWriter, r *http.Request) {
	v := view{Title: "Verify a credential", User: h.user(r), Credential: &credentialView{}}
	id, ok := h.linkRecord(r)
	if !ok {
		v.Error = "This verification link is not one this cmex made: check that it was copied whole."
		h.render(w, r, http.StatusNotFound, "verify_credential", v)
		return
	}
	c, err := h.Credentials.RecordCredential(r.Context(), id, cmex.CredentialDataIntegrity)
	switch cmex.ErrorCode(err) {
	case cmex.ENOTFOUND:
		v.Credential.Revoked = "The credit this link names is no longer in the ledger: its record was deleted, and its credential is revoked."
		h.render(w, r, http.StatusOK, "verify_credential", v)
		return
	case cmex.ECONFLICT:
		v.Credential.Revoked = "A board rejected the credit this link names: its credential is revoked."
		h.render(w, r, http.StatusOK, "verify_credential", v)
		return
	}
	var res *cmex.Verification
	if err == nil {
		res, err = h.Credentials.Verify(r.Context(), c.Credential)
	}
	switch {
	case cmex.ErrorCode(err) == cmex.ETOOMANY:
		v.Error = cmex.ErrorMessage(err)
		w.Header().Set("Retry-After", strconv.Itoa(cmex.RetryAfter(err)))
		h.render(w, r, http.StatusTooManyRequests, "verify_credential", v)
		return
	case err != nil:
		h.Logger.ErrorContext(r.Context(), "portal: verify link", "record", id, "err", err)
		v.Error = "The credential could not be checked just now; please try again."
		h.render(w, r, http.StatusServiceUnavailable, "verify_credential", v)
		return
	}
	cv := checked(res)
	cv.Link, cv.Base = h.credentialPath(id), h.baseURL(r)
	cv.Download = cv.Link + "/credential.json"
	v.Credential = cv
	h.render(w, r, http.StatusOK, "verify_credential", v)
}

// linkCredential sends the credential a short link names, to whoever
// holds the link (the physician shared it).
func (h *Handler) linkCredential(w http.ResponseWriter, r *http.Request) {
	id, ok := h.linkRecord(r)
	if !ok {
		http.Error(w, "This verification link is not one this cmex made.", http.StatusNotFound)
		return
	}
	c, err := h.Credentials.RecordCredential(r.Context(), id, cmex.CredentialDataIntegrity)
	switch cmex.ErrorCode(err) {
	case cmex.ENOTFOUND, cmex.ECONFLICT:
		http.Error(w, "The credit this link names has no credential any more: it was deleted or rejected, and its credential is revoked.", http.StatusGone)
		return
	}
	if err != nil {
		h.credentialFailed(w, r, err)
		return
	}
	ct, body := credentialBody(c)
	download(w, ct, fmt.Sprintf("cme-credit-%d.json", id), body)
}

// linkQR sends the QR code of a short link, as PNG: what a phone scans
// opens the verification page.
func (h *Handler) linkQR(w http.ResponseWriter, r *http.Request) {
	id, ok := h.linkRecord(r)
	if !ok {
		http.Error(w, "This verification link is not one this cmex made.", http.StatusNotFound)
		return
	}
	png, err := qrPNG(h.baseURL(r)+h.credentialPath(id), 256)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: qr", "err", err)
		http.Error(w, "The QR code could not be drawn.", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "image/png")
	hd.Set("Cache-Control", "private, max-age=3600")
	hd.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(png)
}

// maxSetCredentials is the most credentials of a set /verify checks at
// once; each counts against the address's allowance.
const maxSetCredentials = 50

// credentialSet reads a set of credentials as the transcript's file holds
// them, {"credentials": [{"credential": {…}} or {"jwt": "…"}, …]} (a
// credential itself or a JWT string also do as items), and reports
// whether cred is one: a credential has an @context, a set does not.
func credentialSet(cred []byte) ([][]byte, bool, error) {
	if len(cred) == 0 || cred[0] != '{' {
		return nil, false, nil
	}
	var doc struct {
		Context     json.RawMessage   `json:"@context"`
		Credentials []json.RawMessage `json:"credentials"`
	}
	if json.Unmarshal(cred, &doc) != nil || doc.Context != nil || doc.Credentials == nil {
		return nil, false, nil
	}
	switch n := len(doc.Credentials); {
	case n == 0:
		return nil, true, errors.New("This set of credentials is empty.")
	case n > maxSetCredentials:
		return nil, true, fmt.Errorf("This set holds %d credentials; this page checks at most %d at once (POST /api/v1/verify checks one at a time).", n, maxSetCredentials)
	}
	out := make([][]byte, 0, len(doc.Credentials))
	for _, item := range doc.Credentials {
		var issued struct {
			Credential json.RawMessage `json:"credential"`
			JWT        string          `json:"jwt"`
		}
		var jwt string
		switch {
		case json.Unmarshal(item, &jwt) == nil:
			out = append(out, []byte(strings.TrimSpace(jwt)))
		case json.Unmarshal(item, &issued) == nil && len(issued.Credential) > 0:
			out = append(out, issued.Credential)
		case issued.JWT != "":
			out = append(out, []byte(strings.TrimSpace(issued.JWT)))
		default:
			out = append(out, item)
		}
	}
	return out, true, nil
}

// verifySet checks each credential of a set and lists them.
func (h *Handler) verifySet(w http.ResponseWriter, r *http.Request, v view, set [][]byte) {
	for _, cred := range set {
		res, err := h.Credentials.Verify(r.Context(), cred)
		switch {
		case cmex.ErrorCode(err) == cmex.ETOOMANY:
			v.Error = cmex.ErrorMessage(err)
			w.Header().Set("Retry-After", strconv.Itoa(cmex.RetryAfter(err)))
			h.render(w, r, http.StatusTooManyRequests, "verify_credential", v)
			return
		case cmex.ErrorCode(err) == cmex.EINVALID || cmex.ErrorCode(err) == cmex.ETOOLARGE:
			res = &cmex.Verification{Checks: []cmex.VerificationCheck{{Check: cmex.CheckFormat, Message: cmex.ErrorMessage(err)}}}
		case err != nil:
			h.Logger.ErrorContext(r.Context(), "portal: verify credential", "err", err)
			v.Error = "The credentials could not be checked just now; please try again."
			h.render(w, r, http.StatusServiceUnavailable, "verify_credential", v)
			return
		}
		cv := checked(res)
		if cv.Content == nil {
			cv.Content = &credentialContent{}
		}
		v.Credential.Set = append(v.Credential.Set, cv)
		if res.Verified {
			v.Credential.SetVerified++
		}
	}
	h.render(w, r, http.StatusOK, "verify_credential", v)
}
