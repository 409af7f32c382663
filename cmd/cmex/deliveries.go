package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func destinationsCommand() *command {
	c := &command{
		name:    "destinations",
		summary: "Add, change or list the registries a provider's records are forwarded to (PARS, CMaRS, CE Broker, webhook). Credentials are read from stdin or a prompt, stored encrypted and never shown.",
		usage: `cmex destinations add -provider ID -name NAME -kind pars|cmars|cebroker|webhook -url URL [kind and routing flags] [-allow-private-destinations]   (the credential from stdin)
       cmex destinations update -provider ID -name NAME [-url URL] [-enabled=false|true] [-concurrency N] [-rate R] [-credential] [-allow-private-destinations]
       cmex destinations list -provider ID`,
		example: `echo 'whsec-…' | cmex destinations add -provider 1234567 -name hook -kind webhook -url https://hooks.example/cmex
echo 'pars-password' | cmex destinations add -provider 1234567 -name accme -kind pars -url https://pars.accme.org \
    -learner-url https://parsii.accme.org -username lms@aaa.example -upstream-provider 1234567 -forward-activities -certifications "AMA PRA Category 1"
echo 'upload-key' | cmex destinations add -provider 1234567 -name cebroker -kind cebroker \
    -url https://webservices.cebroker.com/CEBrokerWebService.asmx/UploadXMLString -parent-provider 5087 -license-states FL
echo 'exchange-token' | cmex destinations add -provider 1234567 -name cmars -kind cmars -url https://lrx.example/records \
    -activities 300000001 -mandatory 300000001=300000002
echo 'whsec-new' | cmex destinations update -provider 1234567 -name hook -url https://hooks2.example/cmex -credential
cmex destinations update -provider 1234567 -name hook -enabled=false   # its deliveries wait; every replica sends nothing from its next attempt
cmex destinations list -provider 1234567`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "add, update or list", func(fs *flag.FlagSet) { dbFlag(fs) }); done {
			return err
		}
		fs := c.flagSet(e)
		db := dbFlag(fs)
		provider := fs.String("provider", "", "ACCME provider id of the organization (required)")
		d := cmex.Destination{Enabled: true}
		var kind, certs, boards, states, colleges, activities, mandatory string
		allowPrivate := new(bool)
		if args[0] == "add" {
			allowPrivate = allowPrivateFlag(fs)
			fs.StringVar(&d.Name, "name", "", "the destination's name (required)")
			fs.StringVar(&kind, "kind", "", "pars, cmars, cebroker or webhook (required)")
			fs.StringVar(&d.URL, "url", "", "where to send (required): PARS's host, CE Broker's UploadXMLString, the exchange's or the webhook's URL")
			fs.StringVar(&d.Secrets.Username, "username", "", "PARS: the upstream web-service user")
			fs.Var((*providerFlag)(&d.Settings.ProviderID), "upstream-provider", "PARS: the provider id upstream")
			fs.StringVar(&d.Settings.LearnerURL, "learner-url", "", "PARS: the learner service's host, when not -url's (https://parsii.accme.org)")
			fs.StringVar(&d.Settings.ParentProviderID, "parent-provider", "", "CE Broker: id_parent_provider")
			fs.StringVar(&d.Settings.Profession, "profession", "", "CE Broker: licensee_profession (default MD)")
			fs.BoolVar(&d.Settings.Test, "test", false, "CE Broker: test uploads")
			fs.StringVar(&d.Secrets.APIID, "api-id", "", "webhook: the api_id the receiver must echo")
			fs.StringVar(&certs, "certifications", "", "route only credits of these certifications, comma-separated")
			fs.StringVar(&boards, "boards", "", "route only MOC credits of these boards")
			fs.StringVar(&states, "license-states", "", "route only learners licensed in these states")
			fs.BoolVar(&d.Routing.RequireOCIID, "require-oci", false, "route only learners with an OCI ID")
			fs.StringVar(&colleges, "colleges", "", "route only learners of these colleges (CA-ON-CPSO)")
			fs.StringVar(&activities, "activities", "", "route only these ACCME Activity IDs (required for CMaRS)")
			fs.StringVar(&mandatory, "mandatory", "", "CMaRS: COURSE=ACTIVITY,…: a course's records wait until the learner has a record of its mandatory activity in the same reporting period")
			fs.BoolVar(&d.Routing.Activities, "forward-activities", false, "PARS: forward activity registrations too")
			fs.IntVar(&d.Concurrency, "concurrency", 0, "deliveries in flight at once (default 16)")
			fs.Float64Var(&d.RatePerSecond, "rate", 0, "deliveries started per second (0: unlimited)")
		}
		var credential bool
		if args[0] == "update" {
			allowPrivate = allowPrivateFlag(fs)
			fs.StringVar(&d.Name, "name", "", "the destination's name (required)")
			fs.StringVar(&d.URL, "url", "", "where to send from now on")
			fs.BoolVar(&d.Enabled, "enabled", true, "false: send it nothing (its deliveries wait) and make none; true: send again")
			fs.IntVar(&d.Concurrency, "concurrency", 0, "deliveries in flight at once")
			fs.Float64Var(&d.RatePerSecond, "rate", 0, "deliveries started per second (0: unlimited)")
			fs.BoolVar(&credential, "credential", false, "read a new credential (password, upload key, signing secret or token) from stdin")
		}
		if err := parse(fs, args[1:], e); err != nil {
			return err
		}
		if *provider == "" {
			return fmt.Errorf("%w: destinations %s needs -provider", errUsage, args[0])
		}
		return withDB(ctx, *db, func(s *sqlstore.DB) error {
			org, err := findProvider(ctx, s, *provider)
			if err != nil {
				return err
			}
			if key, err := serverSecretKey(e, "", false); err != nil {
				return err
			} else if key != "" {
				if s.Secrets, err = sqlstore.NewSecretBox(key); err != nil {
					return err
				}
			}
			ds := sqlstore.NewDeliveryService(s)
			switch args[0] {
			case "add":
				d.OrganizationID, d.Kind = org.ID, cmex.DestinationKind(kind)
				d.Routing.Certifications, d.Routing.Boards, d.Routing.LicenseStates, d.Routing.Colleges = list(certs), list(boards), list(states), list(colleges)
				for _, a := range list(activities) {
					id, err := cmex.ParseActivityID(a)
					if err != nil {
						return fmt.Errorf("%w: -activities: %v", errUsage, err)
					}
					d.Routing.ActivityIDs = append(d.Routing.ActivityIDs, id)
				}
				for _, pair := range list(mandatory) {
					course, act, ok := strings.Cut(pair, "=")
					c, err1 := cmex.ParseActivityID(strings.TrimSpace(course))
					a, err2 := cmex.ParseActivityID(strings.TrimSpace(act))
					if !ok || err1 != nil || err2 != nil {
						return fmt.Errorf("%w: -mandatory %q: want COURSE=ACTIVITY, two ACCME Activity IDs", errUsage, pair)
					}
					d.Routing.Mandatory = append(d.Routing.Mandatory, cmex.MandatoryActivity{Course: c, Activity: a})
				}
				secret, err := readLine(e, fmt.Sprintf("The %s destination's credential: ", kind))
				if err != nil {
					return err
				}
				setCredential(&d, secret)
				if err := targetPolicy(*allowPrivate).Deliveries(ds).CreateDestination(ctx, &d); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "destination %s (%s) added to provider %s\n", d.Name, d.Kind, org.ProviderID)
				return nil
			case "update":
				return updateDestination(ctx, e, fs, targetPolicy(*allowPrivate).Deliveries(ds), org, &d, credential)
			case "list":
				list, err := ds.ListDestinations(ctx, org.ID)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tKIND\tURL\tCONCURRENCY\tROUTING")
				for _, d := range list {
					r, _ := json.Marshal(d.Routing)
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", d.Name, d.Kind, d.URL, d.Concurrency, r)
				}
				return tw.Flush()
			}
			return fmt.Errorf("%w: unknown destinations command %q; want add, update or list", errUsage, args[0])
		})
	}
	return c
}

// updateDestination changes what the flags set of org's destination
// set.Name, and leaves the rest as it is.
func updateDestination(ctx context.Context, e *env, fs *flag.FlagSet, ds cmex.DeliveryService, org *cmex.Organization, set *cmex.Destination, credential bool) error {
	list, err := ds.ListDestinations(ctx, org.ID)
	if err != nil {
		return err
	}
	var id cmex.DestinationID
	for _, d := range list {
		if strings.EqualFold(d.Name, strings.TrimSpace(set.Name)) {
			id = d.ID
		}
	}
	if id == 0 {
		return fmt.Errorf("%w: provider %s has no destination named %q (cmex destinations list -provider %s)", errUsage, org.ProviderID, set.Name, org.ProviderID)
	}
	d, err := ds.Destination(ctx, id) // with its credentials, which are kept unless -credential
	if err != nil {
		return cliError(err)
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "url":
			d.URL = set.URL
		case "enabled":
			d.Enabled = set.Enabled
		case "concurrency":
			d.Concurrency = set.Concurrency
		case "rate":
			d.RatePerSecond = set.RatePerSecond
		}
	})
	if credential {
		secret, err := readLine(e, fmt.Sprintf("The %s destination's new credential: ", d.Kind))
		if err != nil {
			return err
		}
		setCredential(d, secret)
	}
	if err := ds.UpdateDestination(ctx, d); err != nil {
		return cliError(err)
	}
	state := "enabled"
	if !d.Enabled {
		state = "disabled"
	}
	fmt.Fprintf(e.stdout, "destination %s (%s) of provider %s updated: %s, %s\n", d.Name, d.Kind, org.ProviderID, d.URL, state)
	return nil
}

// setCredential puts the credential a destination's kind is given on the
// command line's stdin where that kind keeps it.
func setCredential(d *cmex.Destination, secret string) {
	switch d.Kind {
	case cmex.DestPARS:
		d.Secrets.Password = secret
	case cmex.DestCEBroker:
		d.Secrets.UploadKey = secret
	case cmex.DestWebhook:
		d.Secrets.WebhookSecret = secret
	case cmex.DestCMaRS:
		d.Secrets.Token = secret
	}
}

// providerFlag sets a ProviderID.
type providerFlag cmex.ProviderID

func (p *providerFlag) String() string { return string(*p) }

func (p *providerFlag) Set(s string) error {
	id, err := cmex.ParseProviderID(s)
	*p = providerFlag(id)
	return err
}

func list(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func deliveriesCommand() *command {
	c := &command{
		name:    "deliveries",
		summary: "Follow the outbox: list deliveries by state and destination, show one with the remote's answer, retry or cancel one.",
		usage: `cmex deliveries list [-provider ID] [-state pending|delivered|rejected|cancelled] [-destination NAME] [-limit N]
       cmex deliveries show|retry|cancel [-provider ID] DELIVERY-ID`,
		example: `cmex deliveries list -provider 1234567 -state rejected
cmex deliveries show 42
cmex deliveries retry 42`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "list, show, retry or cancel", func(fs *flag.FlagSet) { dbFlag(fs) }); done {
			return err
		}
		fs := c.flagSet(e)
		db := dbFlag(fs)
		provider := fs.String("provider", "", "only this provider's deliveries (default: every provider's)")
		state := fs.String("state", "", "list: only deliveries in this state")
		dest := fs.String("destination", "", "list: only deliveries to this destination")
		limit := fs.Int("limit", cmex.DefaultDeliveryLimit, fmt.Sprintf("list: at most this many, newest first (at most %d)", cmex.MaxDeliveryLimit))
		if err := parse(fs, args[1:], e); err != nil {
			return err
		}
		return withDB(ctx, *db, func(s *sqlstore.DB) error {
			var org cmex.OrganizationID
			if *provider != "" {
				o, err := findProvider(ctx, s, *provider)
				if err != nil {
					return err
				}
				org = o.ID
			}
			ds := sqlstore.NewDeliveryService(s)
			if args[0] == "list" {
				if *limit < 1 {
					return fmt.Errorf("%w: -limit %d: want 1 to %d", errUsage, *limit, cmex.MaxDeliveryLimit)
				}
				if *limit > cmex.MaxDeliveryLimit {
					fmt.Fprintf(e.stderr, "cmex deliveries: -limit %d is over the cap; listing at most %d deliveries\n", *limit, cmex.MaxDeliveryLimit)
					*limit = cmex.MaxDeliveryLimit
				}
				list, err := ds.ListDeliveries(ctx, cmex.DeliveryFilter{OrganizationID: org, State: cmex.DeliveryState(*state), Destination: *dest, Limit: *limit})
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tDESTINATION\tSUBJECT\tCREDIT ID\tSTATE\tATTEMPTS\tLAST ERROR")
				for _, d := range list {
					st := string(d.State)
					if d.Overdue && d.State == cmex.DeliveryPending {
						st += " (OVERDUE)"
					}
					fmt.Fprintf(tw, "%d\t%s\t%s %s\t%s\t%s\t%d\t%s\n", d.ID, d.Destination, d.Subject, d.Event, dash(string(d.CreditID)), st, d.Attempts, dash(d.LastError))
				}
				return tw.Flush()
			}
			if fs.NArg() != 1 {
				return fmt.Errorf("%w: deliveries %s needs one DELIVERY-ID", errUsage, args[0])
			}
			n, err := strconv.ParseInt(fs.Arg(0), 10, 64)
			if err != nil {
				return fmt.Errorf("%w: %q is not a delivery id", errUsage, fs.Arg(0))
			}
			id := cmex.DeliveryID(n)
			switch args[0] {
			case "show":
				d, err := ds.Delivery(ctx, org, id)
				if err != nil {
					return cliError(err)
				}
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					*cmex.Delivery
					Payload string `json:"payload,omitempty"`
				}{d, string(d.Payload)})
			case "retry":
				if err := ds.RetryDelivery(ctx, org, id); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "delivery %d is due now\n", id)
				return nil
			case "cancel":
				if err := ds.CancelDelivery(ctx, org, id); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "delivery %d cancelled\n", id)
				return nil
			}
			return fmt.Errorf("%w: unknown deliveries command %q; want list, show, retry or cancel", errUsage, args[0])
		})
	}
	return c
}
