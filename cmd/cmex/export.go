package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/batch"
	"github.com/cmexhub/cmex/internal/pars"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

func exportCommand() *command {
	c := &command{
		name:    "export",
		summary: "Export activities, learner records or a person's transcript as PARS XML, CSV or JSON, or a provider's xAPI statements as JSON lines, streamed.",
		usage: "cmex export activities -provider ID | learners [-provider ID] [-from DATE] [-to DATE] [-learner ID] | " +
			"transcript -person ID   [-format xml|csv|json] [-o FILE] [-db DB]\n" +
			"       cmex export statements -provider ID [-since TIME] [-until TIME] [-o FILE] [-db DB]",
		example: `cmex export learners -provider 1234567 -from 2025-01-01 -to 2025-12-31 -o 2025.xml
cmex export learners -provider 1234567 -learner MD999902 -format csv
cmex export transcript -person 2 -format json
cmex export activities -provider 1234567 -format csv
cmex export statements -provider 1234567 -since 2026-01-01 -o statements.jsonl   # as stored, voided ones too; cmex import reads it back`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		if done, err := c.groupHelp(e, args, "activities, learners, transcript or statements", func(fs *flag.FlagSet) { dbFlag(fs) }); done {
			return err
		}
		what := args[0]
		fs := c.flagSet(e)
		db := dbFlag(fs)
		format := new(string)
		if what != "statements" {
			format = fs.String("format", "xml", "xml (PARS batch file, which cmex import reads back), csv or json")
		}
		out := fs.String("o", "", "write to this file instead of standard output")
		var provider, from, to, learner, since, until *string
		var person *int64
		switch what {
		case "statements":
			provider = fs.String("provider", "", "the provider whose xAPI statements to export (required)")
			since = fs.String("since", "", "only statements stored after this time (ISO 8601, or a date: its midnight UTC)")
			until = fs.String("until", "", "only statements stored at or before this time (ISO 8601, or a date: its midnight UTC)")
			*format = "jsonl"
		case "activities":
			provider = fs.String("provider", "", "the provider whose activities to export (required)")
		case "learners":
			provider = fs.String("provider", "", "only this provider's records")
			from = fs.String("from", "", "only records completed on or after this date (YYYY-MM-DD)")
			to = fs.String("to", "", "only records completed on or before this date (YYYY-MM-DD)")
			learner = fs.String("learner", "", "only the records of the learner with this identifier (licence, board id or NPI)")
		case "transcript":
			person = fs.Int64("person", 0, "the registry person whose records to export, from every provider (see cmex learners list)")
		default:
			return fmt.Errorf("%w: export activities, learners, transcript or statements, not %q", errUsage, what)
		}
		if err := parse(fs, args[1:], e); err != nil {
			return err
		}
		var bounds [2]time.Time
		for i, b := range []*string{since, until} {
			if b == nil || *b == "" {
				continue
			}
			t, err := parseStoredBound(*b)
			if err != nil {
				return fmt.Errorf("%w: %q is neither an ISO 8601 timestamp nor a date (YYYY-MM-DD)", errUsage, *b)
			}
			bounds[i] = t
		}
		if what != "statements" && *format != "xml" && *format != "csv" && *format != "json" {
			return fmt.Errorf("%w: -format %q: want xml, csv or json", errUsage, *format)
		}
		var q sqlstore.RecordQuery
		if provider != nil && *provider != "" {
			pid, err := cmex.ParseProviderID(*provider)
			if err != nil {
				return fmt.Errorf("%w: -provider %q: %v", errUsage, *provider, err)
			}
			q.Provider = pid
		}
		for _, d := range []struct {
			flag *string
			dst  *cmex.Date
			name string
		}{{from, &q.From, "-from"}, {to, &q.To, "-to"}} {
			if d.flag == nil || *d.flag == "" {
				continue
			}
			v, _, err := cmex.ParseDate(*d.flag)
			if err != nil {
				return fmt.Errorf("%w: %s %q is not a date (YYYY-MM-DD)", errUsage, d.name, *d.flag)
			}
			*d.dst = v
		}
		if learner != nil {
			q.UniqueID = *learner
		}
		switch {
		case (what == "activities" || what == "statements") && q.Provider == "":
			return fmt.Errorf("%w: export %s needs -provider", errUsage, what)
		case what == "transcript" && *person <= 0:
			return fmt.Errorf("%w: export transcript needs -person ID", errUsage)
		case what == "transcript":
			q.Person = cmex.PersonID(*person)
		}
		w := e.stdout
		if *out != "" {
			f, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		bw := bufio.NewWriterSize(w, 256<<10)
		err := withDB(ctx, *db, func(s *sqlstore.DB) error {
			switch what {
			case "activities":
				return exportActivities(ctx, s, q.Provider, *format, bw)
			case "statements":
				return exportStatements(ctx, s, q.Provider, bounds[0], bounds[1], bw)
			}
			return exportRecords(ctx, s, q, *format, bw)
		})
		if err != nil {
			return cliError(err)
		}
		return bw.Flush()
	}
	return c
}

// jsonArray streams values as one JSON array.
type jsonArray struct {
	w io.Writer
	n int
}

func (a *jsonArray) add(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sep := ",\n"
	if a.n == 0 {
		sep = "[\n"
	}
	a.n++
	if _, err := io.WriteString(a.w, sep); err != nil {
		return err
	}
	_, err = a.w.Write(b)
	return err
}

func (a *jsonArray) close() error {
	if a.n == 0 {
		_, err := io.WriteString(a.w, "[]\n")
		return err
	}
	_, err := io.WriteString(a.w, "\n]\n")
	return err
}

func exportRecords(ctx context.Context, s *sqlstore.DB, q sqlstore.RecordQuery, format string, w io.Writer) error {
	learners := sqlstore.NewLearnerService(s, cmex.MatchPassthrough)
	switch format {
	case "xml":
		fw := pars.NewFileWriter(w, pars.FileLearners)
		if err := learners.EachLearnerRecord(ctx, q, func(r *cmex.LearnerRecord) error {
			return fw.WriteLearnerReport(pars.RecordReport(r, r.ProviderID))
		}); err != nil {
			return err
		}
		return fw.Close()
	case "csv":
		rw, err := batch.NewRecordWriter(w)
		if err != nil {
			return err
		}
		if err := learners.EachLearnerRecord(ctx, q, rw.Write); err != nil {
			return err
		}
		return rw.Flush()
	}
	a := &jsonArray{w: w}
	if err := learners.EachLearnerRecord(ctx, q, func(r *cmex.LearnerRecord) error { return a.add(r) }); err != nil {
		return err
	}
	return a.close()
}

func exportActivities(ctx context.Context, s *sqlstore.DB, provider cmex.ProviderID, format string, w io.Writer) error {
	org, err := sqlstore.NewOrganizationService(s).FindOrganizationByProviderID(ctx, provider)
	if err != nil {
		return err
	}
	acts := sqlstore.NewActivityService(s)
	each := func(fn func(*cmex.Activity) error) error { return acts.EachActivity(ctx, provider, fn) }
	switch format {
	case "xml":
		fw := pars.NewFileWriter(w, pars.FileActivities)
		fw.ProviderName = org.Name
		if err := each(func(a *cmex.Activity) error { return fw.WriteActivity(a, "") }); err != nil {
			return err
		}
		return fw.Close()
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"activity_id", "provider_activity_id", "title", "type", "start_date", "end_date", "ama_credits", "moc_boards", "closed"})
		if err := each(func(a *cmex.Activity) error {
			ama := ""
			if p, ok := a.AMACredits(); ok {
				ama = p.String()
			}
			var boards []string
			for _, m := range a.MOCRegistrations {
				boards = append(boards, m.Board)
			}
			return cw.Write([]string{a.ID.String(), a.ProviderActivityID, a.Title, a.Type, a.StartDate.String(), a.EndDate.String(),
				ama, strings.Join(boards, " "), strconv.FormatBool(a.Closed)})
		}); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	}
	a := &jsonArray{w: w}
	if err := each(func(act *cmex.Activity) error { return a.add(act) }); err != nil {
		return err
	}
	return a.close()
}
