package cmars

import (
	"regexp"
	"strconv"
	"time"

	"github.com/cmexhub/cmex"
)

// The LRX wire format is a proprietary partner interface that was not found
// (specs/cmars.md 5.2). Everything in this file is a GUESS, modelled on the
// fields the spec lists for a learning record; correct it here when the
// format is known.

// record is the JSON body of one learning record. GUESS.
type record struct {
	OCIID           string `json:"ociId"`
	UserName        string `json:"userName"`
	CourseID        string `json:"courseId"`
	CourseTitle     string `json:"courseTitle"`
	ActivityID      string `json:"activityId"`
	CompletionDate  string `json:"completionDate"`  // YYYY-MM-DD
	ReportingPeriod string `json:"reportingPeriod"` // the completion's year
	Issuer          string `json:"issuer"`
	RecordID        string `json:"recordId"` // the CreditID: the exchange deduplicates by it
	Void            bool   `json:"void"`     // a deleted record is voided, never removed
}

// errorCode is the form of the exchange's error codes: WS and three
// digits, like the one code known, WS400 (CERTAIN, specs/cmars.md); that
// every code has this form is a GUESS.
var errorCode = regexp.MustCompile(`^WS[0-9]{3}$`)

// errorBody is what the exchange answers when it refuses a record, with a
// code such as WS400. GUESS.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// statusDuplicate is the exchange's answer to a record it already holds;
// on a retry it means the earlier attempt arrived. GUESS.
const statusDuplicate = 409

// periodOf is the reporting period a completion falls in, and
// reportingPeriod its name: the calendar year. CPSO physicians report
// yearly, but the exchange's own periods were not found. GUESS.
func periodOf(d cmex.Date) (from, to cmex.Date) {
	return cmex.Date{Year: d.Year, Month: time.January, Day: 1}, cmex.Date{Year: d.Year, Month: time.December, Day: 31}
}

func reportingPeriod(d cmex.Date) string { return strconv.Itoa(d.Year) }
