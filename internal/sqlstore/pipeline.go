package sqlstore

import (
	"context"
	"database/sql"
)

// Pipelines: on an engine in another process (PostgreSQL), each statement
// costs a round trip, and a transaction that holds its activities' locks
// (the group commit, an import batch) holds them for every round trip it
// makes. So where statements do not depend on each other's answers they
// are sent together, and writes whose answers nothing reads are held back
// (later) and sent with the next statement or the commit. The server runs
// them in the order sent, as if they had been sent one by one; an engine
// without pipelines (SQLite, in the process) runs each at once, as before.

// Rows are the rows a pipelined statement's Scan reads: what *sql.Rows
// and a driver's own rows have in common.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// A Statement is one statement of a pipeline.
type Statement struct {
	// SQL is the statement's text, in the dialect's placeholders.
	SQL  string
	Args []any
	// Scan reads the statement's rows; nil for a statement whose rows are
	// not read (a write).
	Scan func(Rows) error
	// Wrap, if set, is applied to the statement's error.
	Wrap func(error) error
	// kept says that, run alone, the statement is prepared once and kept
	// (a bulk statement: see bulk.go).
	kept bool
}

// A Pipeliner is a Dialect that sends several statements in one round
// trip. Transactions of a Pipeliner run on a connection of their own
// (conn.raw), as a Copier's do.
type Pipeliner interface {
	// Pipeline runs stmts in order on driverConn, in the transaction open
	// there, and stops at the first error (the transaction is then
	// aborted).
	Pipeline(ctx context.Context, driverConn any, stmts []Statement) error
}

// A BatchPlanner is a Dialect whose engine may settle on one plan for
// every run of a prepared statement, where a learner batch's lookups need
// plans for their own values. PlanBatch is the statement that, run in a
// transaction, has the statements after it planned so until it ends or
// PlannedBatch runs.
type BatchPlanner interface {
	PlanBatch() string
	PlannedBatch() string
}

// An Analyzer is a Dialect whose planner works from statistics that only
// an analysis brings up to date (PostgreSQL's ANALYZE).
type Analyzer interface {
	// StatisticsRows is a query of one value: how many rows the statistics
	// of table count (0 or less when it was never analysed).
	StatisticsRows(table string) string
	// Analyze is the statement that brings table's statistics up to date.
	Analyze(table string) string
}

// An InsertIDer is a Dialect whose driver's Result.LastInsertId is the id
// of the row an INSERT added (SQLite's rowid): an exec, without a query's
// rows, then says it.
type InsertIDer interface {
	InsertIDs()
}

// A GroupLocker is a Dialect whose database several processes write at
// once (PostgreSQL, with several replicas). GroupLock is the statement
// that, run first in a group commit's transaction, waits until no other
// group commit on the database runs, and holds the others off until the
// transaction ends.
type GroupLocker interface {
	GroupLock() string
}

// pipe holds a transaction's writes sent later.
type pipe struct {
	pending []Statement
	// err is the first error of a pipeline sent without a caller to
	// return it to (before a queryRow); the transaction fails with it.
	err error
}

// pipelined reports whether tx sends pipelines.
func (tx conn) pipelined() bool { return tx.pipe != nil }

// later runs a write whose answer is not read: at once on an engine
// without pipelines, otherwise with the next statement tx sends (or its
// commit).
func (tx conn) later(ctx context.Context, wrap func(error) error, query string, args ...any) error {
	if !tx.pipelined() {
		_, err := tx.q.ExecContext(ctx, tx.db.rebind(query), args...)
		if err != nil && wrap != nil {
			err = wrap(err)
		}
		return err
	}
	tx.pipe.pending = append(tx.pipe.pending, Statement{SQL: tx.db.rebind(query), Args: args, Wrap: wrap})
	return nil
}

// together runs stmts (text with ? placeholders), after any writes held
// back, in one round trip where the engine has pipelines, and one by one
// otherwise.
func (tx conn) together(ctx context.Context, stmts ...Statement) error {
	if tx.pipelined() {
		all := tx.pipe.pending
		tx.pipe.pending = nil
		for _, s := range stmts {
			s.SQL = tx.db.rebind(s.SQL)
			all = append(all, s)
		}
		return tx.send(ctx, all)
	}
	for _, s := range stmts {
		if err := tx.runAlone(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// flush sends the writes held back, if any.
func (tx conn) flush(ctx context.Context) error {
	if !tx.pipelined() || len(tx.pipe.pending) == 0 {
		return nil
	}
	all := tx.pipe.pending
	tx.pipe.pending = nil
	return tx.send(ctx, all)
}

func (tx conn) send(ctx context.Context, stmts []Statement) error {
	p := tx.db.dialect.(Pipeliner)
	err := tx.raw.Raw(func(dc any) error { return p.Pipeline(ctx, dc, stmts) })
	if err != nil && tx.pipe.err == nil {
		tx.pipe.err = err
	}
	return err
}

// runAlone runs s (text with ? placeholders) by itself in tx.
func (tx conn) runAlone(ctx context.Context, s Statement) error {
	wrap := func(err error) error {
		if err != nil && s.Wrap != nil {
			return s.Wrap(err)
		}
		return err
	}
	exec := func() error {
		_, err := tx.q.ExecContext(ctx, tx.db.rebind(s.SQL), s.Args...)
		return err
	}
	query := func() (*sql.Rows, error) { return tx.q.QueryContext(ctx, tx.db.rebind(s.SQL), s.Args...) }
	if s.kept {
		stmt, err := tx.db.stmtIn(ctx, tx, s.SQL)
		if err != nil {
			return wrap(err)
		}
		exec = func() error {
			_, err := stmt.ExecContext(ctx, s.Args...)
			return err
		}
		query = func() (*sql.Rows, error) { return stmt.QueryContext(ctx, s.Args...) }
	}
	if s.Scan == nil {
		return wrap(exec())
	}
	rows, err := query()
	if err != nil {
		return wrap(err)
	}
	defer rows.Close()
	if err := s.Scan(rows); err != nil {
		return wrap(err)
	}
	return wrap(rows.Err())
}
