package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/planfile"
	"github.com/cmexhub/cmex/internal/processsync"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// sandboxPlans is the sandbox's plan file, the same as examples/plans.yaml
// (a test holds them together).
//
//go:embed sandbox-plans.yaml
var sandboxPlans []byte

// sandboxKey is the sandbox's Process Synchronization shared key.
const sandboxKey = "sandbox-secret"

func plansCommand() *command {
	c := &command{
		name:    "plans",
		summary: "Load or show the credential plans (roles, learning plans, task groups) that progress and GetRoleData are measured against.",
		usage:   "cmex plans load FILE [-db DB] | cmex plans show [-db DB]",
		example: `cmex plans load examples/plans.yaml       # YAML or JSON; every problem is printed with its line and field
cmex plans show                           # the plans in force, as JSON`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "load or show", func(fs *flag.FlagSet) { dbFlag(fs) }); done {
			return err
		}
		fs := c.flagSet(e)
		db := dbFlag(fs)
		if err := parse(fs, args[1:], e); err != nil {
			return err
		}
		switch args[0] {
		case "load":
			if fs.NArg() != 1 {
				return fmt.Errorf("%w: plans load needs one FILE", errUsage)
			}
			f, err := os.Open(fs.Arg(0))
			if err != nil {
				return err
			}
			defer f.Close()
			p, err := planfile.Read(f)
			var pe *planfile.Error
			if errors.As(err, &pe) {
				for _, x := range pe.Problems {
					fmt.Fprintf(e.stderr, "%s:%d: %s: %s\n", fs.Arg(0), x.Line, x.Path, x.Message)
				}
				return exitError{1}
			}
			if err != nil {
				return err
			}
			return withDB(ctx, *db, func(d *sqlstore.DB) error {
				if err := sqlstore.NewPlanService(d).LoadPlans(ctx, p); err != nil {
					return cliError(err)
				}
				for _, r := range p.Roles {
					fmt.Fprintf(e.stdout, "role %s: %d learning plans loaded\n", r.Role, len(r.LearningPlans))
				}
				return nil
			})
		case "show":
			return withDB(ctx, *db, func(d *sqlstore.DB) error {
				p, err := sqlstore.NewPlanService(d).CurrentPlans(ctx)
				if err != nil {
					return cliError(err)
				}
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(p)
			})
		}
		return fmt.Errorf("%w: unknown plans command %q; want load or show", errUsage, args[0])
	}
	return c
}

// fieldsFlag collects -field NAME=VALUE.
type fieldsFlag []cmex.ExtrinsicItem

func (f *fieldsFlag) String() string { return "" }

func (f *fieldsFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return errors.New("want NAME=VALUE")
	}
	*f = append(*f, cmex.ExtrinsicItem{Name: strings.TrimSpace(name), Value: value})
	return nil
}

// planFieldsFlag collects -plan-field "PLAN:NAME=VALUE": the plan's name
// runs to the first ":NAME=" (a field name is letters, digits and _).
type planFieldsFlag []cmex.PlanExtrinsicItem

var planFieldRE = regexp.MustCompile(`^(.*?):\s*([A-Za-z][A-Za-z0-9_]*)\s*=(.*)$`)

func (f *planFieldsFlag) String() string { return "" }

func (f *planFieldsFlag) Set(s string) error {
	m := planFieldRE.FindStringSubmatch(s)
	if m == nil || strings.TrimSpace(m[1]) == "" {
		return errors.New(`want "LEARNING PLAN:NAME=VALUE"`)
	}
	*f = append(*f, cmex.PlanExtrinsicItem{Plan: strings.TrimSpace(m[1]), Name: m[2], Value: m[3]})
	return nil
}

func rolesCommand() *command {
	c := &command{
		name:    "roles",
		summary: "Give learner-registry persons credential role instances (Practitioner…), or list them with where each stands.",
		usage:   "cmex roles add -person ID -role ROLE [-label L] [-status S] [-unique-id U] [-granted] [-begin DATE] [-end DATE] [-field NAME=VALUE…] [-plan-field PLAN:NAME=VALUE…] | cmex roles list -person ID",
		example: `cmex roles add -person 1 -role Practitioner -label "Internal Medicine" -status Member-Active -begin 2025-01-01 -field CertificationNumber=IM-4242 \
  -plan-field "Internal Medicine Maintenance of Certification:AuditStatus=Not Selected"
cmex roles list -person 1`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "add or list", func(fs *flag.FlagSet) { dbFlag(fs) }); done {
			return err
		}
		fs := c.flagSet(e)
		db := dbFlag(fs)
		person := fs.Int64("person", 0, "the learner-registry person (cmex learners list) (required)")
		var ri cmex.RoleInstance
		var begin, end string
		var fields fieldsFlag
		var planFields planFieldsFlag
		if args[0] == "add" {
			fs.StringVar(&ri.Role, "role", "", "the role, as the plans name it (required)")
			fs.StringVar(&ri.Label, "label", "", "the instance's label, to tell several apart")
			fs.StringVar(&ri.Status, "status", "", "the member's status in the role (Member-Active)")
			fs.StringVar(&ri.UniqueIdentifier, "unique-id", "", "the role's unique identifier; GetRoleData finds the person by it too")
			fs.BoolVar(&ri.IsGranted, "granted", false, "the role is granted")
			fs.StringVar(&begin, "begin", "", "begin date, YYYY-MM-DD; rolling cycles count from it")
			fs.StringVar(&end, "end", "", "end date, YYYY-MM-DD")
			fs.Var(&fields, "field", "an extrinsic field of the role, NAME=VALUE, one the plans in force declare (repeatable)")
			fs.Var(&planFields, "plan-field", `an extrinsic field of one of the role's learning plans, "PLAN:NAME=VALUE", one that plan declares (repeatable)`)
		}
		if err := parse(fs, args[1:], e); err != nil {
			return err
		}
		if *person == 0 {
			return fmt.Errorf("%w: roles %s needs -person", errUsage, args[0])
		}
		for _, d := range []struct {
			s   string
			dst *cmex.Date
		}{{begin, &ri.BeginDate}, {end, &ri.EndDate}} {
			if d.s == "" {
				continue
			}
			v, _, err := cmex.ParseDate(d.s)
			if err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			*d.dst = v
		}
		ri.PersonID, ri.Extrinsic, ri.PlanExtrinsic = cmex.PersonID(*person), fields, planFields
		return withDB(ctx, *db, func(d *sqlstore.DB) error {
			ps := sqlstore.NewPlanService(d)
			switch args[0] {
			case "add":
				if err := ps.SaveRoleInstance(ctx, &ri); err != nil {
					return cliError(err)
				}
				fmt.Fprintf(e.stdout, "person %d holds role %s %s\n", ri.PersonID, ri.Role, ri.Label)
				return nil
			case "list":
				roles, err := cmex.ProgressOf(ctx, ps, cmex.PersonID(*person), "", cmex.DateOf(time.Now()))
				if err != nil {
					return cliError(err)
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ROLE\tLABEL\tSTATUS\tPLAN\tCYCLE\tREQUESTED\tGRANTED\tMINIMUM\tWORKFLOW")
				for _, r := range roles {
					if len(r.Plans) == 0 {
						fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t%s\n", r.Role, dash(r.Label), dash(r.Status), r.Workflow.Status)
					}
					for _, p := range r.Plans {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s to %s\t%s\t%s\t%s\t%s\n", r.Role, dash(r.Label), dash(r.Status), p.Name,
							p.CycleStart, p.CycleEnd, trimPoints(p.RequestedUnits), trimPoints(p.GrantedUnits), trimPoints(p.MinimumUnits), p.Workflow.Status)
					}
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				for _, r := range roles {
					printFields(e, r)
				}
				return nil
			}
			return fmt.Errorf("%w: unknown roles command %q; want add or list", errUsage, args[0])
		})
	}
	return c
}

// printFields prints a role instance's extrinsic fields: those GetRoleData
// sends, and those the plans in force no longer declare.
func printFields(e *env, r cmex.RoleProgress) {
	role := strings.TrimSpace(r.Role + " " + r.Label)
	for _, x := range r.Extrinsic {
		fmt.Fprintf(e.stdout, "%s: %s = %s\n", role, x.Name, x.Value)
	}
	for _, p := range r.Plans {
		for _, x := range p.Extrinsic {
			fmt.Fprintf(e.stdout, "%s, %s: %s = %s\n", role, p.Name, x.Name, x.Value)
		}
	}
	for _, x := range r.Undeclared {
		where := role
		if x.Plan != "" {
			where += ", " + x.Plan
		}
		fmt.Fprintf(e.stdout, "%s: %s = %s (kept, not sent: the plans in force do not declare it)\n", where, x.Name, x.Value)
	}
}

func tokenCommand() *command {
	c := &command{
		name:    "token",
		summary: "Print a TimeStamp and Token for a GetRoleData request by hand: the hex SHA-256 of UniqueId, TimeStamp and the shared key.",
		usage:   "cmex token -unique-id ID [-key-file FILE]",
		example: `cmex token -unique-id 999902      # with CMEX_PROCESSSYNC_KEY, -key-file, or else the sandbox key`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := c.flagSet(e)
		uid := fs.String("unique-id", "", "the member's unique id (board id, licence, NPI, OCI ID or role identifier) (required)")
		keyFile := fs.String("key-file", "", "file holding the shared key")
		if err := parse(fs, args, e); err != nil {
			return err
		}
		if *uid == "" {
			return fmt.Errorf("%w: token needs -unique-id", errUsage)
		}
		key, err := processSyncKey(e, *keyFile, true)
		if err != nil {
			return err
		}
		ts := processsync.TimeStamp(time.Now())
		fmt.Fprintf(e.stdout, "TimeStamp %s\nToken %s\n", ts, processsync.Token(*uid, ts, key))
		if key == sandboxKey {
			// On stderr, after the two lines, so that a script reading
			// stdout gets those alone and a terminal shows the note on a
			// line of its own.
			fmt.Fprintln(e.stderr, "note: signed with the sandbox key, sandbox-secret (set CMEX_PROCESSSYNC_KEY or -key-file for another)")
		}
		return nil
	}
	return c
}

// processSyncKey is the shared key: from the file, else CMEX_PROCESSSYNC_KEY,
// else the sandbox's when sandbox is set, else "".
func processSyncKey(e *env, file string, sandbox bool) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		key := strings.TrimSpace(string(b))
		if key == "" {
			return "", fmt.Errorf("%s is empty", file)
		}
		return key, nil
	}
	if key := e.getenv("CMEX_PROCESSSYNC_KEY"); key != "" {
		return key, nil
	}
	if sandbox {
		return sandboxKey, nil
	}
	return "", nil
}

// loadSandboxPlans loads the sandbox's plan file unless it is already in
// force, and makes Jane ACCME a Practitioner since 1 January 2025, with a
// value for the role's extrinsic field and one of her plan's.
func loadSandboxPlans(ctx context.Context, ps cmex.PlanService, logger *slog.Logger) error {
	p, err := planfile.Read(bytes.NewReader(sandboxPlans))
	if err != nil {
		return fmt.Errorf("sandbox-plans.yaml: %w", err)
	}
	cur, err := ps.CurrentPlans(ctx)
	if err != nil && cmex.ErrorCode(err) != cmex.ENOTFOUND {
		return err
	}
	want, _ := json.Marshal(p)
	have, _ := json.Marshal(cur)
	if cur == nil || !bytes.Equal(want, have) {
		if err := ps.LoadPlans(ctx, p); err != nil {
			return err
		}
		logger.Info("sandbox plans loaded", "roles", len(p.Roles))
	}
	ids, err := ps.PersonsByIdentifier(ctx, "999902")
	if err != nil {
		return err
	}
	if len(ids) != 1 {
		return fmt.Errorf("Jane ACCME (ABIM 999902) is not in the sandbox registry")
	}
	return ps.SaveRoleInstance(ctx, &cmex.RoleInstance{
		PersonID: ids[0], Role: "Practitioner", Label: "Internal Medicine", Status: "Member-Active", UniqueIdentifier: "PR-1001",
		IsGranted: true, BeginDate: cmex.MustParseDate("2025-01-01"),
		Extrinsic:     []cmex.ExtrinsicItem{{Name: "CertificationNumber", Value: "IM-4242"}},
		PlanExtrinsic: []cmex.PlanExtrinsicItem{{Plan: "Internal Medicine Maintenance of Certification", Name: "AuditStatus", Value: "Not Selected"}},
	})
}
