package pars

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/cmexhub/cmex"
)

// xw writes XML with the fixed prefixes PARS uses. Names are trusted
// constants; only text and attribute values are escaped.
type xw struct{ b bytes.Buffer }

func (w *xw) start(name string, attrs ...string) {
	w.b.WriteByte('<')
	w.b.WriteString(name)
	for i := 0; i+1 < len(attrs); i += 2 {
		w.b.WriteString(" " + attrs[i] + `="`)
		escapeText(&w.b, attrs[i+1])
		w.b.WriteByte('"')
	}
	w.b.WriteByte('>')
}

func (w *xw) end(name string) { w.b.WriteString("</" + name + ">") }

// elem writes <name attrs>text</name>, or <name attrs /> when text is empty,
// as PARS does for empty values.
func (w *xw) elem(name, text string, attrs ...string) {
	if text == "" {
		w.start(name, attrs...)
		w.b.Truncate(w.b.Len() - 1)
		w.b.WriteString(" />")
		return
	}
	w.start(name, attrs...)
	escapeText(&w.b, text)
	w.end(name)
}

// langString writes a LangString element: <name><lom:string>s</lom:string></name>.
func (w *xw) langString(name, s string, attrs ...string) {
	w.start(name, attrs...)
	w.elem("lom:string", s)
	w.end(name)
}

// encodeOptions say what the document is for.
type encodeOptions struct {
	// providerName fills hx:accreditedProvider, as PARS does.
	providerName string
	// action and close, when action is set, are echoed in XtensibleInfo as
	// in a SaveActivity response; GetActivity leaves them out.
	action string
	close  bool
}

// encodeActivities writes the ACCMEActivities document PARS returns, with
// the ACCME Activity ID filled in, dates as dates, the uniqueElementName
// attributes of the LOM strict profile, and the ex: namespace in the form
// PARS emits.
func encodeActivities(acts []*cmex.Activity, opt encodeOptions) string {
	w := &xw{}
	w.start("accme:ACCMEActivities",
		"xmlns", NSMetrics,
		"xmlns:accme", NSActivities,
		"xmlns:ex", NSExtension,
		"xmlns:lom", NSLOM,
		"xmlns:hx", NSHealthcare,
		"xmlns:ad", NSAddress,
		"xmlns:xsi", NSInstance)
	for _, a := range acts {
		encodeActivity(w, a, opt)
	}
	w.end("accme:ACCMEActivities")
	return w.b.String()
}

func encodeActivity(w *xw, a *cmex.Activity, opt encodeOptions) {
	w.start("MedicalEducationMetrics")

	w.start("ReportDescription")
	w.elem("ReportingStartDate", a.ReportingStart.String())
	w.elem("ReportingEndDate", a.ReportingEnd.String())
	w.end("ReportDescription")

	w.start("ActivityDescription")
	w.start("lom:lom")
	w.start("lom:general", "uniqueElementName", "general")
	identifier := func(catalog, entry string) {
		w.start("lom:identifier")
		w.elem("lom:catalog", catalog, "uniqueElementName", "catalog")
		w.elem("lom:entry", entry, "uniqueElementName", "entry")
		w.end("lom:identifier")
	}
	identifier(cmex.CatalogActivityID, idString(a.ID))
	identifier(cmex.CatalogProviderActivityID, a.ProviderActivityID)
	if a.URL != "" {
		identifier(cmex.CatalogURL, a.URL)
	}
	w.langString("lom:title", a.Title, "uniqueElementName", "title")
	if a.Description != "" {
		w.langString("lom:description", a.Description, "uniqueElementName", "description")
	}
	for _, k := range a.Keywords {
		w.langString("lom:keyword", k.Value, "source", k.Source, "id", k.ID)
	}
	w.end("lom:general")
	if credits, ok := a.AMACredits(); ok {
		w.start("lom:educational")
		w.start("lom:typicalLearningTime", "uniqueElementName", "typicalLearningTime")
		w.elem("lom:duration", duration(credits), "uniqueElementName", "duration")
		w.end("lom:typicalLearningTime")
		w.end("lom:educational")
	}
	w.start("hx:healthcareMetadata", "uniqueElementName", "healthcareMetadata")
	w.start("hx:healthcareEducation")
	for i, c := range a.Credits {
		w.start("hx:credits")
		w.elem("hx:activityCertification", c.Certification)
		if opt.providerName != "" {
			w.elem("hx:accreditedProvider", opt.providerName)
		}
		if i == 0 {
			for _, p := range a.JointProviders {
				w.elem("hx:nonAccreditedProvider", p)
			}
		}
		if c.Amount != nil {
			w.elem("hx:numberOfCredits", c.Amount.String())
		}
		w.end("hx:credits")
	}
	if len(a.Specialties) > 0 {
		w.start("hx:targetAudience")
		for _, s := range a.Specialties {
			w.langString("hx:specialty", s)
		}
		w.end("hx:targetAudience")
	}
	if l := a.Location; l != nil {
		w.start("hx:activityLocation")
		for _, s := range l.StreetAddressLines {
			w.elem("ad:StreetAddressLine", s)
		}
		if l.City != "" {
			w.elem("ad:City", l.City)
		}
		if l.StateOrProvince != "" {
			w.elem("ad:StateOrProvince", l.StateOrProvince)
		}
		if l.PostalCode != "" {
			w.elem("ad:PostalCode", l.PostalCode)
		}
		w.start("ad:Country")
		if l.Country != "" {
			w.elem("ad:CountryCode", l.Country)
		}
		w.end("ad:Country")
		w.end("hx:activityLocation")
	}
	w.elem("hx:startDateTime", a.StartDate.String())
	w.elem("hx:endDateTime", a.EndDate.String())
	w.elem("hx:activitySponsorship", a.Sponsorship)
	w.langString("hx:activityFormat", a.Type)
	if a.CommercialSupport != "" {
		w.elem("hx:commercialSupport", a.CommercialSupport)
	}
	w.end("hx:healthcareEducation")
	w.end("hx:healthcareMetadata")
	w.end("lom:lom")
	for _, s := range a.CommercialSupportAmounts {
		attrs := []string{}
		if s.Currency != "" {
			attrs = append(attrs, "currency", s.Currency)
		}
		attrs = append(attrs, "supportSource", s.Source)
		w.elem("CommercialSupportAmount", s.Amount.String(), attrs...)
	}
	w.end("ActivityDescription")

	w.start("ParticipationMetrics")
	for _, p := range a.Participants {
		w.elem("ParticipantsByCategory", strconv.FormatInt(p.Count, 10), "category", p.Category)
	}
	w.end("ParticipationMetrics")

	w.start("XtensibleInfo")
	list := func(name, item string, values []string) {
		if len(values) == 0 {
			w.elem(name, "")
			return
		}
		w.start(name)
		for _, v := range values {
			w.elem(item, v)
		}
		w.end(name)
	}
	list("ex:CommendationTags", "ex:CommendationTag", a.CommendationTags)
	list("ex:InKindSupports", "ex:InKindSupport", a.InKindSupports)
	list("ex:DeliveryMethods", "ex:DeliveryMethod", a.DeliveryMethods)
	if len(a.MeasuredOutcomes) > 0 {
		w.start("ex:MeasuredOutcomes")
		for _, m := range a.MeasuredOutcomes {
			w.elem("ex:MeasuredOutcome", m.Outcome)
			for _, t := range m.Types {
				w.elem("ex:MeasurementType", t)
			}
		}
		w.end("ex:MeasuredOutcomes")
	}
	if len(a.MOCRegistrations) > 0 {
		w.start("ex:MOCRegistrations")
		for _, r := range a.MOCRegistrations {
			w.start("ex:MOCRegistration")
			w.elem("ex:boardName", r.Board)
			if r.Points != nil {
				w.elem("ex:mocPoints", r.Points.String())
			}
			for _, t := range r.CreditTypes {
				w.elem("ex:MOCCreditType", t)
			}
			w.end("ex:MOCRegistration")
		}
		w.end("ex:MOCRegistrations")
	}
	if !a.CreditClaimDate.IsZero() {
		w.elem("ex:CreditClaimDate", a.CreditClaimDate.String())
	}
	if a.ForPublicList != nil {
		w.elem("ex:ForPublicList", strconv.FormatBool(*a.ForPublicList))
	}
	w.elem("ex:FeeForParticipation", a.FeeForParticipation)
	w.elem("ex:ActivityRegistration", a.Registration)
	if a.MIPS != nil {
		w.elem("ex:IsMeritBasedIncentivePaymentSystem", strconv.FormatBool(*a.MIPS))
	}
	if opt.action != "" {
		w.elem("ex:activityRecordAction", opt.action)
		w.elem("ex:closeActivityRecord", strconv.FormatBool(opt.close))
	}
	w.end("XtensibleInfo")

	w.end("MedicalEducationMetrics")
}

func idString(id cmex.ActivityID) string {
	if id == 0 {
		return ""
	}
	return id.String()
}

// duration is the ISO 8601 duration PARS derives from AMA credits, one hour
// per credit: 2.00 → PT2H0M, 1.25 → PT1H15M.
func duration(p cmex.Points) string {
	minutes := int64(p) * 60 / 100
	return fmt.Sprintf("PT%dH%dM", minutes/60, minutes%60)
}
