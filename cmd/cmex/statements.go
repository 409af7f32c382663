package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
	"github.com/cmexhub/cmex/internal/xapi"
)

// The import and export of xAPI statements as JSON lines: one statement
// a line, validated and stored as POST /xapi/statements validates and
// stores them, completions becoming learner records through the
// provider's completion profile in the statements' transaction.

// fileStatements is the kind of file import reads besides the others: xAPI
// statements as JSON lines (the first byte a {).
const fileStatements = "xAPI statements"

// statementBatch is how many statements one import transaction stores.
const statementBatch = 500

// maxStatementLine bounds a line of a statements file, as -max-body bounds
// a request's body by default.
const maxStatementLine = 16 << 20

// voidedVerb is the verb of a voiding statement.
const voidedVerb = "http://adlnet.gov/expapi/verbs/voided"

// pendingStatement is a line's statement on its way to the store, or the
// outcome of a line already judged, reported in the file's order.
type pendingStatement struct {
	pos, line int
	st        *cmex.XAPIStatement
	judged    *outcome
}

// statementImport imports one file of statements.
type statementImport struct {
	im       *importer
	name     string
	stats    *importStats
	store    *sqlstore.XAPIService
	profiles *sqlstore.XAPIProfiles
	loader   *xapi.Loader
	pending  []pendingStatement
	verbs    map[string]string // the pending statements' verbs, by id
}

func (im *importer) importStatements(ctx context.Context, name string, br *bufio.Reader, stats *importStats) error {
	learners := sqlstore.NewLearnerService(im.db, im.mode)
	store, profiles := sqlstore.NewXAPIService(im.db), sqlstore.NewXAPIProfiles(im.db, learners)
	store.Hook = profiles
	h := &xapi.Handler{Store: store, Now: time.Now}
	si := &statementImport{im: im, name: name, stats: stats, store: store, profiles: profiles,
		loader: h.NewLoader(ctx, im.by), verbs: map[string]string{}}
	pos := 0
	for n := 1; ; n++ {
		line, tooLong, err := readStatementLine(br, maxStatementLine)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if len(bytes.TrimSpace(line)) > 0 || tooLong {
			pos++
			if tooLong {
				if err := si.reject(pos, n, "", fmt.Sprintf("the line is longer than %d bytes", maxStatementLine)); err != nil {
					return err
				}
			} else if err := si.add(ctx, pos, n, line); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	return si.flush(ctx)
}

// readStatementLine reads a line, at most max bytes of it kept: a longer one is
// read to its end and reported too long.
func readStatementLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) <= max {
			line = append(line, frag...)
		} else {
			tooLong, line = true, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, tooLong, err
		}
	}
}

// judged queues the outcome of a line that stores nothing.
func (si *statementImport) judged(pos, line int, id, what, msg string) error {
	o := &outcome{File: si.name, Position: pos, Line: line, ID: id, Outcome: what}
	if msg != "" {
		o.Problems = cmex.Problems{{Message: msg, Severity: cmex.SeverityError, Line: line}}
	}
	si.pending = append(si.pending, pendingStatement{pos: pos, line: line, judged: o})
	return nil
}

func (si *statementImport) reject(pos, line int, id, msg string) error {
	return si.judged(pos, line, id, cmex.OutcomeRejected, msg)
}

// add judges a line as the store would, and queues its statement.
func (si *statementImport) add(ctx context.Context, pos, n int, line []byte) error {
	m, err := xapi.DecodeStatement(line)
	if err != nil {
		return si.reject(pos, n, "", cmex.ErrorMessage(err))
	}
	id, _ := m["id"].(string)
	id = strings.ToLower(id)
	if _, ok := si.verbs[id]; ok {
		// The file holds it twice: the second is judged against the first
		// as stored.
		if err := si.flush(ctx); err != nil {
			return err
		}
	}
	st, err := si.loader.Prepare(m)
	if cmex.ErrorCode(err) == cmex.EINVALID {
		return si.reject(pos, n, id, cmex.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	org := si.im.by.Organization.ID
	old, err := si.store.Statement(ctx, org, st.ID)
	switch {
	case err == nil && (old.Signature == st.Signature || bytes.Equal(old.JSON, st.JSON)):
		// The same statement, or the same as stored (an export of it).
		return si.judged(pos, n, st.ID, cmex.OutcomePresent, "")
	case err == nil:
		return si.reject(pos, n, st.ID, fmt.Sprintf("statement %s is stored and differs from this one (409 over HTTP)", st.ID))
	case cmex.ErrorCode(err) != cmex.ENOTFOUND:
		return err
	}
	if st.Voids != "" {
		verb, ok := si.verbs[st.Voids]
		if !ok {
			if target, err := si.store.Statement(ctx, org, st.Voids); err == nil {
				verb = target.Verb
			} else if cmex.ErrorCode(err) != cmex.ENOTFOUND {
				return err
			}
		}
		if verb == voidedVerb {
			return si.reject(pos, n, st.ID, fmt.Sprintf("statement %s voids a voiding statement", st.ID))
		}
	}
	si.loader.Keep(st)
	si.pending = append(si.pending, pendingStatement{pos: pos, line: n, st: st})
	si.verbs[st.ID] = st.Verb
	if len(si.pending) >= statementBatch {
		return si.flush(ctx)
	}
	return nil
}

// flush stores the pending statements in one transaction. A batch the
// store refuses (a server storing the same ids meanwhile) is stored a
// statement at a time, each refusal on its line.
func (si *statementImport) flush(ctx context.Context) error {
	if len(si.pending) == 0 {
		return nil
	}
	batch := si.pending
	si.pending, si.verbs = nil, map[string]string{}
	defer si.loader.Next()
	var sts []*cmex.XAPIStatement
	for _, p := range batch {
		if p.st != nil {
			sts = append(sts, p.st)
		}
	}
	refused := make([]error, len(batch))
	var err error
	if len(sts) > 0 {
		err = si.store.SaveStatements(ctx, sts)
	}
	switch cmex.ErrorCode(err) {
	case "":
	case cmex.EINVALID, cmex.ECONFLICT:
		for i, p := range batch {
			if p.st == nil {
				continue
			}
			err := si.store.SaveStatements(ctx, []*cmex.XAPIStatement{p.st})
			switch cmex.ErrorCode(err) {
			case "":
			case cmex.EINVALID, cmex.ECONFLICT:
				refused[i] = err
			default:
				return err
			}
		}
	default:
		return err
	}
	for i, p := range batch {
		if p.judged != nil {
			if err := si.im.note(si.stats, *p.judged); err != nil {
				return err
			}
			continue
		}
		o := outcome{File: si.name, Position: p.pos, Line: p.line, ID: p.st.ID, Outcome: cmex.OutcomeAccepted}
		switch {
		case refused[i] != nil:
			o.Outcome = cmex.OutcomeRejected
			o.Problems = cmex.Problems{{Message: cmex.ErrorMessage(refused[i]), Severity: cmex.SeverityError, Line: p.line}}
		case p.st.Seq == 0:
			o.Outcome = cmex.OutcomePresent
		default:
			// Stored; a completion the rules refused says why, as
			// GET /api/v1/xapi/outcomes/{id} does.
			co, err := si.profiles.XAPIOutcome(ctx, p.st.Organization, p.st.ID)
			if err != nil && cmex.ErrorCode(err) != cmex.ENOTFOUND {
				return err
			}
			if co != nil && co.Outcome == cmex.OutcomeRejected {
				for _, pr := range co.Problems {
					pr.Message = "the completion was refused: " + pr.Message
					pr.Severity, pr.Line = cmex.SeverityWarning, p.line
					o.Problems = append(o.Problems, pr)
				}
			}
		}
		if err := si.im.note(si.stats, o); err != nil {
			return err
		}
	}
	return nil
}

// exportStatements writes the provider's statements as JSON lines, each
// exactly as stored, voided ones too, in the order they were stored,
// stored within (since, until] when those are not zero; a page at a time.
func exportStatements(ctx context.Context, s *sqlstore.DB, provider cmex.ProviderID, since, until time.Time, w io.Writer) error {
	org, err := sqlstore.NewOrganizationService(s).FindOrganizationByProviderID(ctx, provider)
	if err != nil {
		return err
	}
	store := sqlstore.NewXAPIService(s)
	q := cmex.XAPIStatementQuery{Organization: org.ID, Ascending: true, Voided: true, Since: since, Until: until}
	for {
		page, more, err := store.Statements(ctx, q)
		if err != nil {
			return err
		}
		for _, st := range page {
			if _, err := w.Write(append(st.JSON, '\n')); err != nil {
				return err
			}
		}
		if !more || len(page) == 0 {
			return nil
		}
		q.After = page[len(page)-1].Seq
	}
}

// parseStoredBound reads -since or -until: an ISO 8601 timestamp, or a
// date (its midnight UTC).
func parseStoredBound(s string) (time.Time, error) {
	if t, err := xapi.ParseTime(s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}
