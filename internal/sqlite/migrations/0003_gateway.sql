-- The CME Gateway: societies (local and remote), the members and own
-- credits of local societies, physicians' gateway accounts with their
-- bindings and self-attested credits, and the cache of societies' answers.

CREATE TABLE societies (
	id                 INTEGER PRIMARY KEY,
	code               TEXT NOT NULL UNIQUE,
	name               TEXT NOT NULL,
	kind               TEXT NOT NULL,
	binding_url        TEXT NOT NULL,
	order_url          TEXT NOT NULL,
	feed_username      TEXT,
	feed_username_key  TEXT UNIQUE,
	feed_password_hash TEXT,
	created_at         TIMESTAMP NOT NULL
);

-- A provider society lets a puller see its members' credits through the
-- credit feed.
CREATE TABLE society_approvals (
	provider_id INTEGER NOT NULL REFERENCES societies (id),
	puller_id   INTEGER NOT NULL REFERENCES societies (id),
	approved_at TIMESTAMP NOT NULL,
	PRIMARY KEY (provider_id, puller_id)
);

CREATE TABLE society_members (
	id            INTEGER PRIMARY KEY,
	society_id    INTEGER NOT NULL REFERENCES societies (id),
	member_id     TEXT NOT NULL,
	username      TEXT NOT NULL,
	username_key  TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	given_name    TEXT NOT NULL,
	family_name   TEXT NOT NULL,
	address       TEXT NOT NULL,
	person_id     INTEGER REFERENCES persons (id),
	created_at    TIMESTAMP NOT NULL,
	UNIQUE (society_id, member_id),
	UNIQUE (society_id, username_key)
);

-- Credits a local society holds for its members. A credit is recorded once
-- (content_key is the hash of its content) and never changes.
CREATE TABLE society_credits (
	id          INTEGER PRIMARY KEY,
	member_ref  INTEGER NOT NULL REFERENCES society_members (id),
	content_key TEXT NOT NULL,
	credit_date TEXT NOT NULL,
	document    TEXT NOT NULL,
	recorded_at TIMESTAMP NOT NULL,
	UNIQUE (member_ref, content_key)
);
CREATE TRIGGER society_credits_append_only_update BEFORE UPDATE ON society_credits
BEGIN
	SELECT RAISE(ABORT, 'society_credits is append-only');
END;
CREATE TRIGGER society_credits_append_only_delete BEFORE DELETE ON society_credits
BEGIN
	SELECT RAISE(ABORT, 'society_credits is append-only');
END;

CREATE TABLE gateway_accounts (
	id            INTEGER PRIMARY KEY,
	username      TEXT NOT NULL,
	username_key  TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	given_name    TEXT NOT NULL,
	family_name   TEXT NOT NULL,
	email         TEXT NOT NULL,
	address       TEXT NOT NULL,
	created_at    TIMESTAMP NOT NULL
);

-- The member id a society returned on customer_binding; the society
-- password is never stored.
CREATE TABLE gateway_bindings (
	account_id INTEGER NOT NULL REFERENCES gateway_accounts (id),
	society_id INTEGER NOT NULL REFERENCES societies (id),
	member_id  TEXT NOT NULL,
	bound_at   TIMESTAMP NOT NULL,
	PRIMARY KEY (account_id, society_id),
	UNIQUE (society_id, member_id)
);

CREATE TABLE self_credits (
	id          INTEGER PRIMARY KEY,
	account_id  INTEGER NOT NULL REFERENCES gateway_accounts (id),
	credit_date TEXT NOT NULL,
	document    TEXT NOT NULL,
	created_at  TIMESTAMP NOT NULL
);
CREATE INDEX self_credits_account ON self_credits (account_id, credit_date);

-- The last ceu_order each society answered for a member: served while
-- fresh, and marked stale when the society fails.
CREATE TABLE gateway_orders (
	society_id INTEGER NOT NULL REFERENCES societies (id),
	member_id  TEXT NOT NULL,
	document   TEXT NOT NULL,
	fetched_at TIMESTAMP NOT NULL,
	PRIMARY KEY (society_id, member_id)
);
