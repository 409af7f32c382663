package xapi

import (
	"fmt"
	"net/mail"
	"regexp"
	"strings"
)

// A validator walks one decoded statement (json.Number numbers) and keeps
// the first rule it breaks: a client gets one clear reason per 400.
type validator struct{ err error }

func (v *validator) fail(path, format string, args ...any) {
	if v.err == nil {
		v.err = fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
	}
}

var (
	uuidRe     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	iriRe      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>"{}|\\^` + "`" + `]+$`)
	sha1Re     = regexp.MustCompile(`^[0-9a-fA-F]{40}$`)
	langRe     = regexp.MustCompile(`^(?i:[a-z]{2,8}(-[a-z0-9]{1,8})*|x(-[a-z0-9]{1,8})+|i-[a-z]+)$`)
	timeRe     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)$`)
	versionRe  = regexp.MustCompile(`^(1\.0|2\.0)(\.\d+)?$`)
	durationRe = regexp.MustCompile(`^P(\d+(\.\d+)?W|(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?D)?(T(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?)$`)
)

// isIRI is a loose IRI check: a scheme and no spaces. The spec asks for
// an IRI; the suite sends strings without a scheme as the bad case.
// It is iriRe written out, which a statement runs a dozen times: the
// regular expression was a quarter of decoding one.
func isIRI(s string) bool {
	colon := strings.IndexByte(s, ':')
	if colon < 1 || colon == len(s)-1 || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < colon; i++ {
		if c := s[i]; !isLetter(c) && !(c >= '0' && c <= '9') && c != '+' && c != '.' && c != '-' {
			return false
		}
	}
	for i := colon + 1; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\f', '\r', '<', '>', '"', '{', '}', '|', '\\', '^', '`':
			return false
		}
	}
	return true
}

// isLangTag is langRe, its first form (letters, then subtags of letters
// and digits: en-US) written out, the others left to it.
func isLangTag(s string) bool {
	n, sub := 0, 0 // letters of the first subtag; characters of a later one
	first := true
	for i := range len(s) {
		c := s[i]
		switch {
		case c == '-':
			if first && n < 2 || !first && sub == 0 {
				return langRe.MatchString(s)
			}
			first, sub = false, 0
		case first && isLetter(c) && n < 8:
			n++
		case !first && (isLetter(c) || c >= '0' && c <= '9') && sub < 8:
			sub++
		default:
			return langRe.MatchString(s)
		}
	}
	if first && n >= 2 || !first && sub > 0 {
		return true
	}
	return langRe.MatchString(s)
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isUUID checks the textual form of a UUID.
// It is uuidRe written out.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// isTimestamp is ISO 8601 as xAPI uses it, with the offset xAPI forbids
// (-00:00) refused.
func isTimestamp(s string) bool {
	if !timeRe.MatchString(s) {
		return false
	}
	for _, bad := range []string{"-00:00", "-0000", "-00"} {
		if strings.HasSuffix(s, bad) {
			return false
		}
	}
	return parseTime(s) == nil
}

func isDuration(s string) bool {
	return durationRe.MatchString(s) && s != "P" && !strings.HasSuffix(s, "T")
}

func (v *validator) object(path string, x any) map[string]any {
	m, ok := x.(map[string]any)
	if !ok {
		v.fail(path, "must be a JSON object")
	}
	return m
}

func (v *validator) keys(path string, m map[string]any, allowed ...string) {
	for k, val := range m {
		found := false
		for _, a := range allowed {
			if k == a {
				found = true
				break
			}
		}
		if !found {
			v.fail(path, "property %q is not allowed here", k)
		}
		if val == nil {
			v.fail(path+"."+k, "must not be null")
		}
	}
}

func (v *validator) str(path string, x any) (string, bool) {
	s, ok := x.(string)
	if !ok {
		v.fail(path, "must be a string")
	}
	return s, ok
}

func (v *validator) iri(path string, x any) {
	if s, ok := v.str(path, x); ok && !isIRI(s) {
		v.fail(path, "must be an IRI")
	}
}

func (v *validator) uuid(path string, x any) {
	if s, ok := v.str(path, x); ok && !isUUID(s) {
		v.fail(path, "must be a UUID")
	}
}

func (v *validator) boolean(path string, x any) {
	if _, ok := x.(bool); !ok {
		v.fail(path, "must be true or false")
	}
}

func (v *validator) timestamp(path string, x any) {
	if s, ok := v.str(path, x); ok && !isTimestamp(s) {
		v.fail(path, "must be an ISO 8601 timestamp")
	}
}

func (v *validator) langMap(path string, x any) {
	m := v.object(path, x)
	for k, val := range m {
		if !isLangTag(k) {
			v.fail(path, "%q is not a language tag", k)
		}
		v.str(path+"."+k, val)
	}
}

func (v *validator) extensions(path string, x any) {
	for k := range v.object(path, x) {
		if !isIRI(k) {
			v.fail(path, "key %q must be an IRI", k)
		}
	}
}

// actor validates an Agent or a Group.
func (v *validator) actor(path string, x any) {
	m := v.object(path, x)
	if m == nil {
		return
	}
	if m["objectType"] == "Group" {
		v.group(path, m)
		return
	}
	v.agent(path, m)
}

func (v *validator) agent(path string, m map[string]any) {
	v.keys(path, m, "objectType", "name", "mbox", "mbox_sha1sum", "openid", "account")
	if t, ok := m["objectType"]; ok && t != "Agent" {
		v.fail(path+".objectType", "must be Agent")
	}
	if n, ok := m["name"]; ok {
		v.str(path+".name", n)
	}
	if v.ifis(path, m) != 1 {
		v.fail(path, "an Agent must have exactly one of mbox, mbox_sha1sum, openid and account")
	}
}

func (v *validator) group(path string, m map[string]any) {
	v.keys(path, m, "objectType", "name", "mbox", "mbox_sha1sum", "openid", "account", "member")
	if n, ok := m["name"]; ok {
		v.str(path+".name", n)
	}
	n := v.ifis(path, m)
	if n > 1 {
		v.fail(path, "a Group has at most one of mbox, mbox_sha1sum, openid and account")
	}
	mem, has := m["member"]
	if !has {
		if n == 0 {
			v.fail(path, "an anonymous Group must list its members")
		}
		return
	}
	list, ok := mem.([]any)
	if !ok {
		v.fail(path+".member", "must be an array")
		return
	}
	if n == 0 && len(list) == 0 {
		v.fail(path+".member", "an anonymous Group must list its members")
	}
	for i, a := range list {
		p := fmt.Sprintf("%s.member[%d]", path, i)
		am := v.object(p, a)
		if am != nil {
			if am["objectType"] == "Group" {
				v.fail(p, "a Group's member must be an Agent")
				continue
			}
			v.agent(p, am)
		}
	}
}

// ifis validates the inverse functional identifiers of m and counts them.
func (v *validator) ifis(path string, m map[string]any) int {
	n := 0
	if x, ok := m["mbox"]; ok {
		n++
		if s, ok := v.str(path+".mbox", x); ok {
			addr, found := strings.CutPrefix(s, "mailto:")
			if _, err := mail.ParseAddress(addr); !found || err != nil || strings.ContainsAny(addr, " <>") {
				v.fail(path+".mbox", "must be mailto: and an email address")
			}
		}
	}
	if x, ok := m["mbox_sha1sum"]; ok {
		n++
		if s, ok := v.str(path+".mbox_sha1sum", x); ok && !sha1Re.MatchString(s) {
			v.fail(path+".mbox_sha1sum", "must be the hex SHA-1 of a mailto IRI")
		}
	}
	if x, ok := m["openid"]; ok {
		n++
		v.iri(path+".openid", x)
	}
	if x, ok := m["account"]; ok {
		n++
		a := v.object(path+".account", x)
		if a != nil {
			v.keys(path+".account", a, "homePage", "name")
			if hp, ok := a["homePage"]; !ok {
				v.fail(path+".account", "homePage is required")
			} else {
				v.iri(path+".account.homePage", hp)
			}
			if nm, ok := a["name"]; !ok {
				v.fail(path+".account", "name is required")
			} else {
				v.str(path+".account.name", nm)
			}
		}
	}
	return n
}

func (v *validator) verb(path string, x any) {
	m := v.object(path, x)
	if m == nil {
		return
	}
	v.keys(path, m, "id", "display")
	if id, ok := m["id"]; ok {
		v.iri(path+".id", id)
	} else {
		v.fail(path, "id is required")
	}
	if d, ok := m["display"]; ok {
		v.langMap(path+".display", d)
	}
}

var interactionTypes = map[string][]string{
	"true-false": nil, "choice": {"choices"}, "fill-in": nil, "long-fill-in": nil,
	"matching": {"source", "target"}, "performance": {"steps"}, "sequencing": {"choices"},
	"likert": {"scale"}, "numeric": nil, "other": nil,
}

func (v *validator) activity(path string, m map[string]any) {
	v.keys(path, m, "objectType", "id", "definition")
	if id, ok := m["id"]; ok {
		v.iri(path+".id", id)
	} else {
		v.fail(path, "id is required")
	}
	d, ok := m["definition"]
	if !ok {
		return
	}
	def := v.object(path+".definition", d)
	if def == nil {
		return
	}
	p := path + ".definition"
	v.keys(p, def, "name", "description", "type", "moreInfo", "interactionType", "correctResponsesPattern",
		"choices", "scale", "source", "target", "steps", "extensions")
	for _, k := range []string{"name", "description"} {
		if x, ok := def[k]; ok {
			v.langMap(p+"."+k, x)
		}
	}
	for _, k := range []string{"type", "moreInfo"} {
		if x, ok := def[k]; ok {
			v.iri(p+"."+k, x)
		}
	}
	if x, ok := def["extensions"]; ok {
		v.extensions(p+".extensions", x)
	}
	var allowed []string
	if x, ok := def["interactionType"]; ok {
		s, _ := v.str(p+".interactionType", x)
		comps, known := interactionTypes[s]
		if !known {
			v.fail(p+".interactionType", "%q is not an interaction type", s)
		}
		allowed = comps
	}
	if x, ok := def["correctResponsesPattern"]; ok {
		if _, ok := def["interactionType"]; !ok {
			v.fail(p, "correctResponsesPattern needs an interactionType")
		}
		list, ok := x.([]any)
		if !ok {
			v.fail(p+".correctResponsesPattern", "must be an array of strings")
		}
		for i, s := range list {
			v.str(fmt.Sprintf("%s.correctResponsesPattern[%d]", p, i), s)
		}
	}
	for _, k := range []string{"choices", "scale", "source", "target", "steps"} {
		x, ok := def[k]
		if !ok {
			continue
		}
		found := false
		for _, a := range allowed {
			found = found || a == k
		}
		if !found {
			v.fail(p+"."+k, "is not a component of this interactionType")
		}
		list, ok := x.([]any)
		if !ok {
			v.fail(p+"."+k, "must be an array")
			continue
		}
		seen := map[string]bool{}
		for i, c := range list {
			cp := fmt.Sprintf("%s.%s[%d]", p, k, i)
			cm := v.object(cp, c)
			if cm == nil {
				continue
			}
			v.keys(cp, cm, "id", "description")
			id, ok := cm["id"].(string)
			if !ok {
				v.fail(cp+".id", "must be a string")
			} else if seen[id] {
				v.fail(cp+".id", "ids of interaction components must be distinct")
			}
			seen[id] = true
			if dsc, ok := cm["description"]; ok {
				v.langMap(cp+".description", dsc)
			}
		}
	}
}

func (v *validator) statementRef(path string, m map[string]any) {
	v.keys(path, m, "objectType", "id")
	if id, ok := m["id"]; ok {
		v.uuid(path+".id", id)
	} else {
		v.fail(path, "id is required")
	}
}

// object validates a statement's object; sub is whether it belongs to a
// sub-statement, which may not hold another.
func (v *validator) object_(path string, x any, sub bool) {
	m := v.object(path, x)
	if m == nil {
		return
	}
	t, has := m["objectType"]
	if has {
		if _, ok := t.(string); !ok {
			v.fail(path+".objectType", "must be a string")
			return
		}
	}
	switch t {
	case nil, "Activity":
		v.activity(path, m)
	case "Agent":
		v.agent(path, m)
	case "Group":
		v.group(path, m)
	case "StatementRef":
		v.statementRef(path, m)
	case "SubStatement":
		if sub {
			v.fail(path, "a SubStatement cannot hold a SubStatement")
			return
		}
		v.statement(path, m, true)
	default:
		v.fail(path+".objectType", "%q is not an object type", t)
	}
}

func (v *validator) result(path string, x any) {
	m := v.object(path, x)
	if m == nil {
		return
	}
	v.keys(path, m, "score", "success", "completion", "response", "duration", "extensions")
	if s, ok := m["score"]; ok {
		v.score(path+".score", s)
	}
	for _, k := range []string{"success", "completion"} {
		if b, ok := m[k]; ok {
			v.boolean(path+"."+k, b)
		}
	}
	if r, ok := m["response"]; ok {
		v.str(path+".response", r)
	}
	if d, ok := m["duration"]; ok {
		if s, ok := v.str(path+".duration", d); ok && !isDuration(s) {
			v.fail(path+".duration", "must be an ISO 8601 duration")
		}
	}
	if e, ok := m["extensions"]; ok {
		v.extensions(path+".extensions", e)
	}
}

func (v *validator) number(path string, x any) (float64, bool) {
	n, ok := x.(jsonNumber)
	if !ok {
		v.fail(path, "must be a number")
		return 0, false
	}
	f, err := n.Float64()
	if err != nil {
		v.fail(path, "must be a number")
		return 0, false
	}
	return f, true
}

func (v *validator) score(path string, x any) {
	m := v.object(path, x)
	if m == nil {
		return
	}
	v.keys(path, m, "scaled", "raw", "min", "max")
	num := map[string]float64{}
	for _, k := range []string{"scaled", "raw", "min", "max"} {
		if n, ok := m[k]; ok {
			if f, ok := v.number(path+"."+k, n); ok {
				num[k] = f
			}
		}
	}
	if s, ok := num["scaled"]; ok && (s < -1 || s > 1) {
		v.fail(path+".scaled", "must be between -1 and 1")
	}
	mn, hasMin := num["min"]
	mx, hasMax := num["max"]
	if hasMin && hasMax && mn >= mx {
		v.fail(path, "min must be less than max")
	}
	if r, ok := num["raw"]; ok {
		if hasMin && r < mn || hasMax && r > mx {
			v.fail(path+".raw", "must be between min and max")
		}
	}
}

func (v *validator) context(path string, x any, objectIsActivity bool) {
	m := v.object(path, x)
	if m == nil {
		return
	}
	v.keys(path, m, "registration", "instructor", "team", "contextActivities", "revision", "platform",
		"language", "statement", "extensions", "contextAgents", "contextGroups")
	if r, ok := m["registration"]; ok {
		v.uuid(path+".registration", r)
	}
	if i, ok := m["instructor"]; ok {
		v.actor(path+".instructor", i)
	}
	if t, ok := m["team"]; ok {
		tm := v.object(path+".team", t)
		if tm != nil {
			if tm["objectType"] != "Group" {
				v.fail(path+".team", "must be a Group")
			} else {
				v.group(path+".team", tm)
			}
		}
	}
	for _, k := range []string{"revision", "platform"} {
		if s, ok := m[k]; ok {
			v.str(path+"."+k, s)
			if !objectIsActivity {
				v.fail(path+"."+k, "is allowed only when the object is an Activity")
			}
		}
	}
	if l, ok := m["language"]; ok {
		if s, ok := v.str(path+".language", l); ok && !isLangTag(s) {
			v.fail(path+".language", "must be a language tag")
		}
	}
	if s, ok := m["statement"]; ok {
		sm := v.object(path+".statement", s)
		if sm != nil {
			if sm["objectType"] != "StatementRef" {
				v.fail(path+".statement", "must be a StatementRef")
			}
			v.statementRef(path+".statement", sm)
		}
	}
	if e, ok := m["extensions"]; ok {
		v.extensions(path+".extensions", e)
	}
	if ca, ok := m["contextActivities"]; ok {
		cm := v.object(path+".contextActivities", ca)
		v.keys(path+".contextActivities", cm, "parent", "grouping", "category", "other")
		for k, val := range cm {
			p := path + ".contextActivities." + k
			list, ok := val.([]any)
			if !ok {
				list = []any{val}
			}
			for i, a := range list {
				ap := fmt.Sprintf("%s[%d]", p, i)
				am := v.object(ap, a)
				if am != nil {
					if t, ok := am["objectType"]; ok && t != "Activity" {
						v.fail(ap, "must be an Activity")
					}
					v.activity(ap, am)
				}
			}
		}
	}
	for _, k := range []string{"contextAgents", "contextGroups"} {
		val, ok := m[k]
		if !ok {
			continue
		}
		list, ok := val.([]any)
		if !ok {
			v.fail(path+"."+k, "must be an array")
			continue
		}
		for i, c := range list {
			cp := fmt.Sprintf("%s.%s[%d]", path, k, i)
			cm := v.object(cp, c)
			if cm == nil {
				continue
			}
			v.keys(cp, cm, "objectType", "agent", "group", "relevantTypes")
			want, member := "contextAgent", "agent"
			if k == "contextGroups" {
				want, member = "contextGroup", "group"
			}
			if cm["objectType"] != want {
				v.fail(cp+".objectType", "must be %s", want)
			}
			if a, ok := cm[member]; !ok {
				v.fail(cp, "%s is required", member)
			} else if k == "contextAgents" {
				if am := v.object(cp+".agent", a); am != nil {
					v.agent(cp+".agent", am)
				}
			} else if gm := v.object(cp+".group", a); gm != nil {
				if gm["objectType"] != "Group" {
					v.fail(cp+".group", "must be a Group")
				}
				v.group(cp+".group", gm)
			}
			if rt, ok := cm["relevantTypes"]; ok {
				l, ok := rt.([]any)
				if !ok || len(l) == 0 {
					v.fail(cp+".relevantTypes", "must be a non-empty array of IRIs")
				}
				for j, t := range l {
					v.iri(fmt.Sprintf("%s.relevantTypes[%d]", cp, j), t)
				}
			}
		}
	}
}

func (v *validator) attachments(path string, x any) {
	list, ok := x.([]any)
	if !ok {
		v.fail(path, "must be an array")
		return
	}
	for i, a := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		m := v.object(p, a)
		if m == nil {
			continue
		}
		v.keys(p, m, "usageType", "display", "description", "contentType", "length", "sha2", "fileUrl")
		for _, k := range []string{"usageType", "display", "contentType", "length", "sha2"} {
			if _, ok := m[k]; !ok {
				v.fail(p, "%s is required", k)
			}
		}
		if u, ok := m["usageType"]; ok {
			v.iri(p+".usageType", u)
		}
		for _, k := range []string{"display", "description"} {
			if d, ok := m[k]; ok {
				v.langMap(p+"."+k, d)
			}
		}
		if c, ok := m["contentType"]; ok {
			if s, ok := v.str(p+".contentType", c); ok && !strings.Contains(s, "/") {
				v.fail(p+".contentType", "must be an Internet Media Type")
			}
		}
		if l, ok := m["length"]; ok {
			if f, ok := v.number(p+".length", l); ok && (f < 0 || f != float64(int64(f))) {
				v.fail(p+".length", "must be a non-negative integer")
			}
		}
		if s, ok := m["sha2"]; ok {
			v.str(p+".sha2", s)
		}
		if u, ok := m["fileUrl"]; ok {
			v.iri(p+".fileUrl", u)
		}
	}
}

// statement validates a statement or, with sub, a SubStatement.
func (v *validator) statement(path string, m map[string]any, sub bool) {
	if sub {
		v.keys(path, m, "objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments")
	} else {
		v.keys(path, m, "id", "actor", "verb", "object", "result", "context", "timestamp", "stored", "authority", "version", "attachments")
		if id, ok := m["id"]; ok {
			v.uuid(path+".id", id)
		}
	}
	for _, k := range []string{"actor", "verb", "object"} {
		if _, ok := m[k]; !ok {
			v.fail(path, "%s is required", k)
		}
	}
	if v.err != nil {
		return
	}
	v.actor(path+".actor", m["actor"])
	v.verb(path+".verb", m["verb"])
	v.object_(path+".object", m["object"], sub)
	if r, ok := m["result"]; ok {
		v.result(path+".result", r)
	}
	obj, _ := m["object"].(map[string]any)
	isActivity := obj != nil && (obj["objectType"] == nil || obj["objectType"] == "Activity")
	if c, ok := m["context"]; ok {
		v.context(path+".context", c, isActivity)
	}
	for _, k := range []string{"timestamp", "stored"} {
		if t, ok := m[k]; ok {
			v.timestamp(path+"."+k, t)
		}
	}
	if a, ok := m["authority"]; ok {
		v.actor(path+".authority", a)
		if am, _ := a.(map[string]any); am != nil && am["objectType"] == "Group" {
			if mem, _ := am["member"].([]any); len(mem) != 2 || AgentKey(am) != "" {
				v.fail(path+".authority", "a Group as authority is anonymous and has two members (an OAuth consumer and a user)")
			}
		}
	}
	if ver, ok := m["version"]; ok {
		if s, ok := v.str(path+".version", ver); ok && !versionRe.MatchString(s) {
			v.fail(path+".version", "must be 1.0.x or 2.0.x")
		}
	}
	if a, ok := m["attachments"]; ok {
		v.attachments(path+".attachments", a)
	}
	if vb, _ := m["verb"].(map[string]any); vb != nil && vb["id"] == voidedVerb {
		if obj == nil || obj["objectType"] != "StatementRef" {
			v.fail(path+".object", "a voiding statement's object must be a StatementRef")
		}
	}
}
