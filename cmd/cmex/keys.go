package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/credential"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func keysCommand() *command {
	c := &command{
		name:    "keys",
		summary: "Make, rotate or list the installation's Ed25519 issuer keys, which sign the verifiable credentials (Open Badges 3.0) cmex issues. The private key is stored encrypted with the server key (CMEX_SECRET_KEY); every key stays in the DID document (/.well-known/did.json), so credentials an old key signed still verify.",
		usage:   "cmex keys create|rotate|list [-db DB]",
		example: `CMEX_SECRET_KEY=… cmex keys create   # the first key: credentials can be issued from now on
CMEX_SECRET_KEY=… cmex keys rotate   # a new key signs from now on; the old one stays published
cmex keys list                       # every key, its multibase public key and did:key`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "create, rotate or list", func(fs *flag.FlagSet) { dbFlag(fs) }); done {
			return err
		}
		sub := args[0]
		fs := c.flagSet(e)
		db := dbFlag(fs)
		if err := parse(fs, args[1:], e); err != nil {
			return err
		}
		if sub != "create" && sub != "rotate" && sub != "list" {
			return fmt.Errorf("%w: keys %s: want create, rotate or list", errUsage, sub)
		}
		return withDB(ctx, *db, func(s *sqlstore.DB) error {
			keys := sqlstore.NewIssuerKeyService(s)
			existing, err := keys.IssuerKeys(ctx)
			if err != nil {
				return err
			}
			switch sub {
			case "create", "rotate":
				if sub == "create" && len(existing) > 0 {
					return fmt.Errorf("%w: there is already an issuer key (%s); rotate to replace it", errUsage, existing[len(existing)-1].ID)
				}
				if sub == "rotate" && len(existing) == 0 {
					return fmt.Errorf("%w: there is no issuer key to rotate; create one", errUsage)
				}
				key, err := serverSecretKey(e, "", false)
				if err != nil {
					return err
				}
				if key != "" {
					if s.Secrets, err = sqlstore.NewSecretBox(key); err != nil {
						return err
					}
				}
				k, err := keys.CreateIssuerKey(ctx)
				if err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "issuer key %s created: %s (%s)\n", k.ID, credential.PublicKeyMultibase(k.PublicKey), credential.DIDKey(k.PublicKey))
				if sub == "rotate" {
					fmt.Fprintf(e.stdout, "it signs new credentials from now on; %s stays in the DID document\n", existing[len(existing)-1].ID)
				}
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tSIGNS\tPUBLIC KEY (MULTIBASE)")
			for i, k := range existing {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", k.ID, k.CreatedAt.UTC().Format(time.RFC3339), i == len(existing)-1, credential.PublicKeyMultibase(k.PublicKey))
			}
			return tw.Flush()
		})
	}
	return c
}

// ensureSandboxIssuerKey makes the sandbox's issuer key when there is none,
// so that -sandbox issues credentials at once.
func ensureSandboxIssuerKey(ctx context.Context, keys cmex.IssuerKeyService) error {
	ks, err := keys.IssuerKeys(ctx)
	if err != nil || len(ks) > 0 {
		return err
	}
	_, err = keys.CreateIssuerKey(ctx)
	return err
}
