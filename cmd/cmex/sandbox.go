package main

import (
	"context"
	"log/slog"

	"github.com/cmexhub/cmex"
)

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
