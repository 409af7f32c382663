package portal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// The society admin's console: her society's members (searched, added one
// by one or from a CSV file, their passwords reset), the credits it holds
// for them (imported from ceu_order XML or CSV files, searched), which
// societies may pull them through the credit feed, the society's own feed
// login, who may call its ceu_order, and a read-only preview of what a
// member's transcript shows of the society. Every page and action is
// scoped to the society her staff account names: another society's member,
// credit or grant answers as one that does not exist.

// Bounds of the society admin's uploads: a members CSV, and the credit
// files of one upload together (each file at most as large as a ceu_order
// answer cmex reads from a society).
const (
	maxMembersUpload = 8 << 20
	maxCreditsUpload = 16 << 20
)

// MaxUploadMembers bounds the members of one file imported on the
// portal: each new member's password is hashed (argon2id, about 45 a
// second on one core of a small server), and the answer, which shows the
// passwords generated, must come before the server's write timeout (2
// minutes) ends the request; a password generated for a member whose
// answer was lost could not be shown again. cmex society member-import has
// no such bound.
const MaxUploadMembers = 1000

// societyView is what the society admin's pages show.
type societyView struct {
	Society *cmex.Society
	// Members are a search's; More says the list was cut at its limit.
	Members []*cmex.Member
	More    bool
	// Member is the member shown, and Preview what her transcript shows
	// of the society.
	Member  *cmex.Member
	Preview *cmex.Transcript
	Credits []*cmex.SocietyCredit
	// Problems are an uploaded file's, shown beside its field.
	Problems []string
	// MemberReport and CreditReports are what an import did.
	MemberReport  *memberReport
	CreditReports []creditReport
	// Secret is a password or secret shown once, for SecretFor.
	Secret, SecretFor string
	// Pullers are the societies that may pull this one's credits;
	// Candidates those it may approve; Providers those it may pull from.
	Pullers, Candidates, Providers []*cmex.Society
	Grants                         []*cmex.OrderGrant
}

// memberReport is what a members import did, row by row.
type memberReport struct {
	File                      string
	Added, Updated, Unchanged int
	Rows                      []memberReportRow
	Generated                 bool
}

type memberReportRow struct {
	Line                     int
	MemberID, Username, Name string
	Outcome, Password        string
}

// creditReport is what a credits import did with one file.
type creditReport struct {
	File                        string
	Accepted, Present, Rejected int
	Rows                        []creditReportRow
}

type creditReportRow struct {
	Line, Position        int
	MemberID, Date, Title string
	Outcome, Problem      string
}

// adminSociety returns the session of a society admin and her society,
// having answered the request otherwise.
func (h *Handler) adminSociety(w http.ResponseWriter, r *http.Request) (*cmex.Session, *cmex.Society) {
	s := h.signedIn(w, r, cmex.RoleSocietyAdmin)
	if s == nil {
		return nil, nil
	}
	so, err := h.Societies.Society(r.Context(), s.User.Staff.Society)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: admin's society", "society", s.User.Staff.Society, "err", err)
		h.render(w, r, http.StatusServiceUnavailable, "notfound", view{Title: "Your society could not be found", User: &s.User})
		return nil, nil
	}
	return s, so
}

// societyPage is a society admin's page view.
func societyPage(s *cmex.Session, so *cmex.Society, title string) view {
	return view{Title: title, User: &s.User, Fields: map[string]string{}, FieldErrors: map[string]string{}, Society: &societyView{Society: so}}
}

// unavailable logs err and renders page with a message that says what
// could not be done.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, page, what string, err error, v view) {
	h.Logger.ErrorContext(r.Context(), "portal: society admin: "+what, "err", err)
	if cmex.ErrorCode(err) == cmex.EBUSY {
		w.Header().Set("Retry-After", strconv.Itoa(cmex.RetryAfter(err)))
		v.Error = cmex.ErrorMessage(err)
	} else {
		v.Error = "The " + what + " could not be done just now; please try again."
	}
	h.render(w, r, http.StatusServiceUnavailable, page, v)
}

// --- Members ---

func (h *Handler) societyMembers(w http.ResponseWriter, r *http.Request) {
	s, so := h.adminSociety(w, r)
	if s == nil {
		return
	}
	v := societyPage(s, so, "Members")
	v.Fields["q"] = strings.TrimSpace(r.URL.Query().Get("q"))
	if len(v.Fields["q"]) > 200 {
		v.FieldErrors["q"] = "Search for at most 200 characters."
		h.renderMembers(w, r, http.StatusBadRequest, v)
		return
	}
	h.renderMembers(w, r, http.StatusOK, v)
}

// renderMembers lists the members v's search selects and renders the
// members page.
func (h *Handler) renderMembers(w http.ResponseWriter, r *http.Request, status int, v view) {
	sv := v.Society
	if sv.Society.Kind == cmex.SocietyLocal {
		q := v.Fields["q"]
		if v.FieldErrors["q"] != "" {
			q = ""
		}
		ms, err := h.Societies.FindMembers(r.Context(), sv.Society.ID, cmex.MemberFilter{Text: q, Limit: cmex.DefaultMemberLimit + 1})
		if err != nil {
			h.unavailable(w, r, "society_members", "listing of the members", err, v)
			return
		}
		sv.More = len(ms) > cmex.DefaultMemberLimit
		sv.Members = ms[:min(len(ms), cmex.DefaultMemberLimit)]
	}
	h.render(w, r, status, "society_members", v)
}

// localOnly answers for a remote society's admin, whose members and
// credits are kept by the society: true when it did.
func (h *Handler) localOnly(w http.ResponseWriter, r *http.Request, v view) bool {
	if v.Society.Society.Kind == cmex.SocietyLocal {
		return false
	}
	v.Error = "Your society is remote: its own servers keep its members and credits."
	h.render(w, r, http.StatusConflict, "society_members", v)
	return true
}

// addMember adds one member from the form; her password is the one typed,
// or one generated and shown once.
func (h *Handler) addMember(w http.ResponseWriter, r *http.Request) {
	s, so := h.adminSociety(w, r)
	if s == nil {
		return
	}
	v := societyPage(s, so, "Members")
	if h.localOnly(w, r, v) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		v.Error = "The form could not be read; please try again."
		h.renderMembers(w, r, http.StatusBadRequest, v)
		return
	}
	for _, f := range []string{"member_id", "username", "given", "family", "street", "city", "state", "zip", "country"} {
		v.Fields[f] = strings.TrimSpace(r.PostForm.Get(f))
	}
	password := r.PostForm.Get("password") // never shown back
	m := &cmex.Member{SocietyID: so.ID, MemberID: v.Fields["member_id"], Username: v.Fields["username"],
		GivenName: v.Fields["given"], FamilyName: v.Fields["family"], Address: cmex.Address{
			Street: v.Fields["street"], City: v.Fields["city"], State: v.Fields["state"], Zip: v.Fields["zip"], Country: v.Fields["country"]}}
	switch {
	case m.MemberID == "":
		v.FieldErrors["member_id"] = "Enter the society's id for the member."
	case len(m.MemberID) > 64:
		v.FieldErrors["member_id"] = "A member id is at most 64 characters."
	}
	switch {
	case m.Username == "":
		v.FieldErrors["username"] = "Enter the username she signs in to the society with."
	case len(m.Username) > 100:
		v.FieldErrors["username"] = "A username is at most 100 characters."
	}
	for _, f := range []string{"given", "family"} {
		switch {
		case v.Fields[f] == "":
			v.FieldErrors[f] = "Enter her " + map[string]string{"given": "given", "family": "family"}[f] + " name."
		case len(v.Fields[f]) > 200:
			v.FieldErrors[f] = "At most 200 characters."
		}
	}
	for _, f := range []string{"street", "city", "state", "zip", "country"} {
		if len(v.Fields[f]) > 200 {
			v.FieldErrors[f] = "At most 200 characters."
		}
	}
	if len(password) > cmex.MaxPasswordBytes {
		v.FieldErrors["password"] = fmt.Sprintf("A password is at most %d bytes.", cmex.MaxPasswordBytes)
	}
	if v.FieldErrors["member_id"] == "" {
		_, err := h.Societies.Member(r.Context(), so.ID, m.MemberID)
		if err == nil {
			v.FieldErrors["member_id"] = "A member of the society has this id already."
		} else if cmex.ErrorCode(err) != cmex.ENOTFOUND {
			h.unavailable(w, r, "society_members", "adding of the member", err, v)
			return
		}
	}
	if len(v.FieldErrors) > 0 {
		h.renderMembers(w, r, http.StatusBadRequest, v)
		return
	}
	generated := password == ""
	if generated {
		password = cmex.GeneratePassword()
	}
	err := h.Societies.AddMember(r.Context(), m, password)
	switch cmex.ErrorCode(err) {
	case "":
	case cmex.ECONFLICT:
		v.FieldErrors["username"] = "Another member of the society has this username."
		h.renderMembers(w, r, http.StatusBadRequest, v)
		return
	case cmex.EINVALID:
		v.Error = cmex.ErrorMessage(err)
		h.renderMembers(w, r, http.StatusBadRequest, v)
		return
	default:
		h.unavailable(w, r, "society_members", "adding of the member", err, v)
		return
	}
	v.Fields = map[string]string{}
	v.Notice = fmt.Sprintf("%s %s is a member now, with the id %s and the username %s.", m.GivenName, m.FamilyName, m.MemberID, m.Username)
	if generated {
		v.Society.Secret, v.Society.SecretFor = password, m.Username
	}
	h.renderMembers(w, r, http.StatusOK, v)
}

// importMembers imports a members CSV whole, or shows its problems beside
// the file's field and imports nothing.
func (h *Handler) importMembers(w http.ResponseWriter, r *http.Request) {
	s, so := h.adminSociety(w, r)
	if s == nil {
		return
	}
	v := societyPage(s, so, "Members")
	if h.localOnly(w, r, v) {
		return
	}
	files, ok := h.uploads(w, r, maxMembersUpload, "members")
	if !ok {
		v.FieldErrors["members"] = fmt.Sprintf("Choose a members CSV file of at most %d MB.", maxMembersUpload>>20)
		h.renderMembers(w, r, http.StatusBadRequest, v)
		return
	}
	defer r.MultipartForm.RemoveAll()
	if len(files) != 1 {
		v.FieldErrors["members"] = "Choose one members CSV file."
		h.renderMembers(w, r, http.StatusBadRequest, v)
		return
	}
	name, data := files[0].name, files[0].data
	if h.SocietyFiles == nil {
		h.unavailable(w, r, "society_members", "import", errors.New("no SocietyFiles reader"), v)
		return
	}
	rows, problems, err := h.SocietyFiles.ReadMembers(bytes.NewReader(data))
	if err != nil {
		v.FieldErrors["members"] = "The file could not be read as CSV."
		h.renderMembers(w, r, http.StatusBadRequest, v)
		return
	}
	if len(rows) > MaxUploadMembers {
		v.FieldErrors["members"] = fmt.Sprintf("%s has %d members: import at most %d at once here (in parts), or the whole file with cmex society member-import.", name, len(rows), MaxUploadMembers)
		h.renderMembers(w, r, http.StatusBadRequest, v)
		return
	}
	var out []cmex.MemberOutcome
	if len(problems) == 0 {
		ms := make([]cmex.NewMember, len(rows))
		for i, row := range rows {
			ms[i] = row.NewMember
		}
		out, err = h.Societies.ImportMembers(r.Context(), so.ID, ms)
		if cmex.ErrorCode(err) == cmex.EINVALID && len(cmex.ErrorProblems(err)) > 0 {
			problems = cmex.MemberImportProblems(rows, err)
		} else if cmex.ErrorCode(err) == cmex.ECONFLICT {
			v.FieldErrors["members"] = cmex.ErrorMessage(err)
			h.renderMembers(w, r, http.StatusConflict, v)
			return
		} else if err != nil {
			h.unavailable(w, r, "society_members", "import", err, v)
			return
		}
	}
	if len(problems) > 0 {
		v.FieldErrors["members"] = fmt.Sprintf("%s has %d problem%s; nothing was imported. Correct the file and choose it again.", name, len(problems), plural(len(problems)))
		for _, p := range problems {
			v.Society.Problems = append(v.Society.Problems, fileLine(name, p))
		}
		h.renderMembers(w, r, http.StatusBadRequest, v)
		return
	}
	rep := &memberReport{File: name}
	for i, o := range out {
		m := rows[i].Member
		rep.Rows = append(rep.Rows, memberReportRow{Line: rows[i].Line, MemberID: o.MemberID, Username: m.Username,
			Name: m.GivenName + " " + m.FamilyName, Outcome: o.Outcome, Password: o.Password})
		rep.Generated = rep.Generated || o.Password != ""
		switch o.Outcome {
		case cmex.MemberAdded:
			rep.Added++
		case cmex.MemberUpdated:
			rep.Updated++
		default:
			rep.Unchanged++
		}
	}
	v.Title, v.Society.MemberReport = "Members imported", rep
	h.render(w, r, http.StatusOK, "society_report", v)
}

// fileLine writes a file's problem as FILE:LINE: column: problem.
func fileLine(name string, p cmex.FileProblem) string {
	if p.Line == 0 {
		return name + ": " + p.Message
	}
	return name + ":" + strings.TrimPrefix(p.String(), "line ")
}

// upload is one uploaded file.
type upload struct {
	name string
	data []byte
}

// uploads reads a multipart form of at most limit bytes and the files of
// its field; false when the form could not be read (too large, or not a
// form), with r.MultipartForm left nil.
func (h *Handler) uploads(w http.ResponseWriter, r *http.Request, limit int64, field string) ([]upload, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, limit+64<<10)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		if r.MultipartForm != nil {
			_ = r.MultipartForm.RemoveAll()
			r.MultipartForm = nil
		}
		return nil, false
	}
	var out []upload
	var total int64
	for _, fh := range r.MultipartForm.File[field] {
		if fh.Size == 0 && fh.Filename == "" {
			continue // the field left empty
		}
		f, err := fh.Open()
		if err != nil {
			return nil, false
		}
		data, err := io.ReadAll(io.LimitReader(f, limit+1))
		f.Close()
		if total += int64(len(data)); err != nil || total > limit {
			return nil, false
		}
		name := fh.Filename
		if name == "" {
			name = "the file"
		}
		out = append(out, upload{name: name, data: data})
	}
	return out, true
}

// societyMember shows one member: her details, a form to reset her
// password, and what her transcript shows of the society.
func (h *Handler) societyMember(w http.ResponseWriter, r *http.Request) {
	s, so := h.adminSociety(w, r)
	if s == nil {
		return
	}
	h.renderMember(w, r, http.StatusOK, societyPage(s, so, "Member"), r.URL.Query().Get("id"))
}

// renderMember shows member id of v's society, or that it has none.
func (h *Handler) renderMember(w http.ResponseWriter, r *http.Request, status int, v view, id string) {
	so := v.Society.Society
	m, err := h.Societies.Member(r.Context(), so.ID, id)
	if err == nil && so.Kind != cmex.SocietyLocal {
		err = cmex.Errorf(cmex.ENOTFOUND, "remote")
	}
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		h.render(w, r, http.StatusNotFound, "notfound", view{Title: "No such member", User: v.User})
		return
	}
	if err != nil {
		h.unavailable(w, r, "notfound", "reading of the member", err, view{Title: "No such member", User: v.User})
		return
	}
	c, err := h.Societies.MemberCredits(r.Context(), so.ID, m.MemberID)
	if err != nil {
		h.unavailable(w, r, "notfound", "reading of the member's credits", err, view{Title: "The member's credits could not be read", User: v.User})
		return
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	src := cmex.SourceResult{TranscriptSource: cmex.TranscriptSource{Society: so.Code, Name: so.Name, MemberID: m.MemberID,
		Status: cmex.SourceOK, FetchedAt: now.UTC()}, Customer: c}
	v.Title = m.GivenName + " " + m.FamilyName
	v.Society.Member = m
	v.Society.Preview = cmex.BuildTranscript(cmex.Account{GivenName: m.GivenName, FamilyName: m.FamilyName, Address: m.Address}, now.UTC(), []cmex.SourceResult{src}, nil)
	h.render(w, r, status, "society_member", v)
}

// resetMemberPassword gives a member a new generated password, shown once
// on her page.
func (h *Handler) resetMemberPassword(w http.ResponseWriter, r *http.Request) {
	s, so := h.adminSociety(w, r)
	if s == nil {
		return
	}
	v := societyPage(s, so, "Member")
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.render(w, r, http.StatusBadRequest, "notfound", view{Title: "The form could not be read", User: &s.User})
		return
	}
	id := r.PostForm.Get("id")
	var password string
	var err error = cmex.Errorf(cmex.ENOTFOUND, "remote")
	if so.Kind == cmex.SocietyLocal {
		password, err = h.Societies.ResetMemberPassword(r.Context(), so.ID, id)
	}
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		h.render(w, r, http.StatusNotFound, "notfound", view{Title: "No such member", User: &s.User})
		return
	}
	if err != nil {
		h.unavailable(w, r, "notfound", "reset of the password", err, view{Title: "The password was not reset", User: &s.User})
		return
	}
	v.Society.Secret, v.Society.SecretFor = password, id
	v.Notice = "Her password is reset: the old one no longer works."
	h.renderMember(w, r, http.StatusOK, v, id)
}

// --- Credits ---

// societyCredits searches the society's own credits: by member id, text
// and dates.
func (h *Handler) societyCredits(w http.ResponseWriter, r *http.Request) {
	s, so := h.adminSociety(w, r)
	if s == nil {
		return
	}
	v := societyPage(s, so, "Credits")
	q := r.URL.Query()
	for _, k := range []string{"member", "q", "from", "to"} {
		v.Fields[k] = strings.TrimSpace(q.Get(k))
	}
	h.renderCredits(w, r, http.StatusOK, v)
}

// renderCredits lists the credits v's search fields select (none when
// they have problems) and renders the credits page.
func (h *Handler) renderCredits(w http.ResponseWriter, r *http.Request, status int, v view) {
	sv := v.Society
	f := cmex.SocietyCreditFilter{MemberID: v.Fields["member"], Text: v.Fields["q"], Limit: cmex.DefaultSocietyCreditLimit + 1}
	problems := map[string]string{}
	if len(f.MemberID) > 64 {
		problems["member"] = "A member id is at most 64 characters."
	}
	if len(f.Text) > 200 {
		problems["q"] = "Search for at most 200 characters."
	}
	for _, d := range []struct {
		name string
		dst  *cmex.Date
	}{{"from", &f.From}, {"to", &f.To}} {
		if val := v.Fields[d.name]; val != "" {
			date, _, err := cmex.ParseDate(val)
			if err != nil {
				problems[d.name] = "Enter a date as YYYY-MM-DD."
			}
			*d.dst = date
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		problems["to"] = "The end of the range comes before its start."
	}
	for k, p := range problems {
		v.FieldErrors[k] = p
	}
	if len(problems) > 0 && status == http.StatusOK {
		status = http.StatusBadRequest
	}
	if sv.Society.Kind == cmex.SocietyLocal && len(problems) == 0 {
		cs, err := h.Societies.SocietyCredits(r.Context(), sv.Society.ID, f)
		if err != nil {
			h.unavailable(w, r, "society_credits", "search of the credits", err, v)
			return
		}
		sv.More = len(cs) > cmex.DefaultSocietyCreditLimit
		sv.Credits = cs[:min(len(cs), cmex.DefaultSocietyCreditLimit)]
	}
	h.render(w, r, status, "society_credits", v)
}

// importCredits records the credits of ceu_order XML and credits CSV
// files, credit by credit, and reports on each.
func (h *Handler) importCredits(w http.ResponseWriter, r *http.Request) {
	s, so := h.adminSociety(w, r)
	if s == nil {
		return
	}
	v := societyPage(s, so, "Credits")
	if so.Kind != cmex.SocietyLocal {
		v.Error = "Your society is remote: its own servers keep its members and credits."
		h.render(w, r, http.StatusConflict, "society_credits", v)
		return
	}
	files, ok := h.uploads(w, r, maxCreditsUpload, "credits")
	if !ok {
		v.FieldErrors["credits"] = fmt.Sprintf("Choose ceu_order XML or credits CSV files of at most %d MB together.", maxCreditsUpload>>20)
		h.renderCredits(w, r, http.StatusBadRequest, v)
		return
	}
	defer r.MultipartForm.RemoveAll()
	if len(files) == 0 {
		v.FieldErrors["credits"] = "Choose at least one ceu_order XML or credits CSV file."
		h.renderCredits(w, r, http.StatusBadRequest, v)
		return
	}
	if h.SocietyFiles == nil {
		h.unavailable(w, r, "society_credits", "import", errors.New("no SocietyFiles reader"), v)
		return
	}
	// Every file is read before any is recorded: one that cannot be read
	// at all stops the upload, with nothing recorded.
	type read struct {
		name string
		rows []cmex.CreditRow
	}
	var all []read
	for _, f := range files {
		rows, problems, err := h.SocietyFiles.ReadCredits(f.name, f.data)
		if err != nil {
			problems = []cmex.FileProblem{{Message: "could not be read"}}
		}
		for _, p := range problems {
			v.Society.Problems = append(v.Society.Problems, fileLine(f.name, p))
		}
		all = append(all, read{f.name, rows})
	}
	if len(v.Society.Problems) > 0 {
		v.FieldErrors["credits"] = "A file could not be read; nothing was recorded. Correct it and choose the files again."
		h.renderCredits(w, r, http.StatusBadRequest, v)
		return
	}
	v.Title = "Credits imported"
	for _, f := range all {
		out, err := cmex.ImportCreditRows(r.Context(), h.Societies, so.ID, f.rows)
		if err != nil {
			// The files before this one are recorded, as the report says.
			h.Logger.ErrorContext(r.Context(), "portal: society admin: import of credits", "file", f.name, "err", err)
			v.Error = fmt.Sprintf("The import stopped at %s: nothing of it was recorded. The files above it are recorded, as below; choose %s and the files after it again.", f.name, f.name)
			status := http.StatusServiceUnavailable
			if cmex.ErrorCode(err) == cmex.EBUSY {
				w.Header().Set("Retry-After", strconv.Itoa(cmex.RetryAfter(err)))
			}
			h.render(w, r, status, "society_report", v)
			return
		}
		rep := creditReport{File: f.name}
		for i, o := range out {
			row := f.rows[i]
			rep.Rows = append(rep.Rows, creditReportRow{Line: row.Line, Position: row.Position, MemberID: row.Credit.MemberID,
				Date: dateText(row.Credit.CEU.Date), Title: row.Credit.CEU.Title, Outcome: o.Outcome, Problem: o.Problem})
			switch o.Outcome {
			case cmex.OutcomeAccepted:
				rep.Accepted++
			case cmex.OutcomePresent:
				rep.Present++
			default:
				rep.Rejected++
			}
		}
		v.Society.CreditReports = append(v.Society.CreditReports, rep)
	}
	h.render(w, r, http.StatusOK, "society_report", v)
}

func dateText(d cmex.Date) string {
	if d.IsZero() {
		return ""
	}
	return d.String()
}

// --- Feed and access ---

// societyAccess shows who may pull the society's credits through the
// credit feed, its own feed login, and who may call its ceu_order.
func (h *Handler) societyAccess(w http.ResponseWriter, r *http.Request) {
	s, so := h.adminSociety(w, r)
	if s == nil {
		return
	}
	v := societyPage(s, so, "Feed and access")
	switch r.URL.Query().Get("done") {
	case "approved":
		v.Notice = "The society may pull your members' credits through the credit feed now."
	case "withdrawn":
		v.Notice = "The approval is withdrawn: that society no longer gets your credits through the feed."
	case "allowed":
		v.Notice = "Gateways at those addresses may call your ceu_order now."
	case "revoked":
		v.Notice = "The grant is revoked."
	}
	h.renderAccess(w, r, http.StatusOK, v)
}

// renderAccess fills v with the approvals, other societies and grants of
// v's society and renders the access page.
func (h *Handler) renderAccess(w http.ResponseWriter, r *http.Request, status int, v view) {
	sv := v.Society
	so := sv.Society
	all, err := h.Societies.ListSocieties(r.Context(), cmex.SocietyFilter{})
	var pullers, providers []cmex.SocietyID
	if err == nil {
		pullers, err = h.Societies.ApprovedPullers(r.Context(), so.ID)
	}
	if err == nil {
		providers, err = h.Societies.ApprovedProviders(r.Context(), so.ID)
	}
	if err == nil && so.Kind == cmex.SocietyLocal {
		sv.Grants, err = h.Societies.OrderGrants(r.Context(), so.ID)
	}
	if err != nil {
		h.unavailable(w, r, "society_access", "listing of the approvals", err, v)
		return
	}
	for _, o := range all {
		switch {
		case o.ID == so.ID:
			sv.Society = o // as it is now, with its feed login
		case slices.Contains(pullers, o.ID):
			sv.Pullers = append(sv.Pullers, o)
		default:
			sv.Candidates = append(sv.Candidates, o)
		}
		if o.ID != so.ID && slices.Contains(providers, o.ID) {
			sv.Providers = append(sv.Providers, o)
		}
	}
	h.render(w, r, status, "society_access", v)
}

// accessForm reads a form posted to the access page; false when it could
// not be read, the page being answered then.
func (h *Handler) accessForm(w http.ResponseWriter, r *http.Request) (*cmex.Session, view, bool) {
	s, so := h.adminSociety(w, r)
	if s == nil {
		return nil, view{}, false
	}
	v := societyPage(s, so, "Feed and access")
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		v.Error = "The form could not be read; please try again."
		h.renderAccess(w, r, http.StatusBadRequest, v)
		return nil, v, false
	}
	return s, v, true
}

// approve lets another society pull this one's credits.
func (h *Handler) approve(w http.ResponseWriter, r *http.Request) {
	_, v, ok := h.accessForm(w, r)
	if !ok {
		return
	}
	so := v.Society.Society
	code := strings.TrimSpace(r.PostForm.Get("puller"))
	v.Fields["puller"] = code
	puller, err := h.Societies.SocietyByCode(r.Context(), code)
	switch {
	case code == "":
		v.FieldErrors["puller"] = "Choose a society."
	case cmex.ErrorCode(err) == cmex.ENOTFOUND:
		v.FieldErrors["puller"] = "There is no such society."
	case err != nil:
		h.unavailable(w, r, "society_access", "approval", err, v)
		return
	case puller.ID == so.ID:
		v.FieldErrors["puller"] = "Your society reads its own credits; choose another."
	}
	if len(v.FieldErrors) > 0 {
		h.renderAccess(w, r, http.StatusBadRequest, v)
		return
	}
	if err := h.Societies.Approve(r.Context(), so.ID, puller.ID); err != nil {
		h.unavailable(w, r, "society_access", "approval", err, v)
		return
	}
	http.Redirect(w, r, "/society/access?done=approved", http.StatusSeeOther)
}

// withdraw stops another society pulling this one's credits.
func (h *Handler) withdraw(w http.ResponseWriter, r *http.Request) {
	_, v, ok := h.accessForm(w, r)
	if !ok {
		return
	}
	so := v.Society.Society
	puller, err := h.Societies.SocietyByCode(r.Context(), r.PostForm.Get("puller"))
	if err == nil {
		err = h.Societies.WithdrawApproval(r.Context(), so.ID, puller.ID)
	}
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		v.Error = "That society is not approved to pull your credits."
		h.renderAccess(w, r, http.StatusNotFound, v)
		return
	}
	if err != nil {
		h.unavailable(w, r, "society_access", "withdrawal", err, v)
		return
	}
	http.Redirect(w, r, "/society/access?done=withdrawn", http.StatusSeeOther)
}

// feedLogin gives the society a feed login, or a new secret for the one
// it has (rotate), shown once.
func (h *Handler) feedLogin(w http.ResponseWriter, r *http.Request) {
	_, v, ok := h.accessForm(w, r)
	if !ok {
		return
	}
	so := v.Society.Society
	username := strings.TrimSpace(r.PostForm.Get("feed_username"))
	rotate := r.PostForm.Get("rotate") != ""
	if rotate {
		username = so.FeedUsername
	}
	v.Fields["feed_username"] = username
	switch {
	case rotate && username == "":
		v.FieldErrors["feed_username"] = "Your society has no feed login to rotate yet: name one."
	case username == "":
		v.FieldErrors["feed_username"] = "Enter the username your society's systems will send to the credit feed."
	case len(username) > 100:
		v.FieldErrors["feed_username"] = "A username is at most 100 characters."
	case strings.ContainsFunc(username, func(r rune) bool { return r < ' ' || r == 0x7f }):
		v.FieldErrors["feed_username"] = "A username has no control characters."
	}
	if len(v.FieldErrors) > 0 {
		h.renderAccess(w, r, http.StatusBadRequest, v)
		return
	}
	secret, err := h.Societies.NewFeedSecret(r.Context(), so.ID, username)
	switch cmex.ErrorCode(err) {
	case "":
	case cmex.ECONFLICT:
		v.FieldErrors["feed_username"] = "That username is taken; choose another."
		h.renderAccess(w, r, http.StatusBadRequest, v)
		return
	case cmex.EINVALID:
		v.FieldErrors["feed_username"] = cmex.ErrorMessage(err)
		h.renderAccess(w, r, http.StatusBadRequest, v)
		return
	default:
		h.unavailable(w, r, "society_access", "feed login", err, v)
		return
	}
	v.Fields = map[string]string{}
	v.Society.Secret, v.Society.SecretFor = secret, "the feed login "+username
	v.Notice = "Your society's feed login is " + username + ", with a new secret: the old one, if any, no longer works."
	h.renderAccess(w, r, http.StatusOK, v)
}

// allowOrders lets gateways at an address range, or holding a new
// credential (its secret shown once), call the society's ceu_order.
func (h *Handler) allowOrders(w http.ResponseWriter, r *http.Request) {
	_, v, ok := h.accessForm(w, r)
	if !ok {
		return
	}
	so := v.Society.Society
	if so.Kind != cmex.SocietyLocal {
		v.Error = "Your society is remote: its own servers answer its ceu_order."
		h.renderAccess(w, r, http.StatusConflict, v)
		return
	}
	from, name := strings.TrimSpace(r.PostForm.Get("from")), strings.TrimSpace(r.PostForm.Get("credential"))
	v.Fields["from"], v.Fields["credential"] = from, name
	if _, isCredential := r.PostForm["credential"]; isCredential {
		if name == "" {
			v.FieldErrors["credential"] = "Name the gateway the credential is for."
			h.renderAccess(w, r, http.StatusBadRequest, v)
			return
		}
		g, secret, err := h.Societies.AddOrderCredential(r.Context(), so.ID, name)
		switch cmex.ErrorCode(err) {
		case "":
		case cmex.EINVALID, cmex.ECONFLICT:
			v.FieldErrors["credential"] = cmex.ErrorMessage(err)
			h.renderAccess(w, r, http.StatusBadRequest, v)
			return
		default:
			h.unavailable(w, r, "society_access", "grant", err, v)
			return
		}
		v.Fields = map[string]string{}
		v.Society.Secret, v.Society.SecretFor = secret, "the ceu_order credential "+g.Name
		v.Notice = "A gateway sending " + g.Name + " and the secret below as HTTP Basic may call your ceu_order now."
		h.renderAccess(w, r, http.StatusOK, v)
		return
	}
	var ranges []string
	for _, part := range strings.Split(from, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		c, err := cmex.NormalizeCIDR(part)
		if err != nil {
			v.FieldErrors["from"] = cmex.ErrorMessage(err)
			break
		}
		ranges = append(ranges, c)
	}
	if len(ranges) == 0 && v.FieldErrors["from"] == "" {
		v.FieldErrors["from"] = "Enter an address or a CIDR range, such as 203.0.113.0/24."
	}
	if len(ranges) > 20 {
		v.FieldErrors["from"] = "At most 20 ranges at once."
	}
	if len(v.FieldErrors) > 0 {
		h.renderAccess(w, r, http.StatusBadRequest, v)
		return
	}
	for _, c := range ranges {
		if _, err := h.Societies.AllowOrdersFrom(r.Context(), so.ID, c); err != nil {
			h.unavailable(w, r, "society_access", "grant", err, v)
			return
		}
	}
	http.Redirect(w, r, "/society/access?done=allowed", http.StatusSeeOther)
}

// revokeGrant removes one of the society's ceu_order grants.
func (h *Handler) revokeGrant(w http.ResponseWriter, r *http.Request) {
	_, v, ok := h.accessForm(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		err = cmex.Errorf(cmex.ENOTFOUND, "no grant")
	} else {
		err = h.Societies.RevokeOrderGrant(r.Context(), v.Society.Society.ID, id)
	}
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		v.Error = "Your society has no such grant."
		h.renderAccess(w, r, http.StatusNotFound, v)
		return
	}
	if err != nil {
		h.unavailable(w, r, "society_access", "revocation", err, v)
		return
	}
	http.Redirect(w, r, "/society/access?"+url.Values{"done": {"revoked"}}.Encode(), http.StatusSeeOther)
}

// registerSociety adds the society admin's routes.
func (h *Handler) registerSociety(route func(string, http.HandlerFunc)) {
	route("GET /society/members", h.societyMembers)
	route("POST /society/members", h.addMember)
	route("POST /society/members/import", h.importMembers)
	route("GET /society/member", h.societyMember)
	route("POST /society/member/password", h.resetMemberPassword)
	route("GET /society/credits", h.societyCredits)
	route("POST /society/credits/import", h.importCredits)
	route("GET /society/access", h.societyAccess)
	route("POST /society/approvals", h.approve)
	route("POST /society/approvals/withdraw", h.withdraw)
	route("POST /society/feed-login", h.feedLogin)
	route("POST /society/order-grants", h.allowOrders)
	route("POST /society/order-grants/{id}/revoke", h.revokeGrant)
}
