package xapi

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/cmexhub/cmex"
)

// DecodeStatement decodes and validates one statement as a line of a
// JSON lines file holds it: one object, checked by the rules POST
// /xapi/statements checks. Its error is an EINVALID with the message a
// 400 of the store carries.
func DecodeStatement(data []byte) (map[string]any, error) {
	x, err := decodeJSON(data)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	m, ok := x.(map[string]any)
	if !ok {
		return nil, badRequest("a line holds one statement, a JSON object")
	}
	if err := Validate(m); err != nil {
		return nil, badRequest("%v", err)
	}
	return m, nil
}

// loader makes the stored form of statements read from a file (cmex
// import) for one provider, as POST /xapi/statements makes a request's,
// batch after batch of Store.SaveStatements calls. Unlike a POST's, a
// statement as this store stored it for the provider (its authority is
// the provider's account, as cmex export writes it) keeps its stored and
// its authority, so that an export imported elsewhere is the same
// statements. A file carries no attachment parts: an attachment without
// a fileUrl is taken from what the store holds of the provider's.
type loader struct {
	h *Handler
	p *cmex.Principal
	b *batch
	// seen counts the statements without an id so far, by signature.
	seen map[string]int
}

// newLoader returns a loader of the provider p's statements, its
// authority naming p's user (cmex import's is "import").
func (h *Handler) newLoader(ctx context.Context, p *cmex.Principal) *loader {
	return &loader{h: h, p: p, b: h.newBatch(ctx, p, "2.0.0"), seen: map[string]int{}}
}

// prepare makes the stored form of m, a statement of DecodeStatement.
// Nothing of the batch changes until keep. A statement without an id is
// given one made of the provider, its content and how many statements of
// that content without an id came before it: the same file imported
// again gives it the same id, and the store finds it present.
func (l *loader) prepare(m map[string]any) (*cmex.XAPIStatement, error) {
	if _, ok := m["id"]; !ok {
		sig := signature(m)
		l.seen[sig]++
		m["id"] = derivedUUID(fmt.Sprintf("cmex import|%s|%s|%d", l.p.Organization.ProviderID, sig, l.seen[sig]))
	}
	var sums []string
	list, _ := m["attachments"].([]any)
	for _, a := range list {
		am := a.(map[string]any)
		if s, ok := am["sha2"].(string); ok {
			sums = append(sums, strings.ToLower(s))
		}
	}
	parts := map[string]cmex.XAPIAttachment{}
	if len(sums) > 0 {
		held, err := l.h.Store.Attachments(l.b.ctx, l.p.Organization.ID, sums)
		if err != nil {
			return nil, err
		}
		for _, a := range held {
			parts[a.SHA2] = a
		}
		for _, a := range list {
			am := a.(map[string]any)
			sum := strings.ToLower(am["sha2"].(string))
			if _, ok := am["fileUrl"]; !ok && parts[sum].SHA2 == "" {
				return nil, badRequest("attachment %s has no fileUrl, and this store holds no content of that hash (a JSON lines file carries none)", sum)
			}
		}
	}
	return l.b.add(m, parts, true)
}

// keep makes st, of prepare, one of the batch's, which the statements
// after it are prepared with (a definition merged into its, an id not
// twice).
func (l *loader) keep(st *cmex.XAPIStatement) { l.b.keep(st) }

// next starts another batch, stored at a new time.
func (l *loader) next() { l.b = l.h.newBatch(l.b.ctx, l.p, "2.0.0") }

// derivedUUID is a UUID made of name (version 8, RFC 9562's custom one:
// the first 122 bits of its SHA-256).
func derivedUUID(name string) string {
	b := sha256.Sum256([]byte(name))
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
