package portal

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/cmexhub/cmex"
)

// maxUpload bounds a self-attested credit's form: the certificate and the
// few fields beside it.
const maxUpload = cmex.MaxCertificateBytes + 64<<10

// selfCredits lists the credits a physician entered herself and offers a
// form for one more.
func (h *Handler) selfCredits(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil {
		return
	}
	v := view{Title: "Your own credits", User: &s.User, Fields: map[string]string{"type": cmex.DetailCME, "category": cmex.CategoryAMA1}, FieldErrors: map[string]string{}}
	switch r.URL.Query().Get("done") {
	case "added":
		v.Notice = "Your credit is added; your transcript shows it as self-attested."
	case "deleted":
		v.Notice = "The credit is deleted."
	}
	h.renderSelfCredits(w, r, http.StatusOK, s, v)
}

func (h *Handler) renderSelfCredits(w http.ResponseWriter, r *http.Request, status int, s *cmex.Session, v view) {
	list, err := h.Accounts.SelfCredits(r.Context(), s.User.Account.ID)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: self-attested credits", "err", err)
		v.Error = "Your credits could not be listed just now; please try again."
		status = http.StatusServiceUnavailable
	}
	v.SelfCredits = list
	h.render(w, r, status, "selfcredits", v)
}

// addSelfCredit stores a credit from the form: title, date, type (CME or
// MOC), credits, category, and an optional certificate (PDF, PNG or
// JPEG, at most 5 MB). Problems are shown beside their fields, with what
// was typed kept; nothing is stored then.
func (h *Handler) addSelfCredit(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil {
		return
	}
	v := view{Title: "Your own credits", User: &s.User, Fields: map[string]string{}, FieldErrors: map[string]string{}}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			v.FieldErrors["certificate"] = fmt.Sprintf("The certificate is larger than %d MB.", cmex.MaxCertificateBytes>>20)
		} else {
			v.Error = "The form could not be read; please try again."
		}
		h.renderSelfCredits(w, r, http.StatusBadRequest, s, v)
		return
	}
	defer r.MultipartForm.RemoveAll()
	for _, f := range []string{"title", "date", "type", "credits", "category", "activityType"} {
		v.Fields[f] = strings.TrimSpace(r.PostForm.Get(f))
	}
	c := &cmex.SelfCredit{AccountID: s.User.Account.ID, CEU: cmex.CEU{Title: v.Fields["title"], ActivityType: v.Fields["activityType"], Sponsor: "Self-attested"}}
	if c.Title == "" || len(c.Title) > 200 {
		v.FieldErrors["title"] = "Enter the activity's title (at most 200 characters)."
	}
	if d, _, err := cmex.ParseDate(v.Fields["date"]); err != nil {
		v.FieldErrors["date"] = "Enter the date you completed it, as YYYY-MM-DD."
	} else if h.today().Before(d) {
		v.FieldErrors["date"] = "The date is in the future."
	} else {
		c.Date = d
	}
	detail := cmex.CEUDetail{Type: strings.ToUpper(v.Fields["type"]), Category: v.Fields["category"]}
	if detail.Type != cmex.DetailCME && detail.Type != cmex.DetailMOC {
		v.FieldErrors["type"] = "Choose CME or MOC."
	}
	if p, err := cmex.ParsePoints(v.Fields["credits"]); err != nil || p <= 0 || p > 100000 {
		v.FieldErrors["credits"] = "Enter the credits, a number such as 1.5."
	} else {
		detail.Credits = p
	}
	if detail.Category == "" {
		detail.Category = cmex.CategoryAMA1
	}
	c.Details = []cmex.CEUDetail{detail}
	if file, header, err := r.FormFile("certificate"); err == nil {
		data, rerr := io.ReadAll(io.LimitReader(file, cmex.MaxCertificateBytes+1))
		file.Close()
		switch _, ok := cmex.CertificateType(data); {
		case rerr != nil:
			v.FieldErrors["certificate"] = "The certificate could not be read; please choose it again."
		case len(data) > cmex.MaxCertificateBytes:
			v.FieldErrors["certificate"] = fmt.Sprintf("The certificate is larger than %d MB.", cmex.MaxCertificateBytes>>20)
		case len(data) == 0:
			v.FieldErrors["certificate"] = "The certificate file is empty."
		case !ok:
			v.FieldErrors["certificate"] = "The certificate must be a PDF, PNG or JPEG file."
		default:
			c.Certificate = &cmex.Certificate{Name: header.Filename, Data: data}
		}
	} else if !errors.Is(err, http.ErrMissingFile) {
		v.FieldErrors["certificate"] = "The certificate could not be read; please choose it again."
	}
	if len(v.FieldErrors) > 0 {
		h.renderSelfCredits(w, r, http.StatusBadRequest, s, v)
		return
	}
	if err := h.Accounts.AddSelfCredit(r.Context(), c); err != nil {
		if cmex.ErrorCode(err) == cmex.EINVALID {
			v.Error = cmex.ErrorMessage(err)
			h.renderSelfCredits(w, r, http.StatusBadRequest, s, v)
			return
		}
		h.Logger.ErrorContext(r.Context(), "portal: add self-attested credit", "err", err)
		v.Error = "Your credit could not be saved just now; please try again."
		h.renderSelfCredits(w, r, http.StatusServiceUnavailable, s, v)
		return
	}
	http.Redirect(w, r, "/self-credits?done=added", http.StatusSeeOther)
}

func (h *Handler) deleteSelfCredit(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil {
		err = h.Accounts.DeleteSelfCredit(r.Context(), s.User.Account.ID, id)
	}
	if err != nil {
		v := view{Title: "Your own credits", User: &s.User, Fields: map[string]string{}, FieldErrors: map[string]string{}}
		status := http.StatusNotFound
		v.Error = "There is no such credit of yours."
		if cmex.ErrorCode(err) != cmex.ENOTFOUND && !errors.Is(err, strconv.ErrSyntax) && !errors.Is(err, strconv.ErrRange) {
			h.Logger.ErrorContext(r.Context(), "portal: delete self-attested credit", "err", err)
			status, v.Error = http.StatusServiceUnavailable, "The credit could not be deleted just now; please try again."
		}
		h.renderSelfCredits(w, r, status, s, v)
		return
	}
	http.Redirect(w, r, "/self-credits?done=deleted", http.StatusSeeOther)
}

// certificateExt is the file name extension of each certificate type.
var certificateExt = map[string]string{"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}

// certificate sends a self-attested credit's certificate as an
// attachment, as the type its bytes were judged to be.
func (h *Handler) certificate(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	var f *cmex.Certificate
	if err == nil {
		f, err = h.Accounts.SelfCreditCertificate(r.Context(), s.User.Account.ID, id)
	}
	if err != nil {
		if cmex.ErrorCode(err) != cmex.ENOTFOUND && !errors.Is(err, strconv.ErrSyntax) && !errors.Is(err, strconv.ErrRange) {
			h.Logger.ErrorContext(r.Context(), "portal: certificate", "err", err)
		}
		h.render(w, r, http.StatusNotFound, "notfound", view{Title: "No such certificate", User: &s.User})
		return
	}
	// The type and the file name come from the bytes, never from what the
	// upload called itself: evil.html that is a PNG downloads as
	// certificate-7.png, and nothing a browser would open as a page.
	typ, ok := cmex.CertificateType(f.Data)
	ext := certificateExt[typ]
	if !ok || ext == "" {
		typ, ext = "application/octet-stream", ".bin"
	}
	hd := w.Header()
	hd.Set("Content-Type", typ)
	hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fmt.Sprintf("certificate-%d%s", id, ext)}))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "private, no-store")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	_, _ = w.Write(f.Data)
}
