package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migration is one numbered, forward-only schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Checksum identifies the migration's text, so that an edit to a shipped
// migration is detected rather than silently skipped.
func (m Migration) Checksum() string {
	sum := sha256.Sum256([]byte(m.SQL))
	return hex.EncodeToString(sum[:])
}

// LoadMigrations reads NNNN_name.sql files from the root of fsys, in order.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || path.Ext(name) != ".sql" {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: want NNNN_name.sql", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", prev, name, v)
		}
		seen[v] = name
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %q: versions must run 1, 2, 3… without gaps", m.Name)
		}
	}
	return ms, nil
}

// Migrate applies the migrations in fsys that the database has not seen,
// each in its own transaction, under the dialect's migration lock so that
// replicas starting together apply each migration once. It refuses to run
// when an applied migration's text has changed, or when the database has
// migrations this binary does not know (it is newer than the binary).
func (db *DB) Migrate(ctx context.Context, fsys fs.FS) error {
	ms, err := LoadMigrations(fsys)
	if err != nil {
		return err
	}
	c, err := db.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer c.Close()
	unlock, err := db.dialect.LockMigrations(ctx, c)
	if err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer unlock()

	if _, err := c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		checksum   TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}

	applied := map[int]string{}
	rows, err := c.QueryContext(ctx, `SELECT version, checksum FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: %w", err)
		}
		applied[v] = sum
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for v := range applied {
		if v > len(ms) {
			return fmt.Errorf("migrate: the database has migration %d but this cmex knows only %d: it was written by a newer cmex", v, len(ms))
		}
	}

	for _, m := range ms {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Checksum() {
				return fmt.Errorf("migrate: migration %s was changed after it was applied; shipped migrations must never be edited", m.Name)
			}
			continue
		}
		tx, err := c.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)`),
			m.Version, m.Name, m.Checksum(), db.now().Format(time.RFC3339Nano)); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migrate: record %s: %w", m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate: commit %s: %w", m.Name, err)
		}
	}
	return nil
}

// Exclusively runs fn under the migration lock, so that set-up which
// reads before it writes (the sandbox's fixtures: "add it unless it is
// there") runs in one of several replicas starting together at a time,
// and the next finds it done instead of failing on what the first added.
// A single-writer engine serves one process, which needs no lock.
func (db *DB) Exclusively(ctx context.Context, fn func(context.Context) error) error {
	if _, ok := db.dialect.(SingleWriter); ok {
		return fn(ctx)
	}
	c, err := db.sql.Conn(ctx)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer c.Close()
	unlock, err := db.dialect.LockMigrations(ctx, c)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer unlock()
	return fn(ctx)
}
