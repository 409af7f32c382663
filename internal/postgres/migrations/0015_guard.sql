-- The login guard's state, shared by every cmex on this database: accounts'
-- failures in a row and locks, addresses' allowances of failures and of
-- actions (sign-ups, transcript verifications), and the addresses accounts
-- signed in from. Keys are digests (no usernames are kept); what the
-- columns mean is the guard's (cmex.GuardRecord). A row past expires_at
-- counts as none and is deleted now and then.

CREATE TABLE login_guard (
	guard_key    TEXT PRIMARY KEY,
	failures     INTEGER NOT NULL,
	tokens       DOUBLE PRECISION NOT NULL,
	counted_at   TIMESTAMPTZ NOT NULL,
	locked_until TIMESTAMPTZ NOT NULL,
	expires_at   TIMESTAMPTZ NOT NULL,
	updated_at   TIMESTAMPTZ NOT NULL,
	version      BIGINT NOT NULL
);

CREATE INDEX login_guard_updated ON login_guard (updated_at);
CREATE INDEX login_guard_expiry ON login_guard (expires_at);
