package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmexhub/cmex/internal/sqlite"
)

// BenchmarkInsertFloor is the storage floor of a learner import: 200,000
// records, with documents of the size cmex writes (about 540 bytes), and
// their first events, inserted as the import inserts them (multi-row
// statements of 500, transactions of 2,000) and nothing else: no lookups,
// no rules, no decoding. An import cannot take less.
func BenchmarkInsertFloor(b *testing.B) {
	const records, batch, chunk = 200000, 2000, 500
	doc := `{"creditId":"ccid:bench.example.org:%d","providerId":"1234567","activityId":300000001,"activityTitle":"Internal Medicine Update 0","reportingOrganization":"cmex benchmark","learner":{"uniqueIds":[{"domain":"ME","value":"MD%07d"}],"givenName":"Learner","familyName":"Number%d","birthDate":"1950-01-01"},"learnerKey":"u:ME:MD%07d","completionDate":"2025-01-03","certification":"AMA PRA Category 1","unit":"Point","points":"0.25","status":"Accepted","submittedAt":"2026-11-21T08:50:38.360462Z","statusAt":"2026-11-21T08:50:38.360462Z"}`
	tuple := "(?, ?, ?, ?, NULL, ?, ?, '', 'Accepted', '', '', ?, 0, ?, ?)"
	recordsSQL := `INSERT INTO learner_records (id, organization_id, credit_id, activity_id, person_id, learner_key, completion_date, board, status, status_code, status_reason, status_at, deleted, document, created_at) VALUES ` +
		strings.TrimSuffix(strings.Repeat(tuple+", ", chunk), ", ")
	eventsSQL := `INSERT INTO learner_record_events (record_id, seq, status, at, source, code, reason) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, 1, 'Accepted', ?, 'batch:import', '', ''), ", chunk), ", ")
	for b.Loop() {
		b.StopTimer()
		ctx := context.Background()
		db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "floor.db"))
		if err != nil {
			b.Fatal(err)
		}
		s := db.SQL()
		if _, err := s.Exec(`INSERT INTO organizations (id, kind, provider_id, name, created_at) VALUES (1, 'provider', '1234567', 'x', '2025-01-01 00:00:00+00:00')`); err != nil {
			b.Fatal(err)
		}
		for a := range 10 {
			if _, err := s.Exec(`INSERT INTO activities (id, organization_id, provider_activity_id, activity_type, closed, deleted, revision, document, created_at, updated_at)
				VALUES (?, 1, ?, 'Live Course', 0, 0, 1, '{}', '2025-01-01 00:00:00+00:00', '2025-01-01 00:00:00+00:00')`, 300000001+a, fmt.Sprint(a)); err != nil {
				b.Fatal(err)
			}
		}
		now := time.Now().UTC()
		insRecords, err := s.Prepare(recordsSQL)
		if err != nil {
			b.Fatal(err)
		}
		insEvents, err := s.Prepare(eventsSQL)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for lo := 0; lo < records; lo += batch {
			tx, err := s.Begin()
			if err != nil {
				b.Fatal(err)
			}
			for c := lo; c < lo+batch; c += chunk {
				args := make([]any, 0, chunk*9)
				ev := make([]any, 0, chunk*2)
				for i := c; i < c+chunk; i++ {
					args = append(args, i+1, 1, fmt.Sprintf("ccid:bench.example.org:%d", i), 300000001+i%10, fmt.Sprintf("u:ME:MD%07d", i), "2025-01-03", now, fmt.Sprintf(doc, i, i, i, i), now)
					ev = append(ev, i+1, now)
				}
				if _, err := tx.Stmt(insRecords).Exec(args...); err != nil {
					b.Fatal(err)
				}
				if _, err := tx.Stmt(insEvents).Exec(ev...); err != nil {
					b.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds()*float64(b.N), "records/s")
}
