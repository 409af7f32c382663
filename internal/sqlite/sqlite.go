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
	"os"
	"time"

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
//
// Checkpoints (copying the WAL back into the database file) run in the
// background, not in the commit that happens to fill the WAL: see
// startCheckpointer.
func Open(ctx context.Context, path string) (*sqlstore.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Add("_pragma", "temp_store(memory)")
	q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -cacheKB))
	q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit))
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// Opening a connection reads the whole schema, which costs more than
	// most queries: connections are kept rather than closed whenever more
	// than database/sql's default two sit idle. Readers do not block one
	// another in WAL mode; the bound keeps each connection's page cache
	// from adding up without end.
	sqldb.SetMaxOpenConns(maxConns)
	sqldb.SetMaxIdleConns(maxConns)
	if err := sqldb.PingContext(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db := sqlstore.New(sqldb, Dialect{})
	if err := db.Migrate(ctx, Migrations()); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	db.OnClose(startCheckpointer(sqldb, db.WriteTurn, checkpointEvery))
	return db, nil
}

const (
	// cacheKB is each connection's page cache. SQLite's default, 2 MB,
	// is less than one import batch writes, and a transaction whose dirty
	// pages overflow the cache writes them out before it commits.
	cacheKB = 8 << 10
	// maxConns bounds the connections open at once.
	maxConns = 32
	// checkpointEvery is how often the background checkpointer runs.
	checkpointEvery = 200 * time.Millisecond
	// walSizeLimit is what the WAL file is cut back to when it starts
	// over, so that one large import does not leave it large for good.
	walSizeLimit = 64 << 20
	// restartPages is the WAL's size, in pages, past which a checkpoint
	// makes it start over (see startCheckpointer): 64 MB of 4 KB pages.
	restartPages = 16384
)

// startCheckpointer copies the WAL into the database file every interval,
// on a connection of its own, and returns the function that stops it.
//
// SQLite's own automatic checkpoint (disabled in Open) runs inside the
// commit that takes the WAL past 1,000 pages: that commit, and every
// request waiting behind it, pays for copying the pages and syncing the
// database file. A PASSIVE checkpoint from another connection does the
// same work without holding the write lock, so writers go on appending
// meanwhile; the WAL starts over from its beginning at the first write
// after a checkpoint has caught up. When the last connection closes,
// SQLite checkpoints whatever is left.
//
// Under a steady load a checkpoint never catches up: the writer commits
// again while it copies, and the WAL grew to 700 MB in a 10 s bench load,
// never starting over. So when a checkpoint leaves more than restartPages
// in the WAL, the pages committed while it ran are copied once more in the
// writers' turn (turn), with no write of this process under way: the
// checkpoint then holds the whole WAL, and the next write starts it over.
// That second pass copies only what one pass let in (milliseconds).
func startCheckpointer(db *sql.DB, turn func(func() error) error, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// A failure (a busy database, say) is retried at the next
			// tick; nothing is lost meanwhile, the WAL only grows.
			var busy, log, done int
			if db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done) != nil || log < restartPages {
				continue
			}
			_ = turn(func() error {
				_, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
				return err
			})
		}
	}()
	return func() {
		cancel()
		<-done
	}
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

// SingleWriter implements sqlstore.SingleWriter: SQLite takes one writer at
// a time.
func (Dialect) SingleWriter() {}

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

// Backup writes a consistent copy of the open database db to dest while
// it is in use: VACUUM INTO reads one snapshot, so writers go on and the
// copy holds exactly the transactions committed before it began. The copy
// is written beside dest under a temporary name, checked with
// integrity_check, synced, and only then renamed to dest, which must not
// exist; a failed backup leaves nothing behind.
func Backup(ctx context.Context, db *sqlstore.DB, dest string) error {
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("backup: %s exists; choose a new file", dest)
	}
	tmp := dest + ".partial"
	_ = os.Remove(tmp)
	defer os.Remove(tmp)
	if _, err := db.SQL().ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	check, err := sql.Open("sqlite", "file:"+(&url.URL{Path: tmp}).EscapedPath()+"?mode=ro")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	var verdict string
	err = check.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&verdict)
	check.Close()
	if err != nil || verdict != "ok" {
		return fmt.Errorf("backup: the copy fails its integrity check: %s %v", verdict, err)
	}
	f, err := os.Open(tmp)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// InsertIDs implements sqlstore.InsertIDer: LastInsertId is the rowid of
// the row an INSERT added.
func (Dialect) InsertIDs() {}
