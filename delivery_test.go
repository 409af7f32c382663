package cmex_test

import (
	"testing"
	"time"

	"github.com/cmexhub/cmex"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, time.March, 2, 10, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		value, date string
		want        time.Duration
		ok          bool
	}{
		"seconds":                {"1", "", time.Second, true},
		"zero is now":            {"0", "", 0, true},
		"two minutes":            {" 120 ", "", 2 * time.Minute, true},
		"too many seconds":       {"99999999999999999999999", "", 24 * time.Hour, true},
		"a day and more":         {"90000", "", 24 * time.Hour, true},
		"negative":               {"-1", "", 0, false},
		"fraction":               {"1.5", "", 0, false},
		"words":                  {"soon", "", 0, false},
		"none":                   {"", "", 0, false},
		"date against Date":      {"Mon, 02 Mar 2026 09:01:30 GMT", "Mon, 02 Mar 2026 09:00:00 GMT", 90 * time.Second, true},
		"date against now":       {"Mon, 02 Mar 2026 10:00:45 GMT", "", 45 * time.Second, true},
		"date, unreadable Date":  {"Mon, 02 Mar 2026 10:00:45 GMT", "yesterday", 45 * time.Second, true},
		"date past":              {"Mon, 02 Mar 2026 08:00:00 GMT", "", 0, true},
		"RFC 850 date":           {"Monday, 02-Mar-26 10:00:10 GMT", "", 10 * time.Second, true},
		"asctime date":           {"Mon Mar  2 10:00:20 2026", "", 20 * time.Second, true},
		"date a year on":         {"Tue, 02 Mar 2027 10:00:00 GMT", "", 24 * time.Hour, true},
		"date in another format": {"2026-03-02T10:01:00Z", "", 0, false},
	} {
		got, ok := cmex.ParseRetryAfter(tc.value, tc.date, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: %q (Date %q) = %v, %v; want %v, %v", name, tc.value, tc.date, got, ok, tc.want, tc.ok)
		}
	}
	// Only an outcome to be retried takes it.
	if o := (cmex.Outcome{Result: cmex.DeliveryDelivered}).WithRetryAfter("5", "", now); o.RetryAfterGiven {
		t.Errorf("delivered with a Retry-After: %+v", o)
	}
	if o := (cmex.Outcome{Result: cmex.DeliveryPending}).WithRetryAfter("5", "", now); !o.RetryAfterGiven || o.RetryAfter != 5*time.Second {
		t.Errorf("retried with a Retry-After: %+v", o)
	}
	if o := (cmex.Outcome{Result: cmex.DeliveryPending}).WithRetryAfter("", "", now); o.RetryAfterGiven {
		t.Errorf("retried without one: %+v", o)
	}
}
