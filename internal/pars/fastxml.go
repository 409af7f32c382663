package pars

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"sync"
	"unicode/utf8"
)

// parseTreeFast parses a document into the tree parseTree builds, several
// times faster. It handles the well-formed UTF-8 documents providers send;
// whenever it meets anything it cannot vouch for (a DTD, an odd XML
// declaration, a non-ASCII name, a malformed construct, a limit reached) it
// hands the document to parseTree, which gives the answer and, for a bad
// document, the error message with its line. FuzzFastTree holds the two to
// the same tree for every input the fast reader accepts.
func parseTreeFast(data []byte, lim limits) (*node, error) {
	if n, ok := fastTree(data, lim); ok {
		return n, nil
	}
	return parseTree(data, lim)
}

// fastParser is the state of one fastTree run.
type fastParser struct {
	data  []byte
	pos   int
	line  int
	lim   limits
	names map[string]string // interned names: most documents repeat a few dozen
	// ns is the namespace scope: bindings pushed by each open element,
	// looked up from the end.
	ns []nsBinding
	// slab holds nodes not yet handed out: a document's nodes are
	// allocated a few dozen at a time rather than one by one.
	slab []node
}

// newNode returns a zero node from the slab.
func (p *fastParser) newNode() *node {
	if len(p.slab) == 0 {
		p.slab = make([]node, 32)
	}
	n := &p.slab[0]
	p.slab = p.slab[1:]
	return n
}

type nsBinding struct{ prefix, uri string }

// parsers keeps fastParsers, for their interned names: documents of one
// kind share their few dozen names, so most are found without allocating.
var parsers = sync.Pool{New: func() any { return &fastParser{names: make(map[string]string, 64)} }}

// fastTree is the fast reader; ok is false when parseTree must decide.
func fastTree(data []byte, lim limits) (root *node, ok bool) {
	p := parsers.Get().(*fastParser)
	if len(p.names) > 1024 { // a document of many names: start afresh
		clear(p.names)
	}
	p.data, p.pos, p.line, p.lim, p.ns = data, 0, 1, lim, p.ns[:0]
	defer func() {
		p.data = nil
		parsers.Put(p)
	}()
	var stack []*node
	var marks []int // len(p.ns) when each open element started
	var raw [][]byte
	elements := 0
	for p.pos < len(p.data) {
		lt := bytes.IndexByte(p.data[p.pos:], '<')
		if lt != 0 {
			end := len(p.data)
			if lt > 0 {
				end = p.pos + lt
			}
			text, ok := p.text(p.data[p.pos:end], -1)
			if !ok {
				return nil, false
			}
			if len(stack) > 0 {
				stack[len(stack)-1].text += text
			} else if len(bytes.TrimSpace([]byte(text))) > 0 {
				return nil, false
			}
			p.advance(end)
			continue
		}
		rest := p.data[p.pos:]
		switch {
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("-->"))
			if end < 0 {
				return nil, false
			}
			body := rest[4 : 4+end]
			if !plainText(body) || bytes.Contains(body, []byte("--")) {
				return nil, false
			}
			p.advance(p.pos + 4 + end + 3)
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			end := bytes.Index(rest[9:], []byte("]]>"))
			if end < 0 || len(stack) == 0 {
				return nil, false
			}
			text, ok := p.cdata(rest[9 : 9+end])
			if !ok {
				return nil, false
			}
			stack[len(stack)-1].text += text
			p.advance(p.pos + 9 + end + 3)
		case bytes.HasPrefix(rest, []byte("<!")):
			return nil, false // DTDs and directives: parseTree refuses them
		case bytes.HasPrefix(rest, []byte("<?")):
			end := bytes.Index(rest[2:], []byte("?>"))
			if end < 0 || !p.procInst(rest[2:2+end]) {
				return nil, false
			}
			p.advance(p.pos + 2 + end + 2)
		case bytes.HasPrefix(rest, []byte("</")):
			if len(stack) == 0 {
				return nil, false
			}
			i := 2
			name, n := scanName(rest[i:])
			if n == 0 {
				return nil, false
			}
			i += n
			for i < len(rest) && isSpace(rest[i]) {
				i++
			}
			if i >= len(rest) || rest[i] != '>' || !bytes.Equal(name, raw[len(raw)-1]) {
				return nil, false
			}
			p.advance(p.pos + i + 1)
			stack, raw = stack[:len(stack)-1], raw[:len(raw)-1]
			p.ns, marks = p.ns[:marks[len(marks)-1]], marks[:len(marks)-1]
		default:
			line, mark := p.line, len(p.ns)
			n, name, end, empty, ok := p.startTag(rest)
			if !ok {
				return nil, false
			}
			elements++
			if elements > lim.maxElements || len(stack) >= lim.maxDepth {
				return nil, false
			}
			n.line = line + lim.lineOffset
			if len(stack) == 0 {
				if root != nil {
					return nil, false
				}
				root = n
			} else {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, n)
			}
			p.advance(p.pos + end)
			if empty {
				p.ns = p.ns[:mark]
				continue
			}
			stack, raw, marks = append(stack, n), append(raw, name), append(marks, mark)
		}
	}
	if root == nil || len(stack) > 0 {
		return nil, false
	}
	return root, true
}

// advance moves to end, counting the lines passed.
func (p *fastParser) advance(end int) {
	p.line += bytes.Count(p.data[p.pos:end], []byte{'\n'})
	p.pos = end
}

// startTag reads the start tag at the beginning of b. It pushes the tag's
// namespace declarations (the caller pops them) and returns the node, the
// raw name for matching the end tag, the tag's length and whether it is
// empty (<a/>).
func (p *fastParser) startTag(b []byte) (n *node, rawName []byte, length int, empty, ok bool) {
	i := 1
	name, k := scanName(b[i:])
	if k == 0 {
		return nil, nil, 0, false, false
	}
	i += k
	type rawAttr struct{ name, value []byte }
	var attrs []rawAttr
	var scratch [8]rawAttr
	attrs = scratch[:0]
	for {
		j := i
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i >= len(b) {
			return nil, nil, 0, false, false
		}
		if b[i] == '>' {
			i++
			break
		}
		if b[i] == '/' {
			if i+1 >= len(b) || b[i+1] != '>' {
				return nil, nil, 0, false, false
			}
			i += 2
			empty = true
			break
		}
		if i == j { // attributes are separated by space
			return nil, nil, 0, false, false
		}
		an, k := scanName(b[i:])
		if k == 0 {
			return nil, nil, 0, false, false
		}
		i += k
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i >= len(b) || b[i] != '=' {
			return nil, nil, 0, false, false
		}
		i++
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i >= len(b) || (b[i] != '"' && b[i] != '\'') {
			return nil, nil, 0, false, false
		}
		q := b[i]
		end := bytes.IndexByte(b[i+1:], q)
		if end < 0 {
			return nil, nil, 0, false, false
		}
		attrs = append(attrs, rawAttr{an, b[i+1 : i+1+end]})
		i += 1 + end + 1
	}
	n = p.newNode()
	if len(attrs) > 0 {
		n.attrs = make([]xml.Attr, len(attrs))
	}
	for ai, a := range attrs {
		v, ok := p.text(a.value, 0)
		if !ok {
			return nil, nil, 0, false, false
		}
		space, local, ok := p.splitName(a.name)
		if !ok {
			return nil, nil, 0, false, false
		}
		n.attrs[ai] = xml.Attr{Name: xml.Name{Space: space, Local: local}, Value: v}
		switch {
		case space == "xmlns":
			p.ns = append(p.ns, nsBinding{local, v})
		case space == "" && local == "xmlns":
			p.ns = append(p.ns, nsBinding{"", v})
		}
	}
	// Names are resolved once every declaration of the tag is in scope,
	// wherever in the tag it stands.
	for ai := range n.attrs {
		p.translate(&n.attrs[ai].Name, false)
	}
	space, local, ok := p.splitName(name)
	if !ok {
		return nil, nil, 0, false, false
	}
	n.name = xml.Name{Space: space, Local: local}
	p.translate(&n.name, true)
	return n, name, i, empty, true
}

// splitName splits prefix:local as encoding/xml does: more than one colon
// is an error, and an empty prefix or local part leaves the name whole.
func (p *fastParser) splitName(b []byte) (space, local string, ok bool) {
	c := bytes.IndexByte(b, ':')
	if c < 0 {
		return "", p.intern(b), true
	}
	if bytes.IndexByte(b[c+1:], ':') >= 0 {
		return "", "", false
	}
	if c == 0 || c == len(b)-1 {
		return "", p.intern(b), true
	}
	return p.intern(b[:c]), p.intern(b[c+1:]), true
}

// translate resolves a name's prefix to its namespace as encoding/xml does:
// an unbound prefix stays as it is, and unprefixed attributes are in no
// namespace.
func (p *fastParser) translate(n *xml.Name, element bool) {
	switch {
	case n.Space == "xmlns":
		return
	case n.Space == "" && !element:
		return
	case n.Space == "xml":
		n.Space = "http://www.w3.org/XML/1998/namespace"
		return
	case n.Space == "" && n.Local == "xmlns":
		return
	}
	for i := len(p.ns) - 1; i >= 0; i-- {
		if p.ns[i].prefix == n.Space {
			n.Space = p.ns[i].uri
			return
		}
	}
}

func (p *fastParser) intern(b []byte) string {
	if s, ok := p.names[string(b)]; ok {
		return s
	}
	s := string(b)
	p.names[s] = s
	return s
}

// text decodes character data or an attribute value: entities, line ends
// (\r\n and \r become \n) and a check of every character. quote is -1 for
// character data and 0 for attribute values, where "<" is refused too
// (the caller found the closing quote); "]]>" is refused in both.
func (p *fastParser) text(b []byte, quote int) (string, bool) {
	if quote >= 0 && bytes.IndexByte(b, '<') >= 0 {
		return "", false
	}
	if bytes.Contains(b, []byte("]]>")) {
		return "", false
	}
	if bytes.IndexByte(b, '&') < 0 && bytes.IndexByte(b, '\r') < 0 {
		if !plainText(b) {
			return "", false
		}
		return string(b), true
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch c {
		case '\r':
			out = append(out, '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '&':
			end := bytes.IndexByte(b[i:], ';')
			if end < 0 {
				return "", false
			}
			r, ok := entity(b[i+1 : i+end])
			if !ok {
				return "", false
			}
			out = utf8.AppendRune(out, r)
			i += end
		default:
			out = append(out, c)
		}
	}
	if !plainText(out) {
		return "", false
	}
	return string(out), true
}

// cdata decodes a CDATA section's content: only line ends change.
func (p *fastParser) cdata(b []byte) (string, bool) {
	if bytes.IndexByte(b, '\r') >= 0 {
		return "", false
	}
	if !plainText(b) {
		return "", false
	}
	return string(b), true
}

// entity decodes the reference between & and ;.
func entity(name []byte) (rune, bool) {
	switch string(name) {
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "amp":
		return '&', true
	case "apos":
		return '\'', true
	case "quot":
		return '"', true
	}
	if len(name) < 2 || name[0] != '#' {
		return 0, false
	}
	digits, base := name[1:], 10
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 {
		return 0, false
	}
	for _, d := range digits {
		if !('0' <= d && d <= '9' || base == 16 && ('a' <= d && d <= 'f' || 'A' <= d && d <= 'F')) {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(digits), base, 64)
	if err != nil || n > utf8.MaxRune || !isCharacter(rune(n)) {
		return 0, false
	}
	return rune(n), true
}

// procInst accepts a processing instruction that encoding/xml would pass
// over without complaint: any target but xml, or an XML declaration of
// version 1.0 in UTF-8.
func (p *fastParser) procInst(b []byte) bool {
	name, n := scanName(b)
	if n == 0 || !plainText(b) {
		return false
	}
	if len(name) != 3 || string(bytes.ToLower(name)) != "xml" {
		return n == len(b) || isSpace(b[n])
	}
	if string(name) != "xml" {
		return false
	}
	return xmlDecl(b[n:])
}

// xmlDecl accepts the pseudo-attributes of an XML declaration when they
// are exactly version="1.0", an optional UTF-8 encoding and an optional
// standalone, as real files carry them.
func xmlDecl(b []byte) bool {
	want := []string{"version", "encoding", "standalone"}
	for len(b) > 0 {
		b = bytes.TrimLeft(b, " \t\r\n")
		if len(b) == 0 {
			break
		}
		eq := bytes.IndexByte(b, '=')
		if eq < 0 {
			return false
		}
		name := string(bytes.TrimRight(b[:eq], " \t\r\n"))
		b = bytes.TrimLeft(b[eq+1:], " \t\r\n")
		if len(b) == 0 || b[0] != '"' && b[0] != '\'' {
			return false
		}
		end := bytes.IndexByte(b[1:], b[0])
		if end < 0 {
			return false
		}
		value := string(b[1 : 1+end])
		b = b[end+2:]
		for len(want) > 0 && want[0] != name {
			want = want[1:]
		}
		if len(want) == 0 {
			return false
		}
		switch name {
		case "version":
			if value != "1.0" {
				return false
			}
		case "encoding":
			if value != "utf-8" && value != "UTF-8" {
				return false
			}
		case "standalone":
			if value != "yes" && value != "no" {
				return false
			}
		}
		want = want[1:]
		if len(b) > 0 && !isSpace(b[0]) {
			return false
		}
	}
	return true
}

// scanName returns the ASCII XML name at the start of b and its length, or
// 0 when there is none or it holds a character this reader leaves to
// encoding/xml.
func scanName(b []byte) ([]byte, int) {
	if len(b) == 0 || !(b[0] >= 'A' && b[0] <= 'Z' || b[0] >= 'a' && b[0] <= 'z' || b[0] == '_' || b[0] == ':') {
		return nil, 0
	}
	i := 1
	for i < len(b) {
		c := b[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == ':' || c == '.' || c == '-' {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			return nil, 0
		}
		break
	}
	return b[:i], i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// plainText reports whether b is UTF-8 made only of XML characters.
func plainText(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 || !isCharacter(r) {
			return false
		}
		i += size
	}
	return true
}

// isCharacter is XML 1.0's Char production.
func isCharacter(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
