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

	m := cmegateway.ExampleMember()
	a, err := sandboxAccountWith(ctx, accounts, &cmex.Account{Username: sandboxAccount, GivenName: m.GivenName, FamilyName: m.FamilyName,
		Email: "ned.baker@example.org", Address: m.Address}, password, logger)
	if err != nil {
		return err
	}
	for _, b := range []cmex.Binding{
		{AccountID: a.ID, SocietyID: example.ID, MemberID: cmegateway.ExampleMemberID},
		{AccountID: a.ID, SocietyID: rad.ID, MemberID: sandboxRADMemberID},
	} {
		if err := sandboxBinding(ctx, accounts, b); err != nil {
			return err
		}
	}
	return nil
}

// sandboxAccountWith makes the gateway account a exist with password: it
// creates it, or re-keys it when the password differs, and returns it.
func sandboxAccountWith(ctx context.Context, accounts cmex.GatewayService, a *cmex.Account, password string, logger *slog.Logger) (*cmex.Account, error) {
	have, err := accounts.AccountByUsername(ctx, a.Username)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		if err := accounts.CreateAccount(ctx, a, password); err != nil {
			return nil, err
		}
		logger.Info("sandbox gateway account created", "account", a.Username)
		return a, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := accounts.AuthenticateAccount(ctx, a.Username, password); cmex.ErrorCode(err) == cmex.EUNAUTHORIZED {
		err = accounts.SetAccountPassword(ctx, have.ID, password)
		if err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return have, nil
}

// sandboxBinding makes the binding b exist, unless its member is bound
// already.
func sandboxBinding(ctx context.Context, accounts cmex.GatewayService, b cmex.Binding) error {
	_, err := accounts.BindingByMember(ctx, b.SocietyID, b.MemberID)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		return accounts.SaveBinding(ctx, &b)
	}
	return err
}
