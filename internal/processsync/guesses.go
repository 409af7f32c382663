package processsync

// Every GUESS about the Process Synchronization wire format lives here
// (specs/process-sync.md 4.2 and 4.1).

const (
	// NSDataContract is the namespace of the result's elements. The seed
	// prints "http://schemas.datacontract.org", which WCF never emits; WCF
	// writes http://schemas.datacontract.org/2004/07/<CLR namespace>.
	// Clients should match on local names. GUESS.
	NSDataContract = "http://schemas.datacontract.org/2004/07/ProcessSynchronization"

	// SOAPAction is what the WSDL declares; WCF's default for a contract
	// IProcessSynchronization. Requests with any SOAPAction are served.
	// GUESS.
	SOAPAction = "http://tempuri.org/IProcessSynchronization/GetRoleData"
)

// The WSDL declares the booleans (IsGranted, Complete, Required) and the
// dates as xs:string. The seed writes True and False and MM/dd/yyyy
// (CERTAIN), which are not in the lexical spaces of xs:boolean (true,
// false, 1, 0) or xs:date (yyyy-MM-dd), so a service that writes them has
// string members; declared xs:boolean, they are misread by strict clients
// (zeep reads True as false) or refused (.NET's XmlConvert.ToBoolean).
// LearningBuilder's own WSDL is not published. GUESS.
const (
	xsBoolean = xsString // True or False
	xsDate    = xsString // MM/dd/yyyy
)

// Each xs:sequence of the WSDL, and so each level of the answer, is in
// ordinal order of element names, as WCF writes data members without an
// Order (the seed: "will likely generate them in alphabetical order";
// elementOrder in wsdl.go). LIKELY.

// profileWith reports whether a result with this Success code carries the
// Profile. The seed says "Always provided if Success > 1" for Profile and
// "Always provided if Success is > 2" for Role Instances, which cannot both
// be meant as written. cmex reads them as: the Profile whenever the member
// was found (0 and 3), Role Instances only on success. GUESS.
func profileWith(success int) bool { return success == successOK || success == successRoleNotFound }

// A request whose Version is not 7.8.0 gets a SOAP Client fault: the seed
// says it "must be 7.8.0" but names no Success code for it. GUESS.
const versionFault = "Version must be 7.8.0."

// The token is compared in lower case: the seed does not say which case
// its hex is in (specs/process-sync.md 4.1). GUESS.
