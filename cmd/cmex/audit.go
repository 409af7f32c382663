package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func auditCommand() *command {
	c := &command{
		name:    "audit",
		summary: "Read the audit log: every change to a record, a destination, an account or a plan, with who made it, when and from where. The log is append-only.",
		usage:   "cmex audit [-since TIME] [-until TIME] [-actor A] [-action X|X.] [-subject S] [-after ID] [-limit N] [-json]",
		example: `cmex audit -since 2026-11-01 -action destination.
cmex audit -actor user:1234567/webserviceuser@yourdomain.org -limit 20
cmex audit -subject ccid:aaatestorganization.org:1 -json`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := c.flagSet(e)
		db := dbFlag(fs)
		since := fs.String("since", "", "entries at or after this time (RFC 3339, or a date YYYY-MM-DD)")
		until := fs.String("until", "", "entries before this time (RFC 3339, or a date)")
		var f cmex.AuditFilter
		fs.StringVar(&f.Actor, "actor", "", "entries of this actor only (as the log writes it)")
		fs.StringVar(&f.Action, "action", "", "entries of this action (destination.add), or of a family when it ends in a dot (destination.)")
		fs.StringVar(&f.Subject, "subject", "", "entries about this subject (an id, a CreditID, a username)")
		fs.Int64Var(&f.AfterID, "after", 0, "entries after this id (to page on)")
		fs.IntVar(&f.Limit, "limit", cmex.DefaultAuditLimit, "at most this many entries")
		asJSON := fs.Bool("json", false, "one JSON object per line")
		if err := parse(fs, args, e); err != nil {
			return err
		}
		var err error
		if f.Since, err = parseAuditTime(*since); err != nil {
			return fmt.Errorf("%w: -since: %v", errUsage, err)
		}
		if f.Until, err = parseAuditTime(*until); err != nil {
			return fmt.Errorf("%w: -until: %v", errUsage, err)
		}
		return withDB(ctx, *db, func(s *sqlstore.DB) error {
			entries, err := sqlstore.NewAuditService(s).AuditLog(ctx, f)
			if err != nil {
				return err
			}
			if *asJSON {
				enc := json.NewEncoder(e.stdout)
				for _, en := range entries {
					if err := enc.Encode(en); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tAT\tACTOR\tADDRESS\tACTION\tSUBJECT\tDETAIL")
			for _, en := range entries {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", en.ID, en.At.Format(time.RFC3339), en.Actor, orDash(en.Address), en.Action, en.Subject, en.Detail)
			}
			return tw.Flush()
		})
	}
	return c
}

// parseAuditTime reads an RFC 3339 time or a date (midnight UTC); "" is
// the zero time.
func parseAuditTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
