package main

import (
	"context"
	"io"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlstore"
	"github.com/cmexhub/cmex/internal/xapi"
)

// fileStatements is the kind of file import reads besides the others: xAPI
// statements as JSON lines (the first byte a {), which package xapi
// imports as POST /xapi/statements stores statements.
const fileStatements = "xAPI statements"

func (im *importer) importStatements(ctx context.Context, name string, r io.Reader, stats *importStats) error {
	store := sqlstore.NewXAPIService(im.db)
	profiles := sqlstore.NewXAPIProfiles(im.db, sqlstore.NewLearnerService(im.db, im.mode))
	store.Hook = profiles // completions into learner records, as cmex serve wires it
	x := &xapi.Importer{Store: store, Outcomes: profiles, Principal: im.by, Now: time.Now,
		Report: func(l xapi.ImportLine) error {
			return im.note(stats, outcome{File: name, Position: l.Position, Line: l.Line, ID: l.ID, Outcome: l.Outcome, Problems: l.Problems})
		}}
	return x.Import(ctx, r)
}

func exportStatements(ctx context.Context, s *sqlstore.DB, provider cmex.ProviderID, since, until time.Time, w io.Writer) error {
	org, err := sqlstore.NewOrganizationService(s).FindOrganizationByProviderID(ctx, provider)
	if err != nil {
		return err
	}
	return xapi.Export(ctx, sqlstore.NewXAPIService(s), org.ID, since, until, w)
}

// parseStoredBound reads -since or -until: an ISO 8601 timestamp, or a
// date (its midnight UTC).
func parseStoredBound(s string) (time.Time, error) {
	if t, err := xapi.ParseTime(s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02", s)
}
