package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
	"github.com/cmexhub/cmex/internal/postgres"
	"github.com/cmexhub/cmex/internal/sqlstore"
	"github.com/cmexhub/cmex/internal/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	cmextest.StopPostgres()
	os.Exit(code)
}

func open(tb testing.TB) *sqlstore.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), cmextest.PostgresURL(tb), postgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestContract(t *testing.T) { storetest.Run(t, open) }

// Replicas starting together against one database must each come up, with
// every migration applied once.
func TestConcurrentMigrations(t *testing.T) {
	url := cmextest.PostgresURL(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			db, err := postgres.Open(context.Background(), url, postgres.Options{})
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	db := open(t)
	var n, distinct int
	if err := db.SQL().QueryRow(`SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != distinct {
		t.Errorf("%d migration rows for %d versions", n, distinct)
	}
}

// Statements are planned once and kept (plan_cache_mode auto), except in
// a learner batch's transaction between PlanBatch and PlannedBatch (its
// lookups), where each is planned for its own values, and never after that
// transaction.
func TestPlansPerBatch(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mode := func(want string) {
		t.Helper()
		var got string
		if err := conn.QueryRowContext(ctx, `SHOW plan_cache_mode`).Scan(&got); err != nil || got != want {
			t.Fatalf("plan_cache_mode = %q, %v; want %q", got, err, want)
		}
	}
	mode("auto")
	if _, err := conn.ExecContext(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, postgres.Dialect{}.PlanBatch()); err != nil {
		t.Fatal(err)
	}
	mode("force_custom_plan")
	if _, err := conn.ExecContext(ctx, postgres.Dialect{}.PlannedBatch()); err != nil {
		t.Fatal(err)
	}
	mode("auto")
	if _, err := conn.ExecContext(ctx, postgres.Dialect{}.PlanBatch()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	mode("auto")
}

// An unreachable server is described once: pgx tries it with TLS and then
// without (sslmode=prefer), and lists both attempts word for word.
func TestUnreachableSaidOnce(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://nobody@127.0.0.1:1/cmex?connect_timeout=2", postgres.Options{})
	if err == nil {
		t.Fatal("opened a database on port 1")
	}
	if msg := err.Error(); strings.Count(msg, "127.0.0.1:1 (127.0.0.1)") != 1 {
		t.Errorf("the attempt is told %d times:\n%s", strings.Count(msg, "127.0.0.1:1 (127.0.0.1)"), msg)
	}
}

// The pool's statement timeout is set on every connection, and a longer
// statement is cancelled by the server, as a temporary failure the edges
// answer 503; the -db URL's own setting wins.
func TestStatementTimeout(t *testing.T) {
	url := cmextest.PostgresURL(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url, postgres.Options{StatementTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, p := range []string{"statement_timeout", "idle_in_transaction_session_timeout"} {
		var v string
		if err := db.SQL().QueryRowContext(ctx, "SHOW "+p).Scan(&v); err != nil || v != "1500ms" {
			t.Errorf("%s = %q, %v; want 1500ms", p, v, err)
		}
	}
	start := time.Now()
	_, err = db.SQL().ExecContext(ctx, `SELECT pg_sleep(10)`)
	if took := time.Since(start); err == nil || took > 8*time.Second {
		t.Fatalf("pg_sleep(10) under a 1.5 s statement timeout: %v after %v", err, took)
	}
	if !cmex.Unreachable(err) || cmex.ErrorCode(err) != cmex.EBUSY {
		t.Errorf("a statement cancelled by the timeout (%v) is %q, not a temporary failure", err, cmex.ErrorCode(err))
	}

	own, err := postgres.Open(ctx, url+"&statement_timeout=7s", postgres.Options{StatementTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	var v string
	if err := own.SQL().QueryRowContext(ctx, "SHOW statement_timeout").Scan(&v); err != nil || v != "7s" {
		t.Errorf("with statement_timeout=7s in the URL: %q, %v", v, err)
	}

	none, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer none.Close()
	if err := none.SQL().QueryRowContext(ctx, "SHOW statement_timeout").Scan(&v); err != nil || v != "0" {
		t.Errorf("with no timeout: statement_timeout = %q, %v", v, err)
	}
}

// Migrations are not held to the pool's statement timeout: a replica
// waits for another's migrations, under the migration lock, as long as
// they take.
func TestMigrationsOutwaitStatementTimeout(t *testing.T) {
	url := cmextest.PostgresURL(t)
	ctx := context.Background()
	other, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const migrationLock = 0x636d6578 // "cmex", the lock migrations run under
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		t.Fatal(err)
	}
	const held = 3 * time.Second
	go func() {
		time.Sleep(held)
		conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, migrationLock)
	}()
	start := time.Now()
	db, err := postgres.Open(ctx, url, postgres.Options{StatementTimeout: time.Second})
	if err != nil {
		t.Fatalf("open while another holds the migration lock for %v, under a 1 s statement timeout: %v", held, err)
	}
	defer db.Close()
	if took := time.Since(start); took < held-100*time.Millisecond {
		t.Errorf("open took %v; it did not wait for the lock", took)
	}
}

// The pool holds to MaxConns, and a readiness check on a pool whose every
// connection is taken answers within its deadline rather than waiting for
// one.
func TestPoolBound(t *testing.T) {
	ctx := context.Background()
	db, err := postgres.Open(ctx, cmextest.PostgresURL(t), postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := db.SQL().Stats().MaxOpenConnections; n != 2 {
		t.Fatalf("MaxOpenConnections = %d, want 2", n)
	}
	for range 2 {
		c, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	err = db.Ping(pctx)
	if took := time.Since(start); err == nil || took > 4*time.Second {
		t.Errorf("ping with every connection taken: %v after %v; want an error within the 2 s deadline", err, took)
	}
}

// A database a newer cmex migrated (it holds a migration this binary does
// not know) is refused, so an older replica restarted after an upgrade
// does not run on a schema it was not written for.
func TestRefusesNewerSchema(t *testing.T) {
	url := cmextest.PostgresURL(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var latest int
	if err := db.SQL().QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&latest); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, 'from_the_future.sql', 'x', '2030-01-01T00:00:00Z')`, latest+1); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = postgres.Open(ctx, url, postgres.Options{})
	if err == nil || !strings.Contains(err.Error(), "newer cmex") {
		t.Fatalf("opened a database migrated by a newer cmex: %v", err)
	}
}

// A server process ended under cmex (pg_terminate_backend, as a restart
// or an administrator does) costs no request: the group commit's kept
// connection and the pool's are replaced.
func TestBackendsEnded(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	o := &cmex.Organization{Kind: cmex.OrgProvider, ProviderID: "1234567", Name: "AAA Test Organization"}
	if err := sqlstore.NewOrganizationService(db).CreateOrganization(ctx, o); err != nil {
		t.Fatal(err)
	}
	by := cmex.Principal{Organization: *o, User: cmex.WebServiceUser{OrganizationID: o.ID, Username: "lms"}}
	learners := sqlstore.NewLearnerService(db, cmex.MatchPassthrough)
	for i := range 3 {
		a, _, err := sqlstore.NewActivityService(db).SaveActivity(ctx, cmex.ActivityChange{Action: "Add", Activity: cmextest.Activity(fmt.Sprintf("act-%d", i), 2025), By: by})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
			t.Fatal(err)
		}
		if _, _, err := learners.SaveLearnerReport(ctx, cmex.LearnerChange{Report: cmextest.JaneReport(a.ID, "2025-06-01", fmt.Sprintf("r%d", i)), By: by, Source: "test"}); err != nil {
			t.Fatalf("report %d after the server's processes were ended: %v", i, err)
		}
	}
}
