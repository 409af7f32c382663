package xapi

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

// maxParts bounds the parts of a multipart request.
const maxParts = 100

// readStatements reads a statement request's body: JSON, or multipart/mixed
// with the statements first and the attachments' contents after, each
// checked against its SHA-2.
func (h *Handler) readStatements(req *request) ([]map[string]any, map[string]cmex.XAPIAttachment, error) {
	body, err := h.body(req)
	if err != nil {
		return nil, nil, err
	}
	ct := req.r.Header.Get("Content-Type")
	mt, params, _ := mime.ParseMediaType(ct)
	if mt != "" && mt != "application/json" && mt != "multipart/mixed" {
		return nil, nil, badRequest("send statements as application/json or multipart/mixed")
	}
	if mt != "multipart/mixed" {
		sts, err := DecodeStatements(body)
		if err != nil {
			return nil, nil, badRequest("%v", err)
		}
		return sts, nil, nil
	}
	return readMultipart(body, params["boundary"])
}

// readMultipart reads a multipart/mixed statement request.
func readMultipart(body []byte, boundary string) ([]map[string]any, map[string]cmex.XAPIAttachment, error) {
	if boundary == "" {
		return nil, nil, badRequest("multipart/mixed needs a boundary")
	}
	mr := multipart.NewReader(strings.NewReader(string(body)), boundary)
	var sts []map[string]any
	parts := map[string]cmex.XAPIAttachment{}
	for i := 0; ; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, badRequest("multipart body: %v", err)
		}
		if i >= maxParts {
			return nil, nil, badRequest("more than %d parts", maxParts)
		}
		content, err := io.ReadAll(p)
		if err != nil {
			return nil, nil, badRequest("multipart body: %v", err)
		}
		pct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if i == 0 {
			if pct != "application/json" {
				return nil, nil, badRequest("the first part must be the statements, application/json")
			}
			if sts, err = DecodeStatements(content); err != nil {
				return nil, nil, badRequest("%v", err)
			}
			continue
		}
		sum := p.Header.Get("X-Experience-API-Hash")
		if sum == "" {
			return nil, nil, badRequest("part %d has no X-Experience-API-Hash", i)
		}
		if te := p.Header.Get("Content-Transfer-Encoding"); te != "" && !strings.EqualFold(te, "binary") {
			return nil, nil, badRequest("part %d: Content-Transfer-Encoding must be binary", i)
		}
		if !hashMatches(sum, content) {
			return nil, nil, badRequest("part %d does not match its X-Experience-API-Hash", i)
		}
		parts[strings.ToLower(sum)] = cmex.XAPIAttachment{SHA2: strings.ToLower(sum), ContentType: p.Header.Get("Content-Type"), Content: content}
	}
	if sts == nil {
		return nil, nil, badRequest("a multipart request holds the statements first")
	}
	return sts, parts, nil
}

// hashMatches checks a hex SHA-256, SHA-384 or SHA-512 of content.
func hashMatches(sum string, content []byte) bool {
	var f func() hash.Hash
	switch len(sum) {
	case 64:
		f = sha256.New
	case 96:
		f = sha512.New384
	case 128:
		f = sha512.New
	default:
		return false
	}
	hh := f()
	hh.Write(content)
	return strings.EqualFold(hex.EncodeToString(hh.Sum(nil)), sum)
}

// prepare makes the stored form of validated statements: ids, stored,
// timestamp, authority and version set, attachments paired with their
// parts, which must all be used.
func (h *Handler) prepare(req *request, sts []map[string]any, parts map[string]cmex.XAPIAttachment) ([]*cmex.XAPIStatement, error) {
	b := h.newBatch(req.r.Context(), req.principal, req.version)
	out := make([]*cmex.XAPIStatement, 0, len(sts))
	for _, m := range sts {
		st, err := b.add(m, parts, false)
		if err != nil {
			return nil, err
		}
		b.keep(st)
		out = append(out, st)
	}
	for sum := range parts {
		if !b.used[sum] {
			return nil, badRequest("part %s belongs to no attachment", sum)
		}
	}
	return out, nil
}

// batch makes the stored form of the statements of one SaveStatements
// call, one at a time.
type batch struct {
	h         *Handler
	ctx       context.Context
	principal *cmex.Principal
	version   string
	now       time.Time
	ids       map[string]bool // the batch's statements so far
	used      map[string]bool // the parts used
}

func (h *Handler) newBatch(ctx context.Context, p *cmex.Principal, version string) *batch {
	return &batch{h: h, ctx: ctx, principal: p, version: version, now: h.now().Truncate(time.Millisecond),
		ids: map[string]bool{}, used: map[string]bool{}}
}

// add makes the stored form of a validated statement m. With restore, a
// statement whose authority is the one this store sets for the provider
// keeps that authority and its stored: it is the statement as this store
// kept it (an export of it). Nothing of the batch changes until keep.
func (b *batch) add(m map[string]any, parts map[string]cmex.XAPIAttachment, restore bool) (*cmex.XAPIStatement, error) {
	if _, ok := m["id"]; !ok {
		m["id"] = b.h.newID()
	}
	id := strings.ToLower(m["id"].(string))
	if b.ids[id] {
		return nil, badRequest("statement %s is in the batch twice", id)
	}
	var atts []cmex.XAPIAttachment
	list, _ := m["attachments"].([]any)
	for _, a := range list {
		am := a.(map[string]any)
		sum := strings.ToLower(fmt.Sprint(am["sha2"]))
		if part, ok := parts[sum]; ok {
			b.used[sum] = true
			atts = append(atts, part)
			if am["usageType"] == signatureUsage {
				if ct, _, _ := mime.ParseMediaType(fmt.Sprint(am["contentType"])); ct != "application/octet-stream" {
					return nil, badRequest("a signature attachment is application/octet-stream")
				}
				if err := checkSignature(m, part.Content); err != nil {
					return nil, err
				}
			}
		} else if _, ok := am["fileUrl"]; !ok {
			return nil, badRequest("attachment %s has neither a fileUrl nor a part", sum)
		}
	}
	sig := signature(m)
	now, stored := b.now, formatTime(b.now)
	authority := authorityOf(b.principal)
	if restore && b.ownAuthority(m["authority"]) {
		if t, err := ParseTime(fmt.Sprint(m["stored"])); err == nil {
			now, stored, authority = t.UTC(), fmt.Sprint(m["stored"]), m["authority"].(map[string]any)
			if m["timestamp"] == m["stored"] {
				// The store set the timestamp, the statement having none:
				// its signature, as when it came, is without it.
				c := maps.Clone(m)
				delete(c, "timestamp")
				sig = signature(c)
			}
		}
	}
	m["stored"] = stored
	if _, ok := m["timestamp"]; !ok {
		m["timestamp"] = stored
	}
	m["authority"] = authority
	if _, ok := m["version"]; !ok {
		if b.version == "1.0.3" {
			m["version"] = "1.0.0"
		} else {
			m["version"] = "2.0.0"
		}
	}
	arrayContextActivities(m)
	var ix index
	ix.statement(m, false)
	js, err := encodeJSON(m)
	if err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	vb := m["verb"].(map[string]any)
	return &cmex.XAPIStatement{
		Organization: b.principal.Organization.ID, ID: id, JSON: js, Signature: sig, Stored: now,
		Verb: vb["id"].(string), Voids: ix.voids, ObjectRef: ix.ref, Registration: ix.registration,
		Agents: ix.agents, RelatedAgents: ix.relatedAgents, Activities: ix.activities, RelatedActivities: ix.relatedActivities,
		Definitions: ix.definitions, Attachments: atts,
	}, nil
}

// keep makes st, made by add, one of the batch's. (Its definitions are
// merged into the stored ones, and the batch's, where it is stored.)
func (b *batch) keep(st *cmex.XAPIStatement) {
	b.ids[st.ID] = true
}

// ownAuthority reports whether x is an authority this store sets for the
// batch's provider (authorityOf, whichever user it names).
func (b *batch) ownAuthority(x any) bool {
	m, _ := x.(map[string]any)
	acct, _ := m["account"].(map[string]any)
	name, _ := acct["name"].(string)
	return m["objectType"] == "Agent" && acct["homePage"] == authorityHome(b.principal) && name != "" && len(m) <= 3
}

// authorityOf is the authority the store sets: the provider's account,
// naming the web-service user or key that sent the statement.
func authorityOf(p *cmex.Principal) map[string]any {
	return map[string]any{"objectType": "Agent", "name": p.Organization.Name, "account": map[string]any{
		"homePage": authorityHome(p), "name": p.User.Username}}
}

// authorityHome is the homePage of the authority's account: the provider.
func authorityHome(p *cmex.Principal) string {
	return "urn:cmex:provider:" + fmt.Sprint(p.Organization.ProviderID)
}

func (h *Handler) putStatement(req *request) error {
	if err := req.allowOnly("statementId"); err != nil {
		return err
	}
	id := req.query["statementId"]
	if id == "" {
		return badRequest("statementId is required")
	}
	if !isUUID(id) {
		return badRequest("statementId must be a UUID")
	}
	sts, parts, err := h.readStatements(req)
	if err != nil {
		return err
	}
	if len(sts) != 1 || strings.HasPrefix(strings.TrimSpace(req.r.Header.Get("Content-Type")), "[") {
		return badRequest("PUT takes one statement")
	}
	if sid, ok := sts[0]["id"].(string); ok && !strings.EqualFold(sid, id) {
		return badRequest("the statement's id differs from statementId")
	}
	sts[0]["id"] = id
	prepared, err := h.prepare(req, sts, parts)
	if err != nil {
		return err
	}
	if err := h.Store.SaveStatements(req.r.Context(), prepared); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) postStatements(req *request) error {
	if err := req.allowOnly(); err != nil {
		return err
	}
	sts, parts, err := h.readStatements(req)
	if err != nil {
		return err
	}
	prepared, err := h.prepare(req, sts, parts)
	if err != nil {
		return err
	}
	if err := h.Store.SaveStatements(req.r.Context(), prepared); err != nil {
		return err
	}
	ids := make([]string, len(prepared))
	for i, st := range prepared {
		ids[i] = st.ID
	}
	writeJSON(req.w, http.StatusOK, ids)
	return nil
}

// pageQuery is a statement query as a more token carries it.
type pageQuery struct {
	Q      cmex.XAPIStatementQuery `json:"q"`
	Format string                  `json:"f,omitempty"`
	Att    bool                    `json:"a,omitempty"`
}

func (h *Handler) getStatements(req *request) error {
	ctx := req.r.Context()
	org := req.principal.Organization.ID
	req.w.Header().Set("X-Experience-API-Consistent-Through", formatTime(h.now()))
	format := req.query["format"]
	switch format {
	case "", "exact", "ids", "canonical":
	default:
		return badRequest("format must be ids, exact or canonical")
	}
	att, err := req.boolParam("attachments")
	if err != nil {
		return err
	}
	if more, ok := req.query["more"]; ok {
		if err := req.allowOnly("more"); err != nil {
			return err
		}
		var pq pageQuery
		if err := decodeToken(more, &pq); err != nil {
			return err
		}
		pq.Q.Organization = org
		return h.writeStatements(req, pq)
	}
	for _, k := range []string{"statementId", "voidedStatementId"} {
		id, ok := req.query[k]
		if !ok {
			continue
		}
		if err := req.allowOnly(k, "format", "attachments"); err != nil {
			return err
		}
		if !isUUID(id) {
			return badRequest("%s must be a UUID", k)
		}
		st, err := h.Store.Statement(ctx, org, strings.ToLower(id))
		if err != nil {
			return err
		}
		if st.Voided != (k == "voidedStatementId") {
			return cmex.Errorf(cmex.ENOTFOUND, "no such statement")
		}
		req.w.Header().Set("Last-Modified", st.Stored.UTC().Format(http.TimeFormat))
		return h.respond(req, []*cmex.XAPIStatement{st}, false, "", format, att)
	}
	if err := req.allowOnly("agent", "verb", "activity", "registration", "related_activities", "related_agents",
		"since", "until", "limit", "format", "attachments", "ascending"); err != nil {
		return err
	}
	q := cmex.XAPIStatementQuery{Organization: org}
	if a, ok := req.query["agent"]; ok {
		m, err := agentParam(a)
		if err != nil {
			return err
		}
		q.Agent = AgentKey(m)
	}
	if v, ok := req.query["verb"]; ok {
		if !isIRI(v) {
			return badRequest("verb must be an IRI")
		}
		q.Verb = v
	}
	if v, ok := req.query["activity"]; ok {
		if !isIRI(v) {
			return badRequest("activity must be an IRI")
		}
		q.Activity = v
	}
	if v, ok := req.query["registration"]; ok {
		if !isUUID(v) {
			return badRequest("registration must be a UUID")
		}
		q.Registration = strings.ToLower(v)
	}
	for name, dst := range map[string]*bool{"related_activities": &q.RelatedActivities, "related_agents": &q.RelatedAgents, "ascending": &q.Ascending} {
		if *dst, err = req.boolParam(name); err != nil {
			return err
		}
	}
	for name, dst := range map[string]*time.Time{"since": &q.Since, "until": &q.Until} {
		if v, ok := req.query[name]; ok {
			if *dst, err = timeParam(v); err != nil {
				return err
			}
		}
	}
	if v, ok := req.query["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("limit must be a non-negative integer")
		}
		q.Limit = n
	}
	return h.writeStatements(req, pageQuery{Q: q, Format: format, Att: att})
}

func (h *Handler) writeStatements(req *request, pq pageQuery) error {
	sts, more, err := h.Store.Statements(req.r.Context(), pq.Q)
	if err != nil {
		return err
	}
	next := ""
	if more && len(sts) > 0 {
		n := pq
		n.Q.After = sts[len(sts)-1].Seq
		n.Q.Organization = 0
		next = "/xapi/statements?more=" + encodeToken(n)
	}
	return h.respond(req, sts, true, next, pq.Format, pq.Att)
}

// respond writes one statement or a result of several, in the format
// asked, as JSON or, with attachments, multipart/mixed.
func (h *Handler) respond(req *request, sts []*cmex.XAPIStatement, result bool, more, format string, att bool) error {
	langs := acceptLanguages(req.r.Header.Get("Accept-Language"))
	var list []any
	var hashes []string
	for _, st := range sts {
		x, err := decodeJSON(st.JSON)
		if err != nil {
			return fmt.Errorf("decode stored statement %s: %w", st.ID, err)
		}
		if att {
			m, _ := x.(map[string]any)
			as, _ := m["attachments"].([]any)
			for _, a := range as {
				am, _ := a.(map[string]any)
				if s, ok := am["sha2"].(string); ok {
					hashes = append(hashes, strings.ToLower(s))
				}
			}
		}
		switch format {
		case "ids":
			x = idsFormat(x)
		case "canonical":
			x = canonicalFormat(x, langs)
		}
		list = append(list, x)
	}
	var v any
	if result {
		if list == nil {
			list = []any{}
		}
		v = map[string]any{"statements": list, "more": more}
	} else {
		v = list[0]
	}
	if !att {
		writeJSON(req.w, http.StatusOK, v)
		return nil
	}
	contents, err := h.Store.Attachments(req.r.Context(), req.principal.Organization.ID, hashes)
	if err != nil {
		return err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode statements: %w", err)
	}
	mw := multipart.NewWriter(req.w)
	req.w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	req.w.WriteHeader(http.StatusOK)
	pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	_, _ = pw.Write(js)
	for _, a := range contents {
		pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {a.ContentType}, "Content-Transfer-Encoding": {"binary"}, "X-Experience-API-Hash": {a.SHA2}})
		_, _ = pw.Write(a.Content)
	}
	return mw.Close()
}

// acceptLanguages lists an Accept-Language header's tags, in its order.
func acceptLanguages(h string) []string {
	var out []string
	for _, part := range strings.Split(h, ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if tag != "" && tag != "*" {
			out = append(out, tag)
		}
	}
	return out
}
