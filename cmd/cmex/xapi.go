package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func xapiCommand() *command {
	c := &command{
		name:    "xapi",
		summary: "Configure a provider's xAPI completion profile: which statements its learning environment sends to /xapi/ become learner records, and how (verbs, activity IRI to ACCME Activity ID, credits, learner). Without one, the default profile applies; show prints the profile in force.",
		usage:   "cmex xapi profile load -provider ID FILE [-db DB] | cmex xapi profile show -provider ID [-db DB]",
		example: `cmex xapi profile load -provider 1234567 profile.json   # every problem is printed with its line
cmex xapi profile show -provider 1234567`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		declare := func(fs *flag.FlagSet) *string {
			return fs.String("provider", "", "ACCME provider id of the profile's organization")
		}
		if done, err := c.groupHelp(e, args, "profile load or profile show", func(fs *flag.FlagSet) { dbFlag(fs); declare(fs) }); done {
			return err
		}
		if args[0] != "profile" || len(args) < 2 || (args[1] != "load" && args[1] != "show") {
			return fmt.Errorf("%w: want profile load or profile show", errUsage)
		}
		sub := args[1]
		fs := c.flagSet(e)
		db := dbFlag(fs)
		provider := declare(fs)
		if err := parse(fs, args[2:], e); err != nil {
			return err
		}
		if *provider == "" || sub == "load" && fs.NArg() != 1 || sub == "show" && fs.NArg() != 0 {
			return fmt.Errorf("%w: xapi profile %s needs -provider%s", errUsage, sub, map[bool]string{true: " and one FILE"}[sub == "load"])
		}
		var p *cmex.XAPIProfile
		if sub == "load" {
			b, err := os.ReadFile(fs.Arg(0))
			if err != nil {
				return err
			}
			var ps cmex.Problems
			if p, ps = cmex.ParseXAPIProfile(b); len(ps) != 0 {
				for _, x := range ps {
					fmt.Fprintf(e.stderr, "%s:%d: %s\n", fs.Arg(0), x.Line, x.Message)
				}
				return exitError{1}
			}
		}
		return withDB(ctx, *db, func(s *sqlstore.DB) error {
			org, err := findProvider(ctx, s, *provider)
			if err != nil {
				return err
			}
			profiles := sqlstore.NewXAPIProfiles(s, nil)
			if sub == "load" {
				if err := profiles.PutXAPIProfile(ctx, org.ID, p); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "xAPI profile of provider %s loaded: %d verbs, %d activities mapped, %d learners mapped\n",
					org.ProviderID, len(p.Verbs), len(p.Activity.Table), len(p.Learner.Table))
				return nil
			}
			if p, err = profiles.XAPIProfile(ctx, org.ID); err != nil {
				return cliError(err)
			}
			b, _ := json.MarshalIndent(p, "", "  ")
			fmt.Fprintf(e.stdout, "%s\n", b)
			return nil
		})
	}
	return c
}
