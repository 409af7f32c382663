package main_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestBenchXAPIShort runs cmex bench xapi for a second a load: every load
// is answered without an error, the stored statements are the
// acknowledged ones (the command fails otherwise), and the completions
// among them became learner records.
func TestBenchXAPIShort(t *testing.T) {
	out, code := runCLI(t, nil, "", "bench", "xapi", "-duration", "1s", "-clients", "4", "-batch", "5", "-rate", "50", "-completions", "20")
	if code != 0 {
		t.Fatalf("cmex bench xapi: exit %d\n%s", code, out)
	}
	for _, want := range []string{"POST /xapi/statements, 5 a request, 4 clients", "PUT /xapi/statements, 1 a request, 4 clients",
		"PUT, 1 a request, 4 clients, 50/s offered", "synchronous=FULL", "20% cmi5 passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("the bench did not report %q:\n%s", want, out)
		}
	}
	if n := len(regexp.MustCompile(`errors \(any answer not 2xx\)\s+none\n`).FindAllString(out, -1)); n != 3 {
		t.Errorf("%d of the 3 loads without errors:\n%s", n, out)
	}
	m := regexp.MustCompile(`completions\s+(\d+) acknowledged, (\d+) accepted as learner records`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" || m[1] != m[2] {
		t.Errorf("the completions did not all become learner records:\n%s", out)
	}
}
