package cmegateway_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
)

// calls is a SocietyCallService that keeps what it is told.
type calls struct {
	cmex.SocietyCallService
	mu   sync.Mutex
	list []cmex.SocietyCall
}

func (c *calls) RecordSocietyCall(_ context.Context, sc cmex.SocietyCall) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, sc)
	return nil
}

func (c *calls) of(id cmex.SocietyID) []cmex.SocietyCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []cmex.SocietyCall
	for _, sc := range c.list {
		if sc.SocietyID == id {
			out = append(out, sc)
		}
	}
	return out
}

// TestSocietyCallsRecorded: every call to a remote society is recorded
// with its operation, outcome, duration and a safe account of the answer
// (never the password); a local society's answers are not calls.
func TestSocietyCallsRecorded(t *testing.T) {
	e := newEnv(t)
	rec := &calls{}
	e.gateway.Calls, e.gateway.Now, e.gateway.Timeout = rec, time.Now, 300*time.Millisecond
	ctx := context.Background()
	a := e.account(t, "ned")
	good := e.remote(t, "ACR", &simSociety{code: "ACR", username: "ned", password: "s3cret-pw", memberID: "M-1", delay: 40 * time.Millisecond,
		credits: []cmex.CEU{ceu("ACR", "Imaging", "2026-01-10", 300)}})
	if _, err := e.gateway.Bind(ctx, a.ID, "ACR", "ned", "wrong-pw"); cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
		t.Fatalf("a wrong login: %v", err)
	}
	if _, err := e.gateway.Bind(ctx, a.ID, "ACR", "ned", "s3cret-pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.gateway.Bind(ctx, a.ID, "EXAMPLE", "NedBaker", "mYpAsSwOrD"); err != nil {
		t.Fatal(err)
	}
	down := e.remote(t, "DOWN", hostile["ERROR"])
	silent := e.remote(t, "SILENT", hostile["SILENT"])
	refuses := e.remote(t, "REFUSES", hostile["REFUSES"])
	for _, s := range []*cmex.Society{down, silent, refuses} {
		if err := e.store.Gateway.SaveBinding(ctx, &cmex.Binding{AccountID: a.ID, SocietyID: s.ID, MemberID: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.gateway.Transcript(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	type want struct {
		op      string
		outcome cmex.SocietyCallOutcome
		answer  string
	}
	for s, ws := range map[*cmex.Society][]want{
		good: {{cmex.CallBinding, cmex.CallRefused, "STATUS User record not found."}, {cmex.CallBinding, cmex.CallAnswered, "STATUS OK"},
			{cmex.CallOrder, cmex.CallAnswered, "STATUS OK"}},
		down:      {{cmex.CallOrder, cmex.CallFailed, "HTTP 500"}},
		silent:    {{cmex.CallOrder, cmex.CallFailed, "did not answer in time"}},
		refuses:   {{cmex.CallOrder, cmex.CallRefused, "STATUS User record not found."}},
		e.example: nil,
	} {
		got := rec.of(s.ID)
		if len(got) != len(ws) {
			t.Errorf("%s: %d calls recorded, want %d: %+v", s.Code, len(got), len(ws), got)
			continue
		}
		for i, w := range ws {
			c := got[i]
			if c.Operation != w.op || c.Outcome != w.outcome || !strings.Contains(c.Answer, w.answer) || c.At.IsZero() {
				t.Errorf("%s call %d: %+v, want %+v", s.Code, i, c, w)
			}
			if strings.Contains(c.Answer, "s3cret") || strings.Contains(c.Answer, "wrong-pw") {
				t.Errorf("%s: a password in the record: %q", s.Code, c.Answer)
			}
		}
	}
	if got := rec.of(good.ID); len(got) == 3 && got[1].Duration < 40*time.Millisecond {
		t.Errorf("the call that took 40 ms is recorded as %v", got[1].Duration)
	}
	if got := rec.of(silent.ID); len(got) == 1 && got[0].Duration < 300*time.Millisecond {
		t.Errorf("the call that timed out after 300 ms is recorded as %v", got[0].Duration)
	}
	// A cached answer asks nothing, and records nothing.
	if _, err := e.gateway.Transcript(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if got := rec.of(good.ID); len(got) != 3 {
		t.Errorf("a cached answer was recorded as a call: %d calls", len(got))
	}
}
