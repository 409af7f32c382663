package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/cmexhub/cmex/internal/sqlite"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func backupCommand() *command {
	c := &command{
		name:    "backup",
		summary: "Copy a SQLite database while cmex serves it: a consistent snapshot, checked, written under a new name. For PostgreSQL use pg_dump (see the README).",
		usage:   "cmex backup [-db sqlite:PATH] FILE",
		example: `cmex backup -db sqlite:cmex.db backups/cmex-$(date +%F).db
cmex serve -db sqlite:backups/cmex-2026-11-21.db        # restore: serve the copy (or copy it back in place while cmex is stopped)`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := c.flagSet(e)
		db := dbFlag(fs)
		if err := parse(fs, args, e); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: name the backup FILE", errUsage)
		}
		if !strings.HasPrefix(*db, "sqlite:") {
			return fmt.Errorf("%w: cmex backup copies a SQLite database; back PostgreSQL up with pg_dump (see the README)", errUsage)
		}
		dest := fs.Arg(0)
		err := withDB(ctx, *db, func(d *sqlstore.DB) error { return sqlite.Backup(ctx, d, dest) })
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "backed up %s to %s\n", strings.TrimPrefix(*db, "sqlite:"), dest)
		return nil
	}
	return c
}
