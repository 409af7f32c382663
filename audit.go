package cmex

import (
	"context"
	"time"
)

// AuditEntry is one change as the audit log keeps it: who made it, when,
// from where, and what it was. Entries are only ever appended.
type AuditEntry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`   // "pars:1234567/user", "api-key:1234567/lms", "portal:jane", "cli:root", "outbox", …
	Address string    `json:"address"` // the client's address; "" for the command line and background work
	Action  string    `json:"action"`  // "activity.add", "learner-record.delete", "destination.add", "plans.load", …
	Subject string    `json:"subject"` // what was changed: an id, a CreditID, a username
	Detail  string    `json:"detail,omitempty"`
}

// AuditFilter picks audit entries; zero fields do not filter.
type AuditFilter struct {
	Since, Until time.Time
	Actor        string // exact
	Action       string // exact, or a prefix ending in "." ("activity.")
	Subject      string // exact
	AfterID      int64  // entries with a larger id, for paging
	BeforeID     int64  // entries with a smaller id, for paging back (0: none)
	Newest       bool   // newest first, rather than oldest first
	Limit        int    // at most; DefaultAuditLimit if 0
}

// DefaultAuditLimit is how many entries an audit query returns unless told.
const DefaultAuditLimit = 100

// AuditService reads the audit log. Writing is not part of it: the store
// appends an entry in the same transaction as each change it makes, and
// nothing edits or deletes one.
type AuditService interface {
	// AuditLog returns entries matching f, oldest first (newest first
	// with f.Newest).
	AuditLog(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
}

type actorKey struct{}

// WithActor returns ctx carrying who acts, for the audit log.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Actor is who ctx says acts, or "".
func Actor(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// PrincipalActor names a web-service user, or an API key's organization,
// as the audit log writes it.
func PrincipalActor(p Principal) string {
	if p.User.Username == "" {
		return "provider:" + string(p.Organization.ProviderID)
	}
	return "user:" + string(p.Organization.ProviderID) + "/" + p.User.Username
}
