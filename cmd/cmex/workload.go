package main

import (
	"fmt"
	"io"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/pars"
)

// Synthetic workloads for cmex bench and the import tests: activities
// like the seed's, and learner files of any size whose every record the
// rules accept in passthrough mode.

// workloadYear is the year of synthetic activities and completions: this
// year, whose records PARS still takes (a past year's may be past the
// boards' reporting deadline), or last year in the first days of January,
// before this year's completion date (3 January) has come.
// workloadActivityPrefix begins the Provider Activity IDs of synthetic
// activities, by which cmex bench generate finds them among a provider's.
const workloadActivityPrefix = "bench-"

func workloadYear(now time.Time) int {
	if now.Before(time.Date(now.Year(), time.January, 4, 0, 0, 0, 0, time.UTC)) {
		return now.Year() - 1
	}
	return now.Year()
}

// workloadActivity is the n-th synthetic activity of a year: a live
// course offering 2 AMA PRA Category 1 credits.
func workloadActivity(n, year int) *cmex.Activity {
	d := func(m time.Month, day int) cmex.Date { return cmex.Date{Year: year, Month: m, Day: day} }
	two := cmex.Points(200)
	public := true
	return &cmex.Activity{
		ProviderActivityID: fmt.Sprintf("%s%d-%04d", workloadActivityPrefix, year, n),
		URL:                "https://bench.example.org/activities",
		Title:              fmt.Sprintf("Internal Medicine Update %d", n),
		Description:        "A synthetic activity of the cmex benchmark.",
		ReportingStart:     d(time.January, 1),
		ReportingEnd:       d(time.December, 31),
		Credits:            []cmex.CreditOffer{{Certification: cmex.CreditAMA, Amount: &two}},
		Specialties:        []string{"Internal Medicine"},
		Location:           &cmex.Location{City: "Chicago", StateOrProvince: "IL", Country: "USA"},
		StartDate:          d(time.January, 2),
		EndDate:            d(time.January, 3),
		Sponsorship:        "direct",
		Type:               "Live Course",
		CommercialSupport:  "no",
		Participants:       []cmex.ParticipantCount{{Category: "physician", Count: 100}},
		CreditClaimDate:    d(time.December, 31),
		ForPublicList:      &public,
	}
}

// writeActivityFile writes n synthetic activities of a year as an Add file.
func writeActivityFile(w io.Writer, n, year int) error {
	fw := pars.NewFileWriter(w, pars.FileActivities)
	for i := range n {
		if err := fw.WriteActivity(workloadActivity(i, year), string(cmex.ActionAdd)); err != nil {
			return err
		}
	}
	return fw.Close()
}

// workloadReport is the i-th synthetic completion: learner i (a licence
// in Maine, a birth date), one AMA credit on one of the activities,
// completed on the activity's second day.
func workloadReport(i int, provider cmex.ProviderID, acts []cmex.ActivityID, year int) *cmex.LearnerReport {
	pts := cmex.Points(25 * (1 + i%8))
	return &cmex.LearnerReport{
		Action: cmex.LearnerAdd, ReportingOrganization: "cmex benchmark",
		Learner: cmex.LearnerIdentity{
			UniqueIDs: []cmex.UniqueID{{Domain: "ME", Value: fmt.Sprintf("MD%07d", i)}},
			GivenName: "Learner", FamilyName: fmt.Sprintf("Number%d", i),
			BirthDate: cmex.Date{Year: 1950 + i%40, Month: time.Month(1 + i%12), Day: 1 + i%28},
		},
		ProviderOrganization: string(provider), ActivityID: acts[i%len(acts)],
		ActivityTitle: fmt.Sprintf("Internal Medicine Update %d", i%len(acts)), Status: "Completed",
		CompletionDate: cmex.Date{Year: year, Month: time.January, Day: 3},
		Credits: []cmex.CreditCertificate{{Certification: cmex.CreditAMA, Unit: "Point", Points: &pts,
			CreditID: cmex.CreditID(fmt.Sprintf("ccid:bench.example.org:%d", i))}},
	}
}
