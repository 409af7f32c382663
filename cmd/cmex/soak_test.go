package main_test

import (
	"strings"
	"testing"
)

// TestSoakShort runs cmex bench soak for a few seconds: the mixed load
// (writes, status queries, GetRoleData, transcripts, wrong passwords from
// many addresses, /metrics) runs without a failed call, and the command
// judges memory flat. The README's figures come from a five-minute run.
func TestSoakShort(t *testing.T) {
	out, code := runCLI(t, nil, "", "bench", "soak", "-duration", "10s", "-sample", "2s", "-clients", "4")
	if code != 0 || !strings.Contains(out, "; 0 calls failed.") {
		t.Fatalf("cmex bench soak: exit %d\n%s", code, out)
	}
	for _, op := range []string{"SaveLearnerActivity", "GetRoleData", "transcript", "a wrong password", "status by CreditID"} {
		if !strings.Contains(out, op) {
			t.Errorf("the soak did not report %s:\n%s", op, out)
		}
	}
}
