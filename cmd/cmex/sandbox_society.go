package main

import (
	"context"
	"log/slog"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmegateway"
)

// The sandbox's society admins, which README.md lists: example.admin for
// EXAMPLE and rad.admin for RAD, the second there to show that one
// society's admin cannot see or change another's members, credits or
// feed login.
var sandboxSocietyAdmins = []struct{ username, name, society string }{
	{"example.admin", "Example Admin", cmegateway.ExampleCode},
	{"rad.admin", "RAD Admin", sandboxRAD},
}

// loadSandboxSocietyAdmins makes the sandbox's society admins exist with
// password; loading them again changes nothing, unless the password
// differs. It runs after the gateway's fixtures, whose societies it uses.
func loadSandboxSocietyAdmins(ctx context.Context, societies cmex.SocietyService, portal cmex.PortalService, password string, logger *slog.Logger) error {
	for _, a := range sandboxSocietyAdmins {
		st, err := portal.StaffByUsername(ctx, a.username)
		if cmex.ErrorCode(err) == cmex.ENOTFOUND {
			so, err := societies.SocietyByCode(ctx, a.society)
			if err != nil {
				return err
			}
			st = &cmex.Staff{Username: a.username, Name: a.name, Role: cmex.RoleSocietyAdmin, Society: so.ID}
			if err := portal.CreateStaff(ctx, st, password); err != nil {
				return err
			}
			logger.Info("sandbox society admin created", "staff", st.Username, "society", a.society)
			continue
		}
		if err != nil {
			return err
		}
		if _, err := portal.Authenticate(ctx, a.username, password); cmex.ErrorCode(err) == cmex.EUNAUTHORIZED {
			if err := portal.SetStaffPassword(ctx, st.ID, password); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	return nil
}
