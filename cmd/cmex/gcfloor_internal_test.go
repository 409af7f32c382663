package main

import "testing"

func TestGCPercentFor(t *testing.T) {
	const floor = 32 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 800},         // before the first collection: 4 MB assumed
		{3 << 20, 1066},  // the xAPI bench's live heap
		{1 << 20, 2000},  // capped
		{32 << 20, 100},  // at the floor, the default
		{500 << 20, 100}, // never below the default
		{16 << 20, 200},  // grows by the floor
	} {
		if got := gcPercentFor(c.live, floor); got != c.want {
			t.Errorf("gcPercentFor(%d) = %d, want %d", c.live, got, c.want)
		}
	}
}
