package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func init() {
	extra = append(extra, named{"XAPIStatements", testXAPIStatements}, named{"XAPIDocuments", testXAPIDocuments},
		named{"XAPIConcurrentCalls", testXAPIConcurrentCalls})
}

func xapiStatement(org cmex.OrganizationID, n int, stored time.Time) *cmex.XAPIStatement {
	return &cmex.XAPIStatement{
		Organization: org, ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", n), JSON: []byte(fmt.Sprintf(`{"n":%d}`, n)),
		Signature: fmt.Sprintf("sig-%d", n), Stored: stored, Verb: "http://adlnet.gov/expapi/verbs/completed",
		Agents: []string{"mbox:mailto:a@example.org"}, RelatedAgents: []string{"mbox:mailto:teacher@example.org"},
		Activities: []string{"http://example.org/course"}, RelatedActivities: []string{"http://example.org/program"},
	}
}

// recordingHook records what it is given and fails when told to.
type recordingHook struct {
	got  []string
	fail bool
	// conflicts is how many calls fail as a concurrent writer of a
	// CreditID makes them fail.
	conflicts int
}

func (h *recordingHook) StatementsStored(tx sqlstore.Tx, calls []sqlstore.XAPIStored) error {
	for _, c := range calls {
		for _, st := range c.Statements {
			h.got = append(h.got, st.ID)
		}
	}
	if h.fail {
		return errors.New("hook refuses")
	}
	if h.conflicts > 0 {
		h.conflicts--
		return fmt.Errorf("save: %w", sqlstore.ErrConflict)
	}
	return nil
}

// Statements are immutable (the same one again is skipped, a different
// one under its id is a conflict), voiding hides the target, queries
// filter and page, a hook's refusal undoes the batch, and a provider
// sees only its own.
func testXAPIStatements(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	a := e.MustProvider(t, cmextest.ProviderA, "A", "a", "secret-a")
	b := e.MustProvider(t, cmextest.ProviderB, "B", "b", "secret-b")
	s := sqlstore.NewXAPIService(e.db)
	hook := &recordingHook{}
	s.Hook = hook
	org := a.Organization.ID
	t0 := e.clock.Now().UTC().Truncate(time.Millisecond)

	var batch []*cmex.XAPIStatement
	for i := 1; i <= 5; i++ {
		batch = append(batch, xapiStatement(org, i, t0.Add(time.Duration(i)*time.Second)))
	}
	if err := s.SaveStatements(ctx, batch); err != nil {
		t.Fatalf("SaveStatements: %v", err)
	}
	if len(hook.got) != 5 {
		t.Errorf("hook saw %v, want the 5 statements", hook.got)
	}
	// The same statement again: skipped, and not shown to the hook.
	hook.got = nil
	if err := s.SaveStatements(ctx, []*cmex.XAPIStatement{xapiStatement(org, 1, t0.Add(time.Minute))}); err != nil {
		t.Errorf("the same statement again: %v", err)
	}
	if len(hook.got) != 0 {
		t.Errorf("hook saw a duplicate: %v", hook.got)
	}
	// A different one under an existing id: the whole batch refused.
	other := xapiStatement(org, 2, t0)
	other.Signature = "changed"
	wantCode(t, s.SaveStatements(ctx, []*cmex.XAPIStatement{xapiStatement(org, 6, t0), other}), cmex.ECONFLICT)
	if _, err := s.Statement(ctx, org, xapiStatement(org, 6, t0).ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("a statement of a refused batch was stored: %v", err)
	}
	// The hook refuses: nothing of the batch is kept.
	hook.fail = true
	if err := s.SaveStatements(ctx, []*cmex.XAPIStatement{xapiStatement(org, 7, t0)}); err == nil {
		t.Error("a hook's refusal did not refuse the batch")
	}
	hook.fail = false
	if _, err := s.Statement(ctx, org, xapiStatement(org, 7, t0).ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("a statement the hook refused was stored: %v", err)
	}

	// Another provider sees none of them, and may use the same id.
	if _, err := s.Statement(ctx, b.Organization.ID, batch[0].ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("provider B reads A's statement: %v", err)
	}
	if got, _, _ := s.Statements(ctx, cmex.XAPIStatementQuery{Organization: b.Organization.ID}); len(got) != 0 {
		t.Errorf("provider B's query returns %d of A's statements", len(got))
	}
	if err := s.SaveStatements(ctx, []*cmex.XAPIStatement{xapiStatement(b.Organization.ID, 1, t0)}); err != nil {
		t.Errorf("provider B under an id A uses: %v", err)
	}

	// Seq tells what this call stored from a duplicate (provider B's, as
	// the queries below count A's).
	bo := b.Organization.ID
	if err := s.SaveStatements(ctx, []*cmex.XAPIStatement{xapiStatement(bo, 13, t0)}); err != nil {
		t.Fatal(err)
	}
	dup, fresh := xapiStatement(bo, 13, t0), xapiStatement(bo, 14, t0)
	if err := s.SaveStatements(ctx, []*cmex.XAPIStatement{dup, fresh}); err != nil || dup.Seq != 0 || fresh.Seq == 0 {
		t.Errorf("a duplicate and a new one: %v, Seq %d and %d, want 0 and not 0", err, dup.Seq, fresh.Seq)
	}
	// A concurrent writer took a CreditID: the transaction is tried again.
	hook.conflicts = 2
	retried := xapiStatement(bo, 15, t0)
	if err := s.SaveStatements(ctx, []*cmex.XAPIStatement{retried}); err != nil || retried.Seq == 0 {
		t.Errorf("after two conflicts: %v, Seq %d", err, retried.Seq)
	}
	if _, err := s.Statement(ctx, bo, retried.ID); err != nil {
		t.Errorf("the statement tried again is not stored: %v", err)
	}
	// Every time: busy, and nothing stored.
	hook.conflicts = 1000
	wantCode(t, s.SaveStatements(ctx, []*cmex.XAPIStatement{xapiStatement(bo, 16, t0)}), cmex.EBUSY)
	hook.conflicts = 0
	if _, err := s.Statement(ctx, bo, xapiStatement(bo, 16, t0).ID); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("a statement whose every try conflicted was stored: %v", err)
	}
	hook.got = nil

	// Voiding statement 3 hides it from queries, not from Statement.
	void := xapiStatement(org, 8, t0.Add(10*time.Second))
	void.Verb, void.Voids, void.ObjectRef = "http://adlnet.gov/expapi/verbs/voided", batch[2].ID, batch[2].ID
	void.Agents, void.Activities, void.RelatedAgents, void.RelatedActivities = nil, nil, nil, nil
	if err := s.SaveStatements(ctx, []*cmex.XAPIStatement{void}); err != nil {
		t.Fatalf("save voiding statement: %v", err)
	}
	if st, err := s.Statement(ctx, org, batch[2].ID); err != nil || !st.Voided || string(st.JSON) != `{"n":3}` {
		t.Errorf("voided statement: %+v, %v", st, err)
	}
	voidVoid := xapiStatement(org, 9, t0)
	voidVoid.Verb, voidVoid.Voids = void.Verb, void.ID
	wantCode(t, s.SaveStatements(ctx, []*cmex.XAPIStatement{voidVoid}), cmex.EINVALID)

	// A voiding statement before its target: the target comes voided.
	early := xapiStatement(org, 10, t0.Add(20*time.Second))
	early.Verb, early.Voids, early.ObjectRef = void.Verb, xapiStatement(org, 11, t0).ID, xapiStatement(org, 11, t0).ID
	early.Agents, early.Activities, early.RelatedAgents, early.RelatedActivities = nil, nil, nil, nil
	if err := s.SaveStatements(ctx, []*cmex.XAPIStatement{early}); err != nil {
		t.Fatalf("save a voiding statement before its target: %v", err)
	}
	if err := s.SaveStatements(ctx, []*cmex.XAPIStatement{xapiStatement(org, 11, t0.Add(21*time.Second))}); err != nil {
		t.Fatalf("save the target: %v", err)
	}
	if st, err := s.Statement(ctx, org, xapiStatement(org, 11, t0).ID); err != nil || !st.Voided {
		t.Errorf("a target stored after its voiding statement: %+v, %v, want voided", st, err)
	}

	// The same statement from eight clients at once: each is accepted.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := s.SaveStatements(ctx, []*cmex.XAPIStatement{xapiStatement(b.Organization.ID, 12, t0)}); err != nil {
				t.Errorf("the same statement at once: %v", err)
			}
		})
	}
	wg.Wait()

	ids := func(q cmex.XAPIStatementQuery) []int {
		t.Helper()
		q.Organization = org
		sts, _, err := s.Statements(ctx, q)
		if err != nil {
			t.Fatalf("Statements(%+v): %v", q, err)
		}
		var out []int
		for _, st := range sts {
			var n int
			fmt.Sscanf(st.ID[len(st.ID)-12:], "%d", &n)
			out = append(out, n)
		}
		return out
	}
	for _, c := range []struct {
		name string
		q    cmex.XAPIStatementQuery
		want string
	}{
		{"all, newest first", cmex.XAPIStatementQuery{}, "[10 8 5 4 2 1]"},
		{"ascending", cmex.XAPIStatementQuery{Ascending: true}, "[1 2 4 5 8 10]"},
		{"voiding statements match their target's verb", cmex.XAPIStatementQuery{Verb: "http://adlnet.gov/expapi/verbs/completed"}, "[10 8 5 4 2 1]"},
		{"agent", cmex.XAPIStatementQuery{Agent: "mbox:mailto:a@example.org"}, "[10 8 5 4 2 1]"},
		{"a related agent is not the agent", cmex.XAPIStatementQuery{Agent: "mbox:mailto:teacher@example.org"}, "[]"},
		{"related agents", cmex.XAPIStatementQuery{Agent: "mbox:mailto:teacher@example.org", RelatedAgents: true}, "[10 8 5 4 2 1]"},
		{"a related activity is not the activity", cmex.XAPIStatementQuery{Activity: "http://example.org/program"}, "[]"},
		{"related activities", cmex.XAPIStatementQuery{Activity: "http://example.org/program", RelatedActivities: true}, "[10 8 5 4 2 1]"},
		{"since (exclusive)", cmex.XAPIStatementQuery{Since: t0.Add(4 * time.Second)}, "[10 8 5]"},
		{"until (inclusive)", cmex.XAPIStatementQuery{Until: t0.Add(2 * time.Second)}, "[2 1]"},
		{"limit", cmex.XAPIStatementQuery{Limit: 2}, "[10 8]"},
		{"voided ones too (an export)", cmex.XAPIStatementQuery{Voided: true, Ascending: true}, "[1 2 3 4 5 8 10 11]"},
	} {
		if got := fmt.Sprint(ids(c.q)); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	// Definitions merge into the stored one: language maps key by key,
	// the rest replaced; the same one again changes nothing.
	for i, def := range []string{`{"name":{"en-US":"Course"},"type":"http://example.org/t1"}`, `{"name":{"fr":"Cours"},"type":"http://example.org/t2"}`, `{"name":{"fr":"Cours"},"type":"http://example.org/t2"}`} {
		st := xapiStatement(org, 20+i, t0)
		st.Definitions = map[string][]byte{"http://example.org/defined": []byte(def)}
		if err := s.SaveStatements(ctx, []*cmex.XAPIStatement{st}); err != nil {
			t.Fatalf("save statement %d with a definition: %v", 20+i, err)
		}
	}
	if def, err := s.ActivityDefinition(ctx, org, "http://example.org/defined"); err != nil || string(def) != `{"name":{"en-US":"Course","fr":"Cours"},"type":"http://example.org/t2"}` {
		t.Errorf("merged definition: %s, %v", def, err)
	}
	// Paging: each page continues after the last one's Seq.
	page, more, err := s.Statements(ctx, cmex.XAPIStatementQuery{Organization: org, Limit: 2, Ascending: true})
	if err != nil || len(page) != 2 || !more {
		t.Fatalf("first page: %d statements, more %v, %v", len(page), more, err)
	}
	if got := fmt.Sprint(ids(cmex.XAPIStatementQuery{Limit: 2, Ascending: true, After: page[1].Seq})); got != "[4 5]" {
		t.Errorf("second page: %s, want [4 5]", got)
	}
}

// Many SaveStatements at once (which may share a transaction): each is
// stored and shown to the hook once, with its agents and activities; one
// call's conflict and a voiding of a voiding statement refuse that call
// only.
func testXAPIConcurrentCalls(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	a := e.MustProvider(t, cmextest.ProviderA, "A", "a", "secret-a")
	s := sqlstore.NewXAPIService(e.db)
	hook := &recordingHook{}
	s.Hook = hook
	org := a.Organization.ID
	t0 := e.clock.Now().UTC().Truncate(time.Millisecond)
	if err := s.SaveStatements(ctx, []*cmex.XAPIStatement{xapiStatement(org, 1, t0)}); err != nil {
		t.Fatal(err)
	}
	void := xapiStatement(org, 2, t0)
	void.Verb, void.Voids, void.ObjectRef = "http://adlnet.gov/expapi/verbs/voided", xapiStatement(org, 1, t0).ID, xapiStatement(org, 1, t0).ID
	if err := s.SaveStatements(ctx, []*cmex.XAPIStatement{void}); err != nil {
		t.Fatal(err)
	}
	hook.got = nil
	const calls = 40
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			var sts []*cmex.XAPIStatement
			for j := range 3 {
				sts = append(sts, xapiStatement(org, 100+3*i+j, t0))
			}
			switch i {
			case 7: // a different statement under statement 1's id
				other := xapiStatement(org, 1, t0)
				other.Signature = "changed"
				sts = append(sts, other)
			case 13: // voids the voiding statement
				vv := xapiStatement(org, 3, t0)
				vv.Verb, vv.Voids, vv.ObjectRef = void.Verb, void.ID, void.ID
				sts = append(sts, vv)
			}
			errs[i] = s.SaveStatements(ctx, sts)
		})
	}
	wg.Wait()
	stored := 0
	for i := range calls {
		want := ""
		switch i {
		case 7:
			want = cmex.ECONFLICT
		case 13:
			want = cmex.EINVALID
		}
		if got := cmex.ErrorCode(errs[i]); errs[i] != nil && got != want || errs[i] == nil && want != "" {
			t.Errorf("call %d: %v, want %q", i, errs[i], want)
		}
		for j := range 3 {
			_, err := s.Statement(ctx, org, xapiStatement(org, 100+3*i+j, t0).ID)
			if (err == nil) != (want == "") {
				t.Errorf("call %d, statement %d: stored %v, want %v", i, j, err == nil, want == "")
			}
			if err == nil {
				stored++
			}
		}
	}
	// (A group that failed showed the hook statements it then refused:
	// the hook's writes went with the transaction.)
	seen := map[string]bool{}
	for _, id := range hook.got {
		seen[id] = true
	}
	for i := range calls {
		for j := range 3 {
			id := xapiStatement(org, 100+3*i+j, t0).ID
			if _, err := s.Statement(ctx, org, id); err == nil && !seen[id] {
				t.Errorf("the hook did not see %s", id)
			}
		}
	}
	got, _, err := s.Statements(ctx, cmex.XAPIStatementQuery{Organization: org, Agent: "mbox:mailto:teacher@example.org", RelatedAgents: true, Activity: "http://example.org/course"})
	// The stored ones and the voiding statement (by its target's values).
	if err != nil || len(got) != stored+1 {
		t.Errorf("the query by agent and activity finds %d statements, want %d: %v", len(got), stored+1, err)
	}
}

// Documents: ETag conditions hold, lists filter by since, deleting
// without an id removes the whole set, a provider sees only its own.
func testXAPIDocuments(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	a := e.MustProvider(t, cmextest.ProviderA, "A", "a", "secret-a")
	b := e.MustProvider(t, cmextest.ProviderB, "B", "b", "secret-b")
	s := sqlstore.NewXAPIService(e.db)
	key := func(org cmex.OrganizationID, id string) cmex.XAPIDocumentKey {
		return cmex.XAPIDocumentKey{Organization: org, Kind: "state", ActivityID: "http://example.org/a", Agent: "mbox:mailto:a@example.org", ID: id}
	}
	put := func(k cmex.XAPIDocumentKey, content, ifMatch string, ifNoneMatch bool) (*cmex.XAPIDocument, error) {
		d := &cmex.XAPIDocument{Key: k, Content: []byte(content), ContentType: "application/json"}
		return d, s.PutDocument(ctx, d, ifMatch, ifNoneMatch)
	}
	d1, err := put(key(a.Organization.ID, "one"), `{"x":1}`, "", true)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(d1.ETag) != 40 {
		t.Errorf("ETag %q is not a SHA-1", d1.ETag)
	}
	_, err = put(key(a.Organization.ID, "one"), `{"x":2}`, "", true)
	wantCode(t, err, cmex.ECONFLICT)
	_, err = put(key(a.Organization.ID, "one"), `{"x":2}`, "wrong", false)
	wantCode(t, err, cmex.ECONFLICT)
	if _, err := put(key(a.Organization.ID, "one"), `{"x":2}`, d1.ETag, false); err != nil {
		t.Errorf("update with the right ETag: %v", err)
	}
	got, err := s.Document(ctx, key(a.Organization.ID, "one"))
	if err != nil || string(got.Content) != `{"x":2}` {
		t.Errorf("Document: %+v, %v", got, err)
	}
	if _, err := s.Document(ctx, key(b.Organization.ID, "one")); cmex.ErrorCode(err) != cmex.ENOTFOUND {
		t.Errorf("provider B reads A's document: %v", err)
	}
	e.clock.Advance(time.Minute)
	mid := e.clock.Now()
	e.clock.Advance(time.Minute)
	if _, err := put(key(a.Organization.ID, "two"), `two`, "", false); err != nil {
		t.Fatal(err)
	}
	list, err := s.DocumentIDs(ctx, key(a.Organization.ID, ""), time.Time{})
	if fmt.Sprint(list) != "[one two]" || err != nil {
		t.Errorf("DocumentIDs: %v, %v", list, err)
	}
	list, _ = s.DocumentIDs(ctx, key(a.Organization.ID, ""), mid)
	if fmt.Sprint(list) != "[two]" {
		t.Errorf("DocumentIDs since: %v, want [two]", list)
	}
	wantCode(t, s.DeleteDocuments(ctx, key(a.Organization.ID, "two"), "wrong"), cmex.ECONFLICT)
	if err := s.DeleteDocuments(ctx, key(a.Organization.ID, ""), ""); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.DocumentIDs(ctx, key(a.Organization.ID, ""), time.Time{}); len(list) != 0 {
		t.Errorf("after deleting all: %v", list)
	}
}
