package cmex

import (
	"context"
	"strings"
	"time"
)

// Activity is a CME activity as a provider registers it with PARS: what it
// is, when and where it takes place, the credit it offers and the boards it
// is registered with for MOC. The registry assigns ID on Add.
type Activity struct {
	ID                 ActivityID `json:"id,omitempty"`
	ProviderID         ProviderID `json:"providerId"`
	ProviderActivityID string     `json:"providerActivityId"`
	URL                string     `json:"url,omitempty"`
	Title              string     `json:"title"`
	Description        string     `json:"description,omitempty"`
	Keywords           []Keyword  `json:"keywords,omitempty"`

	ReportingStart Date `json:"reportingStart"`
	ReportingEnd   Date `json:"reportingEnd"`

	Credits           []CreditOffer `json:"credits,omitempty"`
	JointProviders    []string      `json:"jointProviders,omitempty"`
	Specialties       []string      `json:"specialties,omitempty"`
	Location          *Location     `json:"location,omitempty"`
	StartDate         Date          `json:"startDate"`
	EndDate           Date          `json:"endDate"`
	Sponsorship       string        `json:"sponsorship,omitempty"`       // direct | joint
	Type              string        `json:"type,omitempty"`              // one of ActivityTypes
	CommercialSupport string        `json:"commercialSupport,omitempty"` // yes | no

	CommercialSupportAmounts []SupportAmount    `json:"commercialSupportAmounts,omitempty"`
	Participants             []ParticipantCount `json:"participants,omitempty"`

	CommendationTags    []string          `json:"commendationTags,omitempty"`
	InKindSupports      []string          `json:"inKindSupports,omitempty"`
	DeliveryMethods     []string          `json:"deliveryMethods,omitempty"`
	MeasuredOutcomes    []MeasuredOutcome `json:"measuredOutcomes,omitempty"`
	MOCRegistrations    []MOCRegistration `json:"mocRegistrations,omitempty"`
	CreditClaimDate     Date              `json:"creditClaimDate"`
	ForPublicList       *bool             `json:"forPublicList,omitempty"`
	FeeForParticipation string            `json:"feeForParticipation,omitempty"`
	Registration        string            `json:"registration,omitempty"`
	MIPS                *bool             `json:"mips,omitempty"`

	// Closed activities are complete and may no longer change.
	Closed bool `json:"closed,omitempty"`

	// Bookkeeping, set by the registry.
	Revision  int       `json:"revision,omitempty"`
	Deleted   bool      `json:"deleted,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// Keyword is a lom:keyword; PARS uses them for ABA's MOCA content outline.
type Keyword struct {
	Source string `json:"source,omitempty"` // 01_ABAMCO | 02_ABAMCO
	ID     string `json:"id,omitempty"`     // Level 3 ID | Tag ID | Free Text
	Value  string `json:"value"`
}

// CreditOffer is one kind of credit an activity offers.
type CreditOffer struct {
	Certification string  `json:"certification"` // e.g. AMA PRA Category 1
	Amount        *Points `json:"amount,omitempty"`
}

// Location is where a live activity takes place.
type Location struct {
	StreetAddressLines []string `json:"streetAddressLines,omitempty"`
	City               string   `json:"city,omitempty"`
	StateOrProvince    string   `json:"stateOrProvince,omitempty"`
	PostalCode         string   `json:"postalCode,omitempty"`
	Country            string   `json:"country,omitempty"` // ISO 3166 alpha-3
}

// SupportAmount is a commercial supporter's contribution.
type SupportAmount struct {
	Source   string `json:"source"`
	Currency string `json:"currency,omitempty"`
	Amount   Money  `json:"amount"`
}

// ParticipantCount is the number of participants of one category.
type ParticipantCount struct {
	Category string `json:"category"`
	Count    int64  `json:"count"`
}

// MeasuredOutcome is an outcome the provider measured, and how.
type MeasuredOutcome struct {
	Outcome string   `json:"outcome"`
	Types   []string `json:"types,omitempty"`
}

// MOCRegistration registers the activity with a certifying board for
// Maintenance of Certification.
type MOCRegistration struct {
	Board       string   `json:"board"`
	Points      *Points  `json:"points,omitempty"`
	CreditTypes []string `json:"creditTypes,omitempty"`
}

// Entry is the identifier PARS quotes in its MEMS messages: the Provider
// Activity ID, or the ACCME Activity ID when there is none.
func (a *Activity) Entry() string {
	if a.ProviderActivityID != "" {
		return a.ProviderActivityID
	}
	if a.ID != 0 {
		return a.ID.String()
	}
	return ""
}

// AMACredits returns the AMA PRA Category 1 credits offered, if stated.
func (a *Activity) AMACredits() (Points, bool) {
	for _, c := range a.Credits {
		if c.Certification == CreditAMA && c.Amount != nil {
			return *c.Amount, true
		}
	}
	return 0, false
}

// MOCRegistration returns the activity's MOC registration with board, if any.
func (a *Activity) MOCRegistration(board string) (MOCRegistration, bool) {
	for _, r := range a.MOCRegistrations {
		if strings.EqualFold(r.Board, board) {
			return r, true
		}
	}
	return MOCRegistration{}, false
}

// ActivityAction is what a SaveActivity call asks the registry to do.
type ActivityAction string

const (
	ActionAdd    ActivityAction = "Add"
	ActionUpdate ActivityAction = "Update"
	ActionDelete ActivityAction = "Delete"
)

// ParseActivityAction returns the action named by s, ignoring case.
func ParseActivityAction(s string) (ActivityAction, bool) {
	for _, a := range []ActivityAction{ActionAdd, ActionUpdate, ActionDelete} {
		if strings.EqualFold(strings.TrimSpace(s), string(a)) {
			return a, true
		}
	}
	return "", false
}

// ActivityChange is one request to add, update or delete an activity.
type ActivityChange struct {
	// Action is the record action as sent; "" when it was missing. The
	// rules reject a missing (101) or unknown (102) action.
	Action string
	// Activity is the record as decoded; for Update and Delete it names the
	// activity by ID or ProviderActivityID.
	Activity *Activity
	// Close asks the registry to close the activity (closeActivityRecord).
	Close bool
	// ReportingYear is the envelope's reporting year, 0 when not given.
	ReportingYear int
	// Problems are those the decoder already found. The registry adds the
	// problems of the rules and rejects the change if any is an error.
	Problems Problems
	// By is who asks.
	By Principal
}

// ActivityFilter selects activities of one provider. At least one of the
// criteria besides ProviderID is expected; the store returns them all
// otherwise.
type ActivityFilter struct {
	ProviderID         ProviderID
	ID                 ActivityID
	StartDate          Date
	Type               string
	ProviderActivityID string
	// Limit caps the result; 0 means the store's default.
	Limit int
}

// ActivityRevision is one accepted change of an activity, kept forever.
type ActivityRevision struct {
	ActivityID ActivityID
	Revision   int
	Action     string // Add, Update, Close, Delete
	RecordedAt time.Time
	RecordedBy string // username of the web-service user
	Activity   *Activity
}

// ActivityService is the activity registry.
type ActivityService interface {
	// SaveActivity applies a change and returns the activity as stored with
	// the warnings the rules raised, or an EINVALID error listing every
	// problem; nothing is stored then.
	SaveActivity(ctx context.Context, ch ActivityChange) (*Activity, Problems, error)
	// FindActivities returns the provider's current (not deleted)
	// activities matching every criterion given, by ID.
	FindActivities(ctx context.Context, f ActivityFilter) ([]*Activity, error)
	// ActivityHistory returns every revision of an activity, oldest first,
	// or ENOTFOUND if the provider has no such activity.
	ActivityHistory(ctx context.Context, provider ProviderID, id ActivityID) ([]*ActivityRevision, error)
}
