package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmegateway"
)

// The sandbox's portal accounts, which README.md lists: Jane ACCME, the
// seed's test learner, as a physician whose account reaches her registry
// record (through her membership of EXAMPLE), and a staff account of the
// seed's test provider.
const (
	sandboxJaneAccount  = "jane.accme"
	sandboxJaneMember   = "J-0001"
	sandboxJaneUsername = "JaneACCME" // her EXAMPLE login
	sandboxStaff        = "aaa.staff"
)

// loadSandboxPortal makes the sandbox's portal accounts exist with
// password; loading them again changes nothing, unless the password
// differs. It runs after the other fixtures, whose society, provider and
// registry it uses.
func loadSandboxPortal(ctx context.Context, societies cmex.SocietyService, accounts cmex.GatewayService, plans cmex.PlanService,
	orgs cmex.OrganizationService, portal cmex.PortalService, password string, logger *slog.Logger) error {
	ids, err := plans.PersonsByIdentifier(ctx, "999902")
	if err != nil {
		return err
	}
	if len(ids) != 1 {
		return fmt.Errorf("Jane ACCME (ABIM 999902) is not in the sandbox registry")
	}
	example, err := societies.SocietyByCode(ctx, cmegateway.ExampleCode)
	if err != nil {
		return err
	}
	if _, err := societies.Member(ctx, example.ID, sandboxJaneMember); cmex.ErrorCode(err) == cmex.ENOTFOUND {
		m := &cmex.Member{SocietyID: example.ID, MemberID: sandboxJaneMember, Username: sandboxJaneUsername, GivenName: "Jane", FamilyName: "ACCME", PersonID: ids[0]}
		if err := societies.AddMember(ctx, m, password); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	a, err := sandboxAccountWith(ctx, accounts, &cmex.Account{Username: sandboxJaneAccount, GivenName: "Jane", FamilyName: "ACCME",
		Email: "jane.accme@example.org"}, password, logger)
	if err != nil {
		return err
	}
	if err := sandboxBinding(ctx, accounts, cmex.Binding{AccountID: a.ID, SocietyID: example.ID, MemberID: sandboxJaneMember}); err != nil {
		return err
	}

	st, err := portal.StaffByUsername(ctx, sandboxStaff)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		org, err := orgs.FindOrganizationByProviderID(ctx, sandboxProviders[0].id)
		if err != nil {
			return err
		}
		st = &cmex.Staff{Username: sandboxStaff, Name: "AAA Staff", Role: cmex.RoleProviderStaff, Organization: org.ID}
		if err := portal.CreateStaff(ctx, st, password); err != nil {
			return err
		}
		logger.Info("sandbox staff account created", "staff", st.Username)
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := portal.Authenticate(ctx, sandboxStaff, password); cmex.ErrorCode(err) == cmex.EUNAUTHORIZED {
		return portal.SetStaffPassword(ctx, st.ID, password)
	} else if err != nil {
		return err
	}
	return nil
}
