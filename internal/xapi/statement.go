package xapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
)

type jsonNumber = json.Number

// voidedVerb is the verb of a voiding statement.
const voidedVerb = "http://adlnet.gov/expapi/verbs/voided"

// maxDepth bounds the nesting of a decoded JSON value, so that a deep
// document cannot exhaust the stack of anything that walks it.
const maxDepth = 32

// decodeJSON decodes one JSON value, numbers kept as json.Number, and
// refuses trailing data and excessive nesting.
func decodeJSON(data []byte) (any, error) {
	if err := checkDepth(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not JSON: data after the value")
	}
	return x, nil
}

// checkDepth scans the bracket nesting of data, strings skipped, before
// anything decodes it.
func checkDepth(data []byte) error {
	depth, inStr, esc := 0, false, false
	for _, c := range data {
		switch {
		case inStr:
			if esc {
				esc = false
			} else if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			if depth > maxDepth {
				return fmt.Errorf("JSON nested deeper than %d", maxDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// DecodeStatements decodes a statement or an array of statements and
// validates each, returning them as decoded objects.
func DecodeStatements(data []byte) ([]map[string]any, error) {
	x, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	var list []any
	switch t := x.(type) {
	case []any:
		list = t
	case map[string]any:
		list = []any{t}
	default:
		return nil, errors.New("send a statement or an array of statements")
	}
	out := make([]map[string]any, 0, len(list))
	for i, s := range list {
		m, ok := s.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("statement %d is not an object", i)
		}
		if err := Validate(m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Validate checks a decoded statement against the spec's rules and
// returns the first broken one.
func Validate(m map[string]any) error {
	var v validator
	v.statement("statement", m, false)
	return v.err
}

// parseTime parses an xAPI timestamp.
func parseTime(s string) error {
	_, err := ParseTime(s)
	return err
}

// ParseTime parses an ISO 8601 timestamp as xAPI writes them, with or
// without seconds' fractions, the offset with or without a colon.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999Z07"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 timestamp", s)
}

// AgentKey is the key an agent or identified group is indexed and
// filtered by: its one inverse functional identifier. "" for an
// anonymous group.
// The completion profile keys its learner table the same way.
func AgentKey(m map[string]any) string { return cmex.XAPIAgentKey(m) }

// index is what queries select a statement by.
type index struct {
	agents, relatedAgents         []string
	activities, relatedActivities []string
	definitions                   map[string][]byte
	registration, voids, ref      string
}

func (ix *index) add(list *[]string, s string) {
	if s == "" {
		return
	}
	for _, x := range *list {
		if x == s {
			return
		}
	}
	*list = append(*list, s)
}

// actorKeys adds an agent or group and, as related, a group's members.
func (ix *index) actorKeys(x any, related bool) {
	m, _ := x.(map[string]any)
	if m == nil {
		return
	}
	if related {
		ix.add(&ix.relatedAgents, AgentKey(m))
	} else {
		ix.add(&ix.agents, AgentKey(m))
	}
	if mem, ok := m["member"].([]any); ok {
		for _, a := range mem {
			if am, _ := a.(map[string]any); am != nil {
				ix.add(&ix.relatedAgents, AgentKey(am))
			}
		}
	}
}

func (ix *index) activity(x any, related bool) {
	m, _ := x.(map[string]any)
	if m == nil {
		return
	}
	id, _ := m["id"].(string)
	if related {
		ix.add(&ix.relatedActivities, id)
	} else {
		ix.add(&ix.activities, id)
	}
	if def, ok := m["definition"]; ok {
		if ix.definitions == nil {
			ix.definitions = map[string][]byte{}
		}
		ix.definitions[id], _ = encodeJSON(def)
	}
}

// statement indexes a statement; sub marks a sub-statement, all of whose
// agents and activities are related ones.
func (ix *index) statement(m map[string]any, sub bool) {
	ix.actorKeys(m["actor"], sub)
	obj, _ := m["object"].(map[string]any)
	switch obj["objectType"] {
	case nil, "Activity":
		ix.activity(obj, sub)
	case "Agent", "Group":
		ix.actorKeys(obj, sub)
	case "SubStatement":
		ix.statement(obj, true)
	case "StatementRef":
		if !sub {
			ix.ref = strings.ToLower(fmt.Sprint(obj["id"]))
			if vb, _ := m["verb"].(map[string]any); vb != nil && vb["id"] == voidedVerb {
				ix.voids = strings.ToLower(fmt.Sprint(obj["id"]))
			}
		}
	}
	if a, ok := m["authority"]; ok {
		ix.actorKeys(a, true)
	}
	ctx, _ := m["context"].(map[string]any)
	if ctx == nil {
		return
	}
	if !sub {
		if r, ok := ctx["registration"].(string); ok {
			ix.registration = strings.ToLower(r)
		}
	}
	ix.actorKeys(ctx["instructor"], true)
	ix.actorKeys(ctx["team"], true)
	for _, k := range []string{"contextAgents", "contextGroups"} {
		list, _ := ctx[k].([]any)
		for _, c := range list {
			cm, _ := c.(map[string]any)
			ix.actorKeys(cm["agent"], true)
			ix.actorKeys(cm["group"], true)
		}
	}
	if ca, ok := ctx["contextActivities"].(map[string]any); ok {
		for _, val := range ca {
			list, ok := val.([]any)
			if !ok {
				list = []any{val}
			}
			for _, a := range list {
				ix.activity(a, true)
			}
		}
	}
}

// signature is the hash of a statement's canonical form without what an
// LRS sets (stored, authority, version), so that the same statement sent
// again is recognised: its JSON re-encoded with sorted keys, timestamps
// compared as instants.
func signature(m map[string]any) string {
	c := make(map[string]any, len(m))
	for k, v := range m {
		switch k {
		case "stored", "authority", "version", "id":
		case "result", "object":
			c[k] = truncateDurations(v)
		case "timestamp":
			if s, ok := v.(string); ok {
				if t, err := ParseTime(s); err == nil {
					v = t.UTC().Format(time.RFC3339Nano)
				}
			}
			c[k] = v
		default:
			c[k] = v
		}
	}
	b, _ := encodeJSON(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// idsFormat reduces a statement to the ids format: agents and groups to
// their identifiers, activities and verbs to their ids.
func idsFormat(x any) any {
	switch t := x.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, v := range t {
			switch k {
			case "actor", "instructor", "team", "authority", "agent", "group":
				out[k] = idsAgent(v)
			case "object":
				out[k] = idsObject(v)
			case "verb":
				vm, _ := v.(map[string]any)
				out[k] = map[string]any{"id": vm["id"]}
			case "contextActivities":
				ca, _ := v.(map[string]any)
				o := map[string]any{}
				for ck, cv := range ca {
					list, ok := cv.([]any)
					if !ok {
						list = []any{cv}
					}
					var ids []any
					for _, a := range list {
						am, _ := a.(map[string]any)
						ids = append(ids, map[string]any{"objectType": "Activity", "id": am["id"]})
					}
					o[ck] = ids
				}
				out[k] = o
			default:
				out[k] = idsFormat(v)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, v := range t {
			out[i] = idsFormat(v)
		}
		return out
	}
	return x
}

func idsAgent(x any) any {
	m, _ := x.(map[string]any)
	if m == nil {
		return x
	}
	out := map[string]any{}
	for _, k := range []string{"objectType", "mbox", "mbox_sha1sum", "openid", "account"} {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	if mem, ok := m["member"].([]any); ok && AgentKey(m) == "" {
		var l []any
		for _, a := range mem {
			l = append(l, idsAgent(a))
		}
		out["member"] = l
	}
	return out
}

func idsObject(x any) any {
	m, _ := x.(map[string]any)
	switch m["objectType"] {
	case nil, "Activity":
		return map[string]any{"id": m["id"]}
	case "Agent", "Group":
		return idsAgent(m)
	case "SubStatement":
		return idsFormat(m)
	}
	return m
}

// canonicalFormat keeps one language of every language map: the first
// of the client's languages the map has, else any one.
func canonicalFormat(x any, langs []string) any {
	switch t := x.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, v := range t {
			if (k == "display" || k == "name" || k == "description") && isLangMap(v) {
				out[k] = pickLang(v.(map[string]any), langs)
				continue
			}
			out[k] = canonicalFormat(v, langs)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, v := range t {
			out[i] = canonicalFormat(v, langs)
		}
		return out
	}
	return x
}

func isLangMap(x any) bool {
	m, ok := x.(map[string]any)
	if !ok {
		return false
	}
	for _, v := range m {
		if _, ok := v.(string); !ok {
			return false
		}
	}
	return true
}

func pickLang(m map[string]any, langs []string) map[string]any {
	for _, l := range langs {
		for k, v := range m {
			if strings.EqualFold(k, l) || strings.HasPrefix(strings.ToLower(k), strings.ToLower(l)+"-") {
				return map[string]any{k: v}
			}
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return m
	}
	first := keys[0]
	for _, k := range keys {
		if k < first {
			first = k
		}
	}
	return map[string]any{first: m[first]}
}

// durationSecRe finds the seconds of a duration, to compare them to the
// hundredth of a second, as the spec's equivalence asks.
var durationSecRe = regexp.MustCompile(`(\d+)\.(\d{0,2})\d*S$`)

// truncateDurations copies a result (or an object's result) with its
// duration's seconds truncated to hundredths.
func truncateDurations(x any) any {
	m, ok := x.(map[string]any)
	if !ok {
		return x
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		switch k {
		case "duration":
			if s, ok := v.(string); ok {
				v = durationSecRe.ReplaceAllStringFunc(s, func(sec string) string {
					p := durationSecRe.FindStringSubmatch(sec)
					frac := strings.TrimRight(p[2], "0")
					if frac == "" {
						return p[1] + "S"
					}
					return p[1] + "." + frac + "S"
				})
			}
		case "result":
			v = truncateDurations(v)
		}
		c[k] = v
	}
	return c
}

// arrayContextActivities rewrites a context's single context activities
// as arrays of one, the form the spec has an LRS return.
func arrayContextActivities(m map[string]any) {
	if ctx, ok := m["context"].(map[string]any); ok {
		if ca, ok := ctx["contextActivities"].(map[string]any); ok {
			for k, v := range ca {
				if _, ok := v.([]any); !ok {
					ca[k] = []any{v}
				}
			}
		}
	}
	if obj, ok := m["object"].(map[string]any); ok && obj["objectType"] == "SubStatement" {
		arrayContextActivities(obj)
	}
}
