package cmextest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cmexhub/cmex"
	"github.com/cmexhub/cmex/internal/sqlite"
	"github.com/cmexhub/cmex/internal/sqlstore"
)

// Store is a test's database with its services and clock.
type Store struct {
	DB            *sqlstore.DB
	Clock         *Clock
	Organizations *sqlstore.OrganizationService
	Users         *sqlstore.UserService
	Activities    *sqlstore.ActivityService
	Persons       *sqlstore.PersonService
	Learners      *sqlstore.LearnerService // matching against the registry
	Societies     *sqlstore.SocietyService
	Gateway       *sqlstore.GatewayService
	Plans         *sqlstore.PlanService
	Deliveries    *sqlstore.DeliveryService
	Portal        *sqlstore.PortalService
	Claims        *sqlstore.ClaimService
	Leases        *sqlstore.LeaseService
	XAPIProfiles  *sqlstore.XAPIProfiles
}

// SecretKey is the server key of the stores NewStore makes.
const SecretKey = "cmex-test-secret-key"

// Password is the password of the users NewStore creates.
const Password = "sandbox"

// NewStore returns a fresh SQLite store whose clock stands at now, with
// cheap password hashing, and the two sandbox providers with one user each:
// 1234567 "AAA Test Organization" (webserviceuser@yourdomain.org) and
// 7654321 "Second Sandbox Organization" (otheruser@example.org).
func NewStore(tb testing.TB, now time.Time) *Store {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "cmex.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	clock := NewClock(now)
	db.Now = clock.Now
	db.Hasher = &sqlstore.PasswordHasher{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}
	box, err := sqlstore.NewSecretBox(SecretKey)
	if err != nil {
		tb.Fatal(err)
	}
	db.Secrets = box
	s := &Store{
		DB: db, Clock: clock,
		Organizations: sqlstore.NewOrganizationService(db),
		Users:         sqlstore.NewUserService(db),
		Activities:    sqlstore.NewActivityService(db),
		Persons:       sqlstore.NewPersonService(db),
		Learners:      sqlstore.NewLearnerService(db, cmex.MatchRegistry),
		Societies:     sqlstore.NewSocietyService(db),
		Gateway:       sqlstore.NewGatewayService(db),
		Plans:         sqlstore.NewPlanService(db),
		Deliveries:    sqlstore.NewDeliveryService(db),
		Portal:        sqlstore.NewPortalService(db),
		Claims:        sqlstore.NewClaimService(db),
		Leases:        sqlstore.NewLeaseService(db),
	}
	s.XAPIProfiles = sqlstore.NewXAPIProfiles(db, s.Learners)
	for _, p := range []struct {
		id         cmex.ProviderID
		name, user string
	}{
		{ProviderA, "AAA Test Organization", "webserviceuser@yourdomain.org"},
		{ProviderB, "Second Sandbox Organization", "otheruser@example.org"},
	} {
		o := &cmex.Organization{Kind: cmex.OrgProvider, ProviderID: p.id, Name: p.name}
		if err := s.Organizations.CreateOrganization(context.Background(), o); err != nil {
			tb.Fatal(err)
		}
		if err := s.Users.CreateWebServiceUser(context.Background(), &cmex.WebServiceUser{OrganizationID: o.ID, Username: p.user}, Password); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// Count returns the number of rows of a table.
func Count(tb testing.TB, db *sqlstore.DB, table string) int {
	tb.Helper()
	var n int
	if err := db.SQL().QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// MOCActivity signs in as provider 1234567's web-service user and adds the
// fixture Activity (ABIM-registered, 2025) under providerActivityID.
func (s *Store) MOCActivity(tb testing.TB, providerActivityID string) (cmex.Principal, *cmex.Activity) {
	tb.Helper()
	ctx := context.Background()
	p, err := s.Users.Authenticate(ctx, ProviderA, "webserviceuser@yourdomain.org", Password)
	if err != nil {
		tb.Fatal(err)
	}
	a, _, err := s.Activities.SaveActivity(ctx, cmex.ActivityChange{Action: "Add", Activity: Activity(providerActivityID, 2025), By: *p})
	if err != nil {
		tb.Fatal(err, cmex.ErrorProblems(err))
	}
	return *p, a
}
