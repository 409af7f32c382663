package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/cmexhub/cmex/internal/pars"
)

// soak runs sustained mixed load against a server of its own and samples
// the server's memory, to show that it stays flat and nothing fails.
func (c *command) soak(ctx context.Context, e *env, args []string) error {
	fs := c.flagSet(e)
	db := fs.String("db", "", "database: a postgres:// URL of an empty database, or sqlite:PATH; a new SQLite file in a temporary directory by default")
	duration := fs.Duration("duration", 5*time.Minute, "how long the load runs")
	clients := fs.Int("clients", 8, "concurrent clients")
	every := fs.Duration("sample", 10*time.Second, "how often the server's memory is sampled")
	growth := fs.Float64("max-growth", 0.25, "the largest growth of RSS and heap allowed from the end of the warm-up (the first fifth) to the end, as a fraction")
	if err := parse(fs, args, e); err != nil {
		return err
	}
	if *duration < 5**every || *clients < 1 {
		return fmt.Errorf("%w: -duration must be at least five -sample intervals, and -clients at least 1", errUsage)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "cmex-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if *db == "" {
		*db = "sqlite:" + filepath.Join(work, "soak.db")
	}
	b := &benchRun{e: e, self: self, db: *db, dir: work}
	fmt.Fprintf(e.stderr, "cmex bench soak: %s for %s with %d clients\n", redactSpec(*db), *duration, *clients)

	const provider, user, password = benchProvider, benchUser, benchPassword
	if err := b.setUpProvider(); err != nil {
		return err
	}
	if _, err := b.setUpSubject(ctx, provider, 50); err != nil {
		return err
	}
	actIDs, err := b.activityIDs(ctx, provider)
	if err != nil {
		return err
	}
	srv, err := b.serve(ctx, "-trusted-proxies", "127.0.0.1", "-processsync-window", soakTokenWindow.String())
	if err != nil {
		return err
	}
	defer srv.stop()

	// The mix: what an LMS, a member-management system, physicians and a
	// monitor do at once. Each client takes the next operation in turn.
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *clients}}
	tokens := newTokenSeconds(soakTokenWindow)
	var records, guesses atomic.Int64
	year := workloadYear(time.Now())
	ops := []soakOp{
		{name: "SaveLearnerActivity", do: func() error {
			i := int(records.Add(1))
			body := learnerSubmit(pars.LearnerDocument(workloadReport(i, provider, actIDs, year)), user, password, provider)
			out, err := post(hc, srv.base+pars.PathSaveLearnerActivity, "application/xml", body)
			if err == nil && !bytes.Contains(out, []byte("Accepted")) {
				err = fmt.Errorf("not Accepted: %.300s", out)
			}
			return err
		}},
		{name: "status by CreditID", do: func() error {
			n := max(1, records.Load())
			body := `<LearnerStatusSearchByCreditId xmlns="` + pars.NSLearnerService + `"><CreditId>ccid:bench.example.org:` + strconv.FormatInt(n, 10) +
				`</CreditId><Password>` + password + `</Password><ProviderId>` + provider + `</ProviderId><User>` + user + `</User></LearnerStatusSearchByCreditId>`
			_, err := post(hc, srv.base+pars.PathLearnerStatusByCredit, "application/xml", []byte(body))
			return err
		}},
		{name: "GetRoleData", do: func() error {
			req, err := roleDataRequest(srv.base, tokens)
			if err != nil {
				return err
			}
			out, err := call(hc, req)
			if err == nil && !bytes.Contains(out, []byte("Success>0<")) {
				err = fmt.Errorf("GetRoleData: %.300s", out)
			}
			return err
		}},
		{name: "transcript", do: func() error {
			_, err := call(hc, transcriptRequest(srv.base))
			return err
		}},
		{name: "a wrong password", do: func() error {
			// From addresses of their own (the server trusts the load's
			// X-Forwarded-For), as an attacker's would be: the guard
			// limits them, and the LMS's own calls go on.
			n := guesses.Add(1)
			req, _ := http.NewRequest(http.MethodPost, srv.base+pars.PathSaveLearnerActivity, bytes.NewReader(learnerSubmit("<x/>", user, "not the password", provider)))
			req.Header.Set("Content-Type", "application/xml")
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.18.%d.%d", n/250%250, n%250+1))
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Contains(out, []byte("Access Denied")) || resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusTooManyRequests {
				return fmt.Errorf("a wrong password was not refused: %s %.300s", resp.Status, out)
			}
			return nil
		}},
		{name: "/metrics", do: func() error {
			req, _ := http.NewRequest(http.MethodGet, srv.base+"/metrics", nil)
			_, err := call(hc, req)
			return err
		}},
	}
	var samples []soakSample
	var sampleErr error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(*every)
		defer t.Stop()
		start := time.Now()
		for {
			s, err := sampleServer(hc, srv)
			if err != nil && sampleErr == nil {
				sampleErr = err
			}
			s.at = time.Since(start)
			samples = append(samples, s)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	var next atomic.Int64
	_, failed, err := closedLoop(*clients, *duration, func(int) error {
		op := &ops[int(next.Add(1)-1)%len(ops)]
		start := time.Now()
		err := op.do()
		op.record(time.Since(start), err)
		return err
	})
	close(stop)
	wg.Wait()
	if err != nil {
		return err
	}
	if final, err := sampleServer(hc, srv); err == nil {
		final.at = *duration
		samples = append(samples, final)
	} else if sampleErr == nil {
		sampleErr = err
	}
	if sampleErr != nil {
		return sampleErr
	}

	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "OPERATION\tCALLS\tFAILED\tP50\tP99\n")
	for i := range ops {
		op := &ops[i]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", op.name, len(op.lat)+op.failed, op.failed, pct(op.lat, 50), pct(op.lat, 99))
	}
	fmt.Fprintf(tw, "\nELAPSED\tRSS\tGO HEAP\tGOROUTINES\n")
	for _, s := range samples {
		fmt.Fprintf(tw, "%s\t%.1f MB\t%.1f MB\t%d\n", s.at.Round(time.Second), s.rss/1e6, s.heap/1e6, s.goroutines)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Flat: from the end of the warm-up (the first fifth) to the end, no
	// more than the growth allowed.
	warm := samples[len(samples)/5]
	last := samples[len(samples)-1]
	peakRSS := slices.MaxFunc(samples, func(a, b soakSample) int { return int(a.rss - b.rss) }).rss
	fmt.Fprintf(e.stdout, "\nRSS after warm-up %.1f MB, at the end %.1f MB (%+.1f%%), peak %.1f MB; Go heap %.1f MB then %.1f MB; %d calls failed.\n",
		warm.rss/1e6, last.rss/1e6, 100*(last.rss/warm.rss-1), peakRSS/1e6, warm.heap/1e6, last.heap/1e6, failed)
	var problems []string
	if failed > 0 {
		problems = append(problems, fmt.Sprintf("%d calls failed", failed))
	}
	if last.rss > warm.rss*(1+*growth) {
		problems = append(problems, fmt.Sprintf("RSS grew %.0f%%", 100*(last.rss/warm.rss-1)))
	}
	if last.heap > warm.heap*(1+*growth) && last.heap-warm.heap > 8e6 {
		problems = append(problems, fmt.Sprintf("the Go heap grew %.0f%%", 100*(last.heap/warm.heap-1)))
	}
	if last.goroutines > warm.goroutines+2**clients {
		problems = append(problems, fmt.Sprintf("goroutines grew from %d to %d", warm.goroutines, last.goroutines))
	}
	if len(problems) > 0 {
		return fmt.Errorf("the soak failed: %s", strings.Join(problems, "; "))
	}
	return nil
}

// soakTokenWindow is the Process Synchronization window of the soak's
// server: a token is single-use and names its second, and a long soak
// asks GetRoleData about one member hundreds of times a second.
const soakTokenWindow = 60 * 24 * time.Hour

// soakOp is one kind of call of the soak, with its tally.
type soakOp struct {
	name   string
	do     func() error
	mu     sync.Mutex
	lat    []time.Duration
	failed int
}

func (o *soakOp) record(d time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.failed++
		return
	}
	o.lat = append(o.lat, d)
}

// soakSample is the server's memory at one moment.
type soakSample struct {
	at         time.Duration
	rss, heap  float64 // bytes
	goroutines int
}

var (
	heapRE       = regexp.MustCompile(`(?m)^cmex_go_heap_inuse_bytes (\d+)`)
	goroutinesRE = regexp.MustCompile(`(?m)^cmex_goroutines (\d+)`)
	rssRE        = regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`)
)

// sampleServer reads the server's resident memory from /proc, and its
// Go heap and goroutines from /metrics.
func sampleServer(hc *http.Client, srv *benchServer) (soakSample, error) {
	var s soakSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", srv.cmd.Process.Pid))
	if err != nil {
		return s, fmt.Errorf("the soak samples memory from /proc (Linux): %w", err)
	}
	if m := rssRE.FindSubmatch(status); m != nil {
		kb, _ := strconv.ParseFloat(string(m[1]), 64)
		s.rss = kb * 1024
	}
	req, _ := http.NewRequest(http.MethodGet, srv.base+"/metrics", nil)
	out, err := call(hc, req)
	if err != nil {
		return s, err
	}
	if m := heapRE.FindSubmatch(out); m != nil {
		s.heap, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := goroutinesRE.FindSubmatch(out); m != nil {
		s.goroutines, _ = strconv.Atoi(string(m[1]))
	}
	return s, nil
}

// post sends body and returns the body of a 200 answer.
func post(hc *http.Client, url, contentType string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	return call(hc, req)
}
