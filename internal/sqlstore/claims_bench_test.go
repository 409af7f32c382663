package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/cmextest"
)

// BenchmarkClaim times one claim of each kind on SQLite. The claims that
// wait (a wrong birth date, nobody, a name spelled otherwise, a person
// linked to another account) make the same queries and writes, so that
// their time does not tell them apart; the exact claim, which says it
// links, also writes the link.
//
//	go test ./internal/sqlstore -run XXX -bench BenchmarkClaim -benchtime 1000x -count 3
func BenchmarkClaim(b *testing.B) {
	for _, kind := range []string{"linked", "wrong-birth-date", "nobody", "spelled", "person-linked"} {
		b.Run(kind, func(b *testing.B) { benchClaim(b, kind) })
	}
}

func benchClaim(b *testing.B, kind string) {
	s := cmextest.NewStore(b, time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC))
	ctx := context.Background()
	n := b.N
	persons := make([]*cmex.Person, n)
	evidence := make([]cmex.ClaimEvidence, n)
	accounts := make([]cmex.AccountID, n)
	for i := range n {
		p := &cmex.Person{GivenName: "Claim", FamilyName: fmt.Sprintf("Person%d", i), BirthDate: cmex.MustParseDate("1970-01-01"), NPI: fmt.Sprintf("98%08d", i)}
		persons[i] = p
		e := cmex.ClaimEvidence{GivenName: p.GivenName, FamilyName: p.FamilyName, BirthDate: p.BirthDate, Kind: cmex.KindNPI, Identifier: p.NPI}
		switch kind {
		case "wrong-birth-date":
			e.BirthDate = cmex.MustParseDate("1970-01-02")
		case "nobody":
			e.Identifier, e.FamilyName = fmt.Sprintf("97%08d", i), "Nobody"
		case "spelled":
			e.FamilyName += "x"
		}
		evidence[i] = e
		a := &cmex.Account{Username: fmt.Sprintf("claimant%d", i), GivenName: "C", FamilyName: "P"}
		if err := s.Gateway.CreateAccount(ctx, a, "pw"); err != nil {
			b.Fatal(err)
		}
		accounts[i] = a.ID
	}
	if _, err := s.Persons.ImportPersons(ctx, persons); err != nil {
		b.Fatal(err)
	}
	want := cmex.ClaimPending
	switch kind {
	case "linked":
		want = cmex.ClaimLinked
	case "person-linked":
		for i := range n {
			other := &cmex.Account{Username: fmt.Sprintf("owner%d", i), GivenName: "O", FamilyName: "W"}
			if err := s.Gateway.CreateAccount(ctx, other, "pw"); err != nil {
				b.Fatal(err)
			}
			if c, err := s.Claims.ClaimPerson(ctx, other.ID, evidence[i]); err != nil || c.State != cmex.ClaimLinked {
				b.Fatal(c, err)
			}
		}
	}
	b.ResetTimer()
	for i := range n {
		c, err := s.Claims.ClaimPerson(ctx, accounts[i], evidence[i])
		if err != nil || c.State != want {
			b.Fatal(c, err)
		}
	}
}
