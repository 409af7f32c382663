package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/cmexhub/cmex"
)

// A bulk statement repeats a tuple of placeholders: the list of an IN or
// the rows of a multi-row INSERT. Its text depends on how many tuples it
// holds, and parsing a statement of hundreds of parameters costs the
// engine about as much as running it. So bulk statements come in a few
// sizes only (powers of two, and batchChunk), each prepared once per
// connection and kept; a list is padded up to its size, a set of rows is
// cut into sizes.
type bulk struct {
	head, tuple, tail string
	width             int // parameters per tuple
}

// bulkSize is the size a list of n tuples is padded to.
func bulkSize(n int) int {
	s := 1
	for s < n && s < batchChunk {
		s <<= 1
	}
	return min(s, batchChunk)
}

func (b bulk) text(n int) string { return b.head + rowsOf(b.tuple, n) + b.tail }

// query runs b over the tuples in values (b.width values each, at most
// batchChunk tuples), after the prefix arguments. The list is padded by
// repeating its last tuple, which changes nothing a list is used for (IN).
func (db *DB) bulkQuery(ctx context.Context, tx conn, b bulk, prefix, values []any) (*sql.Rows, error) {
	s, err := b.statement(prefix, values, nil)
	if err != nil {
		return nil, err
	}
	if err := tx.flush(ctx); err != nil {
		return nil, err
	}
	stmt, err := db.stmtIn(ctx, tx, s.SQL)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, s.Args...)
}

// statement is the query bulkQuery runs, as a Statement whose rows scan
// reads, for together.
func (b bulk) statement(prefix, values []any, scan func(Rows) error) (Statement, error) {
	n := len(values) / b.width
	if n == 0 || n > batchChunk || len(values)%b.width != 0 {
		return Statement{}, fmt.Errorf("bulk query of %d values in tuples of %d", len(values), b.width)
	}
	size := bulkSize(n)
	args := make([]any, 0, len(prefix)+size*b.width)
	args = append(append(args, prefix...), values...)
	last := values[len(values)-b.width:]
	for range size - n {
		args = append(args, last...)
	}
	return Statement{SQL: b.text(size), Args: args, Scan: scan, kept: true}, nil
}

// bulkExec runs the INSERT b over the tuples in values, in statements of
// the kept sizes, largest first.
func (db *DB) bulkExec(ctx context.Context, tx conn, b bulk, values []any) error {
	if len(values)%b.width != 0 {
		return fmt.Errorf("bulk insert of %d values in tuples of %d", len(values), b.width)
	}
	if err := tx.flush(ctx); err != nil {
		return err
	}
	for len(values) > 0 {
		size := largestSize(len(values) / b.width)
		stmt, err := db.stmtIn(ctx, tx, b.text(size))
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, values[:size*b.width]...); err != nil {
			return err
		}
		values = values[size*b.width:]
	}
	return nil
}

// largestSize is the largest kept size not above n (n ≥ 1).
func largestSize(n int) int {
	if n >= batchChunk {
		return batchChunk
	}
	s := 1
	for s*2 <= n {
		s <<= 1
	}
	return s
}

// stmtIn returns query prepared on the database, bound to tx when tx is a
// transaction.
func (db *DB) stmtIn(ctx context.Context, tx conn, query string) (*sql.Stmt, error) {
	stmt, err := db.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	if t, ok := tx.q.(*sql.Tx); ok {
		return t.StmtContext(ctx, stmt), nil
	}
	return stmt, nil
}

// queryKept runs a query of fixed text, which is prepared once per
// connection and kept: for the queries every request runs.
func (c conn) queryKept(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := c.flush(ctx); err != nil {
		return nil, err
	}
	stmt, err := c.db.stmtIn(ctx, c, query)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, args...)
}

// prepared returns the statement of query, prepared on the database and
// kept for the database's lifetime: only statements of fixed text, of
// which there are few, belong here.
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if st, ok := db.stmts[query]; ok {
		return st, nil
	}
	st, err := db.sql.PrepareContext(ctx, db.rebind(query))
	if err != nil {
		return nil, err
	}
	if db.stmts == nil {
		db.stmts = map[string]*sql.Stmt{}
	}
	db.stmts[query] = st
	return st, nil
}

// kept is a bounded map of decoded documents, safe for concurrent use;
// when full, it starts over.
type kept[K comparable, V any] struct {
	mu      sync.Mutex
	entries map[K]V
}

// maxKept bounds each kept map.
const maxKept = 20000

func (c *kept[K, V]) get(k K) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[k]
}

func (c *kept[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxKept {
		c.entries = map[K]V{}
	}
	c.entries[k] = v
}

// activityCache keeps decoded activity documents for the reads that need
// hundreds at once (a physician's transcript and progress). An entry is
// good for one revision: any change of an activity makes a new revision,
// so a stale entry is never used. The revision is read from the database
// with every request (personRecords), so an activity revised through
// another replica is seen at this one's next request: the cache is per
// replica, what it answers is not. The activities are shared and must not
// be changed.
type activityCache struct {
	kept[cmex.ActivityID, cachedActivity]
}

type cachedActivity struct {
	revision int64
	activity *cmex.Activity
}

func (c *activityCache) get(id cmex.ActivityID, revision int64) *cmex.Activity {
	if e := c.kept.get(id); e.activity != nil && e.revision == revision {
		return e.activity
	}
	return nil
}

func (c *activityCache) put(id cmex.ActivityID, revision int64, a *cmex.Activity) {
	c.kept.put(id, cachedActivity{revision, a})
}

// queryRowKept is queryRow of a query of fixed text, prepared once per
// connection and kept. A Pipeliner's driver keeps its own statements.
func (c conn) queryRowKept(ctx context.Context, query string, args ...any) *sql.Row {
	if c.pipelined() {
		return c.queryRow(ctx, query, args...)
	}
	stmt, err := c.db.stmtIn(ctx, c, query)
	if err != nil {
		// The row reports the error from its Scan, as queryRow's does.
		return c.queryRow(ctx, query, args...)
	}
	return stmt.QueryRowContext(ctx, args...)
}

// execKept runs a write of fixed text whose answer is not read, prepared
// once per connection and kept; on a Pipeliner, it is sent later (with
// the next statement or the commit), and wrap applies to its error.
func (c conn) execKept(ctx context.Context, wrap func(error) error, query string, args ...any) error {
	if c.pipelined() {
		return c.later(ctx, wrap, query, args...)
	}
	stmt, err := c.db.stmtIn(ctx, c, query)
	if err == nil {
		_, err = stmt.ExecContext(ctx, args...)
	}
	if err != nil && wrap != nil {
		err = wrap(err)
	}
	return err
}
