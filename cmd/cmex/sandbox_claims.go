package main

import (
	"context"
	"log/slog"

	"github.com/cmexhub/cmex"
)

// The sandbox's staff accounts of claims and invitations, which README.md
// lists: a provider admin of the seed's test provider, who invites
// learners, and cmex's operator, who decides claims. The operator console
// uses cmex.admin too: whichever fixture runs first creates it, and the
// other finds it.
const (
	sandboxProviderAdmin = "aaa.admin"
	sandboxOperator      = "cmex.admin"
)

// loadSandboxClaims makes the accounts exist with password; loading them
// again changes nothing, unless the password differs.
func loadSandboxClaims(ctx context.Context, orgs cmex.OrganizationService, portal cmex.PortalService, password string, logger *slog.Logger) error {
	org, err := orgs.FindOrganizationByProviderID(ctx, sandboxProviders[0].id)
	if err != nil {
		return err
	}
	for _, st := range []*cmex.Staff{
		{Username: sandboxProviderAdmin, Name: "AAA Admin", Role: cmex.RoleProviderAdmin, Organization: org.ID},
		{Username: sandboxOperator, Name: "cmex Operator", Role: cmex.RoleAdmin},
	} {
		if err := sandboxStaffWith(ctx, portal, st, password, logger); err != nil {
			return err
		}
	}
	return nil
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
