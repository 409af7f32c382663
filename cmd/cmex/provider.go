package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/postgres"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func providerCommand() *command {
	c := &command{
		name:    "provider",
		summary: "Add or list accredited CME providers (organizations with an ACCME provider id).",
		usage:   "cmex provider add -id ID -name NAME [-db DB] | cmex provider list [-db DB]",
		example: `cmex provider add -id 1234567 -name "AAA Test Organization"
cmex provider list`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "add or list", func(fs *flag.FlagSet) { dbFlag(fs) }); done {
			return err
		}
		fs := c.flagSet(e)
		db := dbFlag(fs)
		switch args[0] {
		case "add":
			id := fs.String("id", "", "ACCME provider id, up to ten digits (required)")
			name := fs.String("name", "", "the provider's name (required)")
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if *id == "" || *name == "" {
				return fmt.Errorf("%w: provider add needs -id and -name", errUsage)
			}
			return withDB(ctx, *db, func(s *sqlstore.DB) error {
				o := &cmex.Organization{Kind: cmex.OrgProvider, ProviderID: cmex.ProviderID(*id), Name: *name}
				if err := sqlstore.NewOrganizationService(s).CreateOrganization(ctx, o); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "provider %s %q added\n", o.ProviderID, o.Name)
				return nil
			})
		case "list":
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			return withDB(ctx, *db, func(s *sqlstore.DB) error {
				list, err := sqlstore.NewOrganizationService(s).ListOrganizations(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "PROVIDER\tNAME\tCREATED")
				for _, o := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", o.ProviderID, o.Name, o.CreatedAt.Format("2006-01-02"))
				}
				return tw.Flush()
			})
		}
		return fmt.Errorf("%w: unknown provider command %q; want add or list", errUsage, args[0])
	}
	return c
}

// withDB opens the database, runs fn and closes it.
func withDB(ctx context.Context, spec string, fn func(*sqlstore.DB) error) error {
	db, _, err := openDB(ctx, spec, postgres.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}

// cliError shows a cmex error by its safe message.
func cliError(err error) error {
	if code := cmex.ErrorCode(err); code != cmex.EINTERNAL {
		return fmt.Errorf("%s", cmex.ErrorMessage(err))
	}
	return err
}

// findProvider returns the organization with the provider id given on the
// command line.
func findProvider(ctx context.Context, s *sqlstore.DB, id string) (*cmex.Organization, error) {
	pid, err := cmex.ParseProviderID(id)
	if err != nil {
		return nil, fmt.Errorf("%w: -provider: %v", errUsage, err)
	}
	org, err := sqlstore.NewOrganizationService(s).FindOrganizationByProviderID(ctx, pid)
	if err != nil {
		return nil, cliError(err)
	}
	return org, nil
}
