// Package pars speaks ACCME PARS REST-XML: the activity service
// (SaveActivity, GetActivity), the learner service (SaveLearnerActivity and
// the two status queries) and the learner match service, at the same paths
// and with the same envelopes as PARS, so that a provider's LMS switches to cmex by changing its base
// URL. It decodes PARS documents into cmex's domain types, maps cmex's rule
// codes to PARS ErrorMessages, and encodes the normalised documents PARS
// returns. README.md states the wire contract and the deliberate deviations.
package pars

// Namespaces of the PARS wire format (specs/pars.md 1.2).
const (
	NSService     = "http://schemas.datacontract.org/2004/07/BLL.Service"
	NSInstance    = "http://www.w3.org/2001/XMLSchema-instance"
	NSActivities  = "http://docs.accme.org/schemas/ACCMEActivities/v3/"
	NSMetrics     = "http://ns.medbiq.org/metrics/v2/"
	NSMetricsV1   = "http://ns.medbiq.org/metrics/v1/"
	NSExtension   = "http://docs.accme.org/schemas/ACCMEActivityExtension/v3/"
	NSExtensionRQ = "http://www.accme.org/ACCMEActivityExtension/v3" // the form PARS's request sample uses
	NSLOM         = "http://ltsc.ieee.org/xsd/LOM"
	NSHealthcare  = "http://ns.medbiq.org/lom/extend/v1/"
	NSAddress     = "http://ns.medbiq.org/address/v1/"

	NSLearnerService   = "http://schemas.datacontract.org/2004/07/ACCMEDataServices.ServiceObjects"
	NSLearnerReports   = "http://docs.accme.org/schemas/ACCMELearnerReports/v3/"
	NSLearnerExtension = "http://docs.accme.org/schemas/ACCMELearnerReportExtension/v3/"
	NSActivityReport   = "http://ns.medbiq.org/activityreport/v2/"
	NSMember           = "http://ns.medbiq.org/member/v2/"
	NSName             = "http://ns.medbiq.org/name/v2/"
)

// Mode says how closely a request must follow PARS.
type Mode int

const (
	// Strict enforces what PARS enforces, such as the alphabetical order of
	// envelope members, and rejects what cmex cannot keep.
	Strict Mode = iota
	// Permissive accepts what can be understood and reports each deviation
	// from PARS as a warning.
	Permissive
)

func (m Mode) String() string {
	if m == Permissive {
		return "permissive"
	}
	return "strict"
}

// Paths of the activity service, as on pars.accme.org.
const (
	PathActivityService = "/services/ACCMEService.svc/IACCMEServiceREST/"
	PathSaveActivity    = PathActivityService + "SaveActivity"
	PathGetActivity     = PathActivityService + "GetActivity"

	PathLearnerService         = "/services/ACCMELearnerService.svc/IACCMELearnerServiceREST/"
	PathSaveLearnerActivity    = PathLearnerService + "SaveLearnerActivity"
	PathLearnerStatusByLearner = PathLearnerService + "GetLearnerStatusByLearner"
	PathLearnerStatusByCredit  = PathLearnerService + "GetLearnerStatusByCreditId"
	PathLearnerMatch           = "/services/LearnerMatchService.svc/ILearnerMatchServiceREST/GetLearnerMatch"
)
