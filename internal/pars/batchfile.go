package pars

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/cmexhub/cmex"
)

// Batch files hold many records in one document, as the PARS batch upload
// takes them: an activity file is one accme:ACCMEActivities holding many
// MedicalEducationMetrics, a learner file one accme:ACCMELearnerReports
// whose ar:ActivityReports holds many ar:ActivityReport. ReadFile streams
// such a file: a splitter cuts each record's bytes out of the stream,
// decoders read records in parallel with the same code as the web
// services, and the records come back in file order. Memory is bounded by
// the records in flight, whatever the size of the file.

// Kinds of batch file.
const (
	FileActivities = "activities"
	FileLearners   = "learners"
)

// FileRecord is one record of a batch file.
type FileRecord struct {
	// Kind is the file's: FileActivities or FileLearners.
	Kind string
	// Position is the record's place in the file, from 1.
	Position int
	// Line is the line of the record's start tag.
	Line int
	// Learner is the report of a learner file's record.
	Learner *cmex.LearnerReport
	// Activity is the change of an activity file's record; its By and
	// ReportingYear are the importer's to fill in.
	Activity *cmex.ActivityChange
	// Problems are what the decoder found; an error among them rejects
	// the record, and a record that could not be read at all has no
	// Learner or Activity.
	Problems cmex.Problems
}

// ID names the record in a report: the CreditIDs of a learner record, the
// Provider Activity ID (or ACCME Activity ID) of an activity.
func (r *FileRecord) ID() string {
	switch {
	case r.Learner != nil:
		var b []byte
		for i, c := range r.Learner.Credits {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, c.CreditID...)
		}
		return string(b)
	case r.Activity != nil && r.Activity.Activity != nil:
		return r.Activity.Activity.Entry()
	}
	return ""
}

// MaxFileRecord bounds one record of a batch file: real records are a few
// kilobytes.
const MaxFileRecord = 4 << 20

// ReadFile reads the batch file r and calls fn with each record, in file
// order, from the calling goroutine. It returns the file's kind. A file
// that is not a batch file, or that is broken outside its records, is an
// error of kind cmex.EINVALID naming the line; records before the break
// have been passed to fn by then. fn's error stops the reading.
func ReadFile(ctx context.Context, r io.Reader, mode Mode, fn func(*FileRecord) error) (kind string, err error) {
	s := &splitter{r: r, buf: make([]byte, 0, 1<<20), line: 1}
	kind, err = s.prolog()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type job struct {
		rec  *FileRecord
		doc  []byte
		done chan struct{}
	}
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan *job, 4*workers)
	ordered := make(chan *job, 1024) // bounds the records in flight
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				if j.doc != nil {
					decodeRecord(j.rec, j.doc, kind, mode)
					j.doc = nil
				}
				close(j.done)
			}
		})
	}
	splitErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(jobs)
		position := 0
		for {
			line, doc, problem, err := s.next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				splitErr <- err
				return
			}
			position++
			j := &job{rec: &FileRecord{Kind: kind, Position: position, Line: line}, doc: doc, done: make(chan struct{})}
			if problem != nil {
				j.rec.Problems = cmex.Problems{*problem}
				j.doc = nil
			}
			select {
			case ordered <- j:
			case <-ctx.Done():
				splitErr <- ctx.Err()
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				splitErr <- ctx.Err()
				return
			}
		}
	}()
	defer wg.Wait()
	for j := range ordered {
		<-j.done
		if err := fn(j.rec); err != nil {
			cancel()
			for range ordered { // let the splitter finish
			}
			return kind, err
		}
	}
	return kind, <-splitErr
}

// decodeRecord reads one record's document with the web services' decoder.
func decodeRecord(rec *FileRecord, doc []byte, kind string, mode Mode) {
	root, f := parseDoc(doc, rec.Line-1)
	if f != nil {
		rec.Problems = cmex.Problems{f.problem}
		return
	}
	switch kind {
	case FileLearners:
		d, f := decodeLearnerTree(root, mode)
		if f != nil {
			rec.Problems = cmex.Problems{f.problem}
			return
		}
		placeLines(d.problems, d.lines, d.line)
		rec.Learner, rec.Problems = d.report, d.problems
	case FileActivities:
		d, f := decodeActivityTree(root, mode)
		if f != nil {
			rec.Problems = cmex.Problems{f.problem}
			return
		}
		placeLines(d.problems, d.lines, d.line)
		rec.Activity = &cmex.ActivityChange{Action: d.action, Activity: d.activity, Close: d.close}
		rec.Problems = d.problems
	}
}

// splitter cuts the records out of a batch file. It understands just
// enough XML to find where each element ends (tags, quotes, comments,
// CDATA, processing instructions); each record is then parsed for real,
// wrapped in the file's own root (and container) start tags so that its
// namespace prefixes resolve as in the file.
type splitter struct {
	r    io.Reader
	buf  []byte // unconsumed bytes are buf[off:]
	off  int
	eof  bool
	line int // line at buf[off]

	kind   string
	record string // local name of a record element
	// open are the raw start tags of the root and, in learner files, the
	// container, newlines made spaces; close their end tags.
	open, close []byte
	depth       int // 1 inside the root, 2 inside the container
}

// fill reads more of the file; it reports false at the end.
func (s *splitter) fill() (bool, error) {
	if s.eof {
		return false, nil
	}
	if s.off > 0 && s.off >= len(s.buf)/2 {
		n := copy(s.buf, s.buf[s.off:])
		s.buf, s.off = s.buf[:n], 0
	}
	if len(s.buf) == cap(s.buf) {
		if cap(s.buf)-s.off >= 2*MaxFileRecord {
			return false, s.errorf(s.line, "a record longer than %d MiB; is this a batch file?", MaxFileRecord>>20)
		}
		nb := make([]byte, len(s.buf), 2*cap(s.buf))
		copy(nb, s.buf)
		s.buf = nb
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if errors.Is(err, io.EOF) {
		s.eof = true
		return n > 0, nil
	}
	if err != nil {
		return false, fmt.Errorf("read batch file: %w", err)
	}
	return true, nil
}

func (s *splitter) errorf(line int, format string, args ...any) error {
	return cmex.Errorf(cmex.EINVALID, "line %d: %s", line, fmt.Sprintf(format, args...))
}

// consume moves past n bytes, counting lines.
func (s *splitter) consume(n int) {
	s.line += bytes.Count(s.buf[s.off:s.off+n], []byte{'\n'})
	s.off += n
}

// Token kinds of the splitter.
const (
	tokText = iota
	tokStart
	tokEmpty
	tokEnd
	tokOther // comment, processing instruction, CDATA
	tokDirective
)

// token finds the token at buf[off:], reading more as needed, and returns
// its kind and length; io.EOF at the end of the file.
func (s *splitter) token() (kind, n int, err error) {
	for {
		kind, n, complete := scanToken(s.buf[s.off:])
		if complete {
			return kind, n, nil
		}
		more, err := s.fill()
		if err != nil {
			return 0, 0, err
		}
		if !more {
			if len(s.buf) == s.off {
				return 0, 0, io.EOF
			}
			if kind == tokText {
				return tokText, len(s.buf) - s.off, nil
			}
			return 0, 0, s.errorf(s.line, "the file ends inside a tag")
		}
	}
}

// scanToken finds the token at the start of b; complete is false when b
// ends before the token does.
func scanToken(b []byte) (kind, n int, complete bool) {
	if len(b) == 0 {
		return tokText, 0, false
	}
	if b[0] != '<' {
		i := bytes.IndexByte(b, '<')
		if i < 0 {
			return tokText, len(b), false
		}
		return tokText, i, true
	}
	find := func(kind int, from int, end string) (int, int, bool) {
		if from > len(b) {
			return kind, 0, false
		}
		i := bytes.Index(b[from:], []byte(end))
		if i < 0 {
			return kind, 0, false
		}
		return kind, from + i + len(end), true
	}
	switch {
	case len(b) < 9 && (bytes.HasPrefix([]byte("<![CDATA["), b) || bytes.HasPrefix([]byte("<!--"), b)):
		return tokOther, 0, false
	case bytes.HasPrefix(b, []byte("<!--")):
		return find(tokOther, 4, "-->")
	case bytes.HasPrefix(b, []byte("<![CDATA[")):
		return find(tokOther, 9, "]]>")
	case bytes.HasPrefix(b, []byte("<!")):
		return find(tokDirective, 2, ">")
	case bytes.HasPrefix(b, []byte("<?")):
		return find(tokOther, 2, "?>")
	case bytes.HasPrefix(b, []byte("</")):
		return find(tokEnd, 2, ">")
	}
	var quote byte
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			if b[i-1] == '/' {
				return tokEmpty, i + 1, true
			}
			return tokStart, i + 1, true
		}
	}
	return tokStart, 0, false
}

// localName is the local part of the element name of a start or end tag.
func localName(tag []byte) string {
	tag = bytes.TrimLeft(tag, "</")
	end := bytes.IndexAny(tag, " \t\r\n/>")
	if end >= 0 {
		tag = tag[:end]
	}
	if i := bytes.LastIndexByte(tag, ':'); i >= 0 {
		tag = tag[i+1:]
	}
	return string(tag)
}

// skipMisc passes over space, comments and processing instructions, and
// returns the next other token.
func (s *splitter) skipMisc() (kind, n int, err error) {
	for {
		kind, n, err := s.token()
		if err != nil {
			return 0, 0, err
		}
		switch {
		case kind == tokOther && !bytes.HasPrefix(s.buf[s.off:], []byte("<![CDATA[")):
		case kind == tokText && len(bytes.TrimSpace(s.buf[s.off:s.off+n])) == 0:
		case kind == tokDirective:
			return 0, 0, s.errorf(s.line, "DTDs and other directives are not accepted")
		default:
			return kind, n, nil
		}
		s.consume(n)
	}
}

// startTag checks that the next token is the start tag of local name
// in namespace space and keeps its raw bytes.
func (s *splitter) startTag(what string, names map[string]string) (string, error) {
	kind, n, err := s.skipMisc()
	if errors.Is(err, io.EOF) {
		return "", s.errorf(s.line, "the file ends where %s should start", what)
	}
	if err != nil {
		return "", err
	}
	tag := s.buf[s.off : s.off+n]
	if kind != tokStart {
		return "", s.errorf(s.line, "expected the start of %s, found %.40q", what, tag)
	}
	// Parse the tags opened so far, closed at once, to resolve the
	// element's namespace as an XML reader would.
	local := localName(tag)
	probe := append(append(bytes.Clone(s.open), tag...), "</"+rawName(tag)+">"...)
	for i := len(s.close); i > 0; {
		j := bytes.LastIndex(s.close[:i], []byte("</"))
		probe = append(probe, s.close[j:i]...)
		i = j
	}
	root, err := parseTreeFast(probe, defaultLimits)
	if err != nil {
		return "", s.errorf(s.line, "the start tag of %s is not well-formed: %s", what, errText(err))
	}
	n2 := root
	for n2 != nil && len(n2.children) > 0 {
		n2 = n2.children[len(n2.children)-1]
	}
	if want, ok := names[local]; !ok || n2.name.Space != want {
		return "", s.errorf(s.line, "found <%s> in namespace %q where %s should start", local, n2.name.Space, what)
	}
	s.open = append(s.open, flatten(tag)...)
	s.close = append([]byte("</"+rawName(tag)+">"), s.close...)
	s.consume(n)
	s.depth++
	return local, nil
}

// rawName is the qualified name of a start tag.
func rawName(tag []byte) string {
	tag = tag[1:]
	if end := bytes.IndexAny(tag, " \t\r\n/>"); end >= 0 {
		tag = tag[:end]
	}
	return string(tag)
}

// flatten copies a tag with its line breaks made spaces, so that wrapping
// a record in it does not move the record's lines.
func flatten(tag []byte) []byte {
	out := bytes.Clone(tag)
	for i, c := range out {
		if c == '\n' || c == '\r' {
			out[i] = ' '
		}
	}
	return out
}

// prolog reads up to the first record: the XML declaration, the root and,
// in a learner file, ar:ActivityReports.
func (s *splitter) prolog() (string, error) {
	root, err := s.startTag("accme:ACCMEActivities or accme:ACCMELearnerReports", map[string]string{
		"ACCMEActivities": NSActivities, "ACCMELearnerReports": NSLearnerReports})
	if err != nil {
		return "", err
	}
	switch root {
	case "ACCMEActivities":
		s.kind, s.record = FileActivities, "MedicalEducationMetrics"
	default:
		s.kind, s.record = FileLearners, "ActivityReport"
		if _, err := s.startTag("ar:ActivityReports", map[string]string{"ActivityReports": NSActivityReport}); err != nil {
			return "", err
		}
	}
	return s.kind, nil
}

// next returns the next record: its line and its document (the record
// wrapped in the file's start and end tags), or a problem when the element
// is not a record; io.EOF after the last.
func (s *splitter) next() (line int, doc []byte, problem *cmex.Problem, err error) {
	for {
		if s.depth == 0 {
			return 0, nil, nil, io.EOF
		}
		kind, n, err := s.skipMisc()
		if errors.Is(err, io.EOF) {
			return 0, nil, nil, s.errorf(s.line, "the file ends before </%s>: it was cut short", rawName(s.close[1:]))
		}
		if err != nil {
			return 0, nil, nil, err
		}
		switch kind {
		case tokEnd:
			s.consume(n)
			s.depth--
			if s.depth == 0 {
				// Only space, comments and instructions may follow.
				if _, _, err := s.skipMisc(); !errors.Is(err, io.EOF) {
					if err == nil {
						err = s.errorf(s.line, "content after the end of the root element")
					}
					return 0, nil, nil, err
				}
				return 0, nil, nil, io.EOF
			}
			continue
		case tokText, tokOther:
			return 0, nil, nil, s.errorf(s.line, "text where only elements may stand")
		}
		line = s.line
		end, err := s.element()
		if err != nil {
			return 0, nil, nil, err
		}
		elem := s.buf[s.off : s.off+end]
		local := localName(elem)
		if local == "DateTimeCreated" && s.kind == FileLearners {
			s.consume(end) // "any time value provided will be ignored"
			continue
		}
		if local != s.record {
			p := cmex.RuleDataUnreadable.Problem(cmex.Args{Detail: fmt.Sprintf(" <%s> is not a %s.", rawName(elem), s.record)})
			if s.kind == FileLearners {
				p = cmex.RuleLearnerGeneral.Problem(cmex.Args{})
				p.Message += fmt.Sprintf(" <%s> is not an ar:ActivityReport.", rawName(elem))
			}
			p.Line = line
			s.consume(end)
			return line, nil, &p, nil
		}
		doc = make([]byte, 0, len(s.open)+end+len(s.close))
		doc = append(append(append(doc, s.open...), elem...), s.close...)
		s.consume(end)
		return line, doc, nil, nil
	}
}

// element returns the length of the element starting at buf[off:],
// reading more of the file as needed.
func (s *splitter) element() (int, error) {
	for {
		n, complete := elementEnd(s.buf[s.off:])
		if complete {
			return n, nil
		}
		more, err := s.fill()
		if err != nil {
			return 0, err
		}
		if !more {
			return 0, s.errorf(s.line, "the file ends inside <%s>: it was cut short", rawName(s.buf[s.off:]))
		}
	}
}

// elementEnd finds the end of the element starting at b[0].
func elementEnd(b []byte) (int, bool) {
	depth, i := 0, 0
	for i < len(b) {
		kind, n, complete := scanToken(b[i:])
		if !complete {
			return 0, false
		}
		switch kind {
		case tokStart:
			depth++
		case tokEnd:
			depth--
		}
		i += n
		if depth == 0 && kind != tokText && kind != tokOther {
			return i, true
		}
	}
	return 0, false
}
