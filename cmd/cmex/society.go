package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/batch"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func societyCommand() *command {
	c := &command{
		name:    "society",
		summary: "Manage the CME Gateway's societies: local ones (their members and credits are kept here) and remote ones (reached at their customer_binding and ceu_order URLs).",
		usage: `cmex society add -code CODE -name NAME [-binding-url URL -order-url URL] [-allow-private-destinations]
       cmex society list
       cmex society approve -society PROVIDER -to PULLER
       cmex society feed-login -society CODE -username NAME        (password from stdin or a prompt)
       cmex society member-add -society CODE -member-id ID -username NAME -given G -family F [-street … -city … -state … -zip … -country … -person N]
       cmex society members -society CODE
       cmex society member-import -society CODE FILE.csv           (members CSV: imported whole or not at all)
       cmex society import -society CODE FILE…                     (the society's own credits: ceu_order XML or credits CSV, credit by credit)
       cmex society allow -society CODE -from CIDR[,CIDR…]         (gateways at these addresses may call its ceu_order)
       cmex society allow -society CODE -credential NAME           (a gateway sending NAME and the printed secret as HTTP Basic may)
       cmex society grants -society CODE
       cmex society revoke -society CODE -id N`,
		example: `cmex society add -code EXAMPLE -name "Example Society"                  # local: this cmex answers for it
cmex society add -code ACR -name "American College of Radiology" \
    -binding-url https://acr.example/customer_binding -order-url https://acr.example/ceu_order
echo 'a long member password' | cmex society member-add -society EXAMPLE -member-id 01234567 -username NedBaker -given Ned -family Baker
cmex society member-import -society EXAMPLE members.csv               # columns: ` + strings.Join(batch.MemberColumns, ",") + `
cmex society import -society EXAMPLE ned-baker-credits.xml credits.csv  # credits CSV columns: ` + strings.Join(batch.SocietyCreditColumns, ",") + `
cmex society approve -society ACR -to EXAMPLE                           # ACR lets EXAMPLE pull through the credit feed
echo 'a long admin password' | cmex society feed-login -society EXAMPLE -username example-admin
cmex society allow -society EXAMPLE -from 203.0.113.0/24               # the gateways EXAMPLE serves, by address
cmex society allow -society EXAMPLE -credential acr-gateway            # or by a credential, printed once`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "add, list, approve, feed-login, member-add, members, member-import, import, allow, grants or revoke", func(fs *flag.FlagSet) { dbFlag(fs) }); done {
			return err
		}
		sub := args[0]
		fs := c.flagSet(e)
		db := dbFlag(fs)
		code := fs.String("society", "", "the society's code")
		switch sub {
		case "add":
			newCode := fs.String("code", "", "the society's code, as its messages name it: EXAMPLE, ACR (required)")
			name := fs.String("name", "", "the society's name (required)")
			binding := fs.String("binding-url", "", "a remote society's customer_binding URL")
			order := fs.String("order-url", "", "a remote society's ceu_order URL")
			allowPrivate := allowPrivateFlag(fs)
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if *newCode == "" || *name == "" {
				return fmt.Errorf("%w: society add needs -code and -name", errUsage)
			}
			s := &cmex.Society{Code: *newCode, Name: *name, Kind: cmex.SocietyLocal, BindingURL: *binding, OrderURL: *order}
			if *binding != "" || *order != "" {
				s.Kind = cmex.SocietyRemote
			}
			return withDB(ctx, *db, func(d *sqlstore.DB) error {
				if err := targetPolicy(*allowPrivate).Societies(sqlstore.NewSocietyService(d)).CreateSociety(ctx, s); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "%s society %s (%s) added\n", s.Kind, s.Code, s.Name)
				return nil
			})
		case "list":
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			return withDB(ctx, *db, func(d *sqlstore.DB) error {
				list, err := sqlstore.NewSocietyService(d).ListSocieties(ctx, cmex.SocietyFilter{})
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CODE\tKIND\tNAME\tFEED LOGIN\tORDER URL")
				for _, s := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Code, s.Kind, s.Name, dash(s.FeedUsername), dash(s.OrderURL))
				}
				return tw.Flush()
			})
		case "approve":
			to := fs.String("to", "", "the society allowed to pull the -society's credits (required)")
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if *code == "" || *to == "" {
				return fmt.Errorf("%w: society approve needs -society and -to", errUsage)
			}
			return withSociety(ctx, *db, *code, func(ss *sqlstore.SocietyService, provider *cmex.Society) error {
				puller, err := ss.SocietyByCode(ctx, *to)
				if err != nil {
					return cliError(err)
				}
				if err := ss.Approve(ctx, provider.ID, puller.ID); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "%s may now pull the credits %s provides through the credit feed\n", puller.Code, provider.Code)
				return nil
			})
		case "feed-login":
			username := fs.String("username", "", "the society's credit-feed username (required)")
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if *code == "" || *username == "" {
				return fmt.Errorf("%w: society feed-login needs -society and -username", errUsage)
			}
			password, err := readPassword(e, *username)
			if err != nil {
				return err
			}
			return withSociety(ctx, *db, *code, func(ss *sqlstore.SocietyService, s *cmex.Society) error {
				if err := ss.SetFeedLogin(ctx, s.ID, *username, password); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "society %s logs in to the credit feed as %s\n", s.Code, *username)
				return nil
			})
		case "member-add":
			m := cmex.Member{}
			fs.StringVar(&m.MemberID, "member-id", "", "the society's id for the member, returned by customer_binding (required)")
			fs.StringVar(&m.Username, "username", "", "the member's society username (required)")
			fs.StringVar(&m.GivenName, "given", "", "given name (required)")
			fs.StringVar(&m.FamilyName, "family", "", "family name (required)")
			fs.StringVar(&m.Address.Street, "street", "", "street address")
			fs.StringVar(&m.Address.City, "city", "", "city")
			fs.StringVar(&m.Address.State, "state", "", "state or province")
			fs.StringVar(&m.Address.Zip, "zip", "", "postal code")
			fs.StringVar(&m.Address.Country, "country", "", "country")
			person := fs.Int64("person", 0, "the learner-registry person (cmex learners list) whose provider-reported credits join the member's ceu_order")
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if *code == "" || m.MemberID == "" || m.Username == "" {
				return fmt.Errorf("%w: society member-add needs -society, -member-id, -username, -given and -family", errUsage)
			}
			m.PersonID = cmex.PersonID(*person)
			password, err := readPassword(e, m.Username)
			if err != nil {
				return err
			}
			return withSociety(ctx, *db, *code, func(ss *sqlstore.SocietyService, s *cmex.Society) error {
				m.SocietyID = s.ID
				if err := ss.AddMember(ctx, &m, password); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "member %s (%s %s) added to %s\n", m.MemberID, m.GivenName, m.FamilyName, s.Code)
				return nil
			})
		case "members":
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if *code == "" {
				return fmt.Errorf("%w: society members needs -society", errUsage)
			}
			return withSociety(ctx, *db, *code, func(ss *sqlstore.SocietyService, s *cmex.Society) error {
				list, err := ss.ListMembers(ctx, s.ID)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "MEMBER ID\tUSERNAME\tNAME\tPERSON")
				for _, m := range list {
					person := "-"
					if m.PersonID != 0 {
						person = fmt.Sprint(m.PersonID)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s %s\t%s\n", m.MemberID, m.Username, m.GivenName, m.FamilyName, person)
				}
				return tw.Flush()
			})
		case "member-import":
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if *code == "" || fs.NArg() != 1 {
				return fmt.Errorf("%w: society member-import needs -society and one members CSV file", errUsage)
			}
			return withSociety(ctx, *db, *code, func(ss *sqlstore.SocietyService, s *cmex.Society) error {
				return importSocietyMembers(ctx, e, ss, s, fs.Arg(0))
			})
		case "import":
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if *code == "" || fs.NArg() == 0 {
				return fmt.Errorf("%w: society import needs -society and at least one ceu_order or credits CSV file", errUsage)
			}
			return withSociety(ctx, *db, *code, func(ss *sqlstore.SocietyService, s *cmex.Society) error {
				rejected := false
				for _, file := range fs.Args() {
					r, err := importSocietyCredits(ctx, e, ss, s, file)
					if err != nil {
						return fmt.Errorf("%s: %w", file, err)
					}
					rejected = rejected || r
				}
				if rejected {
					return exitError{code: 1}
				}
				return nil
			})
		case "allow":
			from := fs.String("from", "", "addresses or CIDR ranges (comma-separated) of the gateways that may call the society's ceu_order")
			credential := fs.String("credential", "", "the name of a new credential for one gateway, which sends it as its HTTP Basic user name and the secret printed once as its password")
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if *code == "" || (*from == "") == (*credential == "") {
				return fmt.Errorf("%w: society allow needs -society and one of -from and -credential", errUsage)
			}
			return withSociety(ctx, *db, *code, func(ss *sqlstore.SocietyService, s *cmex.Society) error {
				if *credential != "" {
					g, secret, err := ss.AddOrderCredential(ctx, s.ID, *credential)
					if err != nil {
						return cliError(err)
					}
					fmt.Fprintf(e.stdout, "grant %d: a gateway sending HTTP Basic %s with this secret may call %s's ceu_order (it is shown once; cmex keeps only its hash):\n%s\n", g.ID, g.Name, s.Code, secret)
					return nil
				}
				for _, r := range strings.Split(*from, ",") {
					if strings.TrimSpace(r) == "" {
						continue
					}
					g, err := ss.AllowOrdersFrom(ctx, s.ID, r)
					if err != nil {
						return cliError(err)
					}
					fmt.Fprintf(e.stdout, "grant %d: gateways at %s may call %s's ceu_order\n", g.ID, g.From, s.Code)
				}
				return nil
			})
		case "grants":
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if *code == "" {
				return fmt.Errorf("%w: society grants needs -society", errUsage)
			}
			return withSociety(ctx, *db, *code, func(ss *sqlstore.SocietyService, s *cmex.Society) error {
				list, err := ss.OrderGrants(ctx, s.ID)
				if err != nil {
					return err
				}
				if len(list) == 0 {
					fmt.Fprintf(e.stdout, "%s's ceu_order answers no gateway (allow some with cmex society allow)\n", s.Code)
					return nil
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tFROM\tCREDENTIAL\tCREATED")
				for _, g := range list {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", g.ID, dash(g.From), dash(g.Name), g.CreatedAt.Format(time.RFC3339))
				}
				return tw.Flush()
			})
		case "revoke":
			id := fs.Int64("id", 0, "the grant to remove, as cmex society grants lists it (required)")
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if *code == "" || *id == 0 {
				return fmt.Errorf("%w: society revoke needs -society and -id", errUsage)
			}
			return withSociety(ctx, *db, *code, func(ss *sqlstore.SocietyService, s *cmex.Society) error {
				if err := ss.RevokeOrderGrant(ctx, s.ID, *id); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "grant %d of %s removed\n", *id, s.Code)
				return nil
			})
		}
		return fmt.Errorf("%w: unknown society command %q; want add, list, approve, feed-login, member-add, members, member-import, import, allow, grants or revoke", errUsage, sub)
	}
	return c
}

// withSociety opens the database and finds a society by code.
func withSociety(ctx context.Context, db, code string, fn func(*sqlstore.SocietyService, *cmex.Society) error) error {
	return withDB(ctx, db, func(d *sqlstore.DB) error {
		ss := sqlstore.NewSocietyService(d)
		s, err := ss.SocietyByCode(ctx, code)
		if err != nil {
			return cliError(err)
		}
		return fn(ss, s)
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
