package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/batch"
	"github.com/cmexhub/cmex/internal/pars"
	"github.com/cmexhub/cmex/internal/sqlstore"
	"golang.org/x/term"
)

// importBatch is how many learner records one import transaction holds:
// large enough that a sync to disk is rare, small enough that an
// interrupted import loses little work.
const importBatch = 2000

func importCommand() *command {
	c := &command{
		name: "import",
		summary: "Import batch files — PARS activity or learner XML, the learner-record CSV, the learner-registry CSV, " +
			"xAPI statements as JSON lines — with the web services' rules and a report per record; safe to run again.",
		usage: "cmex import [-db DB] [-provider ID] [-report FILE.csv|FILE.json] [-matching registry|passthrough] [-permissive] FILE...",
		example: `cmex import -provider 1234567 -report report.csv learners.xml
cmex import -provider 1234567 activities.xml records.csv
cmex import registry.csv                # the learner registry; no provider
cmex import -provider 1234567 -report report.csv statements.jsonl   # xAPI statements, one a line, as POST /xapi/statements stores them`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := c.flagSet(e)
		db := dbFlag(fs)
		provider := fs.String("provider", "", "the ACCME provider id the records (or xAPI statements) are reported by (not needed for the registry CSV)")
		report := fs.String("report", "", "write a report of every record to this file: CSV, or JSON when it ends in .json")
		matching := fs.String("matching", "passthrough", "how learner identities are checked, as cmex serve -matching: registry or passthrough")
		permissive := fs.Bool("permissive", false, "judge as a -permissive server does: deviations from PARS are warnings")
		progress := fs.String("progress", "auto", "progress display: auto (a bar on a terminal, a log line every few seconds otherwise), bar, log or none")
		if err := parse(fs, args, e); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			return fmt.Errorf("%w: name at least one FILE", errUsage)
		}
		mode, ok := cmex.ParseMatchingMode(*matching)
		if !ok {
			return fmt.Errorf("%w: -matching %q: want registry or passthrough", errUsage, *matching)
		}
		im := &importer{e: e, mode: mode, parsMode: pars.Strict, progress: *progress}
		if *permissive {
			im.parsMode = pars.Permissive
		}
		switch im.progress {
		case "auto", "bar", "log", "none":
		default:
			return fmt.Errorf("%w: -progress %q: want auto, bar, log or none", errUsage, *progress)
		}
		if *report != "" {
			f, err := os.Create(*report)
			if err != nil {
				return err
			}
			defer f.Close()
			im.report = newReportWriter(f, strings.EqualFold(filepath.Ext(*report), ".json"))
		}
		tuneGC(e)
		return withDB(ctx, *db, func(s *sqlstore.DB) error {
			im.db = s
			if *provider != "" {
				pid, err := cmex.ParseProviderID(*provider)
				if err != nil {
					return fmt.Errorf("%w: -provider %q: %v", errUsage, *provider, err)
				}
				org, err := sqlstore.NewOrganizationService(s).FindOrganizationByProviderID(ctx, pid)
				if err != nil {
					return cliError(err)
				}
				im.by = &cmex.Principal{Organization: *org, User: cmex.WebServiceUser{OrganizationID: org.ID, Username: "import"}}
			}
			rejected := false
			for _, name := range fs.Args() {
				st, err := im.importFile(ctx, name)
				if err != nil {
					return fmt.Errorf("%s: %w", name, cliError(err))
				}
				rejected = rejected || st.rejected.Load() > 0
			}
			if im.report != nil {
				if err := im.report.close(); err != nil {
					return fmt.Errorf("report: %w", err)
				}
			}
			if rejected {
				return exitError{code: 1}
			}
			return nil
		})
	}
	return c
}

// importMemory is the heap an import lets grow before it collects
// garbage in earnest. An import's live heap is small and bounded (a few
// batches in flight); what it allocates is short-lived, and collecting
// only as the heap nears this limit, rather than each time it doubles,
// saves most of the collector's work while keeping the process well under
// 150 MB whatever the file's size.
const importMemory = 80 << 20

// tuneGC collects garbage by importMemory rather than by heap growth,
// unless GOGC or GOMEMLIMIT says otherwise.
func tuneGC(e *env) {
	if !e.ownsProcess || e.getenv("GOGC") != "" || e.getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(importMemory)
}

// importer imports files into one database.
type importer struct {
	e        *env
	db       *sqlstore.DB
	by       *cmex.Principal
	mode     cmex.MatchingMode
	parsMode pars.Mode
	report   *reportWriter
	progress string
}

// importStats count a file's records by outcome.
type importStats struct {
	records, accepted, present, rejected atomic.Int64
}

// outcome is one line of the report.
type outcome struct {
	File     string        `json:"file"`
	Position int           `json:"position"`
	Line     int           `json:"line"`
	ID       string        `json:"id"`
	Outcome  string        `json:"outcome"`
	Problems cmex.Problems `json:"problems,omitempty"`
}

func (im *importer) note(st *importStats, o outcome) error {
	st.records.Add(1)
	switch o.Outcome {
	case cmex.OutcomeAccepted:
		st.accepted.Add(1)
	case cmex.OutcomePresent:
		st.present.Add(1)
	default:
		st.rejected.Add(1)
	}
	if im.report != nil {
		return im.report.write(o)
	}
	return nil
}

// Kinds of file import reads besides pars.FileActivities and FileLearners.
const (
	fileRecordCSV   = "learner-record CSV"
	fileRegistryCSV = "learner-registry CSV"
)

// countingReader counts the bytes read, for progress.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (im *importer) importFile(ctx context.Context, name string) (*importStats, error) {
	f, err := os.Open(name)
	if err != nil {
		// Its text only: a system error number would pass for a database
		// out of reach (cmex.Unreachable) and be reported as one.
		return nil, errors.New(err.Error())
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	cr := &countingReader{r: f}
	br := bufio.NewReaderSize(cr, 1<<20)
	kind, err := sniff(br)
	if err != nil {
		return nil, err
	}
	if kind != fileRegistryCSV && im.by == nil {
		return nil, fmt.Errorf("%w: this file holds provider records; say whose with -provider", errUsage)
	}
	noun := "records"
	if kind == fileStatements {
		noun = "statements"
	}
	st := &importStats{}
	start := time.Now()
	stop := im.showProgress(name, noun, size, &cr.n, st, start)
	switch kind {
	case "xml":
		err = im.importXML(ctx, name, br, st)
	case fileRecordCSV:
		err = im.importRecordCSV(ctx, name, br, st)
	case fileRegistryCSV:
		err = im.importRegistry(ctx, name, br, st)
	case fileStatements:
		err = im.importStatements(ctx, name, br, st)
	}
	stop()
	if err != nil {
		// The counts of a file cut short by an error would read as its
		// summary: say only where it stopped.
		if n := st.records.Load(); n > 0 {
			fmt.Fprintf(im.e.stderr, "%s: stopped after %d %s; the batches committed before the error are kept, and importing the file again completes it\n", name, n, noun)
		}
		return st, err
	}
	elapsed := time.Since(start)
	rate := float64(st.records.Load()) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(im.e.stderr, "%s: %d %s: %d accepted, %d already present, %d rejected (%s, %.0f %s/s)\n",
		name, st.records.Load(), noun, st.accepted.Load(), st.present.Load(), st.rejected.Load(), elapsed.Round(time.Millisecond), rate, noun)
	return st, err
}

// sniff tells XML from the two CSVs by the first bytes and the header.
func sniff(br *bufio.Reader) (string, error) {
	head, err := br.Peek(4096)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return "", err
	}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\ufeff")), " \t\r\n")
	if len(trimmed) == 0 {
		return "", cmex.Errorf(cmex.EINVALID, "the file is empty")
	}
	if trimmed[0] == '<' {
		return "xml", nil
	}
	if trimmed[0] == '{' {
		return fileStatements, nil
	}
	line, _, _ := bytes.Cut(head, []byte("\n"))
	header, err := csv.NewReader(bytes.NewReader(line)).Read()
	if err != nil {
		return "", cmex.Errorf(cmex.EINVALID, "neither XML nor a CSV header: %v", err)
	}
	if batch.IsRecordHeader(header) {
		return fileRecordCSV, nil
	}
	for _, h := range header {
		if strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")), "first_name") {
			return fileRegistryCSV, nil
		}
	}
	return "", cmex.Errorf(cmex.EINVALID, "not a batch file: XML starts with <, xAPI statements (JSON lines) with {, the learner-record CSV has a credit_id column, the learner-registry CSV a first_name column")
}

// pendingRecord is a learner report on its way to the ledger.
type pendingRecord struct {
	pos, line int
	id        string
	report    *cmex.LearnerReport
	problems  cmex.Problems
}

// learnerWriter writes learner reports in batches on its own goroutine,
// so that reading and judging the next batch overlaps writing this one.
type learnerWriter struct {
	im      *importer
	file    string
	st      *importStats
	source  string
	batches chan []pendingRecord
	done    chan error
	cur     []pendingRecord
}

func (im *importer) newLearnerWriter(ctx context.Context, file, source string, st *importStats) *learnerWriter {
	w := &learnerWriter{im: im, file: file, st: st, source: source, batches: make(chan []pendingRecord, 1), done: make(chan error, 1)}
	learners := sqlstore.NewLearnerService(im.db, im.mode)
	go func() {
		var failed error
		for b := range w.batches {
			if failed == nil {
				failed = w.write(ctx, learners, b)
			}
		}
		w.done <- failed
	}()
	return w
}

func (w *learnerWriter) add(r pendingRecord) {
	w.cur = append(w.cur, r)
	if len(w.cur) >= importBatch {
		w.batches <- w.cur
		w.cur = nil
	}
}

// close writes what is left and waits for the writer.
func (w *learnerWriter) close() error {
	if len(w.cur) > 0 {
		w.batches <- w.cur
	}
	close(w.batches)
	return <-w.done
}

func (w *learnerWriter) write(ctx context.Context, learners *sqlstore.LearnerService, b []pendingRecord) error {
	var chs []cmex.LearnerChange
	var idx []int
	for i, r := range b {
		if r.report != nil {
			chs = append(chs, cmex.LearnerChange{Report: r.report, Problems: r.problems, By: *w.im.by, Source: w.source})
			idx = append(idx, i)
		}
	}
	var results []cmex.LearnerImportResult
	var err error
	for attempt := 0; ; attempt++ {
		if len(chs) == 0 {
			break
		}
		results, err = learners.ImportLearnerReports(ctx, chs)
		// A web-service call may add one of the batch's CreditIDs first;
		// the batch is then judged again, against the ledger as it is.
		if err == nil || attempt == 3 || !errors.Is(err, sqlstore.ErrConflict) {
			break
		}
	}
	if err != nil {
		return err
	}
	next := 0
	for i, r := range b {
		o := outcome{File: w.file, Position: r.pos, Line: r.line, ID: r.id, Outcome: cmex.OutcomeRejected, Problems: r.problems}
		if next < len(idx) && idx[next] == i {
			res := results[next]
			o.Outcome, o.Problems = res.Outcome, res.Problems
			next++
		}
		if err := w.im.note(w.st, o); err != nil {
			return err
		}
	}
	return nil
}

func (im *importer) importXML(ctx context.Context, name string, r io.Reader, st *importStats) error {
	var lw *learnerWriter
	acts := sqlstore.NewActivityService(im.db)
	_, err := pars.ReadFile(ctx, r, im.parsMode, func(rec *pars.FileRecord) error {
		if rec.Kind == pars.FileActivities {
			if rec.Activity == nil { // could not be read
				return im.note(st, outcome{File: name, Position: rec.Position, Line: rec.Line, Outcome: cmex.OutcomeRejected, Problems: rec.Problems})
			}
			return im.importActivity(ctx, acts, name, rec, st)
		}
		if lw == nil {
			lw = im.newLearnerWriter(ctx, name, "batch", st)
		}
		lw.add(pendingRecord{pos: rec.Position, line: rec.Line, id: rec.ID(), report: rec.Learner, problems: rec.Problems})
		return nil
	})
	if lw != nil {
		if werr := lw.close(); err == nil {
			err = werr
		}
	}
	return err
}

func (im *importer) importActivity(ctx context.Context, acts *sqlstore.ActivityService, name string, rec *pars.FileRecord, st *importStats) error {
	ch := *rec.Activity
	ch.By, ch.Problems = *im.by, rec.Problems
	ch.ReportingYear = ch.Activity.ReportingStart.Year
	if ch.ReportingYear == 0 {
		ch.ReportingYear = ch.Activity.StartDate.Year
	}
	o := outcome{File: name, Position: rec.Position, Line: rec.Line, ID: rec.ID()}
	held, err := acts.Holds(ctx, ch)
	if err != nil {
		return err
	}
	if held {
		o.Outcome = cmex.OutcomePresent
		return im.note(st, o)
	}
	_, warnings, err := acts.SaveActivity(ctx, ch)
	switch cmex.ErrorCode(err) {
	case "":
		o.Outcome, o.Problems = cmex.OutcomeAccepted, warnings
	case cmex.EINVALID:
		o.Outcome, o.Problems = cmex.OutcomeRejected, cmex.ErrorProblems(err)
	default:
		return err
	}
	return im.note(st, o)
}

func (im *importer) importRecordCSV(ctx context.Context, name string, r io.Reader, st *importStats) error {
	rr, err := batch.NewRecordReader(r)
	if err != nil {
		return err
	}
	lw := im.newLearnerWriter(ctx, name, "csv", st)
	pos := 0
	for {
		row, err := rr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = lw.close()
			return err
		}
		pos++
		pr := pendingRecord{pos: pos, line: row.Line, id: string(row.Report.Credits[0].CreditID), report: row.Report, problems: row.Problems}
		if row.Problems.HasErrors() {
			pr.report = nil
		}
		lw.add(pr)
	}
	return lw.close()
}

func (im *importer) importRegistry(ctx context.Context, name string, r io.Reader, st *importStats) error {
	ips, problems, err := batch.ReadPersons(r)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		// The registry is imported whole or not at all: a person may span
		// several rows.
		for i, p := range problems {
			if err := im.note(st, outcome{File: name, Position: i + 1, Line: p.Line, Outcome: cmex.OutcomeRejected,
				Problems: cmex.Problems{{Field: p.Column, Message: p.String(), Severity: cmex.SeverityError, Line: p.Line}}}); err != nil {
				return err
			}
		}
		return nil
	}
	outs, err := sqlstore.NewPersonService(im.db).ImportPersonsEach(ctx, batch.Persons(ips))
	if err != nil {
		return err
	}
	for i, ip := range ips {
		o := outcome{File: name, Position: i + 1, Line: ip.Line, ID: ip.Person.GivenName + " " + ip.Person.FamilyName + " " + ip.Person.BirthDate.String()}
		switch outs[i].Outcome {
		case "created", "updated":
			o.Outcome = cmex.OutcomeAccepted
		case "unchanged":
			o.Outcome = cmex.OutcomePresent
		default:
			o.Outcome = cmex.OutcomeRejected
			o.Problems = cmex.Problems{{Message: outs[i].Problem, Severity: cmex.SeverityError, Line: ip.Line}}
		}
		if err := im.note(st, o); err != nil {
			return err
		}
	}
	return nil
}

// reportWriter writes the per-record report as CSV or as a JSON array.
type reportWriter struct {
	w     *bufio.Writer
	csv   *csv.Writer
	json  bool
	first bool
}

func newReportWriter(w io.Writer, asJSON bool) *reportWriter {
	bw := bufio.NewWriter(w)
	r := &reportWriter{w: bw, json: asJSON, first: true}
	if asJSON {
		bw.WriteString("[")
	} else {
		r.csv = csv.NewWriter(bw)
		_ = r.csv.Write([]string{"file", "position", "line", "id", "outcome", "codes", "messages"})
	}
	return r
}

func (r *reportWriter) write(o outcome) error {
	if r.json {
		b, err := json.Marshal(o)
		if err != nil {
			return err
		}
		if !r.first {
			r.w.WriteString(",")
		}
		r.first = false
		r.w.WriteString("\n")
		_, err = r.w.Write(b)
		return err
	}
	var codes, msgs []string
	for _, p := range o.Problems {
		if p.Code != "" {
			codes = append(codes, string(p.Code))
		}
		m := p.Message
		if p.Severity == cmex.SeverityWarning {
			m = "warning: " + m
		}
		msgs = append(msgs, m)
	}
	return r.csv.Write([]string{o.File, strconv.Itoa(o.Position), strconv.Itoa(o.Line), o.ID, o.Outcome, strings.Join(codes, " "), strings.Join(msgs, " | ")})
}

func (r *reportWriter) close() error {
	if r.json {
		r.w.WriteString("\n]\n")
	} else {
		r.csv.Flush()
		if err := r.csv.Error(); err != nil {
			return err
		}
	}
	return r.w.Flush()
}

// showProgress shows how an import goes until the returned function is
// called: a bar with records, rate and time left on a terminal, a log line
// every few seconds otherwise.
func (im *importer) showProgress(name, noun string, size int64, read *atomic.Int64, st *importStats, start time.Time) func() {
	style := im.progress
	if style == "auto" {
		style = "log"
		if f, ok := im.e.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			style = "bar"
		}
	}
	if style == "none" {
		return func() {}
	}
	every := 5 * time.Second
	if style == "bar" {
		every = 200 * time.Millisecond
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if style == "bar" {
					fmt.Fprint(im.e.stderr, "\r\033[K")
				}
				return
			case <-t.C:
			}
			elapsed := time.Since(start)
			n := st.records.Load()
			rate := float64(n) / elapsed.Seconds()
			left := "?"
			if b := read.Load(); size > 0 && b > 0 {
				frac := min(float64(b)/float64(size), 1)
				left = (time.Duration(float64(elapsed)/frac) - elapsed).Round(time.Second).String()
				if style == "bar" {
					const width = 30
					full := int(frac * width)
					fmt.Fprintf(im.e.stderr, "\r\033[K%s [%s%s] %3.0f%% %d %s %.0f/s %s left",
						filepath.Base(name), strings.Repeat("=", full), strings.Repeat(" ", width-full), 100*frac, n, noun, rate, left)
					continue
				}
			}
			if style == "bar" {
				fmt.Fprintf(im.e.stderr, "\r\033[K%s %d %s %.0f/s", filepath.Base(name), n, noun, rate)
				continue
			}
			fmt.Fprintf(im.e.stderr, "%s: %d %s, %.0f/s, %s left\n", name, n, noun, rate, left)
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
