package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmegateway"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func accountCommand() *command {
	c := &command{
		name:    "account",
		summary: "Manage physicians' CME Gateway accounts and bind them to societies. Passwords are read from stdin or a prompt; a society password is used once and never stored.",
		usage: `cmex account add -username NAME -given G -family F [-email E]     (account password from stdin or a prompt)
       cmex account list
       cmex account bind -username NAME -society CODE -society-username NAME   (society password from stdin or a prompt)`,
		example: `echo 'a long gateway password' | cmex account add -username ned.baker -given Ned -family Baker -email ned@example.org
echo mYpAsSwOrD | cmex account bind -username ned.baker -society EXAMPLE -society-username NedBaker
cmex transcript -account ned.baker`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "add, list or bind", func(fs *flag.FlagSet) { dbFlag(fs) }); done {
			return err
		}
		sub := args[0]
		fs := c.flagSet(e)
		db := dbFlag(fs)
		switch sub {
		case "add":
			a := cmex.Account{}
			fs.StringVar(&a.Username, "username", "", "the account's gateway username (required)")
			fs.StringVar(&a.GivenName, "given", "", "given name (required)")
			fs.StringVar(&a.FamilyName, "family", "", "family name (required)")
			fs.StringVar(&a.Email, "email", "", "e-mail address")
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if a.Username == "" {
				return fmt.Errorf("%w: account add needs -username, -given and -family", errUsage)
			}
			password, err := readPassword(e, a.Username)
			if err != nil {
				return err
			}
			return withDB(ctx, *db, func(d *sqlstore.DB) error {
				if err := sqlstore.NewGatewayService(d).CreateAccount(ctx, &a, password); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "account %s (%s %s) added\n", a.Username, a.GivenName, a.FamilyName)
				return nil
			})
		case "list":
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			return withDB(ctx, *db, func(d *sqlstore.DB) error {
				g := sqlstore.NewGatewayService(d)
				list, err := g.ListAccounts(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "USERNAME\tNAME\tBOUND TO")
				for _, a := range list {
					bs, err := g.Bindings(ctx, a.ID)
					if err != nil {
						return err
					}
					var codes []string
					for _, b := range bs {
						codes = append(codes, b.SocietyCode+" "+b.MemberID)
					}
					fmt.Fprintf(tw, "%s\t%s %s\t%s\n", a.Username, a.GivenName, a.FamilyName, dash(strings.Join(codes, ", ")))
				}
				return tw.Flush()
			})
		case "bind":
			username := fs.String("username", "", "the gateway account (required)")
			society := fs.String("society", "", "the society's code (required)")
			societyUser := fs.String("society-username", "", "the physician's username at the society (required)")
			timeout := fs.Duration("timeout", cmegateway.DefaultTimeout, "how long a remote society may take to answer")
			if err := parse(fs, args[1:], e); err != nil {
				return err
			}
			if *username == "" || *society == "" || *societyUser == "" {
				return fmt.Errorf("%w: account bind needs -username, -society and -society-username", errUsage)
			}
			// A society's password is whatever the society set: no minimum.
			password, err := readLine(e, fmt.Sprintf("%s password for %s: ", strings.ToUpper(*society), *societyUser))
			if err != nil {
				return err
			}
			return withGateway(ctx, *db, e, func(g *cmegateway.Gateway) error {
				g.Timeout = *timeout
				a, err := g.Accounts.AccountByUsername(ctx, *username)
				if err != nil {
					return cliError(err)
				}
				b, err := g.Bind(ctx, a.ID, *society, *societyUser, password)
				if err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "account %s bound to %s as member %s\n", a.Username, b.SocietyCode, b.MemberID)
				return nil
			})
		}
		return fmt.Errorf("%w: unknown account command %q; want add, list or bind", errUsage, sub)
	}
	return c
}

func transcriptCommand() *command {
	c := &command{
		name:    "transcript",
		summary: "Print a physician's CME transcript: her credits from every bound society (asked concurrently) and her self-attested ones, with totals.",
		usage:   "cmex transcript -account NAME [-format text|json] [-timeout 5s] [-cache-ttl 15m] [-db DB]",
		example: `cmex transcript -account ned.baker
cmex transcript -account ned.baker -format json > transcript.json`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := c.flagSet(e)
		db := dbFlag(fs)
		account := fs.String("account", "", "the gateway account (required)")
		format := fs.String("format", "text", "text or json")
		timeout := fs.Duration("timeout", cmegateway.DefaultTimeout, "how long each society may take to answer")
		ttl := fs.Duration("cache-ttl", cmegateway.DefaultCacheTTL, "how long a society's answer is reused without asking again")
		if err := parse(fs, args, e); err != nil {
			return err
		}
		if *account == "" || fs.NArg() > 0 {
			return fmt.Errorf("%w: transcript needs -account and nothing else", errUsage)
		}
		if *format != "text" && *format != "json" {
			return fmt.Errorf("%w: -format %q: want text or json", errUsage, *format)
		}
		return withGateway(ctx, *db, e, func(g *cmegateway.Gateway) error {
			g.Timeout, g.CacheTTL = *timeout, *ttl
			a, err := g.Accounts.AccountByUsername(ctx, *account)
			if err != nil {
				return cliError(err)
			}
			t, err := g.Transcript(ctx, a.ID)
			if err != nil {
				return cliError(err)
			}
			if *format == "json" {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(t)
			}
			return printTranscript(e.stdout, t)
		})
	}
	return c
}

// withGateway opens the database and a gateway over it whose warnings go
// to stderr.
func withGateway(ctx context.Context, db string, e *env, fn func(*cmegateway.Gateway) error) error {
	return withDB(ctx, db, func(d *sqlstore.DB) error {
		logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
		g := cmegateway.New(sqlstore.NewSocietyService(d), sqlstore.NewGatewayService(d), logger)
		g.Links = sqlstore.NewClaimService(d)
		return fn(g)
	})
}

// printTranscript writes t as the seed's transcript shows one.
func printTranscript(w io.Writer, t *cmex.Transcript) error {
	fmt.Fprintf(w, "Continuing Medical Education Credits: %s %s (%s), %s\n\n", t.Account.GivenName, t.Account.FamilyName,
		t.Account.Username, t.GeneratedAt.Format("2 Jan 2006 15:04 MST"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOCIETY\tMEMBER ID\tANSWER\tCREDITS")
	for _, s := range t.Sources {
		answer := s.Status
		switch s.Status {
		case cmex.SourceStale:
			answer = fmt.Sprintf("STALE (from %s): %s", s.FetchedAt.Format("2006-01-02 15:04"), s.Error)
		case cmex.SourceFailed:
			answer = "FAILED: " + s.Error
		}
		member := s.MemberID
		if s.Society == cmex.SourceRegistry {
			member = fmt.Sprintf("person %d", s.Person)
		}
		fmt.Fprintf(tw, "%s (%s)\t%s\t%s\t%d\n", s.Society, s.Name, member, answer, s.Credits)
	}
	if len(t.Sources) == 0 {
		fmt.Fprintln(tw, "(no society bound)\t\t\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATE\tCREDITS\tACTIVITY\tSPONSOR\tLOCATION\tSUBSPECIALTIES\tMOC\tTYPE\tSOURCE")
	for _, c := range t.Credits {
		var subs, moc []string
		for _, d := range c.Details {
			switch d.Type {
			case cmex.DetailCME:
				for _, f := range d.Focus {
					subs = append(subs, f+" "+trimPoints(d.Credits))
				}
			case cmex.DetailMOC:
				moc = append(moc, d.Focus...)
			}
		}
		source := strings.Join(c.Sources, "+")
		if c.SelfAttested {
			source += " (self-attested)"
		}
		if c.Stale {
			source += " (stale)"
		}
		if c.Rejected {
			source += " (rejected by the board, not counted)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Date, trimPoints(c.Credits(cmex.CategoryAMA1)), c.Title, dash(c.Sponsor),
			dash(c.Location), dash(strings.Join(subs, ", ")), dash(strings.Join(moc, ", ")), dash(c.ActivityType), source)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nTotal Overall Category 1 Credits: %s\n", trimPoints(t.Totals.Category1))
	fmt.Fprintf(w, "Total Category 1 Subspecialties Credits: %s\n", trimPoints(t.Totals.Category1Subspecialty))
	if t.Totals.SelfAttestedCategory1 > 0 {
		fmt.Fprintf(w, "Self-attested Category 1 Credits (included above): %s\n", trimPoints(t.Totals.SelfAttestedCategory1))
	}
	if len(t.Totals.MOC) > 0 {
		fmt.Fprintln(w, "Maintenance of Certification, by competency:")
		for _, m := range t.Totals.MOC {
			fmt.Fprintf(w, "  %s (%s): %s\n", m.Competency, m.Category, trimPoints(m.Credits))
		}
	}
	if f := t.Failed(); len(f) > 0 {
		fmt.Fprintf(w, "\nWARNING: %d of %d societies did not answer; their last known credits are shown as stale, or none if never fetched.\n", len(f), len(t.Sources))
	}
	return nil
}

// trimPoints writes 17 for 17.00 and 13.25 as is, as the seed's transcript.
func trimPoints(p cmex.Points) string {
	return strings.TrimSuffix(strings.TrimRight(p.String(), "0"), ".")
}
