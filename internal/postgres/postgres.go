// Package postgres opens cmex on PostgreSQL, the engine for deployments that
// outgrow one machine: several stateless cmex replicas share one database.
// It uses pgx through database/sql and migrates the schema under an
// advisory lock, so replicas starting together apply each migration once.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex/internal/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // and registers the "pgx" driver
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

// Options tune the connections of one cmex process. The zero value is
// what a command of the CLI wants: the default pool, no time limits.
type Options struct {
	// MaxConns bounds the connections open at once (0: DefaultMaxConns).
	MaxConns int
	// MaxIdleConns bounds the connections kept open while idle (0: as
	// many as MaxConns).
	MaxIdleConns int
	// ConnMaxLifetime closes a connection this long after it was opened,
	// once it is idle (0: never), so that a pool drifts to a server that
	// took over an address.
	ConnMaxLifetime time.Duration
	// ConnMaxIdleTime closes a connection idle this long (0: never).
	ConnMaxIdleTime time.Duration
	// StatementTimeout is PostgreSQL's statement_timeout, and its
	// idle_in_transaction_session_timeout, on every connection of the
	// pool (0: none; a value the URL names wins). A statement running
	// longer is cancelled, and a transaction left open and idle longer is
	// ended with its session, so that no request holds a connection or
	// its locks without end.
	StatementTimeout time.Duration
}

// DefaultMaxConns is each process's bound on its connections when Options
// name none.
const DefaultMaxConns = 20

// DefaultConnectTimeout is how long an attempt to connect may take when
// the URL names no connect_timeout.
const DefaultConnectTimeout = 5 * time.Second

// Open connects to the database at url (postgres://…) and migrates it.
//
// Migrations run on a connection of their own, without the pool's time
// limits: one may rewrite a large table, and a replica waits for another
// to finish them, under the migration lock, as long as that takes.
func Open(ctx context.Context, url string, o Options) (*sqlstore.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		// Without one, a server whose packets are dropped holds each
		// attempt for the system's TCP timeout (two minutes on Linux).
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	migrate := cfg.Copy()
	for _, p := range []string{"statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"} {
		migrate.RuntimeParams[p] = "0"
	}
	if o.StatementTimeout > 0 {
		ms := strconv.FormatInt(max(1, o.StatementTimeout.Milliseconds()), 10)
		for _, p := range []string{"statement_timeout", "idle_in_transaction_session_timeout"} {
			if _, set := cfg.RuntimeParams[p]; !set {
				cfg.RuntimeParams[p] = ms
			}
		}
	}
	mdb := stdlib.OpenDB(*migrate)
	defer mdb.Close()
	mdb.SetMaxOpenConns(1)
	if err := mdb.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("open postgres: %w", onceEach{err})
	}
	if err := sqlstore.New(mdb, Dialect{}).Migrate(ctx, Migrations()); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}

	sqldb := stdlib.OpenDB(*cfg)
	maxConns := o.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	idle := o.MaxIdleConns
	if idle <= 0 {
		idle = maxConns
	}
	// Idle connections are kept up to the limit by default: one closed
	// when more than a few were idle must be opened again under the next
	// burst, and each opening forks a PostgreSQL backend (under 64
	// concurrent clients the default churn spent most of the machine in
	// the kernel).
	sqldb.SetMaxOpenConns(maxConns)
	sqldb.SetMaxIdleConns(idle)
	sqldb.SetConnMaxLifetime(o.ConnMaxLifetime)
	sqldb.SetConnMaxIdleTime(o.ConnMaxIdleTime)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open postgres: %w", onceEach{err})
	}
	return sqlstore.New(sqldb, Dialect{}), nil
}

// onceEach is an error whose message says each of its lines once. pgx
// lists every attempt at a connection, and with sslmode=prefer (the
// default) it tries each host with TLS and then without: an unreachable
// server is otherwise described twice, word for word.
type onceEach struct{ err error }

func (e onceEach) Error() string {
	var out []string
	for _, line := range strings.Split(e.err.Error(), "\n") {
		if !slices.Contains(out, line) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func (e onceEach) Unwrap() error { return e.err }

// Dialect is PostgreSQL's sqlstore.Dialect.
type Dialect struct{}

var _ sqlstore.Dialect = Dialect{}

// Name implements sqlstore.Dialect.
func (Dialect) Name() string { return "postgres" }

// Numbered implements sqlstore.Dialect.
func (Dialect) Numbered() bool { return true }

// ForUpdate implements sqlstore.Dialect.
func (Dialect) ForUpdate() string { return " FOR UPDATE" }

// SkipLocked implements sqlstore.Dialect.
func (Dialect) SkipLocked() string { return " FOR UPDATE SKIP LOCKED" }

// IsUniqueViolation implements sqlstore.Dialect: SQLSTATE 23505.
func (Dialect) IsUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// PlanBatch implements sqlstore.BatchPlanner. cmex keeps its bulk
// statements prepared, and after a few runs PostgreSQL could settle on one
// generic plan for all values: for "credit_id IN ($2, …)" over a table
// that a batch import is filling, one that reads every record of the
// organization, each batch more than the last. Only a batch's lookups are
// planned afresh: for every statement of every session (as cmex did
// before), planning took half of the server's CPU under SaveLearnerActivity
// load.
func (Dialect) PlanBatch() string { return `SET LOCAL plan_cache_mode = force_custom_plan` }

// PlannedBatch implements sqlstore.BatchPlanner. The batch's writes are
// planned as the session's other statements are: forced, the foreign-key
// checks of a COPY planned their query afresh for every row (7 s of the
// server's time for 200,000 records).
func (Dialect) PlannedBatch() string { return `SET LOCAL plan_cache_mode = DEFAULT` }

var _ sqlstore.BatchPlanner = Dialect{}

var _ sqlstore.Analyzer = Dialect{}

// StatisticsRows implements sqlstore.Analyzer: pg_class.reltuples, -1 for
// a table never analysed.
func (Dialect) StatisticsRows(table string) string {
	return `SELECT reltuples FROM pg_class WHERE oid = '` + table + `'::regclass`
}

// Analyze implements sqlstore.Analyzer. ANALYZE reads a sample of the
// table (30,000 rows at the default statistics target), whatever its size.
func (Dialect) Analyze(table string) string { return `ANALYZE ` + table }

// migrationLock is the advisory lock key of migration runs ("cmex" in ASCII).
const migrationLock = 0x636d6578

// groupLock is the advisory lock key of group commits ("cmexgrp").
const groupLock = 0x636d6578677270

var _ sqlstore.GroupLocker = Dialect{}

// GroupLock implements sqlstore.GroupLocker with a transaction-level
// advisory lock, released by the commit.
func (Dialect) GroupLock() string { return fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, groupLock) }

// ReserveIDs implements sqlstore.Dialect: values of the identity column's
// sequence, which concurrent writers never share.
func (Dialect) ReserveIDs(table string) string {
	// The sequence is looked up once, not for every value (half the time
	// of 2,000 values).
	return `SELECT nextval(q.s) FROM (SELECT pg_get_serial_sequence('` + table + `', 'id')::regclass AS s) q, generate_series(1, ?)`
}

// LockMigrations implements sqlstore.Dialect with a session advisory lock.
func (Dialect) LockMigrations(ctx context.Context, conn *sql.Conn) (func(), error) {
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return nil, err
	}
	return func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	}, nil
}

var _ sqlstore.Copier = Dialect{}

// Copy implements sqlstore.Copier with COPY FROM STDIN, in the transaction
// open on the pgx connection.
func (Dialect) Copy(ctx context.Context, driverConn any, table string, columns []string, rows [][]any) error {
	c, ok := driverConn.(*stdlib.Conn)
	if !ok {
		return fmt.Errorf("copy into %s: the driver connection is a %T, not pgx's", table, driverConn)
	}
	n, err := c.Conn().CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromRows(rows))
	if err != nil {
		return err
	}
	if n != int64(len(rows)) {
		return fmt.Errorf("copy into %s: %d of %d rows", table, n, len(rows))
	}
	return nil
}

var _ sqlstore.Pipeliner = Dialect{}

// Pipeline implements sqlstore.Pipeliner with a pgx batch: every statement
// is sent at once, and the answers are read in order.
func (Dialect) Pipeline(ctx context.Context, driverConn any, stmts []sqlstore.Statement) error {
	c, ok := driverConn.(*stdlib.Conn)
	if !ok {
		return fmt.Errorf("pipeline: the driver connection is a %T, not pgx's", driverConn)
	}
	b := &pgx.Batch{}
	for _, s := range stmts {
		b.Queue(s.SQL, s.Args...)
	}
	br := c.Conn().SendBatch(ctx, b)
	for _, s := range stmts {
		if err := readAnswer(br, s); err != nil {
			_ = br.Close()
			return err
		}
	}
	return br.Close()
}

// readAnswer reads the answer of s, the next statement of br.
func readAnswer(br pgx.BatchResults, s sqlstore.Statement) error {
	wrap := func(err error) error {
		if err != nil && s.Wrap != nil {
			return s.Wrap(err)
		}
		return err
	}
	if s.Scan == nil {
		_, err := br.Exec()
		return wrap(err)
	}
	rows, err := br.Query()
	if err != nil {
		return wrap(err)
	}
	defer rows.Close()
	if err := s.Scan(rows); err != nil {
		return wrap(err)
	}
	rows.Close()
	return wrap(rows.Err())
}
