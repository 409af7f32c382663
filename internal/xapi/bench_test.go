package xapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cmexhub/cmex/internal/xapi"
)

// benchStatement is a statement as an LMS sends it: an actor with an
// mbox, a verb with its display, an activity with its definition, a
// result with a score, a context with a registration, parent and
// category activities and extensions, and a timestamp (about 1.2 KB).
func benchStatement(i int) string {
	return fmt.Sprintf(`{"id":"%08x-1b2c-4d3e-8f40-123456789abc","actor":{"objectType":"Agent","name":"Learner Number%d","mbox":"mailto:learner%d@bench.example.org"},`+
		`"verb":{"id":"http://adlnet.gov/expapi/verbs/experienced","display":{"en-US":"experienced"}},`+
		`"object":{"objectType":"Activity","id":"https://lms.bench.example.org/courses/3/au/%d","definition":{"name":{"en-US":"Internal Medicine Update 3, unit %d"},`+
		`"description":{"en-US":"A unit of a synthetic activity."},"type":"http://adlnet.gov/expapi/activities/lesson","moreInfo":"https://bench.example.org/activities",`+
		`"extensions":{"https://cmex.example/xapi/extensions/accme-activity-id":"123456789"}}},`+
		`"result":{"score":{"scaled":0.85,"raw":85,"min":0,"max":100},"success":true,"completion":false,"duration":"PT12M30S"},`+
		`"context":{"registration":"6c3f0a12-0000-4003-8000-000000000042","contextActivities":{"parent":[{"id":"https://lms.bench.example.org/courses/3"}],`+
		`"category":[{"id":"https://w3id.org/xapi/cmi5/context/categories/moveon"}]},"platform":"cmex bench LMS","language":"en-US",`+
		`"extensions":{"https://w3id.org/xapi/cmi5/context/extensions/sessionid":"session-42"}},"timestamp":"2026-01-03T15:04:05.123Z"}`, i, i, i, i%7, i%7)
}

// BenchmarkDecodeStatements decodes and validates a batch of 10
// statements (DecodeStatements, what every statement request runs before
// anything is stored): time, bytes and allocations per statement are the
// figures divided by 10.
func BenchmarkDecodeStatements(b *testing.B) {
	sts := make([]string, 10)
	for i := range sts {
		sts[i] = benchStatement(i)
	}
	body := []byte("[" + strings.Join(sts, ",") + "]")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		out, err := xapi.DecodeStatements(body)
		if err != nil || len(out) != 10 {
			b.Fatalf("%d statements, %v", len(out), err)
		}
	}
}

// BenchmarkPostStatement is one statement posted through the handler,
// stored in SQLite (a temporary database; durable commits), as a client
// sends it one at a time.
func BenchmarkPostStatement(b *testing.B) {
	fx := newFixture(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		rec := fx.call(b, "a", "POST", "/xapi/statements", benchStatement(i))
		if rec.Code != 200 {
			b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
	}
}
