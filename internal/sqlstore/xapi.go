package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// XAPIService implements cmex.XAPIService over the xapi_ tables.
type XAPIService struct {
	db *DB
	// Hook, when set, runs in the transaction that stores statements,
	// after they are written: what it writes commits with them, and its
	// error refuses the whole batch. The completion profile (statements
	// into learner reports) plugs in here.
	Hook XAPIHook

	group xapiGroup
}

var _ cmex.XAPIService = (*XAPIService)(nil)

// XAPIHook is given the statements a transaction stores, those already
// stored (duplicates) left out, call by call: each call is one
// SaveStatements (one request), with its context (who sent it, from
// where). Several calls share a transaction under load (xapigroup.go).
type XAPIHook interface {
	StatementsStored(tx Tx, calls []XAPIStored) error
}

// XAPIStored is what one SaveStatements call stored.
type XAPIStored struct {
	Ctx        context.Context
	Statements []*cmex.XAPIStatement
}

// Tx is a transaction of this package, handed to hooks so that the
// services' in-transaction operations can be called with it.
type Tx struct{ c conn }

// NewXAPIService returns the learning record store of db.
func NewXAPIService(db *DB) *XAPIService { return &XAPIService{db: db} }

// maxXAPIQuery bounds the statements one query returns.
const maxXAPIQuery = 500

// xapiConflictTries bounds the transactions a call is tried in alone when
// a concurrent writer takes a CreditID its completions were about to add.
const xapiConflictTries = 5

// SaveStatements implements cmex.XAPIService. Concurrent calls share a
// transaction (see xapigroup.go); each is answered once the commit that
// holds its statements is made. A statement's Seq is set when this call
// stored it, and left 0 when it was stored before (a duplicate).
//
// Two completions naming one CreditID, stored at once by two
// transactions, would both find it free; the second to insert its record
// then fails on the ledger's unique key (ErrConflict, on PostgreSQL:
// SQLite runs one write transaction at a time). The call is then tried
// again, and the hook, finding the other's record, refuses the completion
// with 603 as it would have had the two come one after the other: the
// statement is stored all the same.
func (s *XAPIService) SaveStatements(ctx context.Context, sts []*cmex.XAPIStatement) error {
	if len(sts) == 0 {
		return nil
	}
	return s.group.save(ctx, s, sts)
}

// saveStatements stores one call's statements in tx, but for the rows of
// the agents and activities they name, which it adds to rows, and returns
// those not stored before, for the hook.
func (s *XAPIService) saveStatements(ctx context.Context, tx conn, sts []*cmex.XAPIStatement, w *xapiWrite) ([]*cmex.XAPIStatement, error) {
	var fresh []*cmex.XAPIStatement
	for _, st := range sts {
		st.Seq = 0 // of a try rolled back
		// ON CONFLICT: the id is stored (by this transaction, another one
		// before it, or one committing at the same time): the row stored
		// is then compared. A statement is stored voided when a voiding
		// statement stored before names it, unless it voids itself.
		err := s.insertStatement(ctx, tx, st, w.voided[xapiKey{st.Organization, st.ID}] && st.Verb != voidedVerb)
		if isNoRows(err) {
			var sig string
			if err := tx.queryRowKept(ctx, `SELECT signature FROM xapi_statements WHERE organization_id = ? AND statement_id = ?`, st.Organization, st.ID).Scan(&sig); err != nil {
				return nil, fmt.Errorf("find statement: %w", err)
			}
			if sig == st.Signature {
				continue
			}
			return nil, cmex.Errorf(cmex.ECONFLICT, "statement %s is stored and differs from this one", st.ID)
		} else if err != nil {
			return nil, fmt.Errorf("insert statement: %w", err)
		}
		if st.Voids != "" {
			var target string
			err := tx.queryRow(ctx, `SELECT verb FROM xapi_statements WHERE organization_id = ? AND statement_id = ?`, st.Organization, st.Voids).Scan(&target)
			if err == nil && target == voidedVerb {
				return nil, cmex.Errorf(cmex.EINVALID, "statement %s voids a voiding statement", st.ID)
			} else if err != nil && !isNoRows(err) {
				return nil, fmt.Errorf("find voided statement: %w", err)
			}
			if _, err := tx.exec(ctx, `UPDATE xapi_statements SET voided = ? WHERE organization_id = ? AND statement_id = ?`, true, st.Organization, st.Voids); err != nil {
				return nil, fmt.Errorf("void statement: %w", err)
			}
			w.voided[xapiKey{st.Organization, st.Voids}] = true // for a target later in the transaction
		}
		for _, v := range st.Agents {
			w.rows.agents = append(w.rows.agents, st.Seq, v, false)
		}
		for _, v := range st.RelatedAgents {
			w.rows.agents = append(w.rows.agents, st.Seq, v, true)
		}
		for _, v := range st.Activities {
			w.rows.activities = append(w.rows.activities, st.Seq, v, false)
		}
		for _, v := range st.RelatedActivities {
			w.rows.activities = append(w.rows.activities, st.Seq, v, true)
		}
		for _, a := range st.Attachments {
			if err := tx.execKept(ctx, errPrefix("store attachment"), `INSERT INTO xapi_attachments (organization_id, sha2, content_type, content) VALUES (?, ?, ?, ?)
				ON CONFLICT (organization_id, sha2) DO NOTHING`, st.Organization, a.SHA2, a.ContentType, a.Content); err != nil {
				return nil, err
			}
		}
		for id, def := range st.Definitions {
			k := xapiKey{st.Organization, id}
			old, ok := w.defs[k]
			if !ok {
				err := tx.queryRowKept(ctx, `SELECT definition FROM xapi_activities WHERE organization_id = ? AND activity_id = ?`, st.Organization, id).Scan(&old)
				if err != nil && !isNoRows(err) {
					return nil, fmt.Errorf("read activity: %w", err)
				}
			}
			def = cmex.MergeXAPIDefinition(old, def)
			w.defs[k] = def
			if bytes.Equal(old, def) {
				// Stored already: an LMS sends the same definition with
				// every statement of an activity.
				continue
			}
			if err := tx.execKept(ctx, errPrefix("store activity"), `INSERT INTO xapi_activities (organization_id, activity_id, definition) VALUES (?, ?, ?)
				ON CONFLICT (organization_id, activity_id) DO UPDATE SET definition = excluded.definition`, st.Organization, id, def); err != nil {
				return nil, err
			}
		}
		fresh = append(fresh, st)
	}
	return fresh, nil
}

const insertStatement = `INSERT INTO xapi_statements (organization_id, statement_id, signature, body, verb, voids, object_ref, registration, stored, voided)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (organization_id, statement_id) DO NOTHING`

// xapiKey is a statement id of an organization.
type xapiKey struct {
	org cmex.OrganizationID
	id  string
}

var bulkXAPIVoiders = bulk{head: `SELECT voids FROM xapi_statements WHERE organization_id = ? AND voids IN (`, tuple: "?", tail: `)`, width: 1}

// voided returns which of the calls' statement ids a stored statement
// voids: a voiding statement may come before its target, which is then
// stored voided. One query a group (per organization and 500 ids), planned
// for its ids: a plan kept for any id (PostgreSQL's generic plan of an
// EXISTS on voids = $2, by statistics where nearly every voids is ”)
// read the whole table for each statement, 7 ms at 40,000 rows.
func (s *XAPIService) voided(ctx context.Context, tx conn, calls []*xapiCall) (map[xapiKey]bool, error) {
	byOrg := map[cmex.OrganizationID][]any{}
	for _, c := range calls {
		for _, st := range c.sts {
			byOrg[st.Organization] = append(byOrg[st.Organization], st.ID)
		}
	}
	out := map[xapiKey]bool{}
	var round []Statement
	planner, planned := s.db.dialect.(BatchPlanner)
	if planned {
		round = append(round, Statement{SQL: planner.PlanBatch()})
	}
	for org, ids := range byOrg {
		for len(ids) > 0 {
			n := min(len(ids), batchChunk)
			stmt, err := bulkXAPIVoiders.statement([]any{org}, ids[:n], func(rows Rows) error {
				for rows.Next() {
					var id string
					if err := rows.Scan(&id); err != nil {
						return err
					}
					out[xapiKey{org, id}] = true
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			stmt.Wrap = errPrefix("find voiding statements")
			round = append(round, stmt)
			ids = ids[n:]
		}
	}
	if planned {
		round = append(round, Statement{SQL: planner.PlannedBatch()})
	}
	return out, tx.together(ctx, round...)
}

// insertStatement inserts st and sets its Seq, or returns sql.ErrNoRows
// when its id is stored already.
func (s *XAPIService) insertStatement(ctx context.Context, tx conn, st *cmex.XAPIStatement, voided bool) error {
	args := []any{st.Organization, st.ID, st.Signature, st.JSON, st.Verb, st.Voids, st.ObjectRef, st.Registration, leaseTime(st.Stored), voided}
	if _, ok := s.db.dialect.(InsertIDer); !ok || tx.pipelined() {
		return tx.queryRowKept(ctx, insertStatement+` RETURNING seq`, args...).Scan(&st.Seq)
	}
	// An exec, cheaper than a query's rows on this driver.
	stmt, err := s.db.stmtIn(ctx, tx, insertStatement)
	if err != nil {
		return err
	}
	res, err := stmt.ExecContext(ctx, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return sql.ErrNoRows
	}
	st.Seq, err = res.LastInsertId()
	return err
}

// xapiWrite is what a transaction storing statements keeps between them.
type xapiWrite struct {
	// voided holds the ids a stored statement voids (see voided), and
	// gains those the transaction's voiding statements void.
	voided map[xapiKey]bool
	rows   xapiIndexRows
	// defs are the activity definitions as the transaction leaves them.
	defs map[xapiKey][]byte
}

// xapiIndexRows are the rows of xapi_statement_agents and
// xapi_statement_activities a transaction adds, three values a row,
// inserted together at its end.
type xapiIndexRows struct{ agents, activities []any }

var (
	bulkXAPIAgents     = bulk{head: `INSERT INTO xapi_statement_agents (seq, agent_key, related) VALUES `, tuple: `(?, ?, ?)`, width: 3}
	bulkXAPIActivities = bulk{head: `INSERT INTO xapi_statement_activities (seq, activity_id, related) VALUES `, tuple: `(?, ?, ?)`, width: 3}
)

func (s *XAPIService) insertIndexRows(ctx context.Context, tx conn, rows *xapiIndexRows) error {
	if len(rows.agents) > 0 {
		if err := s.db.bulkExec(ctx, tx, bulkXAPIAgents, rows.agents); err != nil {
			return fmt.Errorf("index statements: %w", err)
		}
	}
	if len(rows.activities) > 0 {
		if err := s.db.bulkExec(ctx, tx, bulkXAPIActivities, rows.activities); err != nil {
			return fmt.Errorf("index statements: %w", err)
		}
	}
	return nil
}

// hook runs the hook, if any, on what calls stored.
func (s *XAPIService) hook(tx conn, calls []XAPIStored) error {
	if s.Hook == nil {
		return nil
	}
	calls = slices.DeleteFunc(calls, func(c XAPIStored) bool { return len(c.Statements) == 0 })
	if len(calls) == 0 {
		return nil
	}
	return s.Hook.StatementsStored(Tx{c: tx}, calls)
}

// errPrefix wraps an error with short context.
func errPrefix(what string) func(error) error {
	return func(err error) error { return fmt.Errorf("%s: %w", what, err) }
}

// voidedVerb is the verb of voiding statements.
const voidedVerb = "http://adlnet.gov/expapi/verbs/voided"

const xapiColumns = `seq, organization_id, statement_id, signature, body, verb, voids, object_ref, registration, stored, voided`

// xapiSColumns are xapiColumns of the alias s.
var xapiSColumns = "s." + strings.ReplaceAll(xapiColumns, ", ", ", s.")

func scanXAPI(row interface{ Scan(...any) error }) (*cmex.XAPIStatement, error) {
	st := &cmex.XAPIStatement{}
	if err := row.Scan(&st.Seq, &st.Organization, &st.ID, &st.Signature, &st.JSON, &st.Verb, &st.Voids, &st.ObjectRef, &st.Registration, &st.Stored, &st.Voided); err != nil {
		return nil, err
	}
	st.Stored = st.Stored.UTC()
	return st, nil
}

// Statement implements cmex.XAPIService.
func (s *XAPIService) Statement(ctx context.Context, org cmex.OrganizationID, id string) (*cmex.XAPIStatement, error) {
	st, err := scanXAPI(s.db.read().queryRow(ctx, `SELECT `+xapiColumns+` FROM xapi_statements WHERE organization_id = ? AND statement_id = ?`, org, id))
	if err != nil {
		return nil, notFound(err, "no such statement")
	}
	return st, nil
}

// Statements implements cmex.XAPIService. The filters of the statement's
// own values are written once for a table alias and applied to the
// statement (s) or to the one it refers to (t).
func (s *XAPIService) Statements(ctx context.Context, q cmex.XAPIStatementQuery) ([]*cmex.XAPIStatement, bool, error) {
	filter := func(alias string) (string, []any) {
		var conds []string
		var args []any
		if q.Verb != "" {
			conds, args = append(conds, alias+`.verb = ?`), append(args, q.Verb)
		}
		if q.Registration != "" {
			conds, args = append(conds, alias+`.registration = ?`), append(args, q.Registration)
		}
		if q.Agent != "" {
			c := `EXISTS (SELECT 1 FROM xapi_statement_agents a WHERE a.seq = ` + alias + `.seq AND a.agent_key = ?`
			args = append(args, q.Agent)
			if !q.RelatedAgents {
				c += ` AND a.related = ?`
				args = append(args, false)
			}
			conds = append(conds, c+`)`)
		}
		if q.Activity != "" {
			c := `EXISTS (SELECT 1 FROM xapi_statement_activities a WHERE a.seq = ` + alias + `.seq AND a.activity_id = ?`
			args = append(args, q.Activity)
			if !q.RelatedActivities {
				c += ` AND a.related = ?`
				args = append(args, false)
			}
			conds = append(conds, c+`)`)
		}
		return strings.Join(conds, " AND "), args
	}
	var where strings.Builder
	args := []any{q.Organization}
	where.WriteString(`s.organization_id = ?`)
	if !q.Voided {
		where.WriteString(` AND s.voided = ?`)
		args = append(args, false)
	}
	add := func(cond string, a ...any) {
		where.WriteString(" AND " + cond)
		args = append(args, a...)
	}
	if own, ownArgs := filter("s"); own != "" {
		ref, refArgs := filter("t")
		add(`(`+own+` OR EXISTS (SELECT 1 FROM xapi_statements t WHERE t.organization_id = s.organization_id AND s.object_ref <> '' AND t.statement_id = s.object_ref AND `+ref+`))`,
			append(ownArgs, refArgs...)...)
	}
	if !q.Since.IsZero() {
		add(`s.stored > ?`, leaseTime(q.Since))
	}
	if !q.Until.IsZero() {
		add(`s.stored <= ?`, leaseTime(q.Until))
	}
	order := "DESC"
	if q.Ascending {
		order = "ASC"
		if q.After != 0 {
			add(`s.seq > ?`, q.After)
		}
	} else if q.After != 0 {
		add(`s.seq < ?`, q.After)
	}
	limit := q.Limit
	if limit <= 0 || limit > maxXAPIQuery {
		limit = maxXAPIQuery
	}
	rows, err := s.db.read().query(ctx, `SELECT `+xapiSColumns+` FROM xapi_statements s WHERE `+where.String()+
		` ORDER BY s.seq `+order+fmt.Sprintf(` LIMIT %d`, limit+1), args...)
	if err != nil {
		return nil, false, fmt.Errorf("query statements: %w", err)
	}
	defer rows.Close()
	var out []*cmex.XAPIStatement
	for rows.Next() {
		st, err := scanXAPI(rows)
		if err != nil {
			return nil, false, fmt.Errorf("query statements: %w", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("query statements: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// Attachments implements cmex.XAPIService.
func (s *XAPIService) Attachments(ctx context.Context, org cmex.OrganizationID, sha2 []string) ([]cmex.XAPIAttachment, error) {
	var out []cmex.XAPIAttachment
	for _, h := range sha2 {
		a := cmex.XAPIAttachment{SHA2: h}
		err := s.db.read().queryRow(ctx, `SELECT content_type, content FROM xapi_attachments WHERE organization_id = ? AND sha2 = ?`, org, h).Scan(&a.ContentType, &a.Content)
		if isNoRows(err) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("read attachment: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}

// ActivityDefinition implements cmex.XAPIService.
func (s *XAPIService) ActivityDefinition(ctx context.Context, org cmex.OrganizationID, activityID string) ([]byte, error) {
	var def []byte
	err := s.db.read().queryRowKept(ctx, `SELECT definition FROM xapi_activities WHERE organization_id = ? AND activity_id = ?`, org, activityID).Scan(&def)
	if isNoRows(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read activity: %w", err)
	}
	return def, nil
}

const docKey = `organization_id = ? AND kind = ? AND activity_id = ? AND agent_key = ? AND registration = ?`

func docArgs(k cmex.XAPIDocumentKey) []any {
	return []any{k.Organization, k.Kind, k.ActivityID, k.Agent, k.Registration}
}

// Document implements cmex.XAPIService.
func (s *XAPIService) Document(ctx context.Context, k cmex.XAPIDocumentKey) (*cmex.XAPIDocument, error) {
	d := &cmex.XAPIDocument{Key: k}
	err := s.db.read().queryRow(ctx, `SELECT content, content_type, etag, updated FROM xapi_documents WHERE `+docKey+` AND document_id = ?`,
		append(docArgs(k), k.ID)...).Scan(&d.Content, &d.ContentType, &d.ETag, &d.Updated)
	if err != nil {
		return nil, notFound(err, "no such document")
	}
	d.Updated = d.Updated.UTC()
	return d, nil
}

// DocumentIDs implements cmex.XAPIService.
func (s *XAPIService) DocumentIDs(ctx context.Context, k cmex.XAPIDocumentKey, since time.Time) ([]string, error) {
	q, args := `SELECT document_id FROM xapi_documents WHERE `+docKey, docArgs(k)
	if !since.IsZero() {
		q += ` AND updated > ?`
		args = append(args, leaseTime(since))
	}
	ids, err := scanColumn[string](s.db.read().query(ctx, q+` ORDER BY document_id`, args...))
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	return ids, nil
}

// PutDocument implements cmex.XAPIService.
func (s *XAPIService) PutDocument(ctx context.Context, d *cmex.XAPIDocument, ifMatch string, ifNoneMatch bool) error {
	sum := sha1.Sum(d.Content)
	d.ETag = hex.EncodeToString(sum[:])
	d.Updated = s.db.now()
	return s.db.inTx(ctx, func(tx conn) error {
		if err := checkETag(ctx, tx, s.db, d.Key, ifMatch, ifNoneMatch); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO xapi_documents (organization_id, kind, activity_id, agent_key, registration, document_id, content, content_type, etag, updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (organization_id, kind, activity_id, agent_key, registration, document_id)
			DO UPDATE SET content = excluded.content, content_type = excluded.content_type, etag = excluded.etag, updated = excluded.updated`,
			append(docArgs(d.Key), d.Key.ID, d.Content, d.ContentType, d.ETag, d.Updated)...)
		if err != nil {
			return fmt.Errorf("store document: %w", err)
		}
		return nil
	})
}

// checkETag holds if the document k names matches ifMatch ("*" any) and,
// with ifNoneMatch, does not exist.
func checkETag(ctx context.Context, tx conn, db *DB, k cmex.XAPIDocumentKey, ifMatch string, ifNoneMatch bool) error {
	if ifMatch == "" && !ifNoneMatch {
		return nil
	}
	var etag string
	err := tx.queryRow(ctx, `SELECT etag FROM xapi_documents WHERE `+docKey+` AND document_id = ?`+db.dialect.ForUpdate(), append(docArgs(k), k.ID)...).Scan(&etag)
	exists := err == nil
	if err != nil && !isNoRows(err) {
		return fmt.Errorf("read document: %w", err)
	}
	if ifNoneMatch && exists {
		return cmex.Errorf(cmex.ECONFLICT, "the document exists (If-None-Match)")
	}
	if ifMatch != "" && (!exists || ifMatch != "*" && ifMatch != etag) {
		return cmex.Errorf(cmex.ECONFLICT, "the document's ETag does not match If-Match")
	}
	return nil
}

// DeleteDocuments implements cmex.XAPIService.
func (s *XAPIService) DeleteDocuments(ctx context.Context, k cmex.XAPIDocumentKey, ifMatch string) error {
	return s.db.inTx(ctx, func(tx conn) error {
		q, args := `DELETE FROM xapi_documents WHERE `+docKey, docArgs(k)
		if k.ID != "" {
			if err := checkETag(ctx, tx, s.db, k, ifMatch, false); err != nil {
				return err
			}
			q += ` AND document_id = ?`
			args = append(args, k.ID)
		}
		if _, err := tx.exec(ctx, q, args...); err != nil {
			return fmt.Errorf("delete documents: %w", err)
		}
		return nil
	})
}
