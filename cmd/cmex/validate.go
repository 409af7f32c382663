package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/pars"
)

// maxValidateFile bounds the files validate reads: far beyond any real
// PARS document.
const maxValidateFile = 64 << 20

func validateCommand() *command {
	c := &command{
		name:    "validate",
		summary: "Check PARS activity and learner documents (SaveActivity and SaveLearnerActivity requests, ACCMEActivities and ACCMELearnerReports files) offline with every rule that needs no registry; exit status 1 if any has an error.",
		usage:   "cmex validate [-format text|json] [-permissive] FILE...",
		example: `cmex validate activity.xml save-activity-request.xml save-learner-request.xml
cmex validate -format json activity.xml | jq '.[].code'`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := c.flagSet(e)
		format := fs.String("format", "text", "output: text (FILE:LINE: CODE message) or json")
		permissive := fs.Bool("permissive", false, "judge as a -permissive server does: deviations from PARS are warnings")
		if err := parse(fs, args, e); err != nil {
			return err
		}
		if *format != "text" && *format != "json" {
			return fmt.Errorf("%w: -format %q: want text or json", errUsage, *format)
		}
		if fs.NArg() == 0 {
			return fmt.Errorf("%w: name at least one FILE", errUsage)
		}
		mode := pars.Strict
		if *permissive {
			mode = pars.Permissive
		}
		today := cmex.DateOf(time.Now())

		type finding struct {
			File string `json:"file"`
			cmex.Problem
		}
		findings := []finding{}
		failed := false
		for _, name := range fs.Args() {
			body, err := readFile(name)
			if err != nil {
				return err
			}
			for _, p := range pars.ValidateDocument(body, mode, today) {
				findings = append(findings, finding{File: name, Problem: p})
				if p.Severity == cmex.SeverityError {
					failed = true
				}
			}
		}
		if *format == "json" {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(findings); err != nil {
				return err
			}
		} else {
			for _, f := range findings {
				msg := f.Message
				if f.Severity == cmex.SeverityWarning {
					msg = "warning: " + msg
				}
				fmt.Fprintf(e.stdout, "%s:%d: %s %s\n", f.File, f.Line, f.Code, msg)
			}
		}
		if failed {
			return exitError{code: 1}
		}
		return nil
	}
	return c
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxValidateFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxValidateFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxValidateFile)
	}
	return b, nil
}
