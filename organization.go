package cmex

import (
	"context"
	"time"
)

// OrganizationKind says what role an organization plays in the exchange.
type OrganizationKind string

const (
	// OrgProvider is an accredited CME provider that reports activities and
	// completions under an ACCME provider id.
	OrgProvider OrganizationKind = "provider"
	// OrgOperator is whoever runs this cmex: its API keys manage what the
	// whole exchange knows, such as the societies of the CME Gateway.
	OrgOperator OrganizationKind = "operator"
)

// Organization is a party that holds records in cmex.
type Organization struct {
	ID         OrganizationID
	Kind       OrganizationKind
	ProviderID ProviderID // ACCME provider id, for providers
	Name       string
	CreatedAt  time.Time
}

// WebServiceUser is an account a system (an LMS, say) uses to call cmex on
// behalf of its organization, as a PARS web-service user does. Its password
// is kept only as a hash.
type WebServiceUser struct {
	ID             UserID
	OrganizationID OrganizationID
	Username       string
	CreatedAt      time.Time
	// PasswordChangedAt is when its password was last set; Disabled
	// whether it is refused on every surface (DisabledAt since when).
	PasswordChangedAt time.Time
	Disabled          bool
	DisabledAt        time.Time
}

// Principal is who a request acts as once its credentials are checked.
// Everything a principal reads or changes is limited to its organization.
type Principal struct {
	User         WebServiceUser
	Organization Organization
}

// MaxPasswordBytes bounds the passwords cmex hashes, so a huge password
// cannot be used to make hashing expensive.
const MaxPasswordBytes = 1024

// OrganizationService keeps the organizations.
type OrganizationService interface {
	// CreateOrganization stores o and sets its ID and CreatedAt. A provider
	// id already in use is ECONFLICT.
	CreateOrganization(ctx context.Context, o *Organization) error
	// FindOrganizationByProviderID returns the provider with id, or ENOTFOUND.
	FindOrganizationByProviderID(ctx context.Context, id ProviderID) (*Organization, error)
	// ListOrganizations returns every organization, by provider id.
	ListOrganizations(ctx context.Context) ([]*Organization, error)
}

// UserService keeps web-service users and checks their credentials.
type UserService interface {
	// CreateWebServiceUser stores u with the hash of password and sets its
	// ID and CreatedAt. A username already used in the organization
	// (compared without regard to case) is ECONFLICT.
	CreateWebServiceUser(ctx context.Context, u *WebServiceUser, password string) error
	// SetWebServiceUserPassword replaces the password of a user, or ENOTFOUND.
	SetWebServiceUserPassword(ctx context.Context, org OrganizationID, username, password string) error
	// ListWebServiceUsers returns the users of an organization, by name,
	// disabled ones too.
	ListWebServiceUsers(ctx context.Context, org OrganizationID) ([]*WebServiceUser, error)
	// SetWebServiceUserDisabled disables a user (refused on every surface
	// from then on, as a wrong password is) or enables it again, or is
	// ENOTFOUND. Setting the state it has changes nothing and is no error.
	SetWebServiceUserDisabled(ctx context.Context, org OrganizationID, username string, disabled bool) error
	// Authenticate checks a provider id, username and password and returns
	// the principal, or EUNAUTHORIZED without saying which part was wrong.
	// A disabled user is EUNAUTHORIZED as a wrong password is.
	// With provider "", the user of any organization may be meant (PARS's
	// learner match carries no provider id); the first whose password
	// matches is the principal.
	Authenticate(ctx context.Context, provider ProviderID, username, password string) (*Principal, error)
}

// APIKey is a key a provider's system uses on the JSON API instead of a
// web-service user's password. Only a hash of its secret is kept; the
// token is shown once, when the key is made.
type APIKey struct {
	ID             int64
	OrganizationID OrganizationID
	Name           string
	Prefix         string // the public part of the token, to tell keys apart
	CreatedAt      time.Time
	// Disabled keys are refused until enabled again (DisabledAt since when).
	Disabled   bool
	DisabledAt time.Time
}

// APIKeyService keeps API keys.
type APIKeyService interface {
	// CreateAPIKey makes a key named name for an organization and returns
	// it with its token, which is not kept and cannot be shown again. A
	// name already used in the organization is ECONFLICT.
	CreateAPIKey(ctx context.Context, org OrganizationID, name string) (*APIKey, string, error)
	// ListAPIKeys returns an organization's keys, by name.
	ListAPIKeys(ctx context.Context, org OrganizationID) ([]*APIKey, error)
	// RevokeAPIKey removes a key, or ENOTFOUND.
	RevokeAPIKey(ctx context.Context, org OrganizationID, name string) error
	// RotateAPIKey gives a key a new token, returned once as at its
	// creation; the old token is refused from then on. ENOTFOUND when
	// the organization has no key of that name.
	RotateAPIKey(ctx context.Context, org OrganizationID, name string) (*APIKey, string, error)
	// SetAPIKeyDisabled disables a key or enables it again, or is
	// ENOTFOUND. Setting the state it has changes nothing and is no error.
	SetAPIKeyDisabled(ctx context.Context, org OrganizationID, name string, disabled bool) error
	// AuthenticateAPIKey returns the principal of a token, or EUNAUTHORIZED
	// (a disabled key's too).
	AuthenticateAPIKey(ctx context.Context, token string) (*Principal, error)
}
