package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/cmexhub/cmex/internal/postgres"
	"github.com/cmexhub/cmex/internal/server"
	"github.com/cmexhub/cmex/internal/sqlite"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

const defaultDB = "sqlite:cmex.db"

func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", defaultDB, "database: sqlite:PATH (embedded, the default) or a postgres://user:pass@host/db URL")
}

// openDB opens the database named by spec and returns it with a
// description safe to log (no password). pool tunes PostgreSQL's
// connections; the commands other than serve leave it zero, so that no time
// limit cuts an import or a migration short.
func openDB(ctx context.Context, spec string, pool postgres.Options) (*sqlstore.DB, string, error) {
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if path == "" {
			return nil, "", fmt.Errorf("%w: -db sqlite: needs a path, as in sqlite:cmex.db", errUsage)
		}
		db, err := sqlite.Open(ctx, path)
		return db, spec, err
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		db, err := postgres.Open(ctx, spec, pool)
		return db, redactURL(spec), err
	}
	return nil, "", fmt.Errorf("%w: -db %q: want sqlite:PATH or a postgres:// URL", errUsage, spec)
}

// redactURL keeps a database URL's scheme, host and database, and drops
// the credentials and parameters.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "postgres"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// poolSettings are serve's flags for PostgreSQL's connections.
type poolSettings struct {
	maxConns, maxIdle  *int
	lifetime, idleTime *time.Duration
	statementTimeout   *time.Duration
}

// poolFlagNames are the flags of poolSettings, which only PostgreSQL takes.
var poolFlagNames = []string{"db-max-conns", "db-max-idle-conns", "db-conn-max-lifetime", "db-conn-max-idle-time", "db-statement-timeout"}

func poolFlags(fs *flag.FlagSet) poolSettings {
	return poolSettings{
		maxConns: fs.Int("db-max-conns", postgres.DefaultMaxConns, "PostgreSQL: connections this process opens at most; requests beyond them wait for one"),
		maxIdle:  fs.Int("db-max-idle-conns", 0, "PostgreSQL: connections kept open while idle (0: as many as -db-max-conns, so that a burst finds them open)"),
		lifetime: fs.Duration("db-conn-max-lifetime", time.Hour, "PostgreSQL: how long a connection is used before it is closed and opened again (0: for ever)"),
		idleTime: fs.Duration("db-conn-max-idle-time", 30*time.Minute, "PostgreSQL: how long a connection may stay idle before it is closed (0: for ever)"),
		statementTimeout: fs.Duration("db-statement-timeout", 30*time.Second,
			"PostgreSQL: longest a statement may run, and a transaction stay idle, before the server cancels it (statement_timeout, idle_in_transaction_session_timeout; 0: no limit; the -db URL's own setting wins); migrations are not limited"),
	}
}

// check says what is wrong with the settings, for serve's list of bad
// flags. On SQLite they mean nothing, and one given is refused rather than
// ignored: an operator who sets a statement timeout must not believe one
// holds.
func (p poolSettings) check(fs *flag.FlagSet, e *env, dbSpec string) []string {
	var bad []string
	if strings.HasPrefix(dbSpec, "sqlite:") {
		for _, name := range poolFlagNames {
			if isSet(fs, e, name) {
				bad = append(bad, fmt.Sprintf("-%s (%s) applies to PostgreSQL only, and -db is %s", name, envName(name), dbSpec))
			}
		}
		return bad
	}
	if *p.maxConns < 1 {
		bad = append(bad, fmt.Sprintf("-db-max-conns %d: must be at least 1", *p.maxConns))
	}
	if *p.maxIdle < 0 {
		bad = append(bad, fmt.Sprintf("-db-max-idle-conns %d: may not be negative", *p.maxIdle))
	} else if *p.maxConns >= 1 && *p.maxIdle > *p.maxConns {
		bad = append(bad, fmt.Sprintf("-db-max-idle-conns %d: more than -db-max-conns %d", *p.maxIdle, *p.maxConns))
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"-db-conn-max-lifetime", *p.lifetime}, {"-db-conn-max-idle-time", *p.idleTime}, {"-db-statement-timeout", *p.statementTimeout}} {
		if d.v < 0 {
			bad = append(bad, fmt.Sprintf("%s %v: may not be negative", d.flag, d.v))
		}
	}
	if t := *p.statementTimeout; t > 0 && t < time.Second {
		bad = append(bad, fmt.Sprintf("-db-statement-timeout %v: 0 (no limit) or at least 1s", t))
	}
	return bad
}

func (p poolSettings) options() postgres.Options {
	return postgres.Options{MaxConns: *p.maxConns, MaxIdleConns: *p.maxIdle, ConnMaxLifetime: *p.lifetime,
		ConnMaxIdleTime: *p.idleTime, StatementTimeout: *p.statementTimeout}
}

// poolMetrics are the database pool's figures for /metrics: a replica
// whose requests wait for connections (waits rising, in use at the
// maximum) wants a larger -db-max-conns, or the database more replicas'
// worth of connections.
func poolMetrics(st sql.DBStats) []server.Metric {
	return []server.Metric{
		{Name: "cmex_db_connections_max", Help: "Connections the pool may open (-db-max-conns).", Gauge: true, Value: float64(st.MaxOpenConnections)},
		{Name: "cmex_db_connections_open", Help: "Connections open, in use or idle.", Gauge: true, Value: float64(st.OpenConnections)},
		{Name: "cmex_db_connections_in_use", Help: "Connections in use.", Gauge: true, Value: float64(st.InUse)},
		{Name: "cmex_db_connection_waits_total", Help: "Times a request waited for a free connection.", Value: float64(st.WaitCount)},
		{Name: "cmex_db_connection_wait_seconds_total", Help: "Time spent waiting for free connections.", Value: st.WaitDuration.Seconds()},
	}
}
