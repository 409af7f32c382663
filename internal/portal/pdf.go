package portal

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"codeberg.org/go-pdf/fpdf"

	"github.com/cmexhub/cmex"
)

// The transcript's PDF is set in DejaVu Sans, embedded so that any name
// or title prints whatever its script (licence in fonts/LICENSE).
var (
	//go:embed fonts/DejaVuSans.ttf
	fontRegular []byte
	//go:embed fonts/DejaVuSans-Bold.ttf
	fontBold []byte
)

// transcriptPDF sends the physician's whole transcript as a PDF, and keeps
// the verification of the code printed on it.
func (h *Handler) transcriptPDF(w http.ResponseWriter, r *http.Request) {
	s := h.signedIn(w, r, cmex.RolePhysician)
	if s == nil {
		return
	}
	t, err := h.Transcripts.Transcript(r.Context(), s.User.Account.ID)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: transcript pdf", "err", err)
		h.render(w, r, http.StatusServiceUnavailable, "transcript", view{Title: "Your transcript", User: &s.User,
			Error: "Your transcript could not be gathered just now; please try again.", Transcript: &cmex.Transcript{}})
		return
	}
	v := &cmex.TranscriptVerification{Code: verificationCode(), Account: s.User.Account.ID, Name: s.User.Name(),
		GeneratedAt: t.GeneratedAt, Credits: len(t.Credits), Totals: t.Totals, Digest: cmex.TranscriptDigest(t.Credits)}
	if err := h.Portal.SaveVerification(r.Context(), v); err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: save verification", "err", err)
		http.Error(w, "The transcript could not be printed just now; please try again.", http.StatusServiceUnavailable)
		return
	}
	pdf, err := printTranscript(t, v, h.baseURL(r))
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "portal: print transcript", "err", err)
		http.Error(w, "The transcript could not be printed just now; please try again.", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/pdf")
	hd.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="cme-transcript-%s.pdf"`, t.GeneratedAt.Format("2006-01-02")))
	hd.Set("Cache-Control", "private, no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(pdf)
}

// verificationCode is 60 random bits in Crockford's base32, grouped:
// 7KQ2-M9XD-4TPA.
func verificationCode() string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on supported systems
	var s strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			s.WriteByte('-')
		}
		s.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return s.String()
}

// baseURL is the address printed before a transcript's /verify/CODE: the
// configured public address; or, where HostURL allows it (the sandbox),
// the one the request reached this cmex at; or nothing, leaving the path.
// Never the request's Host otherwise: a client names any host it likes,
// and the paper would send its readers there.
func (h *Handler) baseURL(r *http.Request) string {
	switch {
	case h.PublicURL != "":
		return strings.TrimSuffix(h.PublicURL, "/")
	case h.HostURL:
		scheme := "http"
		if overTLS(r) {
			scheme = "https"
		}
		return scheme + "://" + r.Host
	}
	return ""
}

// printTranscript lays out t: the physician, her identifiers, the credits
// by year and type, the totals, and the verification code.
func printTranscript(t *cmex.Transcript, v *cmex.TranscriptVerification, base string) ([]byte, error) {
	p := fpdf.New("P", "mm", "Letter", "")
	p.AddUTF8FontFromBytes("dejavu", "", fontRegular)
	p.AddUTF8FontFromBytes("dejavu", "B", fontBold)
	p.SetTitle("CME transcript of "+v.Name, true)
	p.SetCreator("cmex", true)
	p.SetMargins(18, 18, 18)
	p.SetAutoPageBreak(true, 22)
	p.SetFooterFunc(func() {
		p.SetY(-16)
		p.SetFont("dejavu", "", 8)
		p.CellFormat(0, 5, fmt.Sprintf("Verification code %s · %s/verify/%s · page %d", v.Code, base, v.Code, p.PageNo()), "", 0, "C", false, 0, "")
	})
	p.AddPage()
	width, _ := p.GetPageSize()
	usable := width - 36

	p.SetFont("dejavu", "B", 16)
	p.CellFormat(0, 9, "Continuing Medical Education Transcript", "", 1, "L", false, 0, "")
	p.SetFont("dejavu", "", 10)
	line := func(s string) { p.MultiCell(0, 5, s, "", "L", false) }
	line(v.Name + " · account " + t.Account.Username)
	for _, src := range t.Sources {
		if src.Society == cmex.SourceRegistry {
			line(fmt.Sprintf("%s to the registry, for registry person %d: every provider's credits, with the status each has reached", src.Name, src.Person))
			continue
		}
		status := ""
		switch src.Status {
		case cmex.SourceFailed:
			status = " — could not be reached; none of its credits are included"
		case cmex.SourceStale:
			status = " — could not be reached; its credits as of " + src.FetchedAt.Format("2 January 2006")
		}
		line(fmt.Sprintf("%s (%s), member %s%s", src.Name, src.Society, src.MemberID, status))
	}
	line("Generated " + t.GeneratedAt.UTC().Format("2 January 2006, 15:04 UTC") + " · verification code " + v.Code)
	p.Ln(3)

	// Credits by year, newest first, and by type within the year.
	years := map[int][]cmex.TranscriptCredit{}
	var order []int
	for _, c := range t.Credits {
		if _, ok := years[c.Date.Year]; !ok {
			order = append(order, c.Date.Year)
		}
		years[c.Date.Year] = append(years[c.Date.Year], c)
	}
	slices.Sort(order)
	slices.Reverse(order)
	cols := []float64{24, usable - 24 - 48 - 22, 48, 22}
	for _, y := range order {
		p.SetFont("dejavu", "B", 12)
		p.CellFormat(0, 8, fmt.Sprint(y), "B", 1, "L", false, 0, "")
		for _, typ := range []string{cmex.DetailCME, cmex.DetailMOC} {
			var rows [][4]string
			for _, c := range years[y] {
				for _, d := range c.Lines() {
					if d.Type != typ {
						continue
					}
					what := d.Category
					if len(d.Focus) > 0 {
						what += ": " + strings.Join(d.Focus, ", ")
					}
					if st := d.Status; st != nil {
						what += " · " + string(st.Status)
						if st.Code != "" {
							what += " " + st.Code
						}
						if st.Reason != "" {
							what += ": " + st.Reason
						}
					}
					title := c.Title
					if c.SelfAttested {
						title += " (self-attested)"
					}
					if c.Rejected {
						title += " (rejected by the board; not counted)"
					}
					rows = append(rows, [4]string{c.Date.String(), title + "\n" + c.Sponsor, what, d.Credits.String()})
				}
			}
			if len(rows) == 0 {
				continue
			}
			p.SetFont("dejavu", "B", 10)
			p.CellFormat(0, 6, typ, "", 1, "L", false, 0, "")
			p.SetFont("dejavu", "", 9)
			for _, row := range rows {
				tableRow(p, cols, row)
			}
			p.Ln(1)
		}
	}
	if len(t.Credits) == 0 {
		line("No credit.")
	}

	p.Ln(3)
	p.SetFont("dejavu", "B", 12)
	p.CellFormat(0, 8, "Totals", "B", 1, "L", false, 0, "")
	p.SetFont("dejavu", "", 10)
	total := func(label string, v cmex.Points) {
		p.CellFormat(usable-30, 6, label, "", 0, "L", false, 0, "")
		p.CellFormat(30, 6, v.String(), "", 1, "R", false, 0, "")
	}
	total("Total Overall Category 1 Credits", t.Totals.Category1)
	total("Total Category 1 Subspecialties Credits", t.Totals.Category1Subspecialty)
	if t.Totals.SelfAttestedCategory1 > 0 {
		total("of which self-attested", t.Totals.SelfAttestedCategory1)
	}
	for _, m := range t.Totals.MOC {
		total(fmt.Sprintf("MOC %s (%s)", m.Competency, m.Category), m.Credits)
	}
	p.Ln(4)
	p.SetFont("dejavu", "", 9)
	line(fmt.Sprintf("Anyone may check this transcript at %s/verify/%s: the page says whether the credits it lists are still those the ledger holds.", base, v.Code))
	// The same address as a QR code, for a phone: only when it is a whole
	// URL (a path alone opens nothing).
	if base != "" {
		png, err := qrPNG(base+"/verify/"+v.Code, 512)
		if err != nil {
			return nil, fmt.Errorf("qr code: %w", err)
		}
		const side = 30 // mm
		_, pageHeight := p.GetPageSize()
		_, _, _, bottom := p.GetMargins()
		if p.GetY()+side+2 > pageHeight-bottom {
			p.AddPage()
		}
		p.RegisterImageOptionsReader("verify-qr", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(png))
		left, _, _, _ := p.GetMargins()
		y := p.GetY() + 2
		p.ImageOptions("verify-qr", left, y, side, side, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, base+"/verify/"+v.Code)
		p.SetXY(left+side+4, y+side/2-5)
		p.MultiCell(usable-side-4, 5, "Scan to verify this transcript: "+base+"/verify/"+v.Code, "", "L", false)
		p.SetY(y + side + 2)
	}

	var b bytes.Buffer
	if err := p.Output(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// tableRow writes one row of cells, each wrapped within its width, and
// moves below the tallest.
func tableRow(p *fpdf.Fpdf, widths []float64, cells [4]string) {
	const lh = 4.5
	height := lh
	for i, c := range cells {
		n := len(p.SplitText(c, widths[i]-2))
		height = max(height, float64(n)*lh)
	}
	_, pageHeight := p.GetPageSize()
	_, _, _, bottom := p.GetMargins()
	if p.GetY()+height > pageHeight-bottom {
		p.AddPage()
	}
	x, y := p.GetXY()
	for i, c := range cells {
		p.SetXY(x, y)
		align := "L"
		if i == len(cells)-1 {
			align = "R"
		}
		p.MultiCell(widths[i], lh, c, "", align, false)
		x += widths[i]
	}
	left, _, _, _ := p.GetMargins()
	p.SetXY(left, y+height+1)
}
