package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/pars"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func benchCommand() *command {
	c := &command{
		name:    "bench",
		summary: "Measure cmex on this machine (import, SaveLearnerActivity under load, GetRoleData and transcripts over a large ledger; xAPI statements under load with bench xapi), or generate synthetic batch files.",
		usage: "cmex bench [-db DB] [-dir DIR] [-records N] [-clients N] [-duration D] [-ledger N] [-credits N] [-read-clients N] [-read-duration D] [-replicas N] | " +
			"cmex bench generate (-activities N | -records N -provider ID [-db DB] [-reject-every N]) FILE | " +
			"cmex bench soak [-duration D] [-clients N] [-sample D] [-max-growth F] [-db DB] | " +
			"cmex bench xapi [-db DB] [-dir DIR] [-clients N] [-batch N] [-duration D] [-rate N] [-completions PERCENT] [-loads batch,single,paced]",
		example: `cmex bench -records 200000 -ledger 1000000
cmex bench -db postgres://localhost/cmexbench -records 200000
cmex bench -db postgres://localhost/cmexbench -replicas 2 -read-clients 8
cmex bench soak -duration 5m -clients 8
cmex bench xapi -clients 64 -batch 10 -duration 10s
cmex bench generate -activities 10 activities.xml
cmex bench generate -records 200000 -provider 1234567 learners.xml`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if len(args) > 0 && args[0] == "generate" {
			return c.generate(ctx, e, args[1:])
		}
		if len(args) > 0 && args[0] == "soak" {
			return c.soak(ctx, e, args[1:])
		}
		if len(args) > 0 && args[0] == "xapi" {
			return c.benchXAPI(ctx, e, args[1:])
		}
		return c.bench(ctx, e, args)
	}
	return c
}

// generate writes a synthetic activity or learner file.
func (c *command) generate(ctx context.Context, e *env, args []string) error {
	fs := c.flagSet(e)
	db := dbFlag(fs)
	activities := fs.Int("activities", 0, "write an activity file of this many Add records")
	records := fs.Int("records", 0, "write a learner file of this many records, on the provider's activities")
	provider := fs.String("provider", "", "the provider whose activities the learner records name")
	year := fs.Int("year", workloadYear(time.Now()), "the year of the activities and completions (this year by default)")
	from := fs.Int("from", 0, "number the learner records from this one (CreditIDs are ccid:bench.example.org:N)")
	rejectEvery := fs.Int("reject-every", 0, "make every Nth learner record name an activity that does not exist")
	if err := parse(fs, args, e); err != nil {
		return err
	}
	if fs.NArg() != 1 || (*activities > 0) == (*records > 0) {
		return fmt.Errorf("%w: bench generate takes -activities N or -records N, and one FILE", errUsage)
	}
	f, err := os.Create(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	if *activities > 0 {
		if err := writeActivityFile(w, *activities, *year); err != nil {
			return err
		}
		return w.Flush()
	}
	pid, err := cmex.ParseProviderID(*provider)
	if err != nil {
		return fmt.Errorf("%w: -provider %q: %v", errUsage, *provider, err)
	}
	var acts []cmex.ActivityID
	err = withDB(ctx, *db, func(s *sqlstore.DB) error {
		as, err := sqlstore.NewActivityService(s).FindActivities(ctx, cmex.ActivityFilter{ProviderID: pid})
		for _, a := range as {
			// Only the synthetic activities: the records are made for
			// them (their dates, credits and boards), and would be
			// refused on the provider's real ones.
			if strings.HasPrefix(a.ProviderActivityID, workloadActivityPrefix) {
				acts = append(acts, a.ID)
			}
		}
		return err
	})
	if err != nil {
		return cliError(err)
	}
	if len(acts) == 0 {
		return fmt.Errorf("provider %s has no synthetic activities; import some first (cmex bench generate -activities 10 FILE)", pid)
	}
	if err := writeLearnerFileRejecting(w, *from, *from+*records, pid, acts, *year, *rejectEvery); err != nil {
		return err
	}
	return w.Flush()
}

// writeLearnerFileRejecting is writeLearnerFile with every nth record
// naming an activity that does not exist.
func writeLearnerFileRejecting(w io.Writer, from, to int, provider cmex.ProviderID, acts []cmex.ActivityID, year, every int) error {
	fw := pars.NewFileWriter(w, pars.FileLearners)
	for i := from; i < to; i++ {
		r := workloadReport(i, provider, acts, year)
		if every > 0 && i%every == every-1 {
			r.ActivityID = 999999999
		}
		if err := fw.WriteLearnerReport(r); err != nil {
			return err
		}
	}
	return fw.Close()
}

func (c *command) bench(ctx context.Context, e *env, args []string) error {
	fs := c.flagSet(e)
	db := fs.String("db", "", "database to measure: a postgres:// URL of an empty database, or sqlite:PATH; a new SQLite file in -dir by default")
	dir := fs.String("dir", "", "where to write the synthetic files and database (a new temporary directory by default, removed afterwards)")
	records := fs.Int("records", 200000, "learner records in the file imported")
	clients := fs.Int("clients", 64, "concurrent SaveLearnerActivity clients")
	duration := fs.Duration("duration", 10*time.Second, "how long the SaveLearnerActivity load runs")
	ledger := fs.Int("ledger", 1_000_000, "learner records the ledger holds when GetRoleData and transcripts are measured (0: skip those)")
	credits := fs.Int("credits", 500, "credits of the physician GetRoleData and the transcript are asked about")
	readClients := fs.Int("read-clients", 1, "concurrent GetRoleData and transcript clients (1: each call's latency alone)")
	readDuration := fs.Duration("read-duration", 5*time.Second, "how long each of the GetRoleData and transcript loads runs")
	replicas := fs.Int("replicas", 1, "cmex serve processes the SaveLearnerActivity and read loads run against, clients spread evenly (PostgreSQL only)")
	if err := parse(fs, args, e); err != nil {
		return err
	}
	if *replicas < 1 {
		return fmt.Errorf("%w: -replicas %d: want 1 or more", errUsage, *replicas)
	}
	if *replicas > 1 && !strings.HasPrefix(*db, "postgres") {
		return fmt.Errorf("%w: -replicas %d needs -db postgres://…: a SQLite database serves one process", errUsage, *replicas)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	work := *dir
	if work == "" {
		if work, err = os.MkdirTemp("", "cmex-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	}
	if *db == "" {
		*db = "sqlite:" + filepath.Join(work, "bench.db")
	}
	b := &benchRun{e: e, self: self, db: *db, dir: work}
	fmt.Fprintf(e.stderr, "cmex bench: %s, files in %s\n", redactSpec(*db), work)
	const provider, user, password = benchProvider, benchUser, benchPassword

	if err := b.setUpProvider(); err != nil {
		return err
	}

	// Import against the parse-only floor.
	file := filepath.Join(work, "learners.xml")
	if _, err := b.cmex("", "bench", "generate", "-db", b.db, "-provider", provider, "-records", strconv.Itoa(*records), file); err != nil {
		return err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	var rows [][2]string
	add := func(k, v string) { rows = append(rows, [2]string{k, v}) }
	add("learner file", fmt.Sprintf("%d records, %.0f MB", *records, float64(fi.Size())/1e6))
	var floor time.Duration
	if xmllint, err := exec.LookPath("xmllint"); err == nil {
		start := time.Now()
		if out, err := exec.CommandContext(ctx, xmllint, "--stream", "--noout", file).CombinedOutput(); err != nil {
			return fmt.Errorf("xmllint: %v: %s", err, out)
		}
		floor = time.Since(start)
		add("xmllint --stream --noout", floor.Round(time.Millisecond).String())
	} else {
		add("xmllint --stream --noout", "not installed (apt-get install libxml2-utils)")
	}
	start := time.Now()
	usage, err := b.cmex("", "import", "-db", b.db, "-provider", provider, "-progress", "none", file)
	if err != nil {
		return err
	}
	took := time.Since(start)
	add("cmex import", fmt.Sprintf("%s, %.0f records/s", took.Round(time.Millisecond), float64(*records)/took.Seconds()))
	if floor > 0 {
		add("import / xmllint", fmt.Sprintf("%.1f×", took.Seconds()/floor.Seconds()))
	}
	add("import peak memory (max RSS)", fmt.Sprintf("%.0f MB", float64(usage.Maxrss)/1024))

	// SaveLearnerActivity under load, through running servers.
	srvs, err := b.serveReplicas(ctx, *replicas)
	if err != nil {
		return err
	}
	defer func() { srvs.stop() }()
	actIDs, err := b.activityIDs(ctx, provider)
	if err != nil {
		return err
	}
	on := ""
	if *replicas > 1 {
		on = fmt.Sprintf(", %d replicas", *replicas)
		add("cmex serve replicas", fmt.Sprintf("%d on one database, clients spread evenly; figures are totals", *replicas))
	}
	lat, each, failed, err := loadSaveLearner(srvs.bases(), *clients, *duration, provider, user, password, actIDs, *records)
	if err != nil {
		return err
	}
	split := ""
	if len(each) > 1 {
		split = ", per replica " + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(each)), " + "), "[]")
	}
	add(fmt.Sprintf("SaveLearnerActivity, %d clients%s", *clients, on), fmt.Sprintf("%.0f requests/s (%d in %s%s, %d not Accepted)", float64(len(lat))/duration.Seconds(), len(lat), *duration, split, failed))
	add("SaveLearnerActivity latency", fmt.Sprintf("p50 %s, p99 %s", pct(lat, 50), pct(lat, 99)))

	// GetRoleData and a transcript, for one physician in a large ledger.
	if *ledger > 0 {
		srvs.stop()
		sub, err := b.setUpSubject(ctx, provider, *credits)
		if err != nil {
			return err
		}
		held, err := b.fillLedger(ctx, provider, actIDs, *ledger)
		if err != nil {
			return err
		}
		add("ledger", fmt.Sprintf("%d learner records", held))
		if srvs, err = b.serveReplicas(ctx, *replicas); err != nil {
			return err
		}
		if err := measureReads(srvs.bases(), on, sub, *readClients, *readDuration, add); err != nil {
			return err
		}
	}

	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "MEASURE\tRESULT\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

func redactSpec(db string) string {
	if strings.HasPrefix(db, "postgres") {
		return redactURL(db)
	}
	return db
}

func pct(lat []time.Duration, p int) string {
	if len(lat) == 0 {
		return "-"
	}
	slices.Sort(lat)
	i := min(len(lat)-1, len(lat)*p/100)
	return fmt.Sprintf("%.1f ms", float64(lat[i].Microseconds())/1000)
}

// The provider, web-service user and password of the bench's workload.
const (
	benchProvider = "1234567"
	benchUser     = "bench@example.org"
	benchPassword = "bench-password-1"
)

// setUpProvider adds the bench's provider, its web-service user and ten
// activities of this year.
func (b *benchRun) setUpProvider() error {
	if _, err := b.cmex("", "provider", "add", "-db", b.db, "-id", benchProvider, "-name", "cmex benchmark"); err != nil {
		return err
	}
	if _, err := b.cmex(benchPassword+"\n", "user", "add", "-db", b.db, "-provider", benchProvider, "-user", benchUser); err != nil {
		return err
	}
	acts := filepath.Join(b.dir, "activities.xml")
	if _, err := b.cmex("", "bench", "generate", "-activities", "10", acts); err != nil {
		return err
	}
	_, err := b.cmex("", "import", "-db", b.db, "-provider", benchProvider, "-progress", "none", acts)
	return err
}

// activityIDs are the provider's activities.
func (b *benchRun) activityIDs(ctx context.Context, provider cmex.ProviderID) ([]cmex.ActivityID, error) {
	var ids []cmex.ActivityID
	err := withDB(ctx, b.db, func(s *sqlstore.DB) error {
		as, err := sqlstore.NewActivityService(s).FindActivities(ctx, cmex.ActivityFilter{ProviderID: provider})
		for _, a := range as {
			ids = append(ids, a.ID)
		}
		return err
	})
	return ids, err
}

// benchRun runs the cmex binary as the benchmark's subject.
type benchRun struct {
	e             *env
	self, db, dir string
}

// cmex runs a cmex command and returns its resource usage.
func (b *benchRun) cmex(stdin string, args ...string) (*syscall.Rusage, error) {
	cmd := exec.Command(b.self, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 && args[0] == "import" {
		err = nil // some records rejected: reported, not a failure
	}
	if err != nil {
		return nil, fmt.Errorf("cmex %s: %v\n%s", strings.Join(args[:min(2, len(args))], " "), err, out.String())
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return ru, nil
}

type benchServer struct {
	cmd  *exec.Cmd
	base string
}

func (s *benchServer) stop() {
	if s.cmd.ProcessState != nil {
		return // stopped already
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
}

// replicas are cmex serve processes on one database.
type replicas []*benchServer

func (rs replicas) stop() {
	for _, s := range rs {
		s.stop()
	}
}

func (rs replicas) bases() []string {
	out := make([]string, len(rs))
	for i, s := range rs {
		out[i] = s.base
	}
	return out
}

// serveReplicas starts n servers on the bench's database, one after the
// other (the first migrates it).
func (b *benchRun) serveReplicas(ctx context.Context, n int) (replicas, error) {
	var rs replicas
	for range n {
		s, err := b.serve(ctx)
		if err != nil {
			rs.stop()
			return nil, err
		}
		rs = append(rs, s)
	}
	return rs, nil
}

// serve starts cmex serve on a free port, with the bench's keys and any
// further flags, and waits until it listens.
func (b *benchRun) serve(ctx context.Context, flags ...string) (*benchServer, error) {
	// A GetRoleData token may be used once, and names its member and
	// second: a day's window gives the read load 86,400 distinct tokens.
	args := append([]string{"serve", "-db", b.db, "-addr", "127.0.0.1:0", "-log-format", "json", "-matching", "passthrough",
		"-processsync-window", benchTokenWindow.String()}, flags...)
	cmd := exec.Command(b.self, args...)
	cmd.Env = append(os.Environ(), "CMEX_SECRET_KEY=cmex-bench-secret-key", "CMEX_PROCESSSYNC_KEY="+subjectKey)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &benchServer{cmd: cmd}
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "cmex listening" {
			s.base = "http://" + line.Addr
			go func() { _, _ = io.Copy(io.Discard, stderr) }()
			return s, nil
		}
	}
	s.stop()
	return nil, fmt.Errorf("cmex serve did not start")
}

// loadSaveLearner runs clients that each send SaveLearnerActivity calls
// for new records back to back, for d, and returns the latencies of the
// Accepted ones, how many of them each base answered, and how many were
// not Accepted. Client c sends to bases[c % len(bases)].
//
// The load generator shares the machine with the server, so the request
// bodies are built before the clock starts (as many as a fast run sends),
// leaving the CPUs to the server.
func loadSaveLearner(bases []string, clients int, d time.Duration, provider, user, password string, acts []cmex.ActivityID, from int) ([]time.Duration, []int64, int, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	body := func(i int) []byte {
		return learnerSubmit(pars.LearnerDocument(workloadReport(i, cmex.ProviderID(provider), acts, workloadYear(time.Now()))), user, password, provider)
	}
	bodies := make([][]byte, min(int(d.Seconds()*8000), 100000))
	for i := range bodies {
		bodies[i] = body(from + 1 + i)
	}
	var next atomic.Int64
	each := make([]atomic.Int64, len(bases))
	send := func(c int) error {
		i := int(next.Add(1)) - 1
		var b []byte
		if i < len(bodies) {
			b, bodies[i] = bodies[i], nil
		} else {
			b = body(from + 1 + i)
		}
		resp, err := hc.Post(bases[c%len(bases)]+pars.PathSaveLearnerActivity, "application/xml", bytes.NewReader(b))
		if err != nil {
			return err
		}
		out, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if !bytes.Contains(out, []byte("Accepted")) {
			return fmt.Errorf("not Accepted: %.300s", out)
		}
		each[c%len(bases)].Add(1)
		return nil
	}
	// One call before the clock starts: the first check of the password
	// runs argon2id, which BenchmarkPasswordCheck measures; the load
	// measures the calls after it, whose check is remembered (by each
	// replica).
	for c := range bases {
		if err := send(c); err != nil {
			return nil, nil, 0, err
		}
		each[c].Store(0)
	}
	lat, fails, err := closedLoop(clients, d, send)
	if err != nil {
		return nil, nil, fails, fmt.Errorf("no SaveLearnerActivity call was accepted: %w", err)
	}
	counts := make([]int64, len(each))
	for i := range each {
		counts[i] = each[i].Load()
	}
	return lat, counts, fails, nil
}

// learnerSubmit is a SaveLearnerActivity request.
func learnerSubmit(doc, user, password, provider string) []byte {
	var b bytes.Buffer
	b.WriteString(`<SubmitMessage xmlns="` + pars.NSLearnerService + `"><Data>`)
	_ = xml.EscapeText(&b, []byte(doc))
	b.WriteString(`</Data><Password>`)
	_ = xml.EscapeText(&b, []byte(password))
	b.WriteString(`</Password><ProviderId>` + provider + `</ProviderId><User>`)
	_ = xml.EscapeText(&b, []byte(user))
	b.WriteString(`</User></SubmitMessage>`)
	return b.Bytes()
}
