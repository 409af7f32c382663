-- Named leases: work that runs once in a cluster (the outbox's status
-- polling per destination, the overdue check, the sandbox's boards) is
-- done by the replica holding its lease until it expires or is released.

CREATE TABLE leases (
	name       TEXT PRIMARY KEY,
	holder     TEXT NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);
