package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/cmexhub/cmex"
)

// Group commit of statements, as SaveLearnerReport's (groupcommit.go):
// concurrent SaveStatements calls join a queue, and whoever finds no group
// running starts one, which stores everything queued in one transaction,
// each call's statements in the order the calls came,
// commits it with one sync to disk, and answers every caller. The hook
// is given every call's statements at once. A call is
// answered only after the commit that holds its statements, so a 2xx
// still means they are durable. When the group fails as a whole (one
// call's conflict, a voiding of a voiding statement, a hook's refusal),
// each call is tried again alone, so that its trouble is its own.

// maxStatementGroup bounds the statements one group's transaction stores
// (a call's batch is never split).
const maxStatementGroup = 1000

type xapiGroup struct {
	mu      sync.Mutex
	queue   []*xapiCall
	running bool

	// conn is the committer's connection, kept between groups (its page
	// cache stays warm); connMu guards it against the database closing.
	connMu  sync.Mutex
	conn    *sql.Conn
	closing sync.Once
}

type xapiCall struct {
	ctx  context.Context // the caller's, for the hook (who, from where)
	sts  []*cmex.XAPIStatement
	err  error
	done chan struct{}
}

// save queues sts and waits for their answer.
func (g *xapiGroup) save(ctx context.Context, s *XAPIService, sts []*cmex.XAPIStatement) error {
	c := &xapiCall{ctx: context.WithoutCancel(ctx), sts: sts, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if !g.running {
		g.running = true
		go g.run(s)
	}
	g.mu.Unlock()
	// Answered even if the caller has gone: the statements may be
	// committed by then.
	<-c.done
	return c.err
}

// run commits queued calls until the queue is empty.
func (g *xapiGroup) run(s *XAPIService) {
	for {
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		n, total := 0, 0
		for n < len(g.queue) && (n == 0 || total+len(g.queue[n].sts) <= maxStatementGroup) {
			total += len(g.queue[n].sts)
			n++
		}
		batch := g.queue[:n:n]
		g.queue = g.queue[n:]
		if len(g.queue) == 0 {
			g.queue = nil
		}
		g.mu.Unlock()
		g.commit(s, batch)
	}
}

// commit stores a group in one transaction, or each call alone when the
// group fails; unless the database cannot be reached, when every call is
// told so.
func (g *xapiGroup) commit(s *XAPIService, batch []*xapiCall) {
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
	try := func() error {
		g.connMu.Lock()
		defer g.connMu.Unlock()
		return s.db.writeTurn(func() error {
			return s.db.inTxOn(batch[0].ctx, &g.conn, func(tx conn) error {
				// The hook runs once for the group, judging all of its
				// completions in one learner batch; but a voiding statement
				// in a later call voids what an earlier call's hook made
				// records of, so with one among them each call's hook runs
				// after its own statements, as if the calls came alone.
				together := true
				for _, c := range batch {
					for _, st := range c.sts {
						together = together && st.Voids == ""
					}
				}
				voided, err := s.voided(batch[0].ctx, tx, batch)
				if err != nil {
					return err
				}
				w := &xapiWrite{voided: voided, defs: map[xapiKey][]byte{}}
				calls := make([]XAPIStored, len(batch))
				for i, c := range batch {
					fresh, err := s.saveStatements(c.ctx, tx, c.sts, w)
					if err != nil {
						return err
					}
					calls[i] = XAPIStored{Ctx: c.ctx, Statements: fresh}
					if !together {
						if err := s.hook(tx, calls[i:i+1]); err != nil {
							return err
						}
					}
				}
				if err := s.insertIndexRows(batch[0].ctx, tx, &w.rows); err != nil {
					return err
				}
				if together {
					return s.hook(tx, calls)
				}
				return nil
			})
		})
	}
	err := try()
	if cmex.Unreachable(err) {
		// The connection may be all that failed: once more, on a new one.
		// Statements committed but not answered are then found stored
		// with the same signature, and skipped.
		err = try()
	}
	if err != nil && len(batch) > 1 && !cmex.Unreachable(err) {
		for _, c := range batch {
			g.commit(s, []*xapiCall{c})
		}
		return
	}
	// Alone, a CreditID another writer took meanwhile (see SaveStatements):
	// again, after a pause, until the ledger is settled.
	for tries := 1; errors.Is(err, ErrConflict); tries++ {
		if tries == xapiConflictTries {
			// Another writer took a CreditID of the call every time: a
			// client sending again finds the ledger settled.
			err = &cmex.Error{Code: cmex.EBUSY, Message: "Other requests are storing the same CreditIDs; send the statements again.", RetryAfter: time.Second}
			break
		}
		time.Sleep(time.Duration(tries) * 5 * time.Millisecond)
		err = try()
	}
	for _, c := range batch {
		c.err = err
		close(c.done)
	}
}
