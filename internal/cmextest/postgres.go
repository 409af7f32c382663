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
	pg.baseURL, pg.stop, pg.err = startCluster(bin)
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

// startCluster runs initdb and pg_ctl in a fresh directory, on a free port,
// listening on loopback only, with trust authentication for the test user.
func startCluster(bin string) (baseURL string, stop func(), err error) {
	runAs, err := clusterUser()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "cmex-pg-")
	if err != nil {
		return "", nil, err
	}
	cleanupDir := func() { os.RemoveAll(dir) }
	if runAs != nil {
		uid, _ := strconv.Atoi(runAs.Uid)
		gid, _ := strconv.Atoi(runAs.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			cleanupDir()
			return "", nil, fmt.Errorf("prepare cluster directory for user %s: %v", runAs.Username, err)
		}
	}
	data := filepath.Join(dir, "data")
	port, err := freePort()
	if err != nil {
		cleanupDir()
		return "", nil, err
	}
	run := func(name string, args ...string) ([]byte, error) {
		var cmd *exec.Cmd
		if runAs != nil {
			cmd = exec.Command("runuser", append([]string{"-u", runAs.Username, "--", filepath.Join(bin, name)}, args...)...)
		} else {
			cmd = exec.Command(filepath.Join(bin, name), args...)
		}
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	if out, err := run("initdb", "-D", data, "-U", "cmex", "--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions"); err != nil {
		cleanupDir()
		return "", nil, fmt.Errorf("initdb: %v: %s", err, lastLines(out))
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, dir)
	if out, err := run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start"); err != nil {
		cleanupDir()
		return "", nil, fmt.Errorf("pg_ctl start: %v: %s", err, lastLines(out))
	}
	stop = func() {
		_, _ = run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
		cleanupDir()
	}
	return fmt.Sprintf("postgres://cmex@127.0.0.1:%d/postgres?sslmode=disable", port), stop, nil
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
