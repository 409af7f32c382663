package server

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cmexhub/cmex/internal/processsync"
)

// requestStats count requests by surface and status class, and time them
// in a histogram per surface, for /metrics.
type requestStats struct {
	mu      sync.Mutex
	count   map[[2]string]int64 // surface, status class
	buckets map[string][]int64  // per surface, one count per bound, then +Inf
	sum     map[string]float64
	rejects map[[2]string]int64 // surface, code
}

// reject counts one refusal with code on surface.
func (st *requestStats) reject(surface, code string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.rejects == nil {
		st.rejects = map[[2]string]int64{}
	}
	st.rejects[[2]string{surface, code}]++
}

// latencyBounds are the histogram's upper bounds, in seconds.
var latencyBounds = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// surfaces are the protocol surfaces, by path prefix, most specific first.
var surfaces = []struct{ prefix, name string }{
	{processsync.Path, "processsync"},
	{"/services/", "pars"},
	{"/api/", "api"},
	{"/cmegateway/", "cmegateway"},
	{"/healthz", "ops"}, {"/readyz", "ops"}, {"/metrics", "ops"},
}

func surfaceOf(path string) string {
	for _, s := range surfaces {
		if strings.HasPrefix(path, s.prefix) {
			return s.name
		}
	}
	return "portal"
}

func (st *requestStats) observe(path string, status int, d time.Duration) {
	surface := surfaceOf(path)
	class := fmt.Sprintf("%dxx", status/100)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.count == nil {
		st.count, st.buckets, st.sum = map[[2]string]int64{}, map[string][]int64{}, map[string]float64{}
	}
	st.count[[2]string{surface, class}]++
	b := st.buckets[surface]
	if b == nil {
		b = make([]int64, len(latencyBounds)+1)
		st.buckets[surface] = b
	}
	secs := d.Seconds()
	i := 0
	for i < len(latencyBounds) && secs > latencyBounds[i] {
		i++
	}
	b[i]++
	st.sum[surface] += secs
}

// write writes the counters and histograms in Prometheus' text format.
func (st *requestStats) write(w io.Writer) {
	st.mu.Lock()
	defer st.mu.Unlock()
	fmt.Fprintln(w, "# HELP cmex_http_requests_total Requests answered, by surface and status class.")
	fmt.Fprintln(w, "# TYPE cmex_http_requests_total counter")
	for _, k := range sortedKeys(st.count) {
		fmt.Fprintf(w, "cmex_http_requests_total{surface=%q,class=%q} %d\n", k[0], k[1], st.count[k])
	}
	fmt.Fprintln(w, "# HELP cmex_rejections_total Error codes requests were refused with (PARS codes, or the JSON API's error code when no rule applies), by surface.")
	fmt.Fprintln(w, "# TYPE cmex_rejections_total counter")
	for _, k := range sortedKeys(st.rejects) {
		fmt.Fprintf(w, "cmex_rejections_total{surface=%q,code=%q} %d\n", k[0], k[1], st.rejects[k])
	}
	fmt.Fprintln(w, "# HELP cmex_http_request_duration_seconds Time to answer a request, by surface.")
	fmt.Fprintln(w, "# TYPE cmex_http_request_duration_seconds histogram")
	for _, surface := range sortedSurfaces(st.buckets) {
		b := st.buckets[surface]
		var cum int64
		for i, bound := range latencyBounds {
			cum += b[i]
			fmt.Fprintf(w, "cmex_http_request_duration_seconds_bucket{surface=%q,le=\"%g\"} %d\n", surface, bound, cum)
		}
		cum += b[len(latencyBounds)]
		fmt.Fprintf(w, "cmex_http_request_duration_seconds_bucket{surface=%q,le=\"+Inf\"} %d\n", surface, cum)
		fmt.Fprintf(w, "cmex_http_request_duration_seconds_sum{surface=%q} %g\n", surface, st.sum[surface])
		fmt.Fprintf(w, "cmex_http_request_duration_seconds_count{surface=%q} %d\n", surface, cum)
	}
}

func sortedKeys(m map[[2]string]int64) [][2]string {
	return slices.SortedFunc(maps.Keys(m), func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
}

func sortedSurfaces(m map[string][]int64) []string { return slices.Sorted(maps.Keys(m)) }
