package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/batch"
	"github.com/cmexhub/cmex/internal/cmegateway"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// societyFiles reads a local society's files, for cmex society import
// and member-import and for the society admin's pages: members CSV
// (internal/batch), and credits as ceu_order XML (internal/cmegateway) or
// CSV (internal/batch): XML when it starts with < or its name ends in
// .xml, CSV otherwise.
type societyFiles struct{}

var _ cmex.SocietyFiles = societyFiles{}

func (societyFiles) ReadMembers(r io.Reader) ([]cmex.MemberRow, []cmex.FileProblem, error) {
	return batch.ReadMembers(r)
}

func (societyFiles) ReadCredits(name string, data []byte) ([]cmex.CreditRow, []cmex.FileProblem, error) {
	if len(data) > cmegateway.MaxResponseBytes {
		return nil, []cmex.FileProblem{{Message: fmt.Sprintf("larger than %d MiB", cmegateway.MaxResponseBytes>>20)}}, nil
	}
	xml := bytes.HasPrefix(bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\ufeff")), " \t\r\n"), []byte("<")) ||
		strings.HasSuffix(strings.ToLower(name), ".xml")
	if !xml {
		return batch.ReadSocietyCredits(bytes.NewReader(data))
	}
	f, err := cmegateway.ReadOrderFile(data)
	switch {
	case err != nil:
		return nil, []cmex.FileProblem{{Message: "not a ceu_order document: " + err.Error()}}, nil
	case !f.OK():
		return nil, []cmex.FileProblem{{Message: fmt.Sprintf("not a successful ceu_order with a CUSTOMER (STATUS %q)", f.Status)}}, nil
	case f.Customer.ID == "":
		return nil, []cmex.FileProblem{{Message: "the CUSTOMER has no customer_id: whose credits these are is not known"}}, nil
	}
	rows := make([]cmex.CreditRow, len(f.CEUs))
	for i, c := range f.CEUs {
		rows[i] = cmex.CreditRow{Line: c.Line, Position: i + 1, Credit: cmex.SocietyCredit{MemberID: f.Customer.ID, CEU: c.CEU}}
		if c.Err == nil {
			c.Err = cmex.CheckCEU(&c.CEU)
			if c.Err != nil {
				c.Err = fmt.Errorf("%s", cmex.ErrorMessage(c.Err))
			}
		}
		if c.Err != nil {
			rows[i].Problems = []cmex.FileProblem{{Line: c.Line, Message: c.Err.Error()}}
		}
	}
	return rows, nil, nil
}

// importSocietyCredits records the credits of one file (ceu_order XML or
// credits CSV) as the society's own, credit by credit: it prints each
// rejected one as FILE:LINE: problem, and what became of them all; it
// reports whether any was rejected.
func importSocietyCredits(ctx context.Context, e *env, ss *sqlstore.SocietyService, s *cmex.Society, file string) (rejected bool, err error) {
	info, err := os.Stat(file)
	if err != nil {
		return false, err
	}
	if info.Size() > cmegateway.MaxResponseBytes {
		return false, fmt.Errorf("larger than %d MiB", cmegateway.MaxResponseBytes>>20)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return false, err
	}
	rows, problems, err := societyFiles{}.ReadCredits(file, data)
	if err != nil {
		return false, err
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(e.stderr, fileLine(file, p))
		}
		return false, fmt.Errorf("nothing was imported")
	}
	out, err := cmex.ImportCreditRows(ctx, ss, s.ID, rows)
	if err != nil {
		return false, cliError(err)
	}
	n := map[string]int{}
	for i, o := range out {
		n[o.Outcome]++
		if o.Outcome == cmex.OutcomeRejected {
			r := rows[i].Credit
			fmt.Fprintf(e.stderr, "%s:%d: credit %d (member %s, %s %s): rejected: %s\n", file, rows[i].Line, rows[i].Position, dash(r.MemberID), r.CEU.Date, r.CEU.Title, o.Problem)
		}
	}
	fmt.Fprintf(e.stdout, "%s: %d credits: %d accepted, %d present, %d rejected\n", file, len(out),
		n[cmex.OutcomeAccepted], n[cmex.OutcomePresent], n[cmex.OutcomeRejected])
	return n[cmex.OutcomeRejected] > 0, nil
}

// fileLine writes a problem of file as FILE:LINE: column: problem, or
// FILE: problem for the file as a whole.
func fileLine(file string, p cmex.FileProblem) string {
	if p.Line == 0 {
		return file + ": " + p.Message
	}
	return file + ":" + strings.TrimPrefix(p.String(), "line ")
}

// importSocietyMembers imports a members CSV whole or not at all, and
// prints the passwords it generated, once.
func importSocietyMembers(ctx context.Context, e *env, ss *sqlstore.SocietyService, s *cmex.Society, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	rows, problems, err := batch.ReadMembers(f)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(problems) == 0 {
		ms := make([]cmex.NewMember, len(rows))
		for i, r := range rows {
			ms[i] = r.NewMember
		}
		out, err := ss.ImportMembers(ctx, s.ID, ms)
		if cmex.ErrorCode(err) == cmex.EINVALID && len(cmex.ErrorProblems(err)) > 0 {
			problems = cmex.MemberImportProblems(rows, err)
		} else if err != nil {
			return fmt.Errorf("%s: %w", file, cliError(err))
		} else {
			return printMemberImport(e, file, rows, out)
		}
	}
	for _, p := range problems {
		fmt.Fprintln(e.stderr, fileLine(file, p))
	}
	return fmt.Errorf("%s: %d problems; nothing was imported", file, len(problems))
}

func printMemberImport(e *env, file string, rows []cmex.MemberRow, out []cmex.MemberOutcome) error {
	n := map[string]int{}
	generated := false
	for _, o := range out {
		n[o.Outcome]++
		generated = generated || o.Password != ""
	}
	fmt.Fprintf(e.stdout, "%s: %d members: %d added, %d updated, %d unchanged\n", file, len(out), n[cmex.MemberAdded], n[cmex.MemberUpdated], n[cmex.MemberUnchanged])
	if !generated {
		return nil
	}
	fmt.Fprintln(e.stdout, "Passwords generated for the new members who came without one (shown once; cmex keeps only their hashes):")
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER ID\tUSERNAME\tPASSWORD")
	for i, o := range out {
		if o.Password != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", o.MemberID, rows[i].Member.Username, o.Password)
		}
	}
	return tw.Flush()
}
