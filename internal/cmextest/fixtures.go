package cmextest

import (
	"time"

	"github.com/cmexhub/cmex"
)

// Sandbox-like identities used across tests.
const (
	ProviderA = cmex.ProviderID("1234567")
	ProviderB = cmex.ProviderID("7654321")
)

// Ptr returns a pointer to v, for optional fields.
func Ptr[T any](v T) *T { return &v }

// Activity returns a valid activity modelled on seed 003's SaveActivity
// sample: a Manuscript Review with AMA credit and an ABIM MOC registration,
// in the given year.
func Activity(providerActivityID string, year int) *cmex.Activity {
	d := func(m time.Month, day int) cmex.Date { return cmex.Date{Year: year, Month: m, Day: day} }
	return &cmex.Activity{
		ProviderActivityID: providerActivityID,
		URL:                "http://www.example.nil",
		Title:              "Internal Medicine Manuscript",
		Description:        "Content is the description of the information and topics that were discussed during the CME activity.",
		ReportingStart:     d(time.January, 1),
		ReportingEnd:       d(time.December, 31),
		Credits:            []cmex.CreditOffer{{Certification: cmex.CreditAMA, Amount: Ptr(cmex.Points(200))}},
		Specialties:        []string{"Hematology", "Nephrology"},
		StartDate:          d(time.January, 30),
		EndDate:            d(time.December, 30),
		Sponsorship:        "direct",
		Type:               "Manuscript Review",
		CommercialSupport:  "yes",
		CommercialSupportAmounts: []cmex.SupportAmount{
			{Source: "Abiomed", Currency: "USD", Amount: 1200000},
		},
		Participants: []cmex.ParticipantCount{{Category: "physician", Count: 28}, {Category: "non-physician", Count: 10}},
		MeasuredOutcomes: []cmex.MeasuredOutcome{
			{Outcome: "Learner Competence", Types: []string{"Objective", "Subjective"}},
		},
		MOCRegistrations: []cmex.MOCRegistration{
			{Board: "ABIM", Points: Ptr(cmex.Points(200)), CreditTypes: []string{"Medical Knowledge", "Patient Safety"}},
		},
		CreditClaimDate:     d(time.December, 31),
		ForPublicList:       Ptr(true),
		FeeForParticipation: "Yes",
		Registration:        "Open to All",
	}
}
