package main

import (
	"context"
	"log/slog"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmegateway"
)

// The sandbox's CME Gateway, which README.md lists: the seed's society
// EXAMPLE with Ned Baker, a second local society RAD that lets EXAMPLE pull
// its credits through the credit feed, and a gateway account for Ned bound
// to both.
const (
	sandboxFeedUser    = "example-admin"
	sandboxAccount     = "ned.baker"
	sandboxRAD         = "RAD"
	sandboxRADMemberID = "R-0001"
)

// sandboxRADCredit is RAD's one credit for Ned: sandbox data, not the seed's.
var sandboxRADCredit = cmex.CEU{
	Sponsor: "Sandbox Radiology Society", ShortName: "Chest CT 2026", Title: "Chest CT: Interstitial Lung Disease Update",
	Location: "Richmond, VA", Date: cmex.MustParseDate("2026-03-14"), ActivityType: "Group Learning",
	Details: []cmex.CEUDetail{
		{Type: cmex.DetailCME, Focus: []string{"Chest Radiology"}, Credits: 650, Category: cmex.CategoryAMA1},
		{Type: cmex.DetailMOC, Focus: []string{"Medical Knowledge"}, Credits: 650, Category: cmex.CategoryAMA1},
	},
}

// loadSandboxGateway makes the sandbox's gateway fixtures exist, with
// password for the feed login and Ned's gateway account. Loading them
// again changes nothing, unless the password differs.
func loadSandboxGateway(ctx context.Context, societies cmex.SocietyService, accounts cmex.GatewayService, password string, logger *slog.Logger) error {
	example, created, err := cmegateway.LoadExample(ctx, societies)
	if err != nil {
		return err
	}
	if created {
		logger.Info("sandbox society created", "society", example.Code)
	}
	if _, err := societies.AuthenticateFeed(ctx, sandboxFeedUser, password); cmex.ErrorCode(err) == cmex.EUNAUTHORIZED {
		if err := societies.SetFeedLogin(ctx, example.ID, sandboxFeedUser, password); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}

	rad, err := societies.SocietyByCode(ctx, sandboxRAD)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		rad = &cmex.Society{Code: sandboxRAD, Name: "Sandbox Radiology Society", Kind: cmex.SocietyLocal}
		if err = societies.CreateSociety(ctx, rad); err == nil {
			logger.Info("sandbox society created", "society", rad.Code)
		}
	}
	if err != nil {
		return err
	}
	if _, err := societies.Member(ctx, rad.ID, sandboxRADMemberID); cmex.ErrorCode(err) == cmex.ENOTFOUND {
		m := cmegateway.ExampleMember()
		m.SocietyID, m.MemberID = rad.ID, sandboxRADMemberID
		if err := societies.AddMember(ctx, &m, cmegateway.ExamplePassword); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if _, err := societies.AddSocietyCredits(ctx, rad.ID, sandboxRADMemberID, []cmex.CEU{sandboxRADCredit}); err != nil {
		return err
	}
	if err := societies.Approve(ctx, rad.ID, example.ID); err != nil {
		return err
	}

	a, err := accounts.AccountByUsername(ctx, sandboxAccount)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		m := cmegateway.ExampleMember()
		a = &cmex.Account{Username: sandboxAccount, GivenName: m.GivenName, FamilyName: m.FamilyName, Email: "ned.baker@example.org", Address: m.Address}
		if err = accounts.CreateAccount(ctx, a, password); err == nil {
			logger.Info("sandbox gateway account created", "account", a.Username)
		}
	} else if err == nil {
		if _, aerr := accounts.AuthenticateAccount(ctx, sandboxAccount, password); cmex.ErrorCode(aerr) == cmex.EUNAUTHORIZED {
			err = accounts.SetAccountPassword(ctx, a.ID, password)
		}
	}
	if err != nil {
		return err
	}
	for _, b := range []cmex.Binding{
		{AccountID: a.ID, SocietyID: example.ID, MemberID: cmegateway.ExampleMemberID},
		{AccountID: a.ID, SocietyID: rad.ID, MemberID: sandboxRADMemberID},
	} {
		if _, err := accounts.BindingByMember(ctx, b.SocietyID, b.MemberID); cmex.ErrorCode(err) == cmex.ENOTFOUND {
			if err := accounts.SaveBinding(ctx, &b); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
	}
	return nil
}
