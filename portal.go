package cmex

import (
	"context"
	"time"
)

// The portal's people: physicians sign in with their gateway account
// (Account); the staff of providers and societies, and cmex's own
// administrators, with a staff account. Both share one namespace of
// usernames, so that one sign-in form serves everyone.

// A PortalRole is what a portal user may see and do.
type PortalRole string

// The portal's roles.
const (
	// RolePhysician sees her own transcript and progress.
	RolePhysician PortalRole = "physician"
	// RoleProviderStaff sees one provider's activities, submissions and
	// deliveries.
	RoleProviderStaff PortalRole = "provider-staff"
	// RoleProviderAdmin is provider staff who may also retry deliveries
	// and manage the provider's staff.
	RoleProviderAdmin PortalRole = "provider-admin"
	// RoleSocietyAdmin sees one society's members and credits.
	RoleSocietyAdmin PortalRole = "society-admin"
	// RoleAdmin runs this cmex and sees everything.
	RoleAdmin PortalRole = "admin"
)

// StaffRoles are the roles a staff account may hold, in the order they
// are listed.
var StaffRoles = []PortalRole{RoleProviderStaff, RoleProviderAdmin, RoleSocietyAdmin, RoleAdmin}

// ParsePortalRole returns the staff role named s.
func ParsePortalRole(s string) (PortalRole, bool) {
	for _, r := range StaffRoles {
		if string(r) == s {
			return r, true
		}
	}
	return "", false
}

// IsProvider reports whether the role acts for a provider.
func (r PortalRole) IsProvider() bool { return r == RoleProviderStaff || r == RoleProviderAdmin }

// StaffID identifies a staff account.
type StaffID int64

// Staff is an account of a provider's or a society's staff, or of a cmex
// administrator. Provider roles name their provider (Organization), the
// society role its society; an administrator names neither.
type Staff struct {
	ID           StaffID        `json:"id"`
	Username     string         `json:"username"`
	Name         string         `json:"name"`
	Role         PortalRole     `json:"role"`
	Organization OrganizationID `json:"organizationId,omitempty"`
	Society      SocietyID      `json:"societyId,omitempty"`
	CreatedAt    time.Time      `json:"createdAt,omitzero"`
}

// PortalUser is who a portal session acts for: a physician (Account) or a
// member of staff (Staff), never both.
type PortalUser struct {
	Role    PortalRole
	Account *Account
	Staff   *Staff
}

// Name is how the portal addresses the user.
func (u *PortalUser) Name() string {
	if u.Account != nil {
		return u.Account.GivenName + " " + u.Account.FamilyName
	}
	return u.Staff.Name
}

// Username is the user's sign-in name.
func (u *PortalUser) Username() string {
	if u.Account != nil {
		return u.Account.Username
	}
	return u.Staff.Username
}

// A Session is a signed-in portal user. Its token is known only to the
// browser holding it; the store keeps a hash of it.
type Session struct {
	Token     string
	User      PortalUser
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PortalService keeps staff accounts and portal sessions.
type PortalService interface {
	// CreateStaff stores s with the hash of password and sets its ID and
	// CreatedAt. A username in use by a staff or a physician's account
	// (compared without regard to case) is ECONFLICT; a role without the
	// provider or society it needs, or with one it must not have, is
	// EINVALID.
	CreateStaff(ctx context.Context, s *Staff, password string) error
	// ListStaff returns every staff account, by username.
	ListStaff(ctx context.Context) ([]*Staff, error)
	// StaffByUsername returns a staff account, or ENOTFOUND.
	StaffByUsername(ctx context.Context, username string) (*Staff, error)
	// SetStaffPassword replaces a staff account's password and ends its
	// sessions, or is ENOTFOUND.
	SetStaffPassword(ctx context.Context, id StaffID, password string) error
	// Authenticate checks a login against staff accounts and physicians'
	// accounts; a wrong login is EUNAUTHORIZED, whichever part was wrong.
	Authenticate(ctx context.Context, username, password string) (*PortalUser, error)
	// SignIn authenticates a login and starts a session of ttl.
	SignIn(ctx context.Context, username, password string, ttl time.Duration) (*Session, error)
	// Session returns the live session of token, or EUNAUTHORIZED.
	Session(ctx context.Context, token string) (*Session, error)
	// SignOut ends the session of token; an unknown token is not an error.
	SignOut(ctx context.Context, token string) error

	// SaveVerification keeps the verification of a printed transcript.
	SaveVerification(ctx context.Context, v *TranscriptVerification) error
	// Verification returns the verification of code, or ENOTFOUND.
	Verification(ctx context.Context, code string) (*TranscriptVerification, error)
}
