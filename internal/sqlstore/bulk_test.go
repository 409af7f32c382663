package sqlstore

import "testing"

// Every count of tuples is padded to a kept size no smaller than itself,
// and cut into kept sizes that add up to it exactly; there are few sizes.
func TestBulkSizes(t *testing.T) {
	kept := map[int]bool{}
	for n := 1; n <= 3*batchChunk; n++ {
		if n <= batchChunk {
			s := bulkSize(n)
			if s < n || s > batchChunk {
				t.Fatalf("bulkSize(%d) = %d", n, s)
			}
			kept[s] = true
		}
		sum := 0
		for rest := n; rest > 0; {
			s := largestSize(rest)
			if s < 1 || s > rest {
				t.Fatalf("largestSize(%d) = %d", rest, s)
			}
			kept[s] = true
			sum += s
			rest -= s
		}
		if sum != n {
			t.Fatalf("%d cut into sizes adding up to %d", n, sum)
		}
	}
	if len(kept) > 11 {
		t.Errorf("%d statement sizes kept, want at most 11: %v", len(kept), kept)
	}
}
