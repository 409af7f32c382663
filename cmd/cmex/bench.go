package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/pars"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func benchCommand() *command {
	c := &command{
		name:    "bench",
		summary: "Measure cmex on this machine (import, SaveLearnerActivity under load, GetRoleData and transcripts over a large ledger), or generate synthetic batch files.",
		usage: "cmex bench [-db DB] [-records N] [-ledger N] [-clients N] [-duration D] | " +
			"cmex bench generate (-activities N | -records N -provider ID [-db DB] [-reject-every N]) FILE",
		example: `cmex bench -records 200000 -ledger 1000000
cmex bench -db postgres://localhost/cmexbench -records 200000
cmex bench generate -activities 10 activities.xml
cmex bench generate -records 200000 -provider 1234567 learners.xml`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if len(args) > 0 && args[0] == "generate" {
			return c.generate(ctx, e, args[1:])
		}
		return c.bench(ctx, e, args)
	}
	return c
}

// generate writes a synthetic activity or learner file.
func (c *command) generate(ctx context.Context, e *env, args []string) error {
	fs := c.flagSet(e)
	db := dbFlag(fs)
	activities := fs.Int("activities", 0, "write an activity file of this many Add records")
	records := fs.Int("records", 0, "write a learner file of this many records, on the provider's activities")
	provider := fs.String("provider", "", "the provider whose activities the learner records name")
	year := fs.Int("year", 2025, "the year of the activities and completions")
	from := fs.Int("from", 0, "number the learner records from this one (CreditIDs are ccid:bench.example.org:N)")
	rejectEvery := fs.Int("reject-every", 0, "make every Nth learner record name an activity that does not exist")
	if err := parse(fs, args, e); err != nil {
		return err
	}
	if fs.NArg() != 1 || (*activities > 0) == (*records > 0) {
		return fmt.Errorf("%w: bench generate takes -activities N or -records N, and one FILE", errUsage)
	}
	f, err := os.Create(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	if *activities > 0 {
		if err := writeActivityFile(w, *activities, *year); err != nil {
			return err
		}
		return w.Flush()
	}
	pid, err := cmex.ParseProviderID(*provider)
	if err != nil {
		return fmt.Errorf("%w: -provider %q: %v", errUsage, *provider, err)
	}
	var acts []cmex.ActivityID
	err = withDB(ctx, *db, func(s *sqlstore.DB) error {
		as, err := sqlstore.NewActivityService(s).FindActivities(ctx, cmex.ActivityFilter{ProviderID: pid})
		for _, a := range as {
			acts = append(acts, a.ID)
		}
		return err
	})
	if err != nil {
		return cliError(err)
	}
	if len(acts) == 0 {
		return fmt.Errorf("provider %s has no activities; import some first (cmex bench generate -activities 10 FILE)", pid)
	}
	if err := writeLearnerFileRejecting(w, *from, *from+*records, pid, acts, *year, *rejectEvery); err != nil {
		return err
	}
	return w.Flush()
}

// writeLearnerFileRejecting is writeLearnerFile with every nth record
// naming an activity that does not exist.
func writeLearnerFileRejecting(w io.Writer, from, to int, provider cmex.ProviderID, acts []cmex.ActivityID, year, every int) error {
	fw := pars.NewFileWriter(w, pars.FileLearners)
	for i := from; i < to; i++ {
		r := workloadReport(i, provider, acts, year)
		if every > 0 && i%every == every-1 {
			r.ActivityID = 999999999
		}
		if err := fw.WriteLearnerReport(r); err != nil {
			return err
		}
	}
	return fw.Close()
}

var _ = flag.ErrHelp

func (c *command) bench(ctx context.Context, e *env, args []string) error {
	return fmt.Errorf("not yet")
}
