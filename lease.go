package cmex

import (
	"context"
	"time"
)

// LeaseService hands out named leases kept in the database, so that work
// that must run once in a cluster, not once per replica (polling a
// destination for its records' statuses, flagging overdue deliveries, the
// sandbox's simulated boards), runs on one replica at a time. A lease ends
// when its holder releases it or when it expires: a replica that is killed
// holds nothing for longer than the lease it last took.
//
// Expiry is judged by the callers' clocks, as the outbox's delivery leases
// are: replicas' clocks must agree to well within the shortest lease.
type LeaseService interface {
	// TryAcquire gives holder the lease name until now+ttl when it is free
	// (never taken, released, or expired) or holder's already (it is then
	// extended), and reports whether holder holds it.
	TryAcquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	// Renew extends holder's lease name to now+ttl, and reports false,
	// changing nothing, when holder does not hold it (another took it
	// after it expired, or it was released).
	Renew(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	// Release ends holder's lease name at once, so that another may take
	// it; a lease holder does not hold is left as it is.
	Release(ctx context.Context, name, holder string) error
}
