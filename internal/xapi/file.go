package xapi

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
)

// The import and export of statements as JSON lines (cmex import, cmex
// export statements): one statement a line, each judged and stored as
// POST /xapi/statements judges and stores it, through the same Store,
// whose hook makes completions learner records in the statements'
// transaction.

// ImportBatch is how many statements one import transaction stores.
const ImportBatch = 500

// MaxLine bounds a line of a statements file, as the store's -max-body
// bounds a request's body by default.
const MaxLine = 16 << 20

// ImportLine is what became of one statement (a line not blank) of a
// file: Outcome is cmex.OutcomeAccepted (stored), OutcomePresent (stored
// before) or OutcomeRejected, with the store's message. An accepted
// completion the rules refused carries the refusal's problems as
// warnings.
type ImportLine struct {
	Position, Line int
	ID             string
	Outcome        string
	Problems       cmex.Problems
}

// Importer imports files of one provider's statements.
type Importer struct {
	// Store keeps the statements; its hook makes completions records.
	Store cmex.XAPIService
	// Outcomes, when set, is read for what became of a stored completion.
	Outcomes cmex.XAPIProfileService
	// Principal is the provider, and the user the authority names.
	Principal *cmex.Principal
	Now       func() time.Time
	// Report is given each line's outcome, in the file's order (nil:
	// none is).
	Report func(ImportLine) error
}

// pendingLine is a line's statement on its way to the store, or the
// outcome of a line already judged.
type pendingLine struct {
	pos, line int
	st        *cmex.XAPIStatement
	judged    *ImportLine
}

// fileImport is the import of one file.
type fileImport struct {
	im      *Importer
	loader  *loader
	pending []pendingLine
	verbs   map[string]string // the pending statements' verbs, by id
	profile *cmex.XAPIProfile
}

// Import reads a file of statements, one a line (blank lines skipped),
// and stores them ImportBatch to a transaction. A line that the rules
// refuse, that another statement holds the id of, or that voids a
// voiding statement, is reported and nothing of it stored; the others are
// stored. An error is the store's failing, the batches committed before
// it kept.
func (im *Importer) Import(ctx context.Context, r io.Reader) error {
	if im.Report == nil {
		im.Report = func(ImportLine) error { return nil }
	}
	h := &Handler{Store: im.Store, Now: im.Now}
	fi := &fileImport{im: im, loader: h.newLoader(ctx, im.Principal), verbs: map[string]string{}}
	if im.Outcomes != nil {
		// Which verbs are completions, whose outcomes are read.
		var err error
		if fi.profile, err = im.Outcomes.XAPIProfile(ctx, im.Principal.Organization.ID); err != nil {
			return err
		}
	}
	br := bufio.NewReaderSize(r, 1<<20)
	pos := 0
	for n := 1; ; n++ {
		line, tooLong, err := readLine(br, MaxLine)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		if len(bytes.TrimSpace(line)) > 0 || tooLong {
			pos++
			if tooLong {
				fi.reject(pos, n, "", fmt.Sprintf("the line is longer than %d bytes", MaxLine))
			} else if err := fi.add(ctx, pos, n, line); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	return fi.flush(ctx)
}

// readLine reads a line, at most max bytes of it kept: a longer one is
// read to its end and reported too long.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		if !tooLong && len(line)+len(frag) <= max {
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
func (fi *fileImport) judged(pos, line int, id, what, msg string) {
	o := &ImportLine{Position: pos, Line: line, ID: id, Outcome: what}
	if msg != "" {
		o.Problems = cmex.Problems{{Message: msg, Severity: cmex.SeverityError, Line: line}}
	}
	fi.pending = append(fi.pending, pendingLine{pos: pos, line: line, judged: o})
}

func (fi *fileImport) reject(pos, line int, id, msg string) {
	fi.judged(pos, line, id, cmex.OutcomeRejected, msg)
}

// add judges a line as the store would, and queues its statement.
func (fi *fileImport) add(ctx context.Context, pos, n int, line []byte) error {
	m, err := DecodeStatement(line)
	if err != nil {
		fi.reject(pos, n, "", cmex.ErrorMessage(err))
		return nil
	}
	id, _ := m["id"].(string)
	id = strings.ToLower(id)
	if _, ok := fi.verbs[id]; ok {
		// The file holds it twice: the second is judged against the first
		// as stored.
		if err := fi.flush(ctx); err != nil {
			return err
		}
	}
	st, err := fi.loader.prepare(m)
	if cmex.ErrorCode(err) == cmex.EINVALID {
		fi.reject(pos, n, id, cmex.ErrorMessage(err))
		return nil
	} else if err != nil {
		return err
	}
	org := fi.im.Principal.Organization.ID
	old, err := fi.im.Store.Statement(ctx, org, st.ID)
	switch {
	case err == nil && (old.Signature == st.Signature || bytes.Equal(old.JSON, st.JSON)):
		// The same statement, or the same as stored (an export of it).
		fi.judged(pos, n, st.ID, cmex.OutcomePresent, "")
		return nil
	case err == nil:
		fi.reject(pos, n, st.ID, fmt.Sprintf("statement %s is stored and differs from this one (409 over HTTP)", st.ID))
		return nil
	case cmex.ErrorCode(err) != cmex.ENOTFOUND:
		return err
	}
	if st.Voids != "" {
		verb, ok := fi.verbs[st.Voids]
		if !ok {
			if target, err := fi.im.Store.Statement(ctx, org, st.Voids); err == nil {
				verb = target.Verb
			} else if cmex.ErrorCode(err) != cmex.ENOTFOUND {
				return err
			}
		}
		if verb == voidedVerb {
			fi.reject(pos, n, st.ID, fmt.Sprintf("statement %s voids a voiding statement", st.ID))
			return nil
		}
	}
	fi.loader.keep(st)
	fi.pending = append(fi.pending, pendingLine{pos: pos, line: n, st: st})
	fi.verbs[st.ID] = st.Verb
	if len(fi.pending) >= ImportBatch {
		return fi.flush(ctx)
	}
	return nil
}

// flush stores the pending statements in one transaction and reports
// the pending lines. A batch the store refuses (a server storing the same
// ids meanwhile) is stored a statement at a time, each refusal on its
// line.
func (fi *fileImport) flush(ctx context.Context) error {
	if len(fi.pending) == 0 {
		return nil
	}
	batch := fi.pending
	fi.pending, fi.verbs = nil, map[string]string{}
	defer fi.loader.next()
	var sts []*cmex.XAPIStatement
	for _, p := range batch {
		if p.st != nil {
			sts = append(sts, p.st)
		}
	}
	refused := make([]error, len(batch))
	var err error
	if len(sts) > 0 {
		err = fi.im.Store.SaveStatements(ctx, sts)
	}
	switch cmex.ErrorCode(err) {
	case "":
	case cmex.EINVALID, cmex.ECONFLICT:
		for i, p := range batch {
			if p.st == nil {
				continue
			}
			err := fi.im.Store.SaveStatements(ctx, []*cmex.XAPIStatement{p.st})
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
			if err := fi.im.Report(*p.judged); err != nil {
				return err
			}
			continue
		}
		o := ImportLine{Position: p.pos, Line: p.line, ID: p.st.ID, Outcome: cmex.OutcomeAccepted}
		switch {
		case refused[i] != nil:
			o.Outcome = cmex.OutcomeRejected
			o.Problems = cmex.Problems{{Message: cmex.ErrorMessage(refused[i]), Severity: cmex.SeverityError, Line: p.line}}
		case p.st.Seq == 0:
			o.Outcome = cmex.OutcomePresent
		case fi.im.Outcomes != nil && fi.profile.Counts(p.st.Verb):
			// Stored; a completion the rules refused says why, as
			// GET /api/v1/xapi/outcomes/{id} does.
			co, err := fi.im.Outcomes.XAPIOutcome(ctx, p.st.Organization, p.st.ID)
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
		if err := fi.im.Report(o); err != nil {
			return err
		}
	}
	return nil
}

// Export writes the organization's statements as JSON lines, each exactly
// as stored, voided ones too, in the order they were stored, stored
// within (since, until] when those are not zero; a page at a time.
func Export(ctx context.Context, store cmex.XAPIService, org cmex.OrganizationID, since, until time.Time, w io.Writer) error {
	q := cmex.XAPIStatementQuery{Organization: org, Ascending: true, Voided: true, Since: since, Until: until}
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
