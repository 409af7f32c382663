package cmex

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SocietyID is cmex's key for a society.
type SocietyID int64

// SocietyKind says where a society's credits live.
type SocietyKind string

const (
	// SocietyLocal societies keep their members and credits in this cmex,
	// which answers customer_binding and ceu_order for them.
	SocietyLocal SocietyKind = "local"
	// SocietyRemote societies run their own customer_binding and ceu_order
	// services, which the gateway calls over HTTP.
	SocietyRemote SocietyKind = "remote"
)

// Society is a medical society as the CME Gateway knows it: a source of
// members' credits, reached in this cmex (local) or at its own URLs
// (remote). A society may also log in to the gateway's credit feed to pull
// the credits other societies allow it to see.
type Society struct {
	ID   SocietyID   `json:"id"`
	Code string      `json:"code"` // EXAMPLE, ACR: the SOURCE of its messages
	Name string      `json:"name"`
	Kind SocietyKind `json:"kind"`
	// BindingURL and OrderURL are a remote society's customer_binding and
	// ceu_order services.
	BindingURL string `json:"bindingUrl,omitempty"`
	OrderURL   string `json:"orderUrl,omitempty"`
	// FeedUsername is the society's login to the credit feed; "" when it
	// has none. Only a hash of its password is kept.
	FeedUsername string    `json:"feedUsername,omitempty"`
	CreatedAt    time.Time `json:"createdAt,omitzero"`
}

// SocietyCodePattern is the form of a society code: what the gateway's
// messages carry as their source (EXAMPLE, ACR).
var SocietyCodePattern = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_-]{0,31}$`)

// NormalizeSocietyCode returns code in canonical (upper) case.
func NormalizeSocietyCode(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

// Address is a postal address as the CME Gateway carries it.
type Address struct {
	Street  string `json:"street,omitempty"`
	City    string `json:"city,omitempty"`
	State   string `json:"state,omitempty"`
	Zip     string `json:"zip,omitempty"`
	Country string `json:"country,omitempty"`
}

// Member is a member of a local society: she binds to the gateway with her
// society username and password, and is known to it by MemberID from then
// on. Only a hash of her password is kept.
type Member struct {
	ID         int64     `json:"-"`
	SocietyID  SocietyID `json:"-"`
	MemberID   string    `json:"memberId"` // the society's id, 01234567
	Username   string    `json:"username"`
	GivenName  string    `json:"givenName"`
	FamilyName string    `json:"familyName"`
	Address    Address   `json:"address"`
	// PersonID links the member to the learner registry, so that the
	// credits providers report for that person are part of her ceu_order.
	PersonID  PersonID  `json:"personId,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
}

// CEU is one educational activity on a ceu_order: what the CME Gateway
// reports per activity. "CEU" rather than "CME" because the protocol meant
// to carry other continuing-education credit too.
type CEU struct {
	Sponsor      string      `json:"sponsor"`
	ShortName    string      `json:"shortName,omitempty"`
	Title        string      `json:"title"`
	Location     string      `json:"location,omitempty"` // McLean, VA; for live meetings
	Date         Date        `json:"date"`
	Details      []CEUDetail `json:"details"`
	ActivityType string      `json:"activityType,omitempty"` // Group Learning, Self-Assessment
}

// CEU detail types.
const (
	DetailCME = "CME" // Focus holds subspecialties
	DetailMOC = "MOC" // Focus holds competencies
)

// CategoryAMA1 is the ceu_order category of AMA PRA Category 1 credit.
const CategoryAMA1 = "CAT1"

// CEUDetail is one way the credits of a CEU count: CME credits in
// subspecialties, or MOC credits toward competencies, in a category.
type CEUDetail struct {
	Type     string   `json:"type"` // CME | MOC
	Focus    []string `json:"focus,omitempty"`
	Credits  Points   `json:"credits"`
	Category string   `json:"category"` // CAT1
}

// Credits returns the CEU's credits in category. Details describe the same
// hours by different foci (the seed's PET conference lists Mammography 3,
// PET 13.25 and 13.25 MOC credits for 13.25 credits), so they overlap and
// the largest, not the sum, is the activity's credit (LIKELY: the only
// rule that reproduces both totals of the seed's transcript).
func (c *CEU) Credits(category string) Points {
	var max Points
	for _, d := range c.Details {
		if strings.EqualFold(d.Category, category) && d.Credits > max {
			max = d.Credits
		}
	}
	return max
}

// CheckCEU reports what is wrong with a CEU a society or a physician
// records, or nil.
func CheckCEU(c *CEU) error {
	var problems []string
	switch {
	case strings.TrimSpace(c.Title) == "":
		problems = append(problems, "a credit needs a title")
	case len(c.Title) > 500:
		problems = append(problems, "a title is at most 500 characters")
	}
	if c.Date.IsZero() {
		problems = append(problems, "a credit needs a date")
	}
	if len(c.Details) == 0 {
		problems = append(problems, "a credit needs at least one detail with credits and a category")
	}
	for i, d := range c.Details {
		if d.Type != DetailCME && d.Type != DetailMOC {
			problems = append(problems, "detail "+strconv.Itoa(i+1)+": type must be CME or MOC")
		}
		if d.Credits <= 0 || d.Credits > 100000 {
			problems = append(problems, "detail "+strconv.Itoa(i+1)+": credits must be positive")
		}
		if strings.TrimSpace(d.Category) == "" {
			problems = append(problems, "detail "+strconv.Itoa(i+1)+": a category is needed (CAT1 for AMA PRA Category 1)")
		}
	}
	for _, s := range []string{c.Sponsor, c.ShortName, c.Location, c.ActivityType} {
		if len(s) > 500 {
			problems = append(problems, "sponsor, short name, location and activity type are at most 500 characters each")
			break
		}
	}
	if len(problems) > 0 {
		return Errorf(EINVALID, "%s", strings.Join(problems, "; "))
	}
	return nil
}

// Customer is a member's ceu_order: who she is and her credits.
type Customer struct {
	ID         string  `json:"customerId"`
	GivenName  string  `json:"givenName"`
	FamilyName string  `json:"familyName"`
	Address    Address `json:"address"`
	CEUs       []CEU   `json:"ceus"`
}

// SocietyFilter selects societies.
type SocietyFilter struct {
	Kind SocietyKind // "" for every kind
}

// SocietyService keeps the societies the gateway knows, and the members and
// credits of the local ones.
type SocietyService interface {
	// CreateSociety stores s and sets its ID and CreatedAt. A code in use
	// is ECONFLICT.
	CreateSociety(ctx context.Context, s *Society) error
	// SocietyByCode returns a society, or ENOTFOUND.
	SocietyByCode(ctx context.Context, code string) (*Society, error)
	// Society returns a society by id, or ENOTFOUND.
	Society(ctx context.Context, id SocietyID) (*Society, error)
	// ListSocieties returns the societies by code.
	ListSocieties(ctx context.Context, f SocietyFilter) ([]*Society, error)
	// SetFeedLogin gives a society its credit-feed login.
	SetFeedLogin(ctx context.Context, id SocietyID, username, password string) error
	// AuthenticateFeed returns the society whose feed login this is, or
	// EUNAUTHORIZED.
	AuthenticateFeed(ctx context.Context, username, password string) (*Society, error)
	// Approve lets puller see, through the credit feed, the credits of
	// the provider society. Approving again changes nothing.
	Approve(ctx context.Context, provider, puller SocietyID) error
	// ApprovedProviders returns the ids of the societies that approved
	// puller.
	ApprovedProviders(ctx context.Context, puller SocietyID) ([]SocietyID, error)

	// AddMember stores a member of a local society with the hash of
	// password. A member id or username in use is ECONFLICT.
	AddMember(ctx context.Context, m *Member, password string) error
	// AuthenticateMember returns the member of society with this login, or
	// EUNAUTHORIZED.
	AuthenticateMember(ctx context.Context, society SocietyID, username, password string) (*Member, error)
	// Member returns a member by the society's id for her, or ENOTFOUND.
	Member(ctx context.Context, society SocietyID, memberID string) (*Member, error)
	// ListMembers returns a society's members by member id.
	ListMembers(ctx context.Context, society SocietyID) ([]*Member, error)
	// AddSocietyCredits records credits the society itself holds for a
	// member. A credit already recorded (same content) is skipped; the
	// count of new ones is returned. Recorded credits never change.
	AddSocietyCredits(ctx context.Context, society SocietyID, memberID string, ceus []CEU) (int, error)
	// MemberCredits returns the member's ceu_order: the society's own
	// credits and those providers reported for her registry person, or
	// ENOTFOUND.
	MemberCredits(ctx context.Context, society SocietyID, memberID string) (*Customer, error)

	// AllowOrdersFrom lets gateways at the addresses of cidr (a CIDR range,
	// or one address) call the local society's ceu_order. Allowing a range
	// again changes nothing and returns its grant.
	AllowOrdersFrom(ctx context.Context, society SocietyID, cidr string) (*OrderGrant, error)
	// AddOrderCredential lets a gateway that sends name and the returned
	// secret (HTTP Basic) call the local society's ceu_order. Only a hash
	// of the secret is kept; a name in use at the society is ECONFLICT.
	AddOrderCredential(ctx context.Context, society SocietyID, name string) (*OrderGrant, string, error)
	// OrderGrants returns a society's grants, oldest first.
	OrderGrants(ctx context.Context, society SocietyID) ([]*OrderGrant, error)
	// RevokeOrderGrant removes one of a society's grants, or is
	// ENOTFOUND.
	RevokeOrderGrant(ctx context.Context, society SocietyID, id int64) error

	// What a society's admin does (societyadmin.go).

	// FindMembers returns the society's members f selects, by member id.
	FindMembers(ctx context.Context, society SocietyID, f MemberFilter) ([]*Member, error)
	// ImportMembers adds the members of a file to a local society, or
	// updates the names and address of those it has under the same member
	// id and username, in one transaction, and says what it did with each
	// (generating the passwords of new members who came without one).
	// With any problem (a member id or username another member holds, a
	// username that changed), nothing is imported: EINVALID, with a
	// problem per member whose Field is member[N], N counting from 1.
	// Importing the same file again changes nothing.
	ImportMembers(ctx context.Context, society SocietyID, members []NewMember) ([]MemberOutcome, error)
	// ResetMemberPassword gives a member a new generated password and
	// returns it, once; ENOTFOUND when the society has no such member.
	ResetMemberPassword(ctx context.Context, society SocietyID, memberID string) (string, error)
	// ImportSocietyCredits records credits the society holds for its
	// members, each judged on its own (an invalid one, or one for a member
	// it does not have, is rejected alone), in one transaction, and says
	// what it did with each. A credit the member has already, with the
	// same content, is present: importing the same file again records
	// nothing.
	ImportSocietyCredits(ctx context.Context, society SocietyID, credits []SocietyCredit) ([]CreditOutcome, error)
	// SocietyCredits returns the society's own credits f selects, newest
	// first.
	SocietyCredits(ctx context.Context, society SocietyID, f SocietyCreditFilter) ([]*SocietyCredit, error)
	// ApprovedPullers returns the ids of the societies provider approved.
	ApprovedPullers(ctx context.Context, provider SocietyID) ([]SocietyID, error)
	// WithdrawApproval stops puller pulling provider's credits through
	// the credit feed, or is ENOTFOUND when provider had not approved it.
	WithdrawApproval(ctx context.Context, provider, puller SocietyID) error
	// NewFeedSecret gives a society a feed login: username (its current
	// one when "", EINVALID when it has none) with a new generated
	// secret, returned once and kept only as a hash. The old secret stops
	// working at once.
	NewFeedSecret(ctx context.Context, id SocietyID, username string) (string, error)
}

// OrderGrant lets some gateways call a local society's ceu_order, which
// answers any member's credits to whoever names her member id: gateways
// at an address range (From), or holding a credential (Name and a secret,
// sent as HTTP Basic). A society with no grant answers no one.
type OrderGrant struct {
	ID        int64     `json:"id"`
	SocietyID SocietyID `json:"societyId"`
	From      string    `json:"from,omitempty"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// SecretHash is the hex SHA-256 of a credential's secret.
	SecretHash string `json:"-"`
}

// Admits reports whether a ceu_order from addr (the client's address after
// trusted proxies), with the HTTP Basic user and password (or "" when none
// was sent), falls under g. A credential's secret is compared by hash, in
// constant time.
func (g *OrderGrant) Admits(addr, user, password string) bool {
	if g.From != "" {
		_, n, err := net.ParseCIDR(g.From)
		ip := net.ParseIP(addr)
		return err == nil && ip != nil && n.Contains(ip)
	}
	if g.Name == "" || password == "" || !strings.EqualFold(user, g.Name) {
		return false
	}
	want, err := hex.DecodeString(g.SecretHash)
	got := sha256.Sum256([]byte(password))
	return err == nil && subtle.ConstantTimeCompare(got[:], want) == 1
}

// NormalizeCIDR returns s as a CIDR range: an address alone becomes its
// /32 or /128; the range's address is its network's. It is EINVALID when
// s is neither.
func NormalizeCIDR(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		ip := net.ParseIP(s)
		if ip == nil {
			return "", Errorf(EINVALID, "%q is not an address or a CIDR range (203.0.113.0/24, 2001:db8::/32)", s)
		}
		bits := 128
		if ip.To4() != nil {
			ip, bits = ip.To4(), 32
		}
		return (&net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}).String(), nil
	}
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		return "", Errorf(EINVALID, "%q is not an address or a CIDR range (203.0.113.0/24, 2001:db8::/32)", s)
	}
	return n.String(), nil
}

// LedgerActivity is what a ceu_order shows of the activity behind a
// provider-reported learner record.
type LedgerActivity struct {
	Sponsor  string // the provider's name
	Title    string
	Location *Location
	Type     string // one of ActivityTypes
}

// MOCCategory is the ceu_order category of a board's MOC points, which are
// not AMA credit: "ABIM MOC".
func MOCCategory(board string) string { return board + " MOC" }

// LedgerCEUs turns the live learner records providers reported for one
// person into CEUs, one per activity and completion date: AMA PRA Category 1
// credit becomes a CME detail in CAT1, a board's MOC points an MOC detail
// whose focus is the credit type (Medical Knowledge, Patient Safety) in the
// board's MOC category. Records a board rejected, and deleted ones, are
// left out. activity describes each record's activity.
func LedgerCEUs(records []*LearnerRecord, activity func(*LearnerRecord) LedgerActivity) []CEU {
	groups := groupLedger(records, activity, false)
	out := make([]CEU, len(groups))
	for i, g := range groups {
		out[i] = g.CEU
	}
	return out
}

// LedgerCredits turns the live learner records providers reported for one
// person into transcript credits of SourceRegistry, each with the status
// of the record behind every detail. Records that count are grouped as
// LedgerCEUs groups them, into the same CEUs; the rejected ones of an
// activity and date are a credit of their own, marked Rejected, with the
// board's code and reason. Deleted records are left out.
func LedgerCredits(records []*LearnerRecord, activity func(*LearnerRecord) LedgerActivity) []TranscriptCredit {
	return groupLedger(records, activity, true)
}

// groupLedger groups records by provider, activity and completion date
// (and, withRejected, rejection), in the order of records.
func groupLedger(records []*LearnerRecord, activity func(*LearnerRecord) LedgerActivity, withRejected bool) []TranscriptCredit {
	type key struct {
		provider ProviderID
		activity ActivityID
		date     Date
		rejected bool
	}
	index := map[key]int{}
	var out []TranscriptCredit
	for _, r := range records {
		rejected := r.Status == StatusRejected
		if r.Deleted || r.Status == StatusDeleted || rejected && !withRejected {
			continue
		}
		k := key{r.ProviderID, r.ActivityID, r.CompletionDate, rejected}
		i, ok := index[k]
		if !ok {
			a := activity(r)
			c := CEU{Sponsor: a.Sponsor, ShortName: r.ActivityID.String(), Title: cmp.Or(a.Title, r.ActivityTitle),
				Date: r.CompletionDate, ActivityType: a.Type}
			if l := a.Location; l != nil {
				c.Location = strings.Join(slices.DeleteFunc([]string{l.City, l.StateOrProvince}, func(s string) bool { return s == "" }), ", ")
			}
			i = len(out)
			index[k] = i
			out = append(out, TranscriptCredit{CEU: c, Sources: []string{SourceRegistry}, Rejected: rejected})
		}
		d := CEUDetail{Type: DetailCME, Credits: r.Points, Category: CategoryAMA1}
		if r.IsMOC() {
			d = CEUDetail{Type: DetailMOC, Focus: []string{r.CreditType}, Credits: r.Points, Category: MOCCategory(r.Board)}
			if r.CreditType == "" {
				d.Focus = nil
			}
		} else if !strings.EqualFold(r.Certification, CreditAMA) {
			d.Category = r.Certification
		}
		out[i].Details = append(out[i].Details, d)
		out[i].Statuses = append(out[i].Statuses, CreditStatus{RecordID: r.ID, Status: r.Status, Code: r.StatusCode, Reason: r.StatusReason})
	}
	return out
}
