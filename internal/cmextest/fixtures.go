package cmextest

import (
	"fmt"
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

// Jane is the seed's test learner Jane ACCME: ABIM 999902, Maine licence
// MD999902, born 1904-10-30.
func Jane() *cmex.Person {
	return &cmex.Person{GivenName: "Jane", FamilyName: "ACCME", BirthDate: cmex.MustParseDate("1904-10-30"),
		Licenses: []cmex.License{{State: "ME", Number: "MD999902"}}, BoardIDs: []cmex.BoardID{{Board: "ABIM", ID: "999902"}}}
}

// Helen is the seed's test learner Helen Markman: ABIM 999898, Ohio licence
// 44861, NPI 1234567890, born 26 September, Harvard Medical School.
func Helen() *cmex.Person {
	return &cmex.Person{GivenName: "Helen", FamilyName: "Markman", BirthDate: cmex.MustParseDate("1970-09-26"), NPI: "1234567890",
		Licenses: []cmex.License{{State: "OH", Number: "44861"}}, BoardIDs: []cmex.BoardID{{Board: "ABIM", ID: "999898"}},
		MedicalSchool: "Harvard Medical School"}
}

// Olivia is the sandbox's Ontario physician: OCI ID CA-ON-CPSO-12345 and
// no other identifier.
func Olivia() *cmex.Person {
	return &cmex.Person{GivenName: "Olivia", FamilyName: "Ontario", BirthDate: cmex.MustParseDate("1985-03-15"), OCIID: "CA-ON-CPSO-12345"}
}

// JaneReport is the seed's learner sample for Jane: AMA 2, ABIM Medical
// Knowledge 1.5 and ABIM Patient Safety 1.5, on the given activity and
// date, with CreditIDs ccid:aaatestorganization.org:<tag>-1 to -3.
func JaneReport(activity cmex.ActivityID, completed, tag string) *cmex.LearnerReport {
	cert := func(name string, points cmex.Points, n int) cmex.CreditCertificate {
		return cmex.CreditCertificate{Certification: name, Unit: "Point", Points: Ptr(points),
			CreditID: cmex.CreditID(fmt.Sprintf("ccid:aaatestorganization.org:%s-%d", tag, n))}
	}
	return &cmex.LearnerReport{
		Action: "add", ReportingOrganization: "AAA Test Organization",
		Learner: cmex.LearnerIdentity{
			UniqueIDs: []cmex.UniqueID{{Domain: "ME", Value: "MD999902"}, {Domain: "ABIM", Value: "999902"}},
			GivenName: "Jane", FamilyName: "ACCME", BirthDate: cmex.MustParseDate("1904-10-30"),
		},
		ProviderOrganization: "1234567", ActivityID: activity, ActivityTitle: "Internal Medicine Update 2",
		Status: "Completed", CompletionDate: cmex.MustParseDate(completed),
		Credits: []cmex.CreditCertificate{
			cert("AMA PRA Category 1", 200, 1), cert("ABIM Medical Knowledge", 150, 2), cert("ABIM Patient Safety", 150, 3),
		},
	}
}
