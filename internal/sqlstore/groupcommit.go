package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/cmexhub/cmex"
)

// Group commit: concurrent SaveLearnerReport calls share transactions.
// A call joins the queue; whoever finds no batch running starts one, which
// takes everything queued, judges it in one transaction (saveBatch), commits
// it with one sync to disk, answers every caller, and goes on while calls
// keep arriving. Each caller is answered only after the commit that holds
// its record, so an Accepted answer still means a durable record; under
// load, one commit serves many calls instead of one each.

// maxGroup bounds the calls one transaction serves.
const maxGroup = 256

// Several replicas on one database (a GroupLocker) commit one group at a
// time between them: a group takes the lock first and only then the calls
// queued meanwhile. Their groups would take turns anyway, on the locks of
// the activities they share, but each taken before its wait, half as
// large as one replica's, and two replicas were slower in total than one.

type groupCommit struct {
	mu      sync.Mutex
	queue   []*groupCall
	running bool

	// conn is the committer's own connection, kept between groups so that
	// its page cache stays warm; connMu guards it against the database
	// closing. closing is registered with the database once.
	connMu  sync.Mutex
	conn    *sql.Conn
	closing sync.Once
}

type groupCall struct {
	ch    cmex.LearnerChange
	audit auditRow // who asks, from where
	res   cmex.LearnerImportResult
	err   error
	done  chan struct{}
}

// save queues ch and waits for its answer.
func (s *LearnerService) save(ctx context.Context, ch cmex.LearnerChange) (cmex.LearnerImportResult, error) {
	c := &groupCall{ch: ch, audit: auditFrom(ctx, cmex.PrincipalActor(ch.By), "", "", ""), done: make(chan struct{})}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if !g.running {
		g.running = true
		go s.runGroups(context.WithoutCancel(ctx))
	}
	g.mu.Unlock()
	// The call is answered even if its caller has gone: the record may be
	// committed by then, and the answer is cheap.
	<-c.done
	return c.res, c.err
}

// runGroups commits queued calls until the queue is empty.
func (s *LearnerService) runGroups(ctx context.Context) {
	g := &s.group
	for {
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		batch := g.take(maxGroup)
		g.mu.Unlock()
		s.commitGroup(ctx, batch, true)
	}
}

// take takes up to n queued calls; g.mu is held.
func (g *groupCommit) take(n int) []*groupCall {
	n = min(len(g.queue), n)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	if len(g.queue) == 0 {
		g.queue = nil
	}
	return batch
}

// commitGroup judges and commits a group, grown by the calls queued while
// it waited for the group lock when grow is set. When it fails as a whole
// (a concurrent writer took a CreditID, or any other error), each call is
// tried again alone, so that one call's trouble is its own; unless the
// database cannot be reached (on a new connection either), when every call
// is told so.
func (s *LearnerService) commitGroup(ctx context.Context, batch []*groupCall, grow bool) {
	var chs []cmex.LearnerChange
	var results []cmex.LearnerImportResult
	g := &s.group
	g.closing.Do(func() {
		s.db.OnClose(func() {
			g.connMu.Lock()
			defer g.connMu.Unlock()
			if g.conn != nil {
				_ = g.conn.Close()
				g.conn = nil
			}
		})
	})
	commit := func() error {
		g.connMu.Lock()
		defer g.connMu.Unlock()
		return s.db.writeTurn(func() error {
			return s.db.inTxOn(ctx, &g.conn, func(tx conn) error {
				if l, ok := s.db.dialect.(GroupLocker); ok {
					if _, err := tx.exec(ctx, l.GroupLock()); err != nil {
						return fmt.Errorf("group lock: %w", err)
					}
					if grow {
						g.mu.Lock()
						batch = append(batch, g.take(maxGroup-len(batch))...)
						g.mu.Unlock()
					}
				}
				chs = make([]cmex.LearnerChange, len(batch))
				for i, c := range batch {
					chs[i] = c.ch
				}
				var err error
				if results, err = s.saveBatch(ctx, tx, chs, false); err != nil {
					return err
				}
				var rows []auditRow
				for i, c := range batch {
					rows = appendLearnerAudit(rows, c.audit, &chs[i], &results[i])
				}
				return s.db.appendAudit(ctx, tx, rows)
			})
		})
	}
	err := commit()
	if cmex.Unreachable(err) {
		// The connection may be all that failed (its server process was
		// ended): once more, on a new one. The records of a commit that was
		// made but not answered are then found taken, and answered as
		// duplicates, as they would be if their clients sent them again.
		err = commit()
	}
	if err == nil {
		for i, c := range batch {
			c.res = results[i]
			close(c.done)
		}
		return
	}
	if len(batch) > 1 && !cmex.Unreachable(err) {
		for _, c := range batch {
			s.commitGroup(ctx, []*groupCall{c}, false)
		}
		return
	}
	if len(batch) > 1 {
		// The database is down: each call alone would fail as the group
		// did, one connection attempt after another.
		for _, c := range batch {
			c.err = err
			close(c.done)
		}
		return
	}
	c := batch[0]
	if errors.Is(err, ErrConflict) {
		// Alone and still in conflict: another writer holds the CreditID.
		var ps cmex.Problems
		ps.Add(cmex.RuleDuplicateCreditID, cmex.Args{})
		c.res = cmex.LearnerImportResult{Outcome: cmex.OutcomeRejected, Problems: ps}
	} else {
		c.err = err
	}
	close(c.done)
}
