-- The login guard's state, shared by every cmex on this database: accounts'
-- failures in a row and locks, addresses' allowances of failures and of
-- actions (sign-ups, transcript verifications), and the addresses accounts
-- signed in from. Keys are digests (no usernames are kept); what the
-- columns mean is the guard's (cmex.GuardRecord). A row past expires_at
-- counts as none and is deleted now and then.

CREATE TABLE login_guard (
	guard_key    TEXT PRIMARY KEY,
	failures     INTEGER NOT NULL,
	tokens       REAL NOT NULL,
	counted_at   TIMESTAMP NOT NULL,
	locked_until TIMESTAMP NOT NULL,
	expires_at   TIMESTAMP NOT NULL,
	updated_at   TIMESTAMP NOT NULL,
	version      INTEGER NOT NULL
);

CREATE INDEX login_guard_updated ON login_guard (updated_at);
CREATE INDEX login_guard_expiry ON login_guard (expires_at);
