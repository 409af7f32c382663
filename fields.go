package cmex

import "strconv"

// Field paths name the part of a record a rule is about. They are the PARS
// XML paths below MedicalEducationMetrics (activities) or ActivityReport
// (learner records), with the prefixes ACCME uses, because PARS is the
// canonical vocabulary; other protocols translate them. A repeated element is
// addressed by a 1-based index, as in XPath: Item(FieldSpecialty, 2).
const (
	pathGeneral   = "ActivityDescription/lom:lom/lom:general"
	pathEducation = "ActivityDescription/lom:lom/hx:healthcareMetadata/hx:healthcareEducation"

	FieldReportingStartDate = "ReportDescription/ReportingStartDate"
	FieldReportingEndDate   = "ReportDescription/ReportingEndDate"
	FieldIdentifier         = pathGeneral + "/lom:identifier"
	FieldActivityID         = pathGeneral + "/lom:identifier[lom:catalog='" + CatalogActivityID + "']/lom:entry"
	FieldProviderActivityID = pathGeneral + "/lom:identifier[lom:catalog='" + CatalogProviderActivityID + "']/lom:entry"
	FieldURL                = pathGeneral + "/lom:identifier[lom:catalog='" + CatalogURL + "']/lom:entry"
	FieldTitle              = pathGeneral + "/lom:title"
	FieldDescription        = pathGeneral + "/lom:description"
	FieldKeyword            = pathGeneral + "/lom:keyword"

	FieldCredits               = pathEducation + "/hx:credits"
	FieldActivityCertification = FieldCredits + "/hx:activityCertification"
	FieldNumberOfCredits       = FieldCredits + "/hx:numberOfCredits"
	FieldJointProvider         = FieldCredits + "/hx:nonAccreditedProvider"
	FieldAccreditedProvider    = FieldCredits + "/hx:accreditedProvider"
	FieldSpecialty             = pathEducation + "/hx:targetAudience/hx:specialty"
	FieldLocation              = pathEducation + "/hx:activityLocation"
	FieldCity                  = FieldLocation + "/ad:City"
	FieldStateOrProvince       = FieldLocation + "/ad:StateOrProvince"
	FieldCountry               = FieldLocation + "/ad:Country/ad:CountryCode"
	FieldStartDate             = pathEducation + "/hx:startDateTime"
	FieldEndDate               = pathEducation + "/hx:endDateTime"
	FieldSponsorship           = pathEducation + "/hx:activitySponsorship"
	FieldActivityFormat        = pathEducation + "/hx:activityFormat"
	FieldCommercialSupport     = pathEducation + "/hx:commercialSupport"

	FieldCommercialSupportAmount = "ActivityDescription/CommercialSupportAmount"
	FieldParticipants            = "ParticipationMetrics/ParticipantsByCategory"

	FieldCommendationTag      = "XtensibleInfo/ex:CommendationTags/ex:CommendationTag"
	FieldInKindSupport        = "XtensibleInfo/ex:InKindSupports/ex:InKindSupport"
	FieldDeliveryMethod       = "XtensibleInfo/ex:DeliveryMethods/ex:DeliveryMethod"
	FieldMeasuredOutcome      = "XtensibleInfo/ex:MeasuredOutcomes/ex:MeasuredOutcome"
	FieldMeasurementType      = "XtensibleInfo/ex:MeasuredOutcomes/ex:MeasurementType"
	FieldMOCRegistration      = "XtensibleInfo/ex:MOCRegistrations/ex:MOCRegistration"
	FieldBoardName            = "ex:boardName"     // below an Item(FieldMOCRegistration, i)
	FieldMOCPoints            = "ex:mocPoints"     // below an Item(FieldMOCRegistration, i)
	FieldMOCCreditType        = "ex:MOCCreditType" // below an Item(FieldMOCRegistration, i)
	FieldCreditClaimDate      = "XtensibleInfo/ex:CreditClaimDate"
	FieldForPublicList        = "XtensibleInfo/ex:ForPublicList"
	FieldFeeForParticipation  = "XtensibleInfo/ex:FeeForParticipation"
	FieldActivityRegistration = "XtensibleInfo/ex:ActivityRegistration"
	FieldMIPS                 = "XtensibleInfo/ex:IsMeritBasedIncentivePaymentSystem"
	FieldRecordAction         = "XtensibleInfo/ex:activityRecordAction"
	FieldCloseRecord          = "XtensibleInfo/ex:closeActivityRecord"

	// FieldReportingYear is the ReportingYear member of the SaveActivity
	// envelope, outside the activity document.
	FieldReportingYear = "SubmitMessage/ReportingYear"
	// FieldDocument is the activity document as a whole.
	FieldDocument = ""
)

// Catalog names of the lom:identifier entries of an activity.
const (
	CatalogActivityID         = "ACCME Activity ID"
	CatalogProviderActivityID = "Provider Activity ID"
	CatalogURL                = "URL"
)

// Item addresses the i-th (1-based) occurrence of a repeated element, with
// an optional path below it: Item(FieldMOCRegistration, 2, FieldMOCPoints).
func Item(field string, i int, below ...string) string {
	s := field + "[" + strconv.Itoa(i) + "]"
	for _, b := range below {
		s += "/" + b
	}
	return s
}
