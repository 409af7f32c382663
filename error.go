package cmex

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
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
	EBUSY         = "busy"         // the server is at its limit of some costly work (checking passwords), or cannot reach its database for now; try again after Error.RetryAfter
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

// ErrorCode returns the code of err if it is (or wraps) an *Error, EBUSY
// when err says the database cannot be reached for now (see Unreachable),
// EINTERNAL for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errorAs(err); ok {
		return e.Code
	}
	return EINTERNAL
}

// errUnreachable is what a client is told while the database cannot be
// reached: try again soon, as a busy server answers.
var errUnreachable = &Error{Code: EBUSY, Message: "The service cannot reach its database just now; try again shortly.", RetryAfter: UnreachableRetryAfter}

// UnreachableRetryAfter is how long a client is asked to wait when the
// database could not be reached: about what a restarted database takes to
// accept connections again.
const UnreachableRetryAfter = 2 * time.Second

// Unreachable reports whether err says that the database (or another
// server reached over the network) could not be reached or dropped the
// connection, rather than refused the request: a connection refused, reset
// or timed out, a connection the driver found broken or closed (an error
// it says came before anything was sent: pgx's SafeToRetry), or an SQLSTATE
// (which drivers report through a SQLState method) of a lost connection
// (class 08), a server shutting down, starting up or out of connections
// (57P01, 57P02, 57P03, 53300), a statement or an idle transaction
// cancelled by the server's time limits (57014, 25P03). Each is
// temporary: the same request may succeed once the database is back.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	if e, ok := errors.AsType[interface {
		error
		SafeToRetry() bool
	}](err); ok && e.SafeToRetry() {
		return true
	}
	// A network error: syscall.Errno has Timeout and Temporary too, so a
	// bare one (a missing file, a full disk) is not taken for one; a
	// socket's errno comes wrapped in a *net.OpError, which is.
	if e, ok := errors.AsType[net.Error](err); ok {
		if _, errno := e.(syscall.Errno); !errno {
			return true
		}
	}
	if e, ok := errors.AsType[interface {
		error
		SQLState() string
	}](err); ok {
		switch code := e.SQLState(); {
		case strings.HasPrefix(code, "08"), code == "57P01", code == "57P02", code == "57P03", code == "53300", code == "57014", code == "25P03":
			return true
		}
	}
	return false
}

// ErrorMessage returns the client-safe message of err, or a generic text when
// err is not an *Error, so internal details never leave the process.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errorAs(err); ok {
		return e.Message
	}
	return "Internal error."
}

// errorAs returns the *Error err is or wraps, or the one a client is told
// when err says the database is unreachable.
func errorAs(err error) (*Error, bool) {
	if e, ok := errors.AsType[*Error](err); ok {
		return e, true
	}
	if Unreachable(err) {
		return errUnreachable, true
	}
	return nil, false
}

// ErrorProblems returns the problems carried by err, if any.
func ErrorProblems(err error) Problems {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Problems
	}
	return nil
}
