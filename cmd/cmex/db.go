package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/cmexhub/cmex/internal/postgres"
	"github.com/cmexhub/cmex/internal/sqlite"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

const defaultDB = "sqlite:cmex.db"

func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", defaultDB, "database: sqlite:PATH (embedded, the default) or a postgres://user:pass@host/db URL")
}

// openDB opens the database named by spec and returns it with a
// description safe to log (no password).
func openDB(ctx context.Context, spec string) (*sqlstore.DB, string, error) {
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if path == "" {
			return nil, "", fmt.Errorf("%w: -db sqlite: needs a path, as in sqlite:cmex.db", errUsage)
		}
		db, err := sqlite.Open(ctx, path)
		return db, spec, err
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		db, err := postgres.Open(ctx, spec)
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
