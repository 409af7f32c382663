package postgres_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

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
	db, err := postgres.Open(context.Background(), cmextest.PostgresURL(tb))
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
			db, err := postgres.Open(context.Background(), url)
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
	_, err := postgres.Open(context.Background(), "postgres://nobody@127.0.0.1:1/cmex?connect_timeout=2")
	if err == nil {
		t.Fatal("opened a database on port 1")
	}
	if msg := err.Error(); strings.Count(msg, "127.0.0.1:1 (127.0.0.1)") != 1 {
		t.Errorf("the attempt is told %d times:\n%s", strings.Count(msg, "127.0.0.1:1 (127.0.0.1)"), msg)
	}
}
