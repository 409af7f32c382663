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
		summary: "Import, list or show the persons of the learner registry that identities are matched against; invite one to link her account to her record.",
		usage: `cmex learners import FILE.csv | cmex learners list [-name TEXT] | cmex learners show ID   [-db DB]
       cmex learners invite -provider ID (-person ID | -identifier VALUE) [-public-url URL]   [-db DB]`,
		example: `cmex learners import registry.csv     # columns: ` + strings.Join(batch.PersonColumns, ",") + `
cmex learners list -name markman
cmex learners show 2
cmex learners invite -provider 1234567 -identifier 1234567890 -public-url https://cme.example.org`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "import, list, show or invite", func(fs *flag.FlagSet) { dbFlag(fs) }); done {
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
		case "invite":
			provider := fs.String("provider", "", "the inviting provider's ACCME id: one that reported records for the person (required)")
			person := fs.Int64("person", 0, "the registry person's id (see learners list)")
			identifier := fs.String("identifier", "", "or an identifier the person holds: NPI, board id, licence number or OCI ID")
			publicURL := fs.String("public-url", "", "the address physicians reach this cmex at (https://cme.example.org), printed before the link's path; as cmex serve -public-url")
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if *provider == "" || (*person == 0) == (*identifier == "") || fs.NArg() > 0 {
				return fmt.Errorf("%w: learners invite needs -provider and one of -person and -identifier", errUsage)
			}
			if *publicURL != "" {
				if err := checkPublicURL(*publicURL); err != nil {
					return fmt.Errorf("%w: -public-url %q: %v", errUsage, *publicURL, err)
				}
			}
			return withDB(ctx, *db, func(s *sqlstore.DB) error {
				return inviteLearner(ctx, e, s, *provider, cmex.PersonID(*person), *identifier, *publicURL)
			})
		}
		return fmt.Errorf("%w: unknown learners command %q; want import, list, show or invite", errUsage, args[0])
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

// inviteLearner makes a provider's invitation for a registry person, found
// by id or by an identifier she holds, and prints its link: the only time
// it is shown, since the store keeps a hash of its token.
func inviteLearner(ctx context.Context, e *env, s *sqlstore.DB, provider string, person cmex.PersonID, identifier, publicURL string) error {
	org, err := findProvider(ctx, s, provider)
	if err != nil {
		return err
	}
	if identifier != "" {
		ids, err := sqlstore.NewPlanService(s).PersonsByIdentifier(ctx, identifier)
		if err != nil {
			return err
		}
		switch len(ids) {
		case 0:
			return fmt.Errorf("no registry person holds the identifier %s", identifier)
		case 1:
			person = ids[0]
		default:
			return fmt.Errorf("%d registry persons hold the identifier %s; name one with -person", len(ids), identifier)
		}
	}
	inv, token, err := sqlstore.NewClaimService(s).Invite(ctx, org.ID, person)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		return fmt.Errorf("%s reported no record for registry person %d: a provider invites its own learners only", org.Name, person)
	}
	if err != nil {
		return cliError(err)
	}
	link := strings.TrimSuffix(publicURL, "/") + "/invitation?token=" + token
	fmt.Fprintf(e.stdout, "invitation %d from %s for %s (person %d), to be opened once before %s:\n%s\n",
		inv.ID, inv.Provider, inv.PersonName, inv.PersonID, inv.ExpiresAt.Format("2006-01-02 15:04 MST"), link)
	if publicURL == "" {
		fmt.Fprintln(e.stderr, "no -public-url (or CMEX_PUBLIC_URL): put this cmex's address before the link's path")
	}
	return nil
}
