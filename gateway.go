package cmex

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// AccountID is cmex's key for a gateway account.
type AccountID int64

// Account is a physician's CME Gateway account: her own login to the
// gateway, from which she binds the societies she belongs to and sees one
// transcript of all their credits. Only a hash of her password is kept.
type Account struct {
	ID         AccountID `json:"id"`
	Username   string    `json:"username"`
	GivenName  string    `json:"givenName"`
	FamilyName string    `json:"familyName"`
	Email      string    `json:"email,omitempty"`
	Address    Address   `json:"address"`
	CreatedAt  time.Time `json:"createdAt,omitzero"`
}

// Binding ties an account to its member id at a society, as customer_binding
// returned it. The society password she bound with is never kept.
type Binding struct {
	AccountID   AccountID `json:"accountId"`
	SocietyID   SocietyID `json:"-"`
	SocietyCode string    `json:"society"`
	MemberID    string    `json:"memberId"`
	BoundAt     time.Time `json:"boundAt"`
}

// SelfCredit is a credit the physician enters herself; transcripts mark it
// as self-attested.
type SelfCredit struct {
	ID        int64     `json:"id"`
	AccountID AccountID `json:"-"`
	CEU
	CreatedAt time.Time `json:"createdAt"`
	// Certificate is the file she keeps with it, if any; listings give
	// its name, type and size, not its content.
	Certificate *Certificate `json:"certificate,omitempty"`
}

// Certificate is a file kept with a self-attested credit: a PDF or an
// image of the certificate of attendance.
type Certificate struct {
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int    `json:"size"`
	Data        []byte `json:"-"`
}

// MaxCertificateBytes bounds a certificate file.
const MaxCertificateBytes = 5 << 20

// CertificateType returns the content type of a certificate file judged
// by its first bytes, not by its name: application/pdf, image/png or
// image/jpeg; any other file is refused.
func CertificateType(data []byte) (string, bool) {
	switch {
	case bytes.HasPrefix(data, []byte("%PDF-")):
		return "application/pdf", true
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png", true
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return "image/jpeg", true
	}
	return "", false
}

// CheckCertificate reports what is wrong with a certificate, as EINVALID.
func CheckCertificate(c *Certificate) error {
	switch {
	case len(c.Data) == 0:
		return Errorf(EINVALID, "the certificate file is empty")
	case len(c.Data) > MaxCertificateBytes:
		return Errorf(EINVALID, "the certificate file is larger than %d MB", MaxCertificateBytes>>20)
	}
	t, ok := CertificateType(c.Data)
	if !ok {
		return Errorf(EINVALID, "the certificate must be a PDF, PNG or JPEG file")
	}
	c.ContentType, c.Size = t, len(c.Data)
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" || len(c.Name) > 200 {
		c.Name = "certificate"
	}
	return nil
}

// CachedOrder is the last ceu_order a society answered for a member.
type CachedOrder struct {
	SocietyID SocietyID
	MemberID  string
	Customer  *Customer
	FetchedAt time.Time
}

// GatewayService keeps gateway accounts, their bindings and self-attested
// credits, and the cache of societies' answers.
type GatewayService interface {
	// CreateAccount stores a with the hash of password and sets its ID and
	// CreatedAt. A username in use by an account or a member of staff
	// (compared without regard to case) is ECONFLICT, after the same work
	// (a hash and a commit, of an audit entry account.taken) as a free
	// one.
	CreateAccount(ctx context.Context, a *Account, password string) error
	// AuthenticateAccount returns the account with this login, or
	// EUNAUTHORIZED.
	AuthenticateAccount(ctx context.Context, username, password string) (*Account, error)
	// SetAccountPassword replaces an account's password, or ENOTFOUND.
	SetAccountPassword(ctx context.Context, id AccountID, password string) error
	// Account returns an account, or ENOTFOUND.
	Account(ctx context.Context, id AccountID) (*Account, error)
	// AccountByUsername returns an account, or ENOTFOUND.
	AccountByUsername(ctx context.Context, username string) (*Account, error)
	// ListAccounts returns every account, by username.
	ListAccounts(ctx context.Context) ([]*Account, error)

	// SaveBinding stores b, replacing the account's earlier binding to the
	// same society. A member id already bound to another account is
	// ECONFLICT.
	SaveBinding(ctx context.Context, b *Binding) error
	// Bindings returns an account's bindings, by society code.
	Bindings(ctx context.Context, account AccountID) ([]*Binding, error)
	// BindingByMember returns the binding of a society's member, or
	// ENOTFOUND.
	BindingByMember(ctx context.Context, society SocietyID, memberID string) (*Binding, error)
	// DeleteBinding removes an account's binding to a society, or ENOTFOUND.
	DeleteBinding(ctx context.Context, account AccountID, society SocietyID) error
	// AccountPersons returns the registry persons an account reaches: those
	// linked to the members of local societies it is bound to, and the
	// person linked to the account itself (ClaimService), by id.
	AccountPersons(ctx context.Context, account AccountID) ([]PersonID, error)

	// AddSelfCredit stores a self-attested credit, with its certificate when
	// it has one (CheckCertificate), and sets its ID.
	AddSelfCredit(ctx context.Context, c *SelfCredit) error
	// SelfCredits returns an account's self-attested credits, by date.
	SelfCredits(ctx context.Context, account AccountID) ([]*SelfCredit, error)
	// SelfCreditCertificate returns the certificate kept with one of an
	// account's self-attested credits, content included, or ENOTFOUND.
	SelfCreditCertificate(ctx context.Context, account AccountID, id int64) (*Certificate, error)
	// DeleteSelfCredit removes one, with its certificate, or ENOTFOUND.
	DeleteSelfCredit(ctx context.Context, account AccountID, id int64) error

	// CachedOrder returns the cached answer of a society for a member, or
	// ENOTFOUND.
	CachedOrder(ctx context.Context, society SocietyID, memberID string) (*CachedOrder, error)
	// StoreOrder caches a society's answer.
	StoreOrder(ctx context.Context, o *CachedOrder) error
}

// TranscriptService binds accounts to societies and builds transcripts:
// the gateway's work, which calls societies.
type TranscriptService interface {
	// Bind checks a society login with the society (customer_binding) and
	// binds the account to the member id it returns. A login the society
	// refuses is EUNAUTHORIZED with the society's message; a society that
	// cannot be reached is EUNAVAILABLE.
	Bind(ctx context.Context, account AccountID, society, username, password string) (*Binding, error)
	// Transcript gathers the account's credits from every bound society
	// and her self-attested ones.
	Transcript(ctx context.Context, account AccountID) (*Transcript, error)
	// HeldTranscript builds the account's transcript from what this cmex
	// holds, asking no society: the credits of the local societies, the
	// last answer each remote one gave (SourceCached, of any age;
	// SourceFailed when none is held), and the self-attested credits.
	// It is what a printed transcript's verification compares with.
	HeldTranscript(ctx context.Context, account AccountID) (*Transcript, error)
}

// Source statuses on a transcript.
const (
	SourceOK     = "ok"     // the society answered now
	SourceCached = "cached" // a recent answer was served without asking again
	SourceStale  = "stale"  // the society failed; its last answer is shown
	SourceFailed = "failed" // the society failed and no earlier answer exists
)

// SourceSelf is the source of self-attested credits.
const SourceSelf = "self"

// SourceRegistry is the source of the credits providers reported for the
// registry person linked to the account (ClaimService.PersonLedger).
const SourceRegistry = "registry"

// TranscriptSource says how one bound society answered.
type TranscriptSource struct {
	Society   string    `json:"society"` // code
	Name      string    `json:"name"`
	MemberID  string    `json:"memberId"`
	Status    string    `json:"status"`
	Error     string    `json:"error,omitempty"`
	FetchedAt time.Time `json:"fetchedAt,omitzero"` // of the credits shown
	Credits   int       `json:"credits"`
	// Person is the registry person of the SourceRegistry source.
	Person PersonID `json:"person,omitempty"`
}

// SourceResult is what the gateway got from one society, for
// BuildTranscript; or, for SourceRegistry, the ledger credits of the
// account's linked person, with their statuses.
type SourceResult struct {
	TranscriptSource
	Customer *Customer // nil when failed
	Ledger   []TranscriptCredit
}

// TranscriptCredit is one credit on a transcript.
type TranscriptCredit struct {
	CEU
	// Sources are the codes of the societies that reported it (several
	// when it reached the gateway by several routes), or "self".
	Sources      []string `json:"sources"`
	SelfAttested bool     `json:"selfAttested,omitempty"`
	// Stale marks credits shown from a cached answer of a society that
	// failed this time.
	Stale bool `json:"stale,omitempty"`
	// Statuses say, for a credit providers reported to the ledger for the
	// account's linked registry person, where the learner record behind
	// each detail stands: one per detail, in the order of Details. Other
	// credits have none.
	Statuses []CreditStatus `json:"statuses,omitempty"`
	// Rejected marks a credit whose records a board rejected: it is
	// listed, with the board's code and reason in Statuses, and counted in
	// no total.
	Rejected bool `json:"rejected,omitempty"`
}

// CreditStatus is where a learner record stands, with a board's code and
// reason when it rejected it.
type CreditStatus struct {
	// RecordID is the learner record's id: its credential's key
	// (CredentialService.PersonCredential).
	RecordID LearnerRecordID `json:"recordId,omitempty"`
	Status   LearnerStatus   `json:"status"`
	Code     string          `json:"code,omitempty"`
	Reason   string          `json:"reason,omitempty"`
}

// CreditLine is one detail of a transcript credit with the status of the
// record behind it, when known.
type CreditLine struct {
	CEUDetail
	Status *CreditStatus
}

// Lines returns the credit's details, each with its status.
func (c TranscriptCredit) Lines() []CreditLine {
	out := make([]CreditLine, len(c.Details))
	for i, d := range c.Details {
		out[i].CEUDetail = d
		if i < len(c.Statuses) {
			out[i].Status = &c.Statuses[i]
		}
	}
	return out
}

// CompetencyTotal is the MOC credit toward one competency in a category.
type CompetencyTotal struct {
	Competency string `json:"competency"`
	Category   string `json:"category"`
	Credits    Points `json:"credits"`
}

// Totals are a transcript's sums, as the seed's transcript shows them.
type Totals struct {
	// Category1 is the AMA PRA Category 1 credit of all activities, each
	// counted once (CEU.Credits).
	Category1 Points `json:"category1"`
	// Category1Subspecialty sums the Category 1 CME details that name a
	// subspecialty.
	Category1Subspecialty Points `json:"category1Subspecialty"`
	// SelfAttestedCategory1 is the part of Category1 the physician attests.
	SelfAttestedCategory1 Points `json:"selfAttestedCategory1"`
	// MOC sums MOC details by competency and category.
	MOC []CompetencyTotal `json:"moc"`
}

// Transcript is a physician's credits from every source.
type Transcript struct {
	Account     Account            `json:"account"`
	GeneratedAt time.Time          `json:"generatedAt"`
	Sources     []TranscriptSource `json:"sources"`
	Credits     []TranscriptCredit `json:"credits"`
	Totals      Totals             `json:"totals"`
}

// Failed returns the sources that did not answer this time.
func (t *Transcript) Failed() []TranscriptSource {
	var out []TranscriptSource
	for _, s := range t.Sources {
		if s.Status == SourceStale || s.Status == SourceFailed {
			out = append(out, s)
		}
	}
	return out
}

// BuildTranscript merges what the societies answered, the ledger credits
// of the account's linked person and the self-attested credits into one
// transcript: each credit once with every source that reported it, in
// date order, and the totals. A local society's answer already holds the
// ledger credits of the person its member is linked to, without the
// rejected ones (LedgerCEUs), in the very form the registry source gives
// them (LedgerCredits): so a credit reaching the transcript both ways is
// one credit with both sources (and the registry's statuses), counted
// once. A rejected credit is never merged with one that counts.
func BuildTranscript(a Account, now time.Time, results []SourceResult, self []*SelfCredit) *Transcript {
	t := &Transcript{Account: a, GeneratedAt: now, Sources: []TranscriptSource{}, Credits: []TranscriptCredit{}}
	index := map[string]int{}
	add := func(c TranscriptCredit, source string) {
		key := c.Key()
		if c.Rejected {
			key += "\x03rejected"
		}
		if i, ok := index[key]; ok {
			tc := &t.Credits[i]
			if !slices.Contains(tc.Sources, source) {
				tc.Sources = append(tc.Sources, source)
			}
			// A credit one live source confirms is not stale.
			tc.Stale = tc.Stale && c.Stale
			if len(c.Statuses) > 0 {
				tc.Statuses = c.Statuses
			}
			return
		}
		index[key] = len(t.Credits)
		c.Sources = []string{source}
		t.Credits = append(t.Credits, c)
	}
	results = slices.Clone(results)
	slices.SortFunc(results, func(x, y SourceResult) int { return cmp.Compare(x.Society, y.Society) })
	for _, r := range results {
		src := r.TranscriptSource
		if r.Customer != nil {
			src.Credits = len(r.Customer.CEUs)
			for _, c := range r.Customer.CEUs {
				add(TranscriptCredit{CEU: c, Stale: r.Status == SourceStale}, r.Society)
			}
		}
		if r.Ledger != nil {
			src.Credits = len(r.Ledger)
			for _, c := range r.Ledger {
				c.Statuses = slices.Clone(c.Statuses)
				add(c, r.Society)
			}
		}
		t.Sources = append(t.Sources, src)
	}
	for _, s := range self {
		add(TranscriptCredit{CEU: s.CEU, SelfAttested: true}, SourceSelf)
	}
	slices.SortStableFunc(t.Credits, func(x, y TranscriptCredit) int {
		if c := x.Date.Compare(y.Date); c != 0 {
			return c
		}
		return cmp.Compare(x.Title, y.Title)
	})
	t.Totals = totals(t.Credits)
	return t
}

func totals(credits []TranscriptCredit) Totals {
	var t Totals
	moc := map[[2]string]Points{}
	var order [][2]string
	for _, c := range credits {
		if c.Rejected {
			continue
		}
		cat1 := c.Credits(CategoryAMA1)
		t.Category1 += cat1
		if c.SelfAttested {
			t.SelfAttestedCategory1 += cat1
		}
		for _, d := range c.Details {
			switch d.Type {
			case DetailCME:
				if strings.EqualFold(d.Category, CategoryAMA1) && len(d.Focus) > 0 {
					t.Category1Subspecialty += d.Credits
				}
			case DetailMOC:
				for _, f := range d.Focus {
					k := [2]string{f, d.Category}
					if _, ok := moc[k]; !ok {
						order = append(order, k)
					}
					moc[k] += d.Credits
				}
			}
		}
	}
	t.MOC = []CompetencyTotal{}
	for _, k := range order {
		t.MOC = append(t.MOC, CompetencyTotal{Competency: k[0], Category: k[1], Credits: moc[k]})
	}
	slices.SortStableFunc(t.MOC, func(x, y CompetencyTotal) int {
		return cmp.Or(cmp.Compare(x.Category, y.Category), cmp.Compare(x.Competency, y.Competency))
	})
	return t
}

// Key identifies a CEU for removing duplicates: two reports are the same
// credit when every field agrees, compared without regard to case and
// spacing.
func (c *CEU) Key() string {
	var b strings.Builder
	b.Grow(128)
	// norm writes s lower-cased, its runs of spaces as one and without
	// leading or trailing ones: strings.ToLower(strings.Join(strings.Fields(s), " ")),
	// without the copies.
	norm := func(s string) {
		space := false
		started := false
		for _, r := range s {
			if unicode.IsSpace(r) {
				space = started
				continue
			}
			if space {
				b.WriteByte(' ')
				space = false
			}
			started = true
			if r < utf8.RuneSelf {
				if 'A' <= r && r <= 'Z' {
					r += 'a' - 'A'
				}
				b.WriteByte(byte(r))
				continue
			}
			b.WriteRune(unicode.ToLower(r))
		}
		b.WriteByte(0)
	}
	norm(c.Sponsor)
	norm(c.ShortName)
	norm(c.Title)
	norm(c.Location)
	norm(c.Date.String())
	norm(c.ActivityType)
	for _, d := range c.Details {
		norm(d.Type)
		for _, f := range d.Focus {
			norm(f)
		}
		norm(d.Credits.String())
		norm(d.Category)
		b.WriteByte(1)
	}
	return b.String()
}

// TranscriptFilter selects part of a transcript. Zero fields select
// everything.
type TranscriptFilter struct {
	// From and To bound the credits' dates, inclusive.
	From, To Date
	// Type keeps only details of this type: DetailCME or DetailMOC.
	Type string
	// Board keeps only the MOC details of this board (MOCCategory).
	Board string
}

// IsZero reports whether f selects everything.
func (f TranscriptFilter) IsZero() bool { return f == TranscriptFilter{} }

// Filter returns the transcript with only the credits and details f
// selects, and its totals over them. A credit none of whose details f
// selects is left out; the sources are kept as they are.
func (t *Transcript) Filter(f TranscriptFilter) *Transcript {
	out := *t
	out.Credits = []TranscriptCredit{}
	for _, c := range t.Credits {
		if (!f.From.IsZero() && c.Date.Before(f.From)) || (!f.To.IsZero() && c.Date.After(f.To)) {
			continue
		}
		if f.Type != "" || f.Board != "" {
			var details []CEUDetail
			var statuses []CreditStatus
			for i, d := range c.Details {
				if f.Type != "" && !strings.EqualFold(d.Type, f.Type) {
					continue
				}
				if f.Board != "" && (d.Type != DetailMOC || !strings.EqualFold(d.Category, MOCCategory(f.Board))) {
					continue
				}
				details = append(details, d)
				if i < len(c.Statuses) {
					statuses = append(statuses, c.Statuses[i])
				}
			}
			if len(details) == 0 {
				continue
			}
			c.Details, c.Statuses = details, statuses
		}
		out.Credits = append(out.Credits, c)
	}
	out.Totals = totals(out.Credits)
	return &out
}

// Boards returns the boards whose MOC credit the transcript holds, sorted.
func (t *Transcript) Boards() []string {
	var out []string
	for _, c := range t.Credits {
		for _, d := range c.Details {
			if b, ok := strings.CutSuffix(d.Category, " MOC"); ok && d.Type == DetailMOC && !slices.Contains(out, b) {
				out = append(out, b)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TranscriptVerification lets whoever holds a printed transcript check it:
// the code printed on it names what it held when it was printed.
type TranscriptVerification struct {
	Code        string    `json:"code"`
	Account     AccountID `json:"-"`
	Name        string    `json:"name"`
	GeneratedAt time.Time `json:"generatedAt"`
	Credits     int       `json:"credits"`
	Totals      Totals    `json:"totals"`
	// Digest is TranscriptDigest of the printed credits.
	Digest string `json:"-"`
}

// TranscriptDigest identifies a list of credits by what each says (Key)
// and whether it is self-attested or rejected: the same credits, in any
// order and from any source, give the same digest. A record's status is
// left out but for a rejection, so that a board approving points a
// printed transcript listed as submitted does not make it wrong, while a
// board refusing them does.
func TranscriptDigest(credits []TranscriptCredit) string {
	keys := make([]string, len(credits))
	for i, c := range credits {
		keys[i] = c.Key()
		if c.SelfAttested {
			keys[i] += "\x02self"
		}
		if c.Rejected {
			keys[i] += "\x02rejected"
		}
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}
