package cmegateway

import (
	"context"

	"github.com/cmexhub/cmex"
)

// The seed's example society and member (seed 001), which the sandbox
// serves and the tests use. Where the seed's sample XML and its transcript
// table disagree, the table wins (PET 13.25 credits, Hilton Head Island, SC;
// specs/cme-gateway.md 3.3).
const (
	ExampleCode     = "EXAMPLE"
	ExampleName     = "Example Society"
	ExampleUsername = "NedBaker"
	ExamplePassword = "mYpAsSwOrD"
	ExampleMemberID = "01234567"
)

// ExampleMember is Ned Baker of the seed.
func ExampleMember() cmex.Member {
	return cmex.Member{
		MemberID: ExampleMemberID, Username: ExampleUsername, GivenName: "Ned", FamilyName: "Baker",
		Address: cmex.Address{Street: "42 Xyzzy Drive", City: "Fred", State: "VA", Zip: "22222", Country: "US"},
	}
}

// ExampleCredits are Ned Baker's two activities in the seed: 30.25 Category 1
// credits in all, 16.25 of them in subspecialties.
func ExampleCredits() []cmex.CEU {
	return []cmex.CEU{
		{
			Sponsor: ExampleName, ShortName: "Pneumo Symposium 2001", Title: "Symposium on Radiology of the Pneumoconioses",
			Location: "McLean, VA", Date: cmex.MustParseDate("2001-10-21"), ActivityType: "Group Learning",
			Details: []cmex.CEUDetail{
				{Type: cmex.DetailMOC, Focus: []string{"Patient Care", "Professionalism"}, Credits: 1700, Category: cmex.CategoryAMA1},
			},
		},
		{
			Sponsor: ExampleName, ShortName: "Pet Imaging 2003", Title: "PET Imaging Conference -- June 2003",
			Location: "Hilton Head Island, SC", Date: cmex.MustParseDate("2003-06-15"), ActivityType: "Self-Assessment",
			Details: []cmex.CEUDetail{
				{Type: cmex.DetailCME, Focus: []string{"Mammography"}, Credits: 300, Category: cmex.CategoryAMA1},
				{Type: cmex.DetailCME, Focus: []string{"PET"}, Credits: 1325, Category: cmex.CategoryAMA1},
				{Type: cmex.DetailMOC, Focus: []string{"Medical Knowledge", "Systems-based Practice"}, Credits: 1325, Category: cmex.CategoryAMA1},
			},
		},
	}
}

// LoadExample makes the example society, its member and her credits exist
// in societies, and returns the society. Loading it again changes nothing.
func LoadExample(ctx context.Context, societies cmex.SocietyService) (s *cmex.Society, created bool, err error) {
	s, err = societies.SocietyByCode(ctx, ExampleCode)
	if cmex.ErrorCode(err) == cmex.ENOTFOUND {
		s = &cmex.Society{Code: ExampleCode, Name: ExampleName, Kind: cmex.SocietyLocal}
		err = societies.CreateSociety(ctx, s)
		created = true
	}
	if err != nil {
		return nil, false, err
	}
	if _, err := societies.Member(ctx, s.ID, ExampleMemberID); cmex.ErrorCode(err) == cmex.ENOTFOUND {
		m := ExampleMember()
		m.SocietyID = s.ID
		if err := societies.AddMember(ctx, &m, ExamplePassword); err != nil {
			return nil, false, err
		}
	} else if err != nil {
		return nil, false, err
	}
	if _, err := societies.AddSocietyCredits(ctx, s.ID, ExampleMemberID, ExampleCredits()); err != nil {
		return nil, false, err
	}
	return s, created, nil
}
