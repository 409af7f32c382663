package xapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cmexhub/cmex/internal/xapi"
)

// base is a valid statement the cases change one thing of.
const base = `{"actor":{"objectType":"Agent","mbox":"mailto:jane@example.org"},
 "verb":{"id":"http://adlnet.gov/expapi/verbs/completed","display":{"en-US":"completed"}},
 "object":{"id":"http://example.org/course","definition":{"name":{"en-US":"Course"}}}}`

// with returns base with edit applied to its decoded form.
func with(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(base), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ := json.Marshal(m)
	return b
}

func obj(s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	return m
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(m map[string]any)
		bad  string // a part of the error, or "" for valid
	}{
		{"valid", func(m map[string]any) {}, ""},
		{"an id that is a UUID", func(m map[string]any) { m["id"] = "FD41C918-B88B-4B20-A0A5-A4C32391AAA0" }, ""},
		{"an id that is not", func(m map[string]any) { m["id"] = "not-a-uuid" }, "UUID"},
		{"no actor", func(m map[string]any) { delete(m, "actor") }, "actor is required"},
		{"an agent with two IFIs", func(m map[string]any) {
			m["actor"] = obj(`{"mbox":"mailto:a@b.org","openid":"http://openid.example.org/a"}`)
		}, "exactly one"},
		{"an agent without IFI", func(m map[string]any) { m["actor"] = obj(`{"name":"Jane"}`) }, "exactly one"},
		{"an mbox without mailto", func(m map[string]any) { m["actor"] = obj(`{"mbox":"jane@example.org"}`) }, "mailto"},
		{"an account without homePage", func(m map[string]any) { m["actor"] = obj(`{"account":{"name":"jane"}}`) }, "homePage"},
		{"an anonymous group without members", func(m map[string]any) { m["actor"] = obj(`{"objectType":"Group"}`) }, "members"},
		{"an identified group", func(m map[string]any) {
			m["actor"] = obj(`{"objectType":"Group","mbox":"mailto:g@example.org","member":[{"mbox":"mailto:a@example.org"}]}`)
		}, ""},
		{"a group as a group's member", func(m map[string]any) {
			m["actor"] = obj(`{"objectType":"Group","member":[{"objectType":"Group","mbox":"mailto:g@example.org"}]}`)
		}, "member must be an Agent"},
		{"a verb id that is no IRI", func(m map[string]any) { m["verb"] = obj(`{"id":"completed"}`) }, "IRI"},
		{"a language map with a bad tag", func(m map[string]any) { m["verb"] = obj(`{"id":"http://x.org/v","display":{"not a tag":"x"}}`) }, "language tag"},
		{"an unknown property", func(m map[string]any) { m["colour"] = "blue" }, "not allowed"},
		{"null", func(m map[string]any) { m["result"] = nil }, "null"},
		{"an unknown interaction type", func(m map[string]any) {
			m["object"] = obj(`{"id":"http://x.org/q","definition":{"interactionType":"essay"}}`)
		}, "interaction type"},
		{"choices of a true-false", func(m map[string]any) {
			m["object"] = obj(`{"id":"http://x.org/q","definition":{"interactionType":"true-false","choices":[{"id":"a"}]}}`)
		}, "not a component"},
		{"choices of a choice", func(m map[string]any) {
			m["object"] = obj(`{"id":"http://x.org/q","definition":{"interactionType":"choice","choices":[{"id":"a"},{"id":"b"}]}}`)
		}, ""},
		{"duplicate component ids", func(m map[string]any) {
			m["object"] = obj(`{"id":"http://x.org/q","definition":{"interactionType":"choice","choices":[{"id":"a"},{"id":"a"}]}}`)
		}, "distinct"},
		{"scaled above 1", func(m map[string]any) { m["result"] = obj(`{"score":{"scaled":1.5}}`) }, "between -1 and 1"},
		{"raw above max", func(m map[string]any) { m["result"] = obj(`{"score":{"raw":11,"min":0,"max":10}}`) }, "between min and max"},
		{"min not below max", func(m map[string]any) { m["result"] = obj(`{"score":{"min":5,"max":5}}`) }, "less than max"},
		{"a duration", func(m map[string]any) { m["result"] = obj(`{"duration":"PT1H30M5.25S"}`) }, ""},
		{"a bad duration", func(m map[string]any) { m["result"] = obj(`{"duration":"1 hour"}`) }, "duration"},
		{"a timestamp", func(m map[string]any) { m["timestamp"] = "2026-03-01T12:00:00.123+01:00" }, ""},
		{"a timestamp at -00:00", func(m map[string]any) { m["timestamp"] = "2026-03-01T12:00:00-00:00" }, "ISO 8601"},
		{"a timestamp that is a date", func(m map[string]any) { m["timestamp"] = "2026-03-01" }, "ISO 8601"},
		{"an extension key that is no IRI", func(m map[string]any) { m["result"] = obj(`{"extensions":{"credits":1}}`) }, "IRI"},
		{"revision when the object is an agent", func(m map[string]any) {
			m["object"] = obj(`{"objectType":"Agent","mbox":"mailto:b@example.org"}`)
			m["context"] = obj(`{"revision":"2"}`)
		}, "only when the object is an Activity"},
		{"a registration that is no UUID", func(m map[string]any) { m["context"] = obj(`{"registration":"abc"}`) }, "UUID"},
		{"a single context activity", func(m map[string]any) {
			m["context"] = obj(`{"contextActivities":{"parent":{"id":"http://x.org/p"}}}`)
		}, ""},
		{"a voiding statement of an activity", func(m map[string]any) {
			m["verb"] = obj(`{"id":"http://adlnet.gov/expapi/verbs/voided"}`)
		}, "StatementRef"},
		{"a voiding statement", func(m map[string]any) {
			m["verb"] = obj(`{"id":"http://adlnet.gov/expapi/verbs/voided"}`)
			m["object"] = obj(`{"objectType":"StatementRef","id":"fd41c918-b88b-4b20-a0a5-a4c32391aaa0"}`)
		}, ""},
		{"a sub-statement", func(m map[string]any) {
			m["object"] = obj(`{"objectType":"SubStatement","actor":{"mbox":"mailto:b@example.org"},"verb":{"id":"http://x.org/v"},"object":{"id":"http://x.org/a"}}`)
		}, ""},
		{"a sub-statement with an id", func(m map[string]any) {
			m["object"] = obj(`{"objectType":"SubStatement","id":"fd41c918-b88b-4b20-a0a5-a4c32391aaa0","actor":{"mbox":"mailto:b@example.org"},"verb":{"id":"http://x.org/v"},"object":{"id":"http://x.org/a"}}`)
		}, "not allowed"},
		{"a sub-statement in a sub-statement", func(m map[string]any) {
			m["object"] = obj(`{"objectType":"SubStatement","actor":{"mbox":"mailto:b@example.org"},"verb":{"id":"http://x.org/v"},
				"object":{"objectType":"SubStatement","actor":{"mbox":"mailto:b@example.org"},"verb":{"id":"http://x.org/v"},"object":{"id":"http://x.org/a"}}}`)
		}, "cannot hold a SubStatement"},
		{"an attachment without sha2", func(m map[string]any) {
			m["attachments"] = []any{obj(`{"usageType":"http://x.org/u","display":{"en":"x"},"contentType":"text/plain","length":1}`)}
		}, "sha2 is required"},
		{"an authority group of three", func(m map[string]any) {
			m["authority"] = obj(`{"objectType":"Group","member":[{"mbox":"mailto:a@x.org"},{"mbox":"mailto:b@x.org"},{"mbox":"mailto:c@x.org"}]}`)
		}, "two members"},
		{"a version 3", func(m map[string]any) { m["version"] = "3.0.0" }, "1.0.x or 2.0.x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := xapi.DecodeStatements(with(t, c.edit))
			switch {
			case c.bad == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.bad != "" && err == nil:
				t.Errorf("accepted, want an error about %q", c.bad)
			case c.bad != "" && !strings.Contains(err.Error(), c.bad):
				t.Errorf("error %q does not say %q", err, c.bad)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":       `{"actor":`,
		"trailing data":  base + ` {}`,
		"a string":       `"statement"`,
		"too deep":       strings.Repeat("[", 100) + strings.Repeat("]", 100),
		"not an object":  `[1]`,
		"number as verb": `{"actor":{"mbox":"mailto:a@b.org"},"verb":1,"object":{"id":"http://x.org/a"}}`,
	} {
		if _, err := xapi.DecodeStatements([]byte(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseTime(t *testing.T) {
	for _, s := range []string{"2026-03-01T12:00:00Z", "2026-03-01T12:00:00.123456+0100", "2026-03-01T12:00:00+01"} {
		if _, err := xapi.ParseTime(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := xapi.ParseTime("yesterday"); err == nil {
		t.Error("yesterday parsed")
	}
}
