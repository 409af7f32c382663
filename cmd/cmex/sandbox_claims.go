package main

import (
	"context"
	"log/slog"

	"github.com/cmexhub/cmex"
)

// sandboxProviderAdmin is the sandbox's provider admin of the seed's test
// provider, who invites learners (README.md lists it); cmex's operator,
// who decides claims, is sandboxOperator.
const sandboxProviderAdmin = "aaa.admin"

// loadSandboxClaims makes the provider admin exist with password; loading
// it again changes nothing, unless the password differs.
func loadSandboxClaims(ctx context.Context, orgs cmex.OrganizationService, portal cmex.PortalService, password string, logger *slog.Logger) error {
	org, err := orgs.FindOrganizationByProviderID(ctx, sandboxProviders[0].id)
	if err != nil {
		return err
	}
	return sandboxStaffWith(ctx, portal, &cmex.Staff{Username: sandboxProviderAdmin, Name: "AAA Admin", Role: cmex.RoleProviderAdmin, Organization: org.ID}, password, logger)
}

// sandboxStaffWith creates st with password unless its username exists,
// and re-keys it when its password differs.
func sandboxStaffWith(ctx context.Context, portal cmex.PortalService, st *cmex.Staff, password string, logger *slog.Logger) error {
	have, err := portal.StaffByUsername(ctx, st.Username)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		err = portal.CreateStaff(ctx, st, password)
		if cmex.ErrorCode(err) == cmex.ECONFLICT { // created meanwhile, by another fixture
			return nil
		}
		if err == nil {
			logger.Info("sandbox staff account created", "staff", st.Username, "role", st.Role)
		}
		return err
	}
	if err != nil {
		return err
	}
	if _, err := portal.Authenticate(ctx, st.Username, password); cmex.ErrorCode(err) == cmex.EUNAUTHORIZED {
		return portal.SetStaffPassword(ctx, have.ID, password)
	} else if err != nil {
		return err
	}
	return nil
}
