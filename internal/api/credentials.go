package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/cmexhub/cmex"
)

// MaxCredentialBody is the largest credential POST /api/v1/verify reads:
// a credential of cmex's is about 3 KB, and JSON-LD processing of a
// large hostile document is costly.
const MaxCredentialBody = 256 << 10

// noCredentials answers when the server issues no credentials.
func (h *Handler) noCredentials(w http.ResponseWriter, r *http.Request) bool {
	if h.Credentials == nil {
		h.failCredentials(w, r, cmex.Errorf(cmex.EUNAVAILABLE, "this server issues and verifies no credentials"))
		return true
	}
	return false
}

// failCredentials is fail, but a server that cannot issue (no public URL,
// no issuer key, a key it cannot decrypt) answers 503 Service
// Unavailable: it is this installation's configuration, not a remote
// system, that is missing.
func (h *Handler) failCredentials(w http.ResponseWriter, r *http.Request, err error) {
	if cmex.ErrorCode(err) == cmex.EUNAVAILABLE {
		var body errorBody
		body.Error.Code, body.Error.Message = cmex.EUNAVAILABLE, cmex.ErrorMessage(err)
		h.json(w, http.StatusServiceUnavailable, body)
		return
	}
	h.fail(w, r, err)
}

// format reads ?format=di|jwt.
func format(r *http.Request) (cmex.CredentialFormat, error) {
	f, ok := cmex.ParseCredentialFormat(r.URL.Query().Get("format"))
	if !ok {
		return "", cmex.Errorf(cmex.EINVALID, "format must be di (JSON-LD with a Data Integrity proof) or jwt")
	}
	return f, nil
}

// writeCredential answers one credential as itself: JSON-LD
// (application/vc+ld+json… served as application/json so any client reads
// it) or a JWT (application/vc+jwt).
func (h *Handler) writeCredential(w http.ResponseWriter, c *cmex.IssuedCredential) {
	if c.Format == cmex.CredentialJWT {
		w.Header().Set("Content-Type", "application/vc+jwt")
		_, _ = io.WriteString(w, c.JWT+"\n")
		return
	}
	var buf bytes.Buffer
	_ = json.Indent(&buf, c.Credential, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	buf.WriteByte('\n')
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) recordCredential(w http.ResponseWriter, r *http.Request, p *cmex.Principal) {
	if h.noCredentials(w, r) {
		return
	}
	f, err := format(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	recs, err := h.Learners.FindLearnerRecords(r.Context(), cmex.LearnerRecordFilter{ProviderID: p.Organization.ProviderID, CreditID: cmex.CreditID(r.PathValue("creditId"))})
	if err == nil && len(recs) == 0 {
		err = cmex.Errorf(cmex.ENOTFOUND, "no learner record with CreditID %s", r.PathValue("creditId"))
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.Credentials.RecordCredential(r.Context(), recs[0].ID, f)
	if err != nil {
		h.failCredentials(w, r, err)
		return
	}
	h.writeCredential(w, c)
}

// accountPerson is the registry person an account is linked to.
func (h *Handler) accountPerson(r *http.Request, a *cmex.Account) (cmex.PersonID, error) {
	l, err := h.Claims.AccountLink(r.Context(), a.ID)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		return 0, cmex.Errorf(cmex.ENOTFOUND, "your account is not linked to a registry person: claim your records first (POST /api/v1/account/claims)")
	}
	if err != nil {
		return 0, err
	}
	return l.PersonID, nil
}

func (h *Handler) accountCredentials(w http.ResponseWriter, r *http.Request, a *cmex.Account) {
	if h.noCredentials(w, r) {
		return
	}
	f, err := format(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	person, err := h.accountPerson(r, a)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cs, err := h.Credentials.TranscriptCredentials(r.Context(), person, f)
	if err != nil {
		h.failCredentials(w, r, err)
		return
	}
	h.json(w, http.StatusOK, struct {
		Credentials []*cmex.IssuedCredential `json:"credentials"`
	}{cs})
}

func (h *Handler) accountCredential(w http.ResponseWriter, r *http.Request, a *cmex.Account) {
	if h.noCredentials(w, r) {
		return
	}
	f, err := format(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("recordId"), 10, 64)
	if err != nil || id <= 0 {
		h.fail(w, r, cmex.Errorf(cmex.ENOTFOUND, "no learner record %q of yours", r.PathValue("recordId")))
		return
	}
	person, err := h.accountPerson(r, a)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.Credentials.PersonCredential(r.Context(), person, cmex.LearnerRecordID(id), f)
	if err != nil {
		h.failCredentials(w, r, err)
		return
	}
	h.writeCredential(w, c)
}

// verify checks a credential anyone sends: the JSON-LD credential, or a
// JWT as the body (any content type) or as a JSON string.
func (h *Handler) verify(w http.ResponseWriter, r *http.Request, _ *caller) {
	if h.noCredentials(w, r) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxCredentialBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.fail(w, r, cmex.Errorf(cmex.ETOOLARGE, "the credential is larger than %d bytes", MaxCredentialBody))
			return
		}
		h.fail(w, r, cmex.Errorf(cmex.EINVALID, "the body could not be read"))
		return
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		h.fail(w, r, cmex.Errorf(cmex.EINVALID, "send a credential: its JSON, or a JWT"))
		return
	}
	if body[0] == '"' {
		var s string
		if err := json.Unmarshal(body, &s); err != nil {
			h.fail(w, r, cmex.Errorf(cmex.EINVALID, "the body is not the JSON expected: %s", jsonError(err)))
			return
		}
		body = []byte(s)
	}
	v, err := h.Credentials.Verify(r.Context(), body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.json(w, http.StatusOK, v)
}
