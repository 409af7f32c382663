// Package sqlite opens cmex's embedded database: a single SQLite file in WAL
// mode through the pure-Go modernc.org/sqlite driver, migrated to the
// current schema. It is the default engine and needs no set-up.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"

	"github.com/cmexhub/cmex/internal/sqlstore"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the embedded migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

// Open opens (creating if needed) the database file at path and migrates it.
//
// Writers take the lock when their transaction begins (_txlock=immediate),
// so two writers never deadlock upgrading a read lock; a busy database is
// waited on for up to 10 s. synchronous=FULL makes every commit durable
// before it is acknowledged, which is what an acknowledged record promises.
func Open(ctx context.Context, path string) (*sqlstore.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db := sqlstore.New(sqldb, Dialect{})
	if err := db.Migrate(ctx, Migrations()); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return db, nil
}

// Dialect is SQLite's sqlstore.Dialect.
type Dialect struct{}

var _ sqlstore.Dialect = Dialect{}

// Name implements sqlstore.Dialect.
func (Dialect) Name() string { return "sqlite" }

// Numbered implements sqlstore.Dialect: plain ? placeholders, which this
// driver prepares faster than numbered ones.
func (Dialect) Numbered() bool { return false }

// ForUpdate implements sqlstore.Dialect. SQLite has one writer at a time and
// transactions begin IMMEDIATE, so rows need no lock of their own.
func (Dialect) ForUpdate() string { return "" }

// SkipLocked implements sqlstore.Dialect: with one writer there is nothing
// to skip.
func (Dialect) SkipLocked() string { return "" }

// IsUniqueViolation implements sqlstore.Dialect.
func (Dialect) IsUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// ReserveIDs implements sqlstore.Dialect: the n ids after the largest, which
// no one else can take while this transaction, the only writer, runs.
func (Dialect) ReserveIDs(table string) string {
	return `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		SELECT (SELECT coalesce(max(id), 0) FROM ` + table + `) + i FROM n`
}

// LockMigrations implements sqlstore.Dialect. Each migration runs in an
// IMMEDIATE transaction, which already excludes other writers.
func (Dialect) LockMigrations(context.Context, *sql.Conn) (func(), error) { return func() {}, nil }
