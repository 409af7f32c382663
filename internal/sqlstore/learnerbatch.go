package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cmexhub/cmex"
)

// Learner reports are written in batches, whether a batch file brings
// them (ImportLearnerReports) or concurrent web-service calls do (group
// commit, in groupcommit.go). A batch is judged in one transaction: what
// the rules need of the ledger is read with a few queries for the whole
// batch, each change is judged in order against that state as the changes
// before it left it, and the new records are written together. The rules
// are those of a single SaveLearnerReport: cmex.CheckLearnerChange.

var _ cmex.LearnerImporter = (*LearnerService)(nil)

// ImportLearnerReports implements cmex.LearnerImporter.
func (s *LearnerService) ImportLearnerReports(ctx context.Context, chs []cmex.LearnerChange) ([]cmex.LearnerImportResult, error) {
	var out []cmex.LearnerImportResult
	err := s.db.inTx(ctx, func(tx conn) error {
		var err error
		if out, err = s.saveBatch(ctx, tx, chs, true); err != nil {
			return err
		}
		return s.db.appendAudit(ctx, tx, importAudit(ctx, chs, out))
	})
	if err != nil {
		return nil, err
	}
	added := 0
	for i := range out {
		if out[i].Outcome == cmex.OutcomeAccepted {
			added += len(out[i].Records)
		}
	}
	if err := s.keepStatistics(ctx, added); err != nil {
		return nil, err
	}
	return out, nil
}

// minAnalyze is how many records an import adds before the engine's
// statistics of the ledger are brought up to date, at the least.
const minAnalyze = 10000

// keepStatistics brings the engine's statistics of learner_records up to
// date (on an Analyzer) once imports have added as many records as they
// last counted, so at every doubling of a ledger that imports fill. The
// engine's own background analysis comes a minute or more later: in the
// meantime, a ledger filling from empty is planned as the few records it
// held, and each batch's lookups read all of its organization's records
// (or every record), each batch more than the last.
func (s *LearnerService) keepStatistics(ctx context.Context, added int) error {
	a, ok := s.db.dialect.(Analyzer)
	if !ok || added == 0 {
		return nil
	}
	st := &s.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	counted := func() error {
		var rows float64
		if err := s.db.sql.QueryRowContext(ctx, a.StatisticsRows("learner_records")).Scan(&rows); err != nil {
			return fmt.Errorf("statistics of learner records: %w", err)
		}
		st.rows, st.known = int64(max(rows, 0)), true
		return nil
	}
	if !st.known {
		if err := counted(); err != nil {
			return err
		}
	}
	st.added += int64(added)
	if st.added < max(st.rows, minAnalyze) {
		return nil
	}
	if _, err := s.db.sql.ExecContext(ctx, a.Analyze("learner_records")); err != nil {
		return fmt.Errorf("analyze learner records: %w", err)
	}
	st.added = 0
	return counted()
}

// ErrConflict says that a concurrent writer took a CreditID the batch
// was about to add; the batch was rolled back and may be tried again.
var ErrConflict = errors.New("a concurrent writer added one of the batch's CreditIDs")

// batchState is what the rules need of the ledger for a batch, kept up to
// date as the batch's changes are applied.
type batchState struct {
	activities map[cmex.ActivityID]activityRow
	persons    map[cmex.PersonID]*cmex.Person
	// idents are registry identifiers by value: kind, scope, person.
	idents map[string][]identRow
	// records are live records by activity and learner key.
	records map[string][]*cmex.LearnerRecord
	// byCredit are live records by organization and CreditID.
	byCredit map[string]*cmex.LearnerRecord
	// deleted are CreditIDs with a deleted record, by organization.
	deleted map[string]bool
	// cands are each change's registry candidates, by its index.
	cands [][]*cmex.Person
	// dests are the organizations' destinations.
	dests map[cmex.OrganizationID][]*cmex.Destination
}

type identRow struct {
	kind, scope string
	person      cmex.PersonID
}

func creditKey(org cmex.OrganizationID, id cmex.CreditID) string {
	return fmt.Sprintf("%d|%s", org, id)
}

func recordsKey(act cmex.ActivityID, learnerKey string) string {
	return fmt.Sprintf("%d|%s", act, learnerKey)
}

// batchChunk bounds the values of one IN list or multi-row INSERT.
const batchChunk = 500

// saveBatch judges and applies chs in tx. With idempotent, a change the
// ledger already holds exactly is present rather than a duplicate (imports);
// without, it is judged as SaveLearnerReport judges it (web services).
func (s *LearnerService) saveBatch(ctx context.Context, tx conn, chs []cmex.LearnerChange, idempotent bool) ([]cmex.LearnerImportResult, error) {
	mode := s.Mode
	if mode == "" {
		mode = cmex.MatchRegistry
	}
	out := make([]cmex.LearnerImportResult, len(chs))
	st, err := s.loadBatch(ctx, tx, chs, mode)
	if err != nil {
		return nil, err
	}
	now := s.db.now()
	today := cmex.DateOf(now)
	type added struct {
		org    cmex.OrganizationID
		source string
		rec    *cmex.LearnerRecord
	}
	var adds []added
	var deletes []added
	for i := range chs {
		ch := &chs[i]
		res := &out[i]
		if ch.Report == nil {
			res.Outcome, res.Problems = cmex.OutcomeRejected, cmex.Problems{{Message: "no learner report"}}
			continue
		}
		org := ch.By.Organization.ID
		if org == 0 || ch.By.Organization.ProviderID == "" {
			return nil, cmex.Errorf(cmex.EUNAUTHORIZED, "no provider")
		}
		source := orDefault(ch.Source, "pars") + ":" + ch.By.User.Username
		lst := st.stateOf(ch, st.cands[i])
		if idempotent {
			if recs, ok := st.present(ch, lst); ok {
				res.Outcome, res.Records = cmex.OutcomePresent, recs
				continue
			}
		}
		v := cmex.CheckLearnerChange(ch, lst, mode, today)
		if v.Problems.HasErrors() {
			res.Outcome, res.Problems = cmex.OutcomeRejected, v.Problems.Dedup()
			continue
		}
		res.Outcome, res.Problems = cmex.OutcomeAccepted, v.Problems.Warnings()
		for _, r := range v.Add {
			r.SubmittedAt, r.StatusAt = now, now
			adds = append(adds, added{org, source, r})
			st.byCredit[creditKey(org, r.CreditID)] = r
			k := recordsKey(r.ActivityID, r.LearnerKey)
			st.records[k] = append(st.records[k], r)
			res.Records = append(res.Records, r)
		}
		for _, r := range v.Delete {
			deletes = append(deletes, added{org, source, r})
			delete(st.byCredit, creditKey(org, r.CreditID))
			st.deleted[creditKey(org, r.CreditID)] = true
			k := recordsKey(r.ActivityID, r.LearnerKey)
			st.records[k] = slices.DeleteFunc(st.records[k], func(x *cmex.LearnerRecord) bool { return x == r })
			res.Records = append(res.Records, r)
		}
	}

	// Write: the new records, their first status, their deliveries; then
	// the deletes, which are rare and go one by one.
	if len(adds) > 0 {
		recs := make([]*cmex.LearnerRecord, len(adds))
		orgs := make([]cmex.OrganizationID, len(adds))
		sources := make([]string, len(adds))
		for i, a := range adds {
			recs[i], orgs[i], sources[i] = a.rec, a.org, a.source
		}
		if err := s.insertRecords(ctx, tx, orgs, sources, recs, now); err != nil {
			return nil, err
		}
		for i := 0; i < len(adds); {
			j := i + 1
			for j < len(adds) && adds[j].org == adds[i].org && adds[j].source == adds[i].source {
				j++
			}
			if err := enqueueLearnerRecordsTo(ctx, tx, adds[i].org, st.dests[adds[i].org], recs[i:j], cmex.LearnerAdd, adds[i].source, now); err != nil {
				return nil, err
			}
			i = j
		}
	}
	for _, d := range deletes {
		r := d.rec
		moved, err := s.move(ctx, tx, r.ID, r.Status, cmex.StatusChange{Status: cmex.StatusDeleted, At: now, Source: d.source})
		if err != nil {
			return nil, err
		}
		if !moved {
			return nil, fmt.Errorf("delete learner record %d: %w", r.ID, ErrConflict)
		}
		r.Deleted, r.Status, r.StatusAt = true, cmex.StatusDeleted, now
		if err := enqueueLearnerRecordsTo(ctx, tx, d.org, st.dests[d.org], []*cmex.LearnerRecord{r}, cmex.LearnerDelete, d.source, now); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func orDefault(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// stateOf assembles the cmex.LearnerState of one change from the batch.
func (st *batchState) stateOf(ch *cmex.LearnerChange, cands []*cmex.Person) cmex.LearnerState {
	r := ch.Report
	org := ch.By.Organization.ID
	lst := cmex.LearnerState{ByCreditID: map[cmex.CreditID]*cmex.LearnerRecord{}}
	if a, ok := st.activities[r.ActivityID]; ok && a.org == org {
		lst.Activity = a.activity
	}
	lst.Candidates = cands
	if lst.Activity != nil {
		seen := map[*cmex.LearnerRecord]bool{}
		for _, k := range cmex.CandidateKeys(r.Learner, lst.Candidates) {
			for _, rec := range st.records[recordsKey(r.ActivityID, k)] {
				if !seen[rec] {
					seen[rec] = true
					lst.Records = append(lst.Records, rec)
				}
			}
		}
		slices.SortFunc(lst.Records, func(a, b *cmex.LearnerRecord) int { return int(a.ID - b.ID) })
	}
	for _, c := range r.Credits {
		if rec, ok := st.byCredit[creditKey(org, c.CreditID)]; ok && c.CreditID != "" {
			lst.ByCreditID[c.CreditID] = rec
		}
	}
	return lst
}

// candidates are the persons holding any identifier of q, as the query
// in candidates() finds them.
func (st *batchState) candidates(q cmex.MatchQuery) []*cmex.Person {
	var out []*cmex.Person
	for _, id := range st.candidateIDs(q) {
		if p := st.persons[id]; p != nil {
			out = append(out, p)
		}
	}
	return out
}

// candidateIDs are the ids of the persons holding any identifier of q,
// in order, from the identifiers alone.
func (st *batchState) candidateIDs(q cmex.MatchQuery) []cmex.PersonID {
	if !q.HasIdentifier() {
		return nil // looked up by name before the batch: see loadBatch
	}
	ids := map[cmex.PersonID]bool{}
	match := func(kind, scope, value string) {
		for _, row := range st.idents[cmex.IDKey(value)] {
			if row.kind == kind && (scope == "" || row.scope == scope) {
				ids[row.person] = true
			}
		}
	}
	if q.NPI != "" {
		match("npi", "", q.NPI)
	}
	if q.OCIID != "" {
		match("oci", "", q.OCIID)
	}
	if q.LicenseNumber != "" {
		match("license", strings.ToUpper(q.LicenseState), q.LicenseNumber)
	}
	for _, b := range q.BoardIDs {
		if b.ID == "" {
			continue
		}
		board, _ := cmex.Boards.Lookup(b.Board)
		match("board", board, b.ID)
	}
	out := keys(ids)
	slices.Sort(out)
	return out
}

// present reports whether the ledger already holds the change exactly:
// every credit of an add as a live record that matches it, or every
// CreditID of a delete deleted and none live.
func (st *batchState) present(ch *cmex.LearnerChange, lst cmex.LearnerState) ([]*cmex.LearnerRecord, bool) {
	r := ch.Report
	if len(r.Credits) == 0 || ch.Problems.HasErrors() {
		return nil, false
	}
	var out []*cmex.LearnerRecord
	switch strings.ToLower(strings.TrimSpace(r.Action)) {
	case cmex.LearnerAdd:
		for _, c := range r.Credits {
			rec := lst.ByCreditID[c.CreditID]
			if rec == nil || !rec.Matches(r, c) {
				return nil, false
			}
			out = append(out, rec)
		}
		return out, true
	case cmex.LearnerDelete:
		for _, c := range r.Credits {
			if c.CreditID == "" || lst.ByCreditID[c.CreditID] != nil || !st.deleted[creditKey(ch.By.Organization.ID, c.CreditID)] {
				return nil, false
			}
		}
		return nil, true
	}
	return nil, false
}

// loadBatch reads what the batch's changes need, in as few round trips as
// the engine allows: the activities (locked first, as every statement
// after them is answered once their locks are held), the registry
// identifiers, the records by CreditID and the destinations at once, and
// then the candidates' persons and the learners' records, which depend on
// the identifiers found (in passthrough mode, with the rest).
func (s *LearnerService) loadBatch(ctx context.Context, tx conn, chs []cmex.LearnerChange, mode cmex.MatchingMode) (*batchState, error) {
	st := &batchState{
		activities: map[cmex.ActivityID]activityRow{},
		persons:    map[cmex.PersonID]*cmex.Person{},
		idents:     map[string][]identRow{},
		records:    map[string][]*cmex.LearnerRecord{},
		byCredit:   map[string]*cmex.LearnerRecord{},
		deleted:    map[string]bool{},
		dests:      map[cmex.OrganizationID][]*cmex.Destination{},
	}
	actSet := map[cmex.ActivityID]bool{}
	valueSet := map[string]bool{}
	credits := map[cmex.OrganizationID]map[cmex.CreditID]bool{}
	orgs := map[cmex.OrganizationID]bool{}
	deletes := false
	for i := range chs {
		r := chs[i].Report
		if r == nil {
			continue
		}
		deletes = deletes || !strings.EqualFold(strings.TrimSpace(r.Action), cmex.LearnerAdd)
		if r.ActivityID != 0 {
			actSet[r.ActivityID] = true
		}
		if mode == cmex.MatchRegistry && strings.EqualFold(strings.TrimSpace(r.Action), cmex.LearnerAdd) {
			for _, u := range r.Learner.UniqueIDs {
				if u.Value != "" {
					valueSet[cmex.IDKey(u.Value)] = true
				}
			}
		}
		org := chs[i].By.Organization.ID
		orgs[org] = true
		for _, c := range r.Credits {
			if c.CreditID == "" {
				continue
			}
			if credits[org] == nil {
				credits[org] = map[cmex.CreditID]bool{}
			}
			credits[org][c.CreditID] = true
		}
	}
	// The lookups, and only they, are planned for their own values: the
	// last round ends the setting, before the writes, whose foreign-key
	// checks are statements planned per row otherwise.
	var round []Statement
	planner, planned := s.db.dialect.(BatchPlanner)
	if planned {
		round = append(round, Statement{SQL: planner.PlanBatch()})
	}
	send := func(last bool) error {
		if last && planned {
			round = append(round, Statement{SQL: planner.PlannedBatch()})
		}
		return tx.together(ctx, round...)
	}
	add := func(b bulk, prefix, values []any, what string, scan func(Rows) error) error {
		stmt, err := b.statement(prefix, values, scan)
		if err != nil {
			return err
		}
		stmt.Wrap = func(err error) error { return fmt.Errorf("batch %s: %w", what, err) }
		round = append(round, stmt)
		return nil
	}
	for _, ids := range chunks(keys(actSet)) {
		err := add(bulk{head: `SELECT ` + activityColumns + ` FROM activities WHERE NOT deleted AND id IN (`, tuple: "?", tail: `)` + s.db.dialect.ForUpdate(), width: 1}, nil, anys(ids), "activities",
			func(rows Rows) error {
				for rows.Next() {
					row, err := scanActivityRow(rows)
					if err != nil {
						return err
					}
					st.activities[row.activity.ID] = row
				}
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	personIDs := map[cmex.PersonID]bool{}
	for _, vals := range chunks(keys(valueSet)) {
		err := add(bulk{head: `SELECT value, kind, scope, person_id FROM person_identifiers WHERE value IN (`, tuple: "?", tail: `)`, width: 1}, nil, anys(vals), "identifiers",
			func(rows Rows) error {
				for rows.Next() {
					var v string
					var ir identRow
					if err := rows.Scan(&v, &ir.kind, &ir.scope, &ir.person); err != nil {
						return err
					}
					st.idents[v] = append(st.idents[v], ir)
					personIDs[ir.person] = true
				}
				return nil
			})
		if err != nil {
			return nil, err
		}
	}
	for org, set := range credits {
		for _, ids := range chunks(keys(set)) {
			prefix, values := []any{org}, anys(ids)
			err := add(bulk{head: `SELECT ` + recordColumns + ` FROM learner_records
				WHERE organization_id = ? AND credit_id IN (`, tuple: "?", tail: `) AND NOT deleted`, width: 1}, prefix, values, "records by credit id",
				func(rows Rows) error {
					for rows.Next() {
						r, err := scanRecord(rows)
						if err != nil {
							return err
						}
						st.byCredit[creditKey(org, r.CreditID)] = r
					}
					return nil
				})
			if err != nil {
				return nil, err
			}
			// Deleted CreditIDs matter only to a repeated delete.
			if !deletes {
				continue
			}
			err = add(bulk{head: `SELECT credit_id FROM learner_records
				WHERE organization_id = ? AND credit_id IN (`, tuple: "?", tail: `) AND deleted`, width: 1}, prefix, values, "deleted records by credit id",
				func(rows Rows) error {
					for rows.Next() {
						var id string
						if err := rows.Scan(&id); err != nil {
							return err
						}
						st.deleted[creditKey(org, cmex.CreditID(id))] = true
					}
					return nil
				})
			if err != nil {
				return nil, err
			}
		}
	}
	ds := &DeliveryService{db: s.db}
	for org := range orgs {
		round = append(round, Statement{SQL: destinationsOf, Args: []any{org}, Wrap: func(err error) error { return fmt.Errorf("destinations: %w", err) },
			Scan: func(rows Rows) error {
				for rows.Next() {
					d, err := ds.scanDestination(rows, false)
					if err != nil {
						return err
					}
					st.dests[org] = append(st.dests[org], d)
				}
				return nil
			}})
	}
	// The learners' records on their activities, under every key they may
	// have: the passthrough key and each candidate's (read with the rest
	// when no identifier is to be looked up first).
	records := func() error {
		type pair struct {
			act cmex.ActivityID
			key string
		}
		pairs := map[pair]bool{}
		for i := range chs {
			r := chs[i].Report
			if r == nil || !actSet[r.ActivityID] {
				continue
			}
			var ids []cmex.PersonID
			if mode == cmex.MatchRegistry && strings.EqualFold(strings.TrimSpace(r.Action), cmex.LearnerAdd) {
				ids = st.candidateIDs(r.Learner.Query())
			}
			pairs[pair{r.ActivityID, cmex.GuessPassthroughKey(r.Learner)}] = true
			for _, id := range ids {
				pairs[pair{r.ActivityID, cmex.PersonKey(id)}] = true
			}
		}
		for _, ps := range chunks(keys(pairs)) {
			args := make([]any, 0, 2*len(ps))
			for _, p := range ps {
				args = append(args, p.act, p.key)
			}
			err := add(bulk{head: `SELECT ` + recordColumns + ` FROM learner_records
			WHERE NOT deleted AND (activity_id, learner_key) IN (VALUES `, tuple: "(CAST(? AS BIGINT), ?)", tail: `)`, width: 2}, nil, args, "learners' records",
				func(rows Rows) error {
					for rows.Next() {
						r, err := scanRecord(rows)
						if err != nil {
							return err
						}
						k := recordsKey(r.ActivityID, r.LearnerKey)
						st.records[k] = append(st.records[k], r)
					}
					return nil
				})
			if err != nil {
				return err
			}
		}
		return nil
	}
	if len(valueSet) == 0 {
		if err := records(); err != nil {
			return nil, err
		}
	}
	if err := send(len(valueSet) == 0); err != nil {
		return nil, err
	}
	if len(valueSet) > 0 {
		round = nil
		for _, ids := range chunks(keys(personIDs)) {
			err := add(bulk{head: `SELECT id, document FROM persons WHERE id IN (`, tuple: "?", tail: `)`, width: 1}, nil, anys(ids), "persons",
				func(rows Rows) error {
					for rows.Next() {
						p, err := scanPerson(rows)
						if err != nil {
							return err
						}
						st.persons[p.ID] = p
					}
					return nil
				})
			if err != nil {
				return nil, err
			}
		}
		if err := records(); err != nil {
			return nil, err
		}
		if err := send(true); err != nil {
			return nil, err
		}
	}
	st.cands = make([][]*cmex.Person, len(chs))
	for i := range chs {
		r := chs[i].Report
		if r != nil && mode == cmex.MatchRegistry && strings.EqualFold(strings.TrimSpace(r.Action), cmex.LearnerAdd) {
			st.cands[i] = st.candidates(r.Learner.Query())
		}
	}
	return st, nil
}

var (
	bulkRecords = bulk{head: `INSERT INTO learner_records
		(id, organization_id, credit_id, activity_id, person_id, learner_key, completion_date, board, status, status_code, status_reason, status_at, deleted, document, created_at)
		VALUES `, tuple: "(?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', ?, ?, ?, ?)", width: 13}
	bulkRecordEvents = bulk{head: `INSERT INTO learner_record_events (record_id, seq, status, at, source, code, reason) VALUES `,
		tuple: "(?, 1, ?, ?, ?, '', '')", width: 4}
)

// insertRecords writes new records and their first status change with
// multi-row statements, ids reserved beforehand.
func (s *LearnerService) insertRecords(ctx context.Context, tx conn, orgs []cmex.OrganizationID, sources []string, recs []*cmex.LearnerRecord, now time.Time) error {
	ids, err := s.db.reserveIDs(ctx, tx, "learner_records", len(recs))
	if err != nil {
		return err
	}
	for i, r := range recs {
		r.ID = cmex.LearnerRecordID(ids[i])
	}
	docs, err := encodeRecords(recs)
	if err != nil {
		return err
	}
	person := func(r *cmex.LearnerRecord) any {
		if r.PersonID == 0 {
			return nil
		}
		return int64(r.PersonID)
	}

	// COPY where the engine has it.
	rows := make([][]any, len(recs))
	for i, r := range recs {
		rows[i] = []any{int64(r.ID), int64(orgs[i]), string(r.CreditID), int64(r.ActivityID), person(r), r.LearnerKey,
			time.Date(r.CompletionDate.Year, r.CompletionDate.Month, r.CompletionDate.Day, 0, 0, 0, 0, time.UTC),
			r.Board, string(r.Status), "", "", now, false, docs[i], now}
	}
	copied, err := tx.copyRows(ctx, "learner_records", recordCopyColumns, rows)
	if s.db.dialect.IsUniqueViolation(err) {
		return ErrConflict
	}
	if err != nil {
		return fmt.Errorf("copy learner records: %w", err)
	}
	if copied {
		for i, r := range recs {
			rows[i] = []any{int64(r.ID), int64(1), string(r.Status), now, sources[i], "", ""}
		}
		if _, err := tx.copyRows(ctx, "learner_record_events", eventCopyColumns, rows); err != nil {
			return fmt.Errorf("copy learner record events: %w", err)
		}
		return nil
	}

	// Multi-row INSERTs otherwise.
	for lo := 0; lo < len(recs); lo += batchChunk {
		hi := min(lo+batchChunk, len(recs))
		args := make([]any, 0, (hi-lo)*bulkRecords.width)
		for i := lo; i < hi; i++ {
			r := recs[i]
			args = append(args, r.ID, orgs[i], string(r.CreditID), r.ActivityID, person(r), r.LearnerKey, r.CompletionDate, r.Board,
				string(r.Status), now, false, docs[i], now)
		}
		err := s.db.bulkExec(ctx, tx, bulkRecords, args)
		if s.db.dialect.IsUniqueViolation(err) {
			return ErrConflict
		}
		if err != nil {
			return fmt.Errorf("insert learner records: %w", err)
		}
		args = args[:0]
		for i := lo; i < hi; i++ {
			args = append(args, recs[i].ID, string(recs[i].Status), now, sources[i])
		}
		if err := s.db.bulkExec(ctx, tx, bulkRecordEvents, args); err != nil {
			return fmt.Errorf("insert learner record events: %w", err)
		}
	}
	return nil
}

// encodeRecords returns the documents of recs. A large batch is encoded
// on every CPU: the writer holds the database meanwhile, and encoding is
// the largest part of its work that needs no database.
func encodeRecords(recs []*cmex.LearnerRecord) ([]string, error) {
	docs := make([]string, len(recs))
	encode := func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			doc, err := json.Marshal(recs[i])
			if err != nil {
				return fmt.Errorf("encode learner record: %w", err)
			}
			docs[i] = string(doc)
		}
		return nil
	}
	workers := runtime.GOMAXPROCS(0)
	if len(recs) < 256 || workers == 1 {
		return docs, encode(0, len(recs))
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	per := (len(recs) + workers - 1) / workers
	for w := range workers {
		wg.Go(func() { errs[w] = encode(min(w*per, len(recs)), min((w+1)*per, len(recs))) })
	}
	wg.Wait()
	return docs, errors.Join(errs...)
}

var (
	recordCopyColumns = []string{"id", "organization_id", "credit_id", "activity_id", "person_id", "learner_key", "completion_date", "board",
		"status", "status_code", "status_reason", "status_at", "deleted", "document", "created_at"}
	eventCopyColumns = []string{"record_id", "seq", "status", "at", "source", "code", "reason"}
)

// rowsOf repeats a VALUES tuple n times.
func rowsOf(tuple string, n int) string {
	return strings.TrimSuffix(strings.Repeat(tuple+", ", n), ", ")
}

// reserveIDs returns n new ids of table, in increasing order, as the
// dialect reserves them.
func (db *DB) reserveIDs(ctx context.Context, tx conn, table string, n int) ([]int64, error) {
	// Of fixed text for a table, and run by every batch of records (each
	// group of statements with a completion among them): kept prepared.
	ids, err := scanColumn[int64](tx.queryKept(ctx, db.dialect.ReserveIDs(table), n))
	if err != nil {
		return nil, fmt.Errorf("reserve ids of %s: %w", table, err)
	}
	if len(ids) != n {
		return nil, fmt.Errorf("reserve ids of %s: %d of %d", table, len(ids), n)
	}
	slices.Sort(ids)
	return ids, nil
}

func keys[K comparable](m map[K]bool) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func chunks[T any](xs []T) [][]T {
	var out [][]T
	for lo := 0; lo < len(xs); lo += batchChunk {
		out = append(out, xs[lo:min(lo+batchChunk, len(xs))])
	}
	return out
}

// appendLearnerAudit adds to rows an entry per record an accepted change
// added or deleted.
func appendLearnerAudit(rows []auditRow, base auditRow, ch *cmex.LearnerChange, res *cmex.LearnerImportResult) []auditRow {
	if res.Outcome != cmex.OutcomeAccepted {
		return rows
	}
	action := "learner-record.add"
	if strings.EqualFold(ch.Report.Action, "delete") {
		action = "learner-record.delete"
	}
	for _, r := range res.Records {
		row := base
		row.action, row.subject = action, string(r.CreditID)
		row.detail = fmt.Sprintf("record %d, activity %d, provider %s", r.ID, r.ActivityID, ch.By.Organization.ProviderID)
		rows = append(rows, row)
	}
	return rows
}

// importAudit is the one entry of an imported batch, if it changed
// anything: how many records it added and deleted, and its first and last
// CreditIDs. Each record's own
// history (learner_record_events, and its source) says the rest; an entry
// per record would double the writes of an import.
func importAudit(ctx context.Context, chs []cmex.LearnerChange, out []cmex.LearnerImportResult) []auditRow {
	var added, deleted int
	var first, last cmex.CreditID
	var by cmex.Principal
	for i := range out {
		if out[i].Outcome != cmex.OutcomeAccepted {
			continue
		}
		by = chs[i].By
		for _, r := range out[i].Records {
			if strings.EqualFold(chs[i].Report.Action, "delete") {
				deleted++
			} else {
				added++
			}
			if first == "" {
				first = r.CreditID
			}
			last = r.CreditID
		}
	}
	if added+deleted == 0 {
		return nil
	}
	return []auditRow{auditFrom(ctx, cmex.PrincipalActor(by), "learner-records.import", fmt.Sprintf("%s..%s", first, last),
		fmt.Sprintf("%d records added, %d deleted, provider %s", added, deleted, by.Organization.ProviderID))}
}
