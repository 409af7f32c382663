package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func apikeyCommand() *command {
	c := &command{
		name:    "apikey",
		summary: "Make, list, rotate, disable, enable or revoke API keys for the JSON API: a provider's, or the operator's (-operator), which may add CME Gateway societies. A new or rotated key's token is printed once and not kept.",
		usage:   "cmex apikey add|rotate|disable|enable|revoke (-provider ID | -operator) -name NAME [-db DB] | cmex apikey list (-provider ID | -operator) [-db DB]",
		example: `cmex apikey add -provider 1234567 -name lms      # prints cmex_…; send it as Authorization: Bearer cmex_…
cmex apikey list -provider 1234567
cmex apikey rotate -provider 1234567 -name lms   # a new token; the old one is refused from now on
cmex apikey revoke -provider 1234567 -name lms
cmex apikey add -operator -name ops              # for POST /api/v1/societies`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "add, list, rotate, disable, enable or revoke", func(fs *flag.FlagSet) {
			dbFlag(fs)
			fs.String("provider", "", "ACCME provider id of the key's organization")
			fs.Bool("operator", false, "the key is the operator's, not a provider's")
			fs.String("name", "", "the key's name (required but for list)")
		}); done {
			return err
		}
		sub := args[0]
		fs := c.flagSet(e)
		db := dbFlag(fs)
		provider := fs.String("provider", "", "ACCME provider id of the key's organization")
		operator := fs.Bool("operator", false, "the key is the operator's, not a provider's")
		name := fs.String("name", "", "the key's name (required but for list)")
		if err := parse(fs, args[1:], e); err != nil {
			return err
		}
		if (*provider == "") == !*operator || sub != "list" && *name == "" {
			return fmt.Errorf("%w: apikey %s needs -provider or -operator, and -name", errUsage, sub)
		}
		return withDB(ctx, *db, func(s *sqlstore.DB) error {
			var org *cmex.Organization
			var err error
			if *operator {
				org, err = operatorOrganization(ctx, s, sub == "add")
			} else {
				org, err = findProvider(ctx, s, *provider)
			}
			if err != nil {
				return err
			}
			keys := sqlstore.NewAPIKeyService(s)
			switch sub {
			case "add", "rotate":
				var token string
				if sub == "add" {
					_, token, err = keys.CreateAPIKey(ctx, org.ID, *name)
				} else {
					_, token, err = keys.RotateAPIKey(ctx, org.ID, *name)
				}
				if err != nil {
					return cliError(err)
				}
				fmt.Fprintln(e.stdout, token)
				fmt.Fprintln(e.stderr, "Keep this token: cmex keeps only its hash and cannot show it again.")
				return nil
			case "revoke":
				if err := keys.RevokeAPIKey(ctx, org.ID, *name); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "API key %s revoked\n", *name)
				return nil
			case "disable", "enable":
				if err := keys.SetAPIKeyDisabled(ctx, org.ID, *name, sub == "disable"); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "API key %s %sd\n", *name, sub)
				return nil
			case "list":
				list, err := keys.ListAPIKeys(ctx, org.ID)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tPREFIX\tCREATED\tSTATE")
				for _, k := range list {
					state := "active"
					if k.Disabled {
						state = "disabled " + k.DisabledAt.Format("2006-01-02 15:04")
					}
					fmt.Fprintf(tw, "%s\tcmex_%s_…\t%s\t%s\n", k.Name, k.Prefix, k.CreatedAt.Format("2006-01-02"), state)
				}
				return tw.Flush()
			}
			return fmt.Errorf("%w: unknown apikey command %q; want add, list, rotate, disable, enable or revoke", errUsage, sub)
		})
	}
	return c
}

// operatorOrganization returns the organization of the operator's keys,
// made on first use when create is set.
func operatorOrganization(ctx context.Context, s *sqlstore.DB, create bool) (*cmex.Organization, error) {
	orgs := sqlstore.NewOrganizationService(s)
	list, err := orgs.ListOrganizations(ctx)
	if err != nil {
		return nil, err
	}
	for _, o := range list {
		if o.Kind == cmex.OrgOperator {
			return o, nil
		}
	}
	if !create {
		return nil, errors.New("there is no operator key yet; make one with cmex apikey add -operator -name NAME")
	}
	o := &cmex.Organization{Kind: cmex.OrgOperator, Name: "cmex operator"}
	return o, orgs.CreateOrganization(ctx, o)
}
