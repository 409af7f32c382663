package cmextest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// PostgreSQL for tests comes from, in order:
//
//   - CMEX_TEST_POSTGRES, a URL of a server the tests may create databases on;
//   - a throwaway cluster started with initdb and pg_ctl found on PATH or
//     under /usr/lib/postgresql/*/bin, run as the postgres user when the
//     tests run as root (initdb refuses root);
//   - neither: the test is skipped with one line saying why, unless
//     CMEX_TEST_POSTGRES_REQUIRED=1, when it fails instead (CI sets it, so
//     that PostgreSQL coverage cannot quietly disappear).
const (
	EnvPostgres         = "CMEX_TEST_POSTGRES"
	EnvPostgresRequired = "CMEX_TEST_POSTGRES_REQUIRED"
)

var pg struct {
	once    sync.Once
	baseURL string // server URL with no database
	err     error
	stop    func()
	n       atomic.Int64
}

// PostgresURL returns the URL of a new, empty database that is dropped when
// the test ends, or skips the test (see the package's order of sources).
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	pg.once.Do(startPostgres)
	if pg.err != nil {
		if os.Getenv(EnvPostgresRequired) == "1" {
			tb.Fatalf("postgres required (%s=1) but unavailable: %v", EnvPostgresRequired, pg.err)
		}
		tb.Skipf("skipping PostgreSQL test: %v", pg.err)
	}
	name := fmt.Sprintf("cmex_test_%d_%d", os.Getpid(), pg.n.Add(1))
	admin, err := sql.Open("pgx", withDatabase(pg.baseURL, "postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("pgx", withDatabase(pg.baseURL, "postgres"))
		if err != nil {
			return
		}
		defer admin.Close()
		_, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(pg.baseURL, name)
}

// StopPostgres stops the throwaway cluster, if one was started. Call it
// from TestMain after m.Run.
func StopPostgres() {
	if pg.stop != nil {
		pg.stop()
	}
}

func withDatabase(base, db string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Path = "/" + db
	return u.String()
}

func startPostgres() {
	if u := os.Getenv(EnvPostgres); u != "" {
		pg.baseURL = u
		db, err := sql.Open("pgx", withDatabase(u, "postgres"))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = db.PingContext(ctx)
			cancel()
			db.Close()
		}
		if err != nil {
			pg.err = fmt.Errorf("%s=%s does not answer: %v", EnvPostgres, u, err)
		}
		return
	}
	bin, err := findPostgresBin()
	if err != nil {
		pg.err = err
		return
	}
	c, err := startCluster(bin, sharedSettings...)
	if err != nil {
		pg.err = err
		return
	}
	pg.baseURL = c.url
	pg.stop = func() {
		_ = c.stop("immediate")
		c.remove()
	}
}

func findPostgresBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("%s is not set and no initdb was found on PATH or under /usr/lib/postgresql/*/bin", EnvPostgres)
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// cluster is a PostgreSQL server run from a data directory of its own.
type cluster struct {
	dir, data string
	opts      string // the server's options, as pg_ctl -o takes them
	url       string // of the database postgres
	run       func(name string, args ...string) ([]byte, error)
}

// startCluster runs initdb and pg_ctl in a fresh directory, on a free port,
// listening on loopback only, with trust authentication for the test user.
// settings are the server's -c options beyond that (durability traded for
// speed, for the shared cluster).
func startCluster(bin string, settings ...string) (*cluster, error) {
	runAs, err := clusterUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cmex-pg-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, data: filepath.Join(dir, "data")}
	if runAs != nil {
		uid, _ := strconv.Atoi(runAs.Uid)
		gid, _ := strconv.Atoi(runAs.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			c.remove()
			return nil, fmt.Errorf("prepare cluster directory for user %s: %v", runAs.Username, err)
		}
	}
	port, err := freePort()
	if err != nil {
		c.remove()
		return nil, err
	}
	c.run = func(name string, args ...string) ([]byte, error) {
		var cmd *exec.Cmd
		if runAs != nil {
			cmd = exec.Command("runuser", append([]string{"-u", runAs.Username, "--", filepath.Join(bin, name)}, args...)...)
		} else {
			cmd = exec.Command(filepath.Join(bin, name), args...)
		}
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	if out, err := c.run("initdb", "-D", c.data, "-U", "cmex", "--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions"); err != nil {
		c.remove()
		return nil, fmt.Errorf("initdb: %v: %s", err, lastLines(out))
	}
	c.opts = fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", port, dir)
	for _, s := range settings {
		c.opts += " -c " + s
	}
	if err := c.start(); err != nil {
		c.remove()
		return nil, err
	}
	c.url = fmt.Sprintf("postgres://cmex@127.0.0.1:%d/postgres?sslmode=disable", port)
	return c, nil
}

// start starts the server and waits until it accepts connections.
func (c *cluster) start() error {
	if out, err := c.run("pg_ctl", "-D", c.data, "-o", c.opts, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "start"); err != nil {
		return fmt.Errorf("pg_ctl start: %v: %s", err, lastLines(out))
	}
	return nil
}

// stop stops the server in mode (smart, fast or immediate) and waits
// until it has.
func (c *cluster) stop(mode string) error {
	if out, err := c.run("pg_ctl", "-D", c.data, "-m", mode, "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %v: %s", mode, err, lastLines(out))
	}
	return nil
}

func (c *cluster) remove() { os.RemoveAll(c.dir) }

// The shared cluster trades durability for speed: nothing in the tests
// that use it outlives a crash of the machine.
var sharedSettings = []string{"fsync=off", "synchronous_commit=off", "full_page_writes=off"}

// PostgresCluster is a PostgreSQL server of one test's own, which the test
// may stop and start again (a restart under load) without touching the
// shared cluster the other tests of the binary use. A commit is on disk
// before it is answered (synchronous_commit on), so that what a server
// acknowledged survives a stop in any mode; fsync stays off, since a
// stopped server leaves the operating system's buffers intact.
type PostgresCluster struct{ c *cluster }

// NewPostgresCluster starts a cluster for tb, removed when tb ends, or
// skips tb when no initdb is on the machine (fails instead under
// CMEX_TEST_POSTGRES_REQUIRED=1). CMEX_TEST_POSTGRES does not serve here: a
// test cannot restart a server it was only given the address of.
func NewPostgresCluster(tb testing.TB) *PostgresCluster {
	tb.Helper()
	bin, err := findPostgresBin()
	if err == nil {
		var c *cluster
		if c, err = startCluster(bin, "fsync=off"); err == nil {
			pc := &PostgresCluster{c: c}
			tb.Cleanup(func() {
				_ = c.stop("immediate")
				c.remove()
			})
			return pc
		}
	}
	if os.Getenv(EnvPostgresRequired) == "1" {
		tb.Fatalf("postgres required (%s=1) but no cluster of the test's own could be started: %v", EnvPostgresRequired, err)
	}
	tb.Skipf("skipping: this test needs a PostgreSQL cluster of its own (initdb): %v", err)
	return nil
}

// URL is the address of the cluster's database postgres.
func (pc *PostgresCluster) URL() string { return pc.c.url }

// Stop stops the server in mode: "fast" (sessions are told and closed) or
// "immediate" (every server process is killed; the next start recovers).
func (pc *PostgresCluster) Stop(tb testing.TB, mode string) {
	tb.Helper()
	if err := pc.c.stop(mode); err != nil {
		tb.Fatal(err)
	}
}

// Start starts the stopped server again, on the same port, and waits until
// it accepts connections.
func (pc *PostgresCluster) Start(tb testing.TB) {
	tb.Helper()
	if err := pc.c.start(); err != nil {
		tb.Fatal(err)
	}
}

// clusterUser returns the user to run the cluster as: nil to run as
// ourselves, or the postgres user when we are root.
func clusterUser() (*user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("tests run as root, initdb refuses root, and there is no postgres user to run it as")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		return nil, fmt.Errorf("tests run as root and runuser is not available to start initdb as postgres")
	}
	return u, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}
