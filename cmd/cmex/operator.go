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
// password, if no account of its name does; a later start with another
// password re-keys it.
func loadSandboxOperator(ctx context.Context, portal cmex.PortalService, password string, logger *slog.Logger) error {
	return sandboxStaffWith(ctx, portal, &cmex.Staff{Username: sandboxOperator, Name: "Casey Operator", Role: cmex.RoleAdmin}, password, logger)
}
