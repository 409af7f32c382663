package sqlstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
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
	// into learner reports) is meant to plug in here.
	Hook XAPIHook
}

var _ cmex.XAPIService = (*XAPIService)(nil)

// XAPIHook is given the statements a transaction stores, those already
// stored (duplicates) left out.
type XAPIHook interface {
	StatementsStored(ctx context.Context, tx Tx, sts []*cmex.XAPIStatement) error
}

// Tx is a transaction of this package, handed to hooks so that the
// services' in-transaction operations can be called with it.
type Tx struct{ c conn }

// NewXAPIService returns the learning record store of db.
func NewXAPIService(db *DB) *XAPIService { return &XAPIService{db: db} }

// maxXAPIQuery bounds the statements one query returns.
const maxXAPIQuery = 500

// xapiConflictTries bounds the transactions SaveStatements tries when a
// concurrent writer takes a CreditID its completions were about to add.
const xapiConflictTries = 5

// SaveStatements implements cmex.XAPIService. A statement's Seq is set
// when this call stored it, and left 0 when it was stored before (a
// duplicate).
//
// Two completions naming one CreditID, stored at once, would both find
// it free; the second to insert its record then fails on the ledger's
// unique key (ErrConflict, on PostgreSQL: SQLite runs one write
// transaction at a time). The transaction is then tried again, and the
// hook, finding the other's record, refuses the completion with 603 as it
// would have had the two come one after the other: the statement is
// stored all the same.
func (s *XAPIService) SaveStatements(ctx context.Context, sts []*cmex.XAPIStatement) error {
	var err error
	for try := 1; ; try++ {
		if err = s.saveStatements(ctx, sts); !errors.Is(err, ErrConflict) {
			return err
		}
		if try == xapiConflictTries {
			// Another writer took a CreditID of the batch every time: a
			// client sending again finds the ledger settled.
			return &cmex.Error{Code: cmex.EBUSY, Message: "Other requests are storing the same CreditIDs; send the statements again.", RetryAfter: time.Second}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(try) * 5 * time.Millisecond):
		}
	}
}

func (s *XAPIService) saveStatements(ctx context.Context, sts []*cmex.XAPIStatement) error {
	for _, st := range sts {
		st.Seq = 0 // of a try rolled back
	}
	return s.db.inTx(ctx, func(tx conn) error {
		var fresh []*cmex.XAPIStatement
		for _, st := range sts {
			var sig, verb string
			err := tx.queryRow(ctx, `SELECT signature, verb FROM xapi_statements WHERE organization_id = ? AND statement_id = ?`+s.db.dialect.ForUpdate(),
				st.Organization, st.ID).Scan(&sig, &verb)
			if err == nil {
				if sig == st.Signature {
					continue
				}
				return cmex.Errorf(cmex.ECONFLICT, "statement %s is stored and differs from this one", st.ID)
			} else if !isNoRows(err) {
				return fmt.Errorf("find statement: %w", err)
			}
			if st.Voids != "" {
				var target string
				err := tx.queryRow(ctx, `SELECT verb FROM xapi_statements WHERE organization_id = ? AND statement_id = ?`, st.Organization, st.Voids).Scan(&target)
				if err == nil && target == voidedVerb {
					return cmex.Errorf(cmex.EINVALID, "statement %s voids a voiding statement", st.ID)
				} else if err != nil && !isNoRows(err) {
					return fmt.Errorf("find voided statement: %w", err)
				}
				if _, err := tx.exec(ctx, `UPDATE xapi_statements SET voided = ? WHERE organization_id = ? AND statement_id = ?`, true, st.Organization, st.Voids); err != nil {
					return fmt.Errorf("void statement: %w", err)
				}
			}
			// A voiding statement may come before its target: the target
			// is then stored voided.
			var voidedBefore int
			err = tx.queryRow(ctx, `SELECT COUNT(*) FROM xapi_statements WHERE organization_id = ? AND voids = ?`, st.Organization, st.ID).Scan(&voidedBefore)
			if err != nil {
				return fmt.Errorf("find voiding statement: %w", err)
			}
			// ON CONFLICT: another transaction storing the same id at the
			// same time commits first; the row it stored is then compared.
			err = tx.queryRow(ctx, `INSERT INTO xapi_statements (organization_id, statement_id, signature, body, verb, voids, object_ref, registration, stored, voided)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (organization_id, statement_id) DO NOTHING RETURNING seq`,
				st.Organization, st.ID, st.Signature, st.JSON, st.Verb, st.Voids, st.ObjectRef, st.Registration, leaseTime(st.Stored), voidedBefore > 0 && st.Verb != voidedVerb).Scan(&st.Seq)
			if isNoRows(err) {
				if err := tx.queryRow(ctx, `SELECT signature FROM xapi_statements WHERE organization_id = ? AND statement_id = ?`, st.Organization, st.ID).Scan(&sig); err != nil {
					return fmt.Errorf("find statement: %w", err)
				}
				if sig == st.Signature {
					continue
				}
				return cmex.Errorf(cmex.ECONFLICT, "statement %s is stored and differs from this one", st.ID)
			} else if err != nil {
				return fmt.Errorf("insert statement: %w", err)
			}
			for _, x := range []struct {
				table, col string
				vals       []string
				related    bool
			}{
				{"xapi_statement_agents", "agent_key", st.Agents, false},
				{"xapi_statement_agents", "agent_key", st.RelatedAgents, true},
				{"xapi_statement_activities", "activity_id", st.Activities, false},
				{"xapi_statement_activities", "activity_id", st.RelatedActivities, true},
			} {
				for _, v := range x.vals {
					if _, err := tx.exec(ctx, `INSERT INTO `+x.table+` (seq, `+x.col+`, related) VALUES (?, ?, ?)`, st.Seq, v, x.related); err != nil {
						return fmt.Errorf("index statement: %w", err)
					}
				}
			}
			for _, a := range st.Attachments {
				if _, err := tx.exec(ctx, `INSERT INTO xapi_attachments (organization_id, sha2, content_type, content) VALUES (?, ?, ?, ?)
					ON CONFLICT (organization_id, sha2) DO NOTHING`, st.Organization, a.SHA2, a.ContentType, a.Content); err != nil {
					return fmt.Errorf("store attachment: %w", err)
				}
			}
			for id, def := range st.Definitions {
				if _, err := tx.exec(ctx, `INSERT INTO xapi_activities (organization_id, activity_id, definition) VALUES (?, ?, ?)
					ON CONFLICT (organization_id, activity_id) DO UPDATE SET definition = excluded.definition`, st.Organization, id, def); err != nil {
					return fmt.Errorf("store activity: %w", err)
				}
			}
			fresh = append(fresh, st)
		}
		if s.Hook != nil && len(fresh) > 0 {
			return s.Hook.StatementsStored(ctx, Tx{c: tx}, fresh)
		}
		return nil
	})
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
	err := s.db.read().queryRow(ctx, `SELECT definition FROM xapi_activities WHERE organization_id = ? AND activity_id = ?`, org, activityID).Scan(&def)
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
