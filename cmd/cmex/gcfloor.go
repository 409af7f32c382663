package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// serveHeapFloor is how far cmex serve's heap may grow past what the last
// collection left live before the next one, at the least. The server's
// live heap is a few MB (under the xAPI bench, 3 MB), so with GOGC=100
// alone a collection ran every 45 ms at 1,500 statements a second, 22 a
// second, each with a dedicated mark worker on one of the 2 CPUs: 8-9%
// of the server's CPU, and requests queued behind the writer meanwhile.
// Past a live heap of this size GOGC=100 applies as usual, so the floor
// adds at most this much to the process's memory (two argon2id checks
// at once take 38 MiB anyway).
const serveHeapFloor = 32 << 20

// keepHeapFloor sets the collector's percentage (GOGC) so that the heap
// may grow by at least floor past the live heap, as GOGC=100 lets it
// grow by the live heap, and follows the live heap every second until
// ctx ends. GOGC or GOMEMLIMIT in the environment leave the collector as
// they say; so does a command that does not own its process (tests).
func keepHeapFloor(ctx context.Context, e *env, floor uint64) {
	if !e.ownsProcess || e.getenv("GOGC") != "" || e.getenv("GOMEMLIMIT") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	last := -1
	set := func() {
		metrics.Read(sample)
		pct := gcPercentFor(sample[0].Value.Uint64(), floor)
		if pct != last {
			debug.SetGCPercent(pct)
			last = pct
		}
	}
	set()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				set()
			}
		}
	}()
}

// gcPercentFor is the GOGC that lets a live heap of live bytes grow by
// floor, never below 100 (the default) nor above 2,000; before the first
// collection (live 0) a live heap of 4 MB, the runtime's minimum, is
// assumed.
func gcPercentFor(live, floor uint64) int {
	if live == 0 {
		live = 4 << 20
	}
	pct := 100 * floor / live
	return int(max(100, min(2000, pct)))
}
