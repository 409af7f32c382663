package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/batch"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func learnersCommand() *command {
	c := &command{
		name:    "learners",
		summary: "Import, list or show the persons of the learner registry that identities are matched against.",
		usage:   "cmex learners import FILE.csv | cmex learners list [-name TEXT] | cmex learners show ID   [-db DB]",
		example: `cmex learners import registry.csv     # columns: ` + strings.Join(batch.PersonColumns, ",") + `
cmex learners list -name markman
cmex learners show 2`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "import, list or show", func(fs *flag.FlagSet) { dbFlag(fs) }); done {
			return err
		}
		fs := c.flagSet(e)
		db := dbFlag(fs)
		switch args[0] {
		case "import":
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if fs.NArg() != 1 {
				return fmt.Errorf("%w: learners import takes one FILE.csv", errUsage)
			}
			return withDB(ctx, *db, func(s *sqlstore.DB) error { return importLearners(ctx, e, s, fs.Arg(0)) })
		case "list":
			name := fs.String("name", "", "only persons whose given or family name contains this")
			limit := fs.Int("limit", 100, "at most this many")
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			return withDB(ctx, *db, func(s *sqlstore.DB) error {
				ps, err := sqlstore.NewPersonService(s).FindPersons(ctx, cmex.PersonFilter{Name: *name, Limit: *limit})
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tBORN\tNPI\tBOARD IDS\tLICENCES")
				for _, p := range ps {
					var boards, licences []string
					for _, b := range p.BoardIDs {
						boards = append(boards, b.Board+" "+b.ID)
					}
					for _, l := range p.Licenses {
						licences = append(licences, l.State+" "+l.Number)
					}
					fmt.Fprintf(tw, "%d\t%s %s\t%s\t%s\t%s\t%s\n", p.ID, p.GivenName, p.FamilyName, p.BirthDate, p.NPI,
						strings.Join(boards, ", "), strings.Join(licences, ", "))
				}
				return tw.Flush()
			})
		case "show":
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
			if fs.NArg() != 1 || err != nil {
				return fmt.Errorf("%w: learners show takes one person id (see learners list)", errUsage)
			}
			return withDB(ctx, *db, func(s *sqlstore.DB) error {
				p, err := sqlstore.NewPersonService(s).Person(ctx, cmex.PersonID(id))
				if err != nil {
					return cliError(err)
				}
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(p)
			})
		}
		return fmt.Errorf("%w: unknown learners command %q; want import, list or show", errUsage, args[0])
	}
	return c
}

// importLearners reads a registry CSV and imports it in one transaction:
// with any problem, nothing is imported.
func importLearners(ctx context.Context, e *env, s *sqlstore.DB, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	ips, problems, err := batch.ReadPersons(f)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(e.stderr, "%s:%s\n", name, strings.TrimPrefix(p.String(), "line "))
		}
		return fmt.Errorf("%s: %d problems; nothing was imported", name, len(problems))
	}
	res, err := sqlstore.NewPersonService(s).ImportPersons(ctx, batch.Persons(ips))
	if err != nil {
		for _, p := range cmex.ErrorProblems(err) {
			// Field is person[N]: the N-th person of the file.
			if n, perr := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(p.Field, "person["), "]")); perr == nil && n >= 1 && n <= len(ips) {
				fmt.Fprintf(e.stderr, "%s:%d: %s\n", name, ips[n-1].Line, p.Message)
			}
		}
		return cliError(err)
	}
	fmt.Fprintf(e.stdout, "%s: %d persons created, %d updated, %d unchanged\n", name, res.Created, res.Updated, res.Unchanged)
	return nil
}
