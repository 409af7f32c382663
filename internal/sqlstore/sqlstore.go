// Package sqlstore implements cmex's services once, over database/sql, for
// every SQL engine cmex supports. The engines differ only in what a Dialect
// describes: placeholders, locking, and how they report a unique violation.
// Packages sqlite and postgres open a DB with their Dialect and migrations.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cmexhub/cmex"
)

// Dialect describes what differs between SQL engines.
type Dialect interface {
	// Name is the engine's name, for messages: "sqlite", "postgres".
	Name() string
	// Numbered reports whether placeholders are $1, $2… rather than ?.
	Numbered() bool
	// ForUpdate is the clause that locks selected rows until the end of the
	// transaction, or "" where writers are serialised anyway.
	ForUpdate() string
	// SkipLocked is the clause that locks selected rows and skips those
	// another transaction holds, so that several workers share a queue.
	SkipLocked() string
	// IsUniqueViolation reports whether err is a unique-constraint violation,
	// judged by the driver's error code.
	IsUniqueViolation(err error) bool
	// ReserveIDs is a query of one parameter, n, that returns n new ids
	// of table's id column, for rows inserted in bulk with their ids.
	ReserveIDs(table string) string
	// LockMigrations serialises migration runs of several processes on conn
	// and returns the function that releases the lock.
	LockMigrations(ctx context.Context, conn *sql.Conn) (unlock func(), err error)
}

// A SingleWriter is a Dialect whose database takes one writer at a time
// (SQLite). Its short, latency-sensitive writes (the group commit, a
// token's use) queue in the process for their turn, rather than in the
// engine's busy handler, which sleeps in growing steps (up to 100 ms)
// before trying again.
type SingleWriter interface {
	SingleWriter()
}

// A Copier is a Dialect that loads many rows faster than multi-row INSERTs
// do: PostgreSQL's COPY. Transactions of such a dialect run on a
// connection of their own (conn.raw), whose driver connection Copy is
// given.
type Copier interface {
	// Copy writes rows (values in the order of columns) into table, in the
	// transaction open on driverConn.
	Copy(ctx context.Context, driverConn any, table string, columns []string, rows [][]any) error
}

// DB is a database with cmex's schema, shared by the services of this package.
type DB struct {
	sql     *sql.DB
	dialect Dialect

	// Now returns the current time; tests replace it.
	Now func() time.Time
	// Hasher hashes and checks passwords.
	Hasher *PasswordHasher
	// Secrets encrypts the credentials of destinations; nil refuses to
	// store any.
	Secrets *SecretBox

	// writeMu is the turn of short writes on a SingleWriter engine.
	writeMu sync.Mutex

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // prepared once, for bulk writes

	closeMu sync.Mutex
	onClose []func()

	// activities are decoded activity documents, by id and revision.
	activities activityCache
	// records are the decoded contents of learner records, by id. A
	// record's content never changes (a trigger refuses it; its status,
	// which does, is read with every request), so a replica's copy is
	// never stale.
	records kept[cmex.LearnerRecordID, *cmex.LearnerRecord]
}

// New wraps an open database. The caller migrates it (Migrate) before use.
func New(db *sql.DB, d Dialect) *DB {
	return &DB{sql: db, dialect: d, Now: time.Now, Hasher: DefaultPasswordHasher()}
}

// OnClose registers f to run when the database closes, before its
// connections do: an engine's background work stops there.
func (db *DB) OnClose(f func()) {
	db.closeMu.Lock()
	defer db.closeMu.Unlock()
	db.onClose = append(db.onClose, f)
}

// Close closes the database.
func (db *DB) Close() error {
	db.closeMu.Lock()
	fs := db.onClose
	db.onClose = nil
	db.closeMu.Unlock()
	for _, f := range fs {
		f()
	}
	return db.sql.Close()
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// Dialect returns the engine's dialect.
func (db *DB) Dialect() Dialect { return db.dialect }

// now returns the current time in UTC, truncated to microseconds, the
// precision both engines keep.
func (db *DB) now() time.Time { return db.Now().UTC().Truncate(time.Microsecond) }

// rebind rewrites ? placeholders to $n for engines that number them. Queries
// in this package never hold a ? inside a string literal.
func (db *DB) rebind(q string) string {
	if !db.dialect.Numbered() || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs queries with the dialect's placeholders, on the database or in a
// transaction.
type conn struct {
	db *DB
	q  querier
	// raw is the connection a transaction runs on, for a Copier's Copy
	// and a Pipeliner's pipelines.
	raw *sql.Conn
	// pipe holds the writes sent later, in a transaction of a Pipeliner.
	pipe *pipe
}

// exec, query and queryRow send any writes held back first, so that
// statements run in the order they were made.

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := c.flush(ctx); err != nil {
		return nil, err
	}
	return c.q.ExecContext(ctx, c.db.rebind(query), args...)
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := c.flush(ctx); err != nil {
		return nil, err
	}
	return c.q.QueryContext(ctx, c.db.rebind(query), args...)
}

// queryRow's flush error, if any, is the transaction's (pipe.err); the
// row then fails as the aborted transaction makes it.
func (c conn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	_ = c.flush(ctx)
	return c.q.QueryRowContext(ctx, c.db.rebind(query), args...)
}

// copyRows writes rows into table's columns with the dialect's Copy, and
// reports false (writing nothing) when the dialect has none or tx is not
// a transaction of inTx.
func (tx conn) copyRows(ctx context.Context, table string, columns []string, rows [][]any) (bool, error) {
	c, ok := tx.db.dialect.(Copier)
	if !ok || tx.raw == nil {
		return false, nil
	}
	if err := tx.flush(ctx); err != nil {
		return true, err
	}
	return true, tx.raw.Raw(func(dc any) error { return c.Copy(ctx, dc, table, columns, rows) })
}

// read returns a conn on the database, outside any transaction.
func (db *DB) read() conn { return conn{db: db, q: db.sql} }

// inTx runs fn in a transaction and commits it if fn returns nil. The
// transaction is rolled back on any error, including a panic in fn.
func (db *DB) inTx(ctx context.Context, fn func(tx conn) error) error {
	return db.inTxOn(ctx, nil, fn)
}

// inTxOn is inTx on a connection kept between calls in *kept, when kept
// is not nil: taken from the pool the first time, and again after a
// transaction on it failed. One writer that keeps its connection keeps
// that connection's page cache warm (SQLite's cache is a connection's own);
// the caller makes sure the calls do not overlap.
func (db *DB) inTxOn(ctx context.Context, kept **sql.Conn, fn func(tx conn) error) (err error) {
	_, copier := db.dialect.(Copier)
	_, pipeliner := db.dialect.(Pipeliner)
	own := kept != nil || copier || pipeliner // a connection of the transaction's own, not one the pool picks
	var raw *sql.Conn
	if own {
		if kept != nil {
			raw = *kept
		}
		defer func() { // after the transaction ends, below
			if raw != nil && (kept == nil || err != nil) { // a kept one that failed: the connection may be what failed
				_ = raw.Close()
				if kept != nil {
					*kept = nil
				}
			}
		}()
	}
	var tx *sql.Tx
	for try := 0; ; try++ {
		if own && raw == nil {
			if raw, err = db.sql.Conn(ctx); err != nil {
				return fmt.Errorf("begin: %w", err)
			}
			if kept != nil {
				*kept = raw
			}
		}
		if raw != nil {
			tx, err = raw.BeginTx(ctx, nil)
		} else {
			tx, err = db.sql.BeginTx(ctx, nil)
		}
		if err == nil || raw == nil || try > 0 || !cmex.Unreachable(err) {
			break
		}
		// The connection died while it waited (the server restarted):
		// nothing was sent on it, so the transaction starts again on a
		// new one, as database/sql does with the connections it picks.
		_ = raw.Close()
		raw = nil
		if kept != nil {
			*kept = nil
		}
	}
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	c := conn{db: db, q: tx, raw: raw}
	if pipeliner {
		c.pipe = &pipe{}
	}
	if err := fn(c); err != nil {
		if c.pipe != nil && c.pipe.err != nil {
			return c.pipe.err // what aborted the transaction
		}
		return err
	}
	if err := c.flush(ctx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}

// notFound maps sql.ErrNoRows to a cmex ENOTFOUND error with msg.
func notFound(err error, msg string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return cmex.Errorf(cmex.ENOTFOUND, "%s", msg)
	}
	return err
}

// SQL returns the underlying database, for operations tooling and tests.
func (db *DB) SQL() *sql.DB { return db.sql }

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// scanColumn reads a query of one column into a slice.
func scanColumn[T any](rows *sql.Rows, err error) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// WriteTurn runs fn in the turn of the short writes (the group commits)
// on a SingleWriter engine, or at once on others: for engine upkeep that
// must find no write of this process under way (a checkpoint that lets
// SQLite's WAL start over).
func (db *DB) WriteTurn(fn func() error) error { return db.writeTurn(fn) }

// writeTurn runs fn, a short write, in its turn on a SingleWriter engine,
// or at once on others.
func (db *DB) writeTurn(fn func() error) error {
	if _, ok := db.dialect.(SingleWriter); ok {
		db.writeMu.Lock()
		defer db.writeMu.Unlock()
	}
	return fn()
}
