-- The portal: staff accounts (providers', societies', administrators') and
-- sessions. Physicians sign in with their gateway account. A session is
-- kept by the hash of its token: the token itself is only in the browser.

CREATE TABLE staff_accounts (
	id              INTEGER PRIMARY KEY,
	username        TEXT NOT NULL,
	username_key    TEXT NOT NULL UNIQUE,
	name            TEXT NOT NULL,
	role            TEXT NOT NULL,
	organization_id INTEGER REFERENCES organizations (id),
	society_id      INTEGER REFERENCES societies (id),
	password_hash   TEXT NOT NULL,
	created_at      TIMESTAMP NOT NULL
);

CREATE TABLE portal_sessions (
	token_hash TEXT PRIMARY KEY,
	account_id INTEGER REFERENCES gateway_accounts (id),
	staff_id   INTEGER REFERENCES staff_accounts (id),
	created_at TIMESTAMP NOT NULL,
	expires_at TIMESTAMP NOT NULL,
	CHECK ((account_id IS NULL) <> (staff_id IS NULL))
);
CREATE INDEX portal_sessions_expires ON portal_sessions (expires_at);
