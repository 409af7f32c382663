package cmex

import (
	"errors"
	"fmt"
	"time"
)

// Error codes, independent of any protocol. Each edge maps them to its own
// shape: a PARS ErrorMessage, an HTTP status, a SOAP fault.
const (
	EINTERNAL     = "internal"     // a bug or an unavailable dependency; the message is never shown to clients
	EINVALID      = "invalid"      // the request broke one or more rules; see Error.Problems
	ENOTFOUND     = "not_found"    // no such record, or not visible to the caller
	ECONFLICT     = "conflict"     // the record already exists
	EUNAUTHORIZED = "unauthorized" // bad or missing credentials
	EFORBIDDEN    = "forbidden"    // good credentials, but not for this
	ETOOLARGE     = "too_large"    // the request exceeds a size or count limit
	EUNAVAILABLE  = "unavailable"  // a remote system cmex depends on did not answer usefully; the message says which
	EBUSY         = "busy"         // the server is at its limit of some costly work (checking passwords); try again after Error.RetryAfter
)

// Error is the one error type whose message is safe to show to a client.
// Any other error is internal: edges log it and answer with a generic text.
type Error struct {
	Code     string
	Message  string
	Problems Problems // the broken rules, when Code is EINVALID
	// RetryAfter is how long to wait before trying again, when Code is
	// ETOOMANY or EBUSY.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return fmt.Sprintf("cmex error: code=%s message=%s", e.Code, e.Message)
	}
	return fmt.Sprintf("cmex error: code=%s message=%s problems=%d", e.Code, e.Message, len(e.Problems))
}

// Errorf returns an *Error with the given code and a formatted, client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Rejected returns the EINVALID error carrying the problems that rejected a record.
func Rejected(problems Problems) *Error {
	return &Error{Code: EINVALID, Message: "the record was rejected", Problems: problems}
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err, or a generic text when
// err is not an *Error, so internal details never leave the process.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "Internal error."
}

func errorAs(err error) (*Error, bool) { return errors.AsType[*Error](err) }

// ErrorProblems returns the problems carried by err, if any.
func ErrorProblems(err error) Problems {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Problems
	}
	return nil
}
