package cmex_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"syscall"
	"testing"

	"github.com/cmexhub/cmex"
)

// sqlStateError is a driver error with an SQLSTATE, as pgx's PgError.
type sqlStateError struct{ code string }

func (e sqlStateError) Error() string    { return "ERROR: something (SQLSTATE " + e.code + ")" }
func (e sqlStateError) SQLState() string { return e.code }

// retryError is an error the driver says came before anything was sent.
type retryError struct{}

func (retryError) Error() string     { return "conn closed" }
func (retryError) SafeToRetry() bool { return true }

// A database that cannot be reached is a temporary failure, answered as
// a busy server is (503 and Retry-After at every edge), with a safe
// message; every other unexpected error stays internal.
func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("begin: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{"bad connection", fmt.Errorf("claim: %w", driver.ErrBadConn), true},
		{"unexpected EOF", fmt.Errorf("complete: %w", io.ErrUnexpectedEOF), true},
		{"closed before sending", fmt.Errorf("begin: %w", retryError{}), true},
		{"admin shutdown", fmt.Errorf("save: %w", sqlStateError{"57P01"}), true},
		{"starting up", sqlStateError{"57P03"}, true},
		{"connection failure", sqlStateError{"08006"}, true},
		{"too many connections", sqlStateError{"53300"}, true},
		{"statement timeout", sqlStateError{"57014"}, true},
		{"unique violation", sqlStateError{"23505"}, false},
		{"syntax error", sqlStateError{"42601"}, false},
		{"a bug", errors.New("nil map"), false},
		{"a missing file", fmt.Errorf("import: %w", &fs.PathError{Op: "open", Path: "x.xml", Err: syscall.ENOENT}), false},
		{"a full disk", fmt.Errorf("write: %w", syscall.ENOSPC), false},
		{"deadline", fmt.Errorf("ping: %w", context.DeadlineExceeded), true},
		{"canceled", context.Canceled, false},
		{"nil", nil, false},
	} {
		if got := cmex.Unreachable(tc.err); got != tc.want {
			t.Errorf("%s: Unreachable = %v, want %v", tc.name, got, tc.want)
		}
		if tc.err == nil {
			continue
		}
		code, msg, retry := cmex.ErrorCode(tc.err), cmex.ErrorMessage(tc.err), cmex.RetryAfter(tc.err)
		if tc.want && (code != cmex.EBUSY || retry != 2 || msg != "The service cannot reach its database just now; try again shortly.") {
			t.Errorf("%s: %q %q, Retry-After %d", tc.name, code, msg, retry)
		}
		if !tc.want && (code != cmex.EINTERNAL || msg != "Internal error." || retry != 0) {
			t.Errorf("%s: %q %q, Retry-After %d; want internal", tc.name, code, msg, retry)
		}
	}
	// A cmex error keeps its own code and message, whatever it says.
	busy := &cmex.Error{Code: cmex.EBUSY, Message: "Too many password checks at once."}
	if cmex.Unreachable(busy) || cmex.ErrorMessage(busy) != busy.Message {
		t.Errorf("a busy hasher's error: %v %q", cmex.Unreachable(busy), cmex.ErrorMessage(busy))
	}
}
