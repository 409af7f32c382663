package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/planfile"
)

// The operator's console: what cmd wires into it, and the sandbox's
// operator account.

// sandboxOperator is the sandbox's cmex admin, whom README.md lists.
const sandboxOperator = "cmex.admin"

// readPlanFile reads a plan file for the portal, which may not import
// planfile (adapters talk through the domain): its plans, or its
// problems with their lines.
func readPlanFile(r io.Reader) (*cmex.Plans, []cmex.PlanProblem, error) {
	p, err := planfile.Read(r)
	if pe, ok := errors.AsType[*planfile.Error](err); ok {
		return nil, pe.Problems, nil
	}
	return p, nil, err
}

// loadSandboxOperator makes the sandbox's operator account exist with
// password, if no account of its name does (another fixture may make the
// same one); a later start with another password re-keys it.
func loadSandboxOperator(ctx context.Context, portal cmex.PortalService, password string, logger *slog.Logger) error {
	st, err := portal.StaffByUsername(ctx, sandboxOperator)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		st = &cmex.Staff{Username: sandboxOperator, Name: "Casey Operator", Role: cmex.RoleAdmin}
		err = portal.CreateStaff(ctx, st, password)
		if cmex.ErrorCode(err) == cmex.ECONFLICT {
			return nil // made meanwhile, or a physician's account of that name
		}
		if err == nil {
			logger.Info("sandbox operator account created", "staff", st.Username)
		}
		return err
	}
	if err != nil {
		return err
	}
	if _, err := portal.Authenticate(ctx, sandboxOperator, password); cmex.ErrorCode(err) == cmex.EUNAUTHORIZED {
		return portal.SetStaffPassword(ctx, st.ID, password)
	} else if err != nil {
		return err
	}
	return nil
}
