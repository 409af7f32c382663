package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"log/slog"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/batch"
)

// sandboxLearners is the sandbox's learner registry: the seed's Jane ACCME
// and Helen Markman, Riley Rejected (whom the simulated ABIM rejects), one
// diplomate of every participating board, one licensee of every US state
// and territory, and one Ontario physician with an OCI ID. README.md
// documents them.
//
//go:embed sandbox-learners.csv
var sandboxLearners []byte

// sandboxRejections are the learners the simulated boards reject, by board
// and diplomate id, with the board's code and reason.
var sandboxRejections = map[cmex.BoardID][2]string{
	{Board: "ABIM", ID: "999990"}: {"661", "Diplomate ID not found in Board records."},
}

// sandboxReject is the simulated boards' decision.
func sandboxReject(r *cmex.LearnerRecord) (code, reason string, reject bool) {
	id, ok := r.Learner.Value(r.Board)
	if !ok {
		return "", "", false
	}
	why, reject := sandboxRejections[cmex.BoardID{Board: r.Board, ID: cmex.IDKey(id)}]
	return why[0], why[1], reject
}

// loadSandboxLearners imports the sandbox's learner registry; importing it
// again changes nothing.
func loadSandboxLearners(ctx context.Context, persons cmex.PersonService, logger *slog.Logger) error {
	ps, problems, err := batch.ReadPersons(bytes.NewReader(sandboxLearners))
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("sandbox-learners.csv: %v", problems[0])
	}
	res, err := persons.ImportPersons(ctx, batch.Persons(ps))
	if err != nil {
		return fmt.Errorf("sandbox learners: %w %v", err, cmex.ErrorProblems(err))
	}
	if res.Created > 0 || res.Updated > 0 {
		logger.Info("sandbox learners loaded", "created", res.Created, "updated", res.Updated)
	}
	return nil
}

// sandboxProviders are the fixtures an LMS developer needs to try the PARS
// services: the seed's test provider and user, and a second provider to
// check that one provider cannot see another's records. README.md lists them.
var sandboxProviders = []struct {
	id   cmex.ProviderID
	name string
	user string
}{
	{"1234567", "AAA Test Organization", "webserviceuser@yourdomain.org"},
	{"7654321", "Second Sandbox Organization", "otheruser@example.org"},
}

// loadSandbox makes the sandbox fixtures exist with the given password.
// Running it again changes nothing, unless the password differs.
func loadSandbox(ctx context.Context, orgs cmex.OrganizationService, users cmex.UserService, password string, logger *slog.Logger) error {
	for _, f := range sandboxProviders {
		o, err := orgs.FindOrganizationByProviderID(ctx, f.id)
		if cmex.ErrorCode(err) == cmex.ENOTFOUND {
			o = &cmex.Organization{Kind: cmex.OrgProvider, ProviderID: f.id, Name: f.name}
			err = orgs.CreateOrganization(ctx, o)
			if err == nil {
				logger.Info("sandbox provider created", "provider", f.id, "name", f.name)
			}
		}
		if err != nil {
			return err
		}
		if _, err := users.Authenticate(ctx, f.id, f.user, password); err == nil {
			continue
		} else if cmex.ErrorCode(err) != cmex.EUNAUTHORIZED {
			return err
		}
		err = users.CreateWebServiceUser(ctx, &cmex.WebServiceUser{OrganizationID: o.ID, Username: f.user}, password)
		if cmex.ErrorCode(err) == cmex.ECONFLICT {
			err = users.SetWebServiceUserPassword(ctx, o.ID, f.user, password)
		}
		if err != nil {
			return err
		}
		logger.Info("sandbox user ready", "provider", f.id, "user", f.user)
	}
	return nil
}
