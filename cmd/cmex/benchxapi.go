package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
	"github.com/cmexhub/cmex/internal/xapi"
)

// cmex bench xapi: the learning record store under load, as an LMS's
// statements reach it. A provider with a web-service user and ten
// activities; then POST /xapi/statements with batches of -batch statements
// from -clients clients for -duration, and PUT /xapi/statements of one
// statement each from -clients clients for -duration, against one cmex
// serve. Every 2xx answer is an acknowledged statement; the server stores
// with its normal settings (SQLite WAL with synchronous=FULL, PostgreSQL
// as configured), so each one is on disk before it is answered. At the
// end the stored statements are counted against the acknowledged ones.

// xapiBenchVerbs are the verbs of the statements that are no completion,
// in turn: the cmi5 and ADL verbs of a session.
var xapiBenchVerbs = [][2]string{
	{"http://adlnet.gov/expapi/verbs/launched", "launched"},
	{"http://adlnet.gov/expapi/verbs/initialized", "initialized"},
	{"http://adlnet.gov/expapi/verbs/experienced", "experienced"},
	{"http://adlnet.gov/expapi/verbs/answered", "answered"},
	{"http://adlnet.gov/expapi/verbs/progressed", "progressed"},
	{"http://adlnet.gov/expapi/verbs/terminated", "terminated"},
}

// xapiBenchFrom numbers the learners of the completions, past those of
// the other loads.
const xapiBenchFrom = 200_000_000

// xapiWorkload makes the bench's statements.
type xapiWorkload struct {
	acts []cmex.ActivityID
	year int
	// completions is the percentage of statements that are cmi5 passed
	// completions with the CME credits extension.
	completions int
	// salt tells this run's registrations from another's.
	salt uint32
}

// completion reports whether the i-th statement is a completion: spread
// evenly, completions of every 100.
func (w *xapiWorkload) completion(i int) bool { return (i*w.completions)%100 < w.completions }

// statement is the i-th statement of the workload, with its id: a learner
// (mbox) in a course session (registration) on one of the provider's
// activities, a unit of it with its definition, a result with a score;
// a completion is cmi5 passed with the ACCME activity id, the learner's
// identity and the CME credits.
func (w *xapiWorkload) statement(i int, id string) []byte {
	n := xapiBenchFrom + i
	act := w.acts[i%len(w.acts)]
	course := i % len(w.acts)
	unit := i % 7
	learner := i / 5
	verb, display := xapiBenchVerbs[i%len(xapiBenchVerbs)][0], xapiBenchVerbs[i%len(xapiBenchVerbs)][1]
	done := w.completion(i)
	if done {
		verb, display = cmex.XAPIVerbCmi5Passed, "passed"
	}
	var b bytes.Buffer
	b.Grow(1600)
	fmt.Fprintf(&b, `{"id":%q,"actor":{"objectType":"Agent","name":"Learner Number%d","mbox":"mailto:learner%d@bench.example.org"},`, id, learner, learner)
	fmt.Fprintf(&b, `"verb":{"id":%q,"display":{"en-US":%q}},`, verb, display)
	fmt.Fprintf(&b, `"object":{"objectType":"Activity","id":"https://lms.bench.example.org/courses/%d/au/%d","definition":{"name":{"en-US":"Internal Medicine Update %d, unit %d"},`+
		`"description":{"en-US":"A unit of a synthetic activity of the cmex benchmark."},"type":"http://adlnet.gov/expapi/activities/lesson",`+
		`"moreInfo":"https://bench.example.org/activities","extensions":{%q:"%d"}}},`, course, unit, course, unit, cmex.GuessXAPIActivityExtension, act)
	score := 60 + i%41
	fmt.Fprintf(&b, `"result":{"score":{"scaled":%.2f,"raw":%d,"min":0,"max":100},"success":true,"completion":%t,"duration":"PT%dM%dS"`, float64(score)/100, score, done, 5+i%40, i%60)
	var learnerExt []byte
	if done {
		r := workloadReport(n, cmex.ProviderID(benchProvider), w.acts, w.year)
		credits, _ := json.Marshal(r.Credits)
		learnerExt, _ = json.Marshal(r.Learner)
		fmt.Fprintf(&b, `,"extensions":{%q:%s}`, cmex.GuessXAPICreditsExtension, credits)
	}
	b.WriteString(`},`)
	fmt.Fprintf(&b, `"context":{"registration":"%08x-%04x-4%03x-8000-%012x","contextActivities":{"parent":[{"id":"https://lms.bench.example.org/courses/%d"}],`+
		`"category":[{"id":"https://w3id.org/xapi/cmi5/context/categories/moveon"}]},"platform":"cmex bench LMS","language":"en-US",`+
		`"extensions":{"https://w3id.org/xapi/cmi5/context/extensions/sessionid":"session-%d"`, w.salt, course, unit, learner, course, learner)
	if done {
		fmt.Fprintf(&b, `,%q:%s`, cmex.GuessXAPILearnerExtension, learnerExt)
	}
	fmt.Fprintf(&b, `}},"timestamp":"%d-01-03T15:%02d:%02d.%03dZ"}`, w.year, i%60, (i/60)%60, i%1000)
	return b.Bytes()
}

// xapiLoad is one load's tally.
type xapiLoad struct {
	name       string
	statements int64 // acknowledged
	completion int64 // acknowledged completions
	requests   []time.Duration
	took       time.Duration
	cpu        time.Duration // the server's, during the load
	self       time.Duration // the load generator's
	others     time.Duration // the rest of the machine's
	database   time.Duration // a local PostgreSQL server's, or -1
	errors     map[string]int
	firstError string
}

func (c *command) benchXAPI(ctx context.Context, e *env, args []string) error {
	fs := c.flagSet(e)
	db := fs.String("db", "", "database to measure: a postgres:// URL of an empty database, or sqlite:PATH; a new SQLite file in -dir by default")
	dir := fs.String("dir", "", "where to write the database (a new temporary directory by default, removed afterwards)")
	clients := fs.Int("clients", 64, "concurrent clients of each load")
	batch := fs.Int("batch", 10, "statements in each POST of the batch load")
	duration := fs.Duration("duration", 10*time.Second, "how long each load runs")
	rate := fs.Int("rate", 1500, "statements a second offered by a third load, PUTs of one statement from -clients clients at a steady pace, its latencies counted from when each request was due (0: no such load)")
	only := fs.String("loads", "batch,single,paced", "which loads to run (comma-separated; they run in this order): batch (the POSTs of -batch), single (the PUTs back to back), paced (the PUTs at -rate)")
	completions := fs.Int("completions", 10, "percentage of statements that are cmi5 passed completions with the CME credits extension (they become learner records); the others are session verbs")
	if err := parse(fs, args, e); err != nil {
		return err
	}
	if *clients < 1 || *batch < 1 || *completions < 0 || *completions > 100 || *duration <= 0 || *rate < 0 {
		return fmt.Errorf("%w: -clients and -batch at least 1, -completions 0 to 100, -duration above 0, -rate 0 or more", errUsage)
	}
	want := map[string]bool{}
	for _, l := range strings.Split(*only, ",") {
		if l = strings.TrimSpace(l); l != "batch" && l != "single" && l != "paced" {
			return fmt.Errorf("%w: -loads names batch, single or paced, not %q", errUsage, l)
		}
		want[l] = true
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	work := *dir
	if work == "" {
		if work, err = os.MkdirTemp("", "cmex-bench-xapi-"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	}
	if *db == "" {
		*db = "sqlite:" + filepath.Join(work, "bench.db")
	}
	b := &benchRun{e: e, self: self, db: *db, dir: work}
	fmt.Fprintf(e.stderr, "cmex bench xapi: %s, %d clients, %s a load, %d%% completions\n", redactSpec(*db), *clients, *duration, *completions)
	if err := b.setUpProvider(); err != nil {
		return err
	}
	acts, err := b.activityIDs(ctx, benchProvider)
	if err != nil {
		return err
	}
	var rows [][2]string
	add := func(k, v string) { rows = append(rows, [2]string{k, v}) }
	var pgServer int // the postmaster of a local PostgreSQL, whose CPU is read
	if strings.HasPrefix(*db, "postgres") {
		var settings string
		pgServer, settings = postgresServer(ctx, *db)
		add("database", "PostgreSQL, as configured: "+settings)
	} else {
		mode, err := sqliteSync(ctx, *db)
		if err != nil {
			return err
		}
		add("database", "SQLite, WAL, synchronous="+mode+" (cmex serve's own settings: each answer after its commit is on disk)")
	}
	srv, err := b.serve(ctx)
	if err != nil {
		return err
	}
	defer srv.stop()

	w := &xapiWorkload{acts: acts, year: workloadYear(time.Now()), completions: *completions, salt: uint32(time.Now().UnixNano())}
	var next atomic.Int64
	sample := w.statement(0, xapi.NewUUID())
	add("statement", fmt.Sprintf("%d bytes (actor mbox, verb, activity with definition, result with score, context with registration, timestamp); %d%% cmi5 passed with CME credits, the rest %d session verbs", len(sample), *completions, len(xapiBenchVerbs)))

	type load struct {
		name string
		size int
		put  bool
		rate int
	}
	var loads []load
	if want["batch"] {
		loads = append(loads, load{fmt.Sprintf("POST /xapi/statements, %d a request, %d clients", *batch, *clients), *batch, false, 0})
	}
	if want["single"] {
		loads = append(loads, load{fmt.Sprintf("PUT /xapi/statements, 1 a request, %d clients", *clients), 1, true, 0})
	}
	if *rate > 0 && want["paced"] {
		loads = append(loads, load{fmt.Sprintf("PUT, 1 a request, %d clients, %d/s offered", *clients, *rate), 1, true, *rate})
	}
	var acked, ackedDone int64
	for _, l := range loads {
		res, err := runXAPILoad(srv, pgServer, w, &next, l.name, *clients, l.size, l.put, l.rate, *duration)
		if err != nil {
			return err
		}
		acked += res.statements + res.warm
		ackedDone += res.completion + res.warmDone
		rate := float64(res.statements) / res.took.Seconds()
		add(res.name, fmt.Sprintf("%.0f statements/s (%d in %s, %d requests/s)", rate, res.statements, res.took.Round(time.Millisecond), int(float64(len(res.requests))/res.took.Seconds())))
		since := ""
		if l.rate > 0 {
			since = " (from when it was due)"
		}
		add("  latency a request"+since, fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s", pct(res.requests, 50), pct(res.requests, 90), pct(res.requests, 99), pct(res.requests, 100)))
		add("  errors (any answer not 2xx)", errorSummary(res))
		if res.statements > 0 {
			cores := func(d time.Duration) float64 { return d.Seconds() / res.took.Seconds() }
			add("  cmex serve CPU", fmt.Sprintf("%.0f µs a statement (busy %.2f cores)", float64(res.cpu.Microseconds())/float64(res.statements), cores(res.cpu)))
			if res.database >= 0 {
				add("  PostgreSQL CPU", fmt.Sprintf("%.0f µs a statement (busy %.2f cores)", float64(res.database.Microseconds())/float64(res.statements), cores(res.database)))
			}
			add("  other CPU meanwhile", fmt.Sprintf("the load generator %.2f cores, other processes %.2f cores, of %d", cores(res.self), cores(res.others), runtime.NumCPU()))
		}
	}
	srv.stop()

	// Every acknowledged statement is stored, and every acknowledged
	// completion became a learner record.
	var stored, accepted, records int64
	err = withDB(ctx, b.db, func(s *sqlstore.DB) error {
		q := s.SQL()
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM xapi_statements`).Scan(&stored); err != nil {
			return err
		}
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM xapi_outcomes WHERE outcome = 'accepted'`).Scan(&accepted); err != nil {
			return err
		}
		return q.QueryRowContext(ctx, `SELECT count(*) FROM learner_records`).Scan(&records)
	})
	if err != nil {
		return err
	}
	add("stored statements", fmt.Sprintf("%d, acknowledged %d (warm-up calls included)", stored, acked))
	add("completions", fmt.Sprintf("%d acknowledged, %d accepted as learner records, %d learner records", ackedDone, accepted, records))

	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "MEASURE\tRESULT\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if stored != acked {
		return fmt.Errorf("%d statements stored, %d acknowledged", stored, acked)
	}
	if accepted != ackedDone {
		return fmt.Errorf("%d completions acknowledged, %d became learner records", ackedDone, accepted)
	}
	return nil
}

// sqliteSync is the synchronous mode of a connection opened as cmex serve
// opens the database.
func sqliteSync(ctx context.Context, spec string) (string, error) {
	var mode int
	err := withDB(ctx, spec, func(s *sqlstore.DB) error {
		return s.SQL().QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&mode)
	})
	if err != nil {
		return "", err
	}
	if names := []string{"OFF", "NORMAL", "FULL", "EXTRA"}; mode >= 0 && mode < len(names) {
		return names[mode], nil
	}
	return strconv.Itoa(mode), nil
}

// xapiLoadResult is a load's tally.
type xapiLoadResult struct {
	xapiLoad
	warm, warmDone int64 // the warm-up's statements
}

func errorSummary(r *xapiLoadResult) string {
	if len(r.errors) == 0 {
		return "none"
	}
	var parts []string
	total := 0
	for k, n := range r.errors {
		parts = append(parts, fmt.Sprintf("%d × %s", n, k))
		total += n
	}
	slices.Sort(parts)
	return fmt.Sprintf("%d: %s; first: %s", total, strings.Join(parts, ", "), r.firstError)
}

// runXAPILoad runs clients that each send requests of size statements
// for d: POSTs of arrays, or PUTs of one; back to back, or, with rate,
// rate statements a second between them at a steady pace. The bodies are
// built before the clock starts (as many as a fast run sends), leaving
// the CPUs to the server.
func runXAPILoad(srv *benchServer, pgServer int, w *xapiWorkload, next *atomic.Int64, name string, clients, size int, put bool, rate int, d time.Duration) (*xapiLoadResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	type request struct {
		url         string
		body        []byte
		n, complete int
	}
	build := func() request {
		first := int(next.Add(int64(size))) - size
		r := request{url: srv.base + "/xapi/statements"}
		var buf bytes.Buffer
		if !put {
			buf.WriteByte('[')
		}
		for i := first; i < first+size; i++ {
			id := xapi.NewUUID()
			if i > first {
				buf.WriteByte(',')
			}
			buf.Write(w.statement(i, id))
			if w.completion(i) {
				r.complete++
			}
			if put {
				r.url += "?statementId=" + id
			}
		}
		if !put {
			buf.WriteByte(']')
		}
		r.body, r.n = buf.Bytes(), size
		return r
	}
	pre := make([]request, min(int(d.Seconds()*8000)/size, 100000/size)+1)
	for i := range pre {
		pre[i] = build()
	}
	var taken atomic.Int64
	res := &xapiLoadResult{xapiLoad: xapiLoad{name: name, errors: map[string]int{}}}
	var mu sync.Mutex
	var statements, completions atomic.Int64
	send := func() error {
		i := int(taken.Add(1)) - 1
		var r request
		if i < len(pre) {
			r, pre[i] = pre[i], request{}
		} else {
			r = build()
		}
		method := http.MethodPost
		if put {
			method = http.MethodPut
		}
		req, _ := http.NewRequest(method, r.url, bytes.NewReader(r.body))
		req.SetBasicAuth(benchUser, benchPassword)
		req.Header.Set("X-Experience-API-Version", "2.0.0")
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			mu.Lock()
			res.errors["transport error"]++
			if res.firstError == "" {
				res.firstError = err.Error()
			}
			mu.Unlock()
			return err
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
			err = fmt.Errorf("%s: %.300s", resp.Status, out)
		}
		if err != nil {
			mu.Lock()
			res.errors[strconv.Itoa(resp.StatusCode)]++
			if res.firstError == "" {
				res.firstError = err.Error()
			}
			mu.Unlock()
			return err
		}
		statements.Add(int64(r.n))
		completions.Add(int64(r.complete))
		return nil
	}
	// One call before the clock starts: the first check of the password
	// runs argon2id; the load measures the calls after it, whose check
	// is remembered.
	if err := send(); err != nil {
		return nil, fmt.Errorf("%s: the warm-up call failed: %w", name, err)
	}
	res.warm, res.warmDone = statements.Swap(0), completions.Swap(0)
	cpu0, err := processCPU(srv.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	self0, _ := processCPU(os.Getpid())
	all0, _ := machineCPU()
	db0 := treeCPU(pgServer)
	start := time.Now()
	var lat []time.Duration
	if rate > 0 {
		lat, _, err = pacedLoop(clients, d, float64(rate)/float64(size), func(int) error { return send() })
	} else {
		lat, _, err = closedLoop(clients, d, func(int) error { return send() })
	}
	res.took = time.Since(start)
	cpu1, cerr := processCPU(srv.cmd.Process.Pid)
	self1, _ := processCPU(os.Getpid())
	all1, _ := machineCPU()
	db1 := treeCPU(pgServer)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if cerr != nil {
		return nil, cerr
	}
	res.cpu, res.self = cpu1-cpu0, self1-self0
	res.database = -1
	if db0 >= 0 && db1 >= 0 {
		res.database = db1 - db0
	}
	res.others = max(0, all1-all0-res.cpu-res.self-max(0, res.database))
	res.requests = lat
	res.statements, res.completion = statements.Load(), completions.Load()
	return res, nil
}

// pacedLoop runs clients that together call do rate times a second for d,
// each on its own schedule (client c at c/rate, then every clients/rate
// seconds), and returns the latencies of the calls that succeeded,
// counted from when each was due: a call that waits for its client's
// previous one counts its wait (no coordinated omission). With rate 0
// each client calls back to back (a closed loop). It fails when none
// succeeded.
func pacedLoop(clients int, d time.Duration, rate float64, do func(client int) error) ([]time.Duration, int, error) {
	start := time.Now()
	var every time.Duration
	if rate > 0 {
		every = time.Duration(float64(clients) / rate * float64(time.Second))
	}
	lats := make([][]time.Duration, clients)
	fails := make([]int, clients)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			due := start
			if rate > 0 {
				due = start.Add(time.Duration(float64(c) / rate * float64(time.Second)))
			}
			for ; due.Before(start.Add(d)); due = due.Add(every) {
				if rate == 0 {
					due = time.Now() // back to back: each call is due when the last ends
				} else if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				if err := do(c); err != nil {
					fails[c]++
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					continue
				}
				lats[c] = append(lats[c], time.Since(due))
			}
		})
	}
	wg.Wait()
	var all []time.Duration
	failed := 0
	for c := range clients {
		all = append(all, lats[c]...)
		failed += fails[c]
	}
	if len(all) == 0 {
		return nil, failed, fmt.Errorf("no call succeeded: %v", first)
	}
	return all, failed, nil
}

// processCPU is the user and system CPU time a process has used, from
// /proc (Linux; the clock ticks are USER_HZ, 100 a second).
func processCPU(pid int) (time.Duration, error) {
	// The command name, in parentheses, may hold spaces: fields count from
	// after its closing one.
	f, err := procStat(pid)
	if err != nil {
		return 0, fmt.Errorf("the bench reads the server's CPU time from /proc (Linux): %w", err)
	}
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, f)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// machineCPU is the busy CPU time of the whole machine, all cores, from
// /proc/stat (user, nice, system, irq, softirq, steal).
func machineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: %q", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %q", line)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// postgresServer returns the process id of the PostgreSQL server of db
// when it runs on this machine (0 otherwise), and its durability settings.
func postgresServer(ctx context.Context, spec string) (int, string) {
	var backend int
	var fsync, syncCommit string
	err := withDB(ctx, spec, func(s *sqlstore.DB) error {
		return s.SQL().QueryRowContext(ctx, `SELECT pg_backend_pid(), current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&backend, &fsync, &syncCommit)
	})
	if err != nil {
		return 0, "(its settings could not be read: " + err.Error() + ")"
	}
	settings := "fsync=" + fsync + ", synchronous_commit=" + syncCommit
	// The backend's parent is the postmaster, if the backend is ours.
	if f, err := procStat(backend); err == nil && len(f) > 1 {
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			return ppid, settings
		}
	}
	return 0, settings
}

// treeCPU is the CPU time of process pid and its children (PostgreSQL's
// backends and workers), or -1 without pid.
func treeCPU(pid int) time.Duration {
	if pid <= 0 {
		return -1
	}
	total, err := processCPU(pid)
	if err != nil {
		return -1
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f, err := procStat(n); err == nil && len(f) > 12 && f[1] == strconv.Itoa(pid) {
			if c, err := processCPU(n); err == nil {
				total += c
			}
		}
	}
	return total
}

// procStat is the fields of /proc/PID/stat after the command name: state,
// ppid, …
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:]), nil
}
