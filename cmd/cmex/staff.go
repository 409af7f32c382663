package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func staffCommand() *command {
	c := &command{
		name: "staff",
		summary: "Manage the portal's staff accounts: a provider's staff or admin, a society's admin, or a cmex admin. " +
			"Physicians sign in to the portal with their gateway account (cmex account add).",
		usage: `cmex staff add -username NAME -name "FULL NAME" -role provider-staff|provider-admin|society-admin|admin [-provider ID | -society CODE]   (password from stdin or a prompt)
       cmex staff list`,
		example: `echo 'a long staff password' | cmex staff add -username olga -name "Olga Staff" -role provider-staff -provider 1234567
echo 'a long admin password' | cmex staff add -username root -name "Rita Root" -role admin
cmex staff list`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "add or list", func(fs *flag.FlagSet) { dbFlag(fs) }); done {
			return err
		}
		sub := args[0]
		fs := c.flagSet(e)
		db := dbFlag(fs)
		switch sub {
		case "add":
			st := cmex.Staff{}
			fs.StringVar(&st.Username, "username", "", "the username signed in with (required)")
			fs.StringVar(&st.Name, "name", "", "the person's full name (required)")
			role := fs.String("role", "", "provider-staff, provider-admin, society-admin or admin (required)")
			provider := fs.String("provider", "", "the provider's ACCME id, for provider-staff and provider-admin")
			society := fs.String("society", "", "the society's code, for society-admin")
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			r, ok := cmex.ParsePortalRole(*role)
			if st.Username == "" || st.Name == "" || !ok {
				return fmt.Errorf("%w: staff add needs -username, -name and -role provider-staff, provider-admin, society-admin or admin", errUsage)
			}
			st.Role = r
			password, err := readPassword(e, st.Username)
			if err != nil {
				return err
			}
			return withDB(ctx, *db, func(d *sqlstore.DB) error {
				if *provider != "" {
					pid, err := cmex.ParseProviderID(*provider)
					if err != nil {
						return fmt.Errorf("%w: -provider %q: %v", errUsage, *provider, err)
					}
					org, err := sqlstore.NewOrganizationService(d).FindOrganizationByProviderID(ctx, pid)
					if err != nil {
						return cliError(err)
					}
					st.Organization = org.ID
				}
				if *society != "" {
					s, err := sqlstore.NewSocietyService(d).SocietyByCode(ctx, *society)
					if err != nil {
						return cliError(err)
					}
					st.Society = s.ID
				}
				if err := sqlstore.NewPortalService(d).CreateStaff(ctx, &st, password); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "staff account %s (%s, %s) added\n", st.Username, st.Name, st.Role)
				return nil
			})
		case "list":
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			return withDB(ctx, *db, func(d *sqlstore.DB) error {
				list, err := sqlstore.NewPortalService(d).ListStaff(ctx)
				if err != nil {
					return err
				}
				all, err := sqlstore.NewOrganizationService(d).ListOrganizations(ctx)
				if err != nil {
					return err
				}
				providers := map[cmex.OrganizationID]cmex.ProviderID{}
				for _, o := range all {
					providers[o.ID] = o.ProviderID
				}
				societies := sqlstore.NewSocietyService(d)
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "USERNAME\tNAME\tROLE\tFOR")
				for _, s := range list {
					of := "-"
					switch {
					case s.Organization != 0:
						of = "provider " + string(providers[s.Organization])
					case s.Society != 0:
						so, err := societies.Society(ctx, s.Society)
						if err != nil {
							return err
						}
						of = "society " + so.Code
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Username, s.Name, s.Role, of)
				}
				return tw.Flush()
			})
		}
		return fmt.Errorf("%w: unknown staff command %q; want add or list", errUsage, sub)
	}
	return c
}
