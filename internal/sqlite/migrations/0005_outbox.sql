-- Destinations of forwarding, and the outbox of deliveries to them.

CREATE TABLE destinations (
	id              INTEGER PRIMARY KEY,
	organization_id INTEGER NOT NULL REFERENCES organizations (id),
	name            TEXT NOT NULL,
	name_key        TEXT NOT NULL,
	kind            TEXT NOT NULL,
	secrets         TEXT NOT NULL, -- AES-256-GCM under the server key, or ''
	document        TEXT NOT NULL, -- URL, settings, routing, limits
	created_at      TIMESTAMP NOT NULL,
	UNIQUE (organization_id, name_key)
);

-- One row per record and destination. Made in the transaction that accepts
-- the record; payload is fixed at the first attempt and resent as is.
CREATE TABLE deliveries (
	id              INTEGER PRIMARY KEY,
	organization_id INTEGER NOT NULL REFERENCES organizations (id),
	destination_id  INTEGER NOT NULL REFERENCES destinations (id),
	subject         TEXT NOT NULL,
	record_id       INTEGER NOT NULL,
	credit_id       TEXT NOT NULL,
	activity_id     INTEGER NOT NULL,
	event           TEXT NOT NULL,
	snapshot        TEXT NOT NULL,
	payload         TEXT,
	state           TEXT NOT NULL,
	attempts        INTEGER NOT NULL,
	next_attempt_at TIMESTAMP NOT NULL,
	lease_until     TIMESTAMP,
	leased_by       TEXT NOT NULL,
	last_error      TEXT NOT NULL,
	remote_codes    TEXT NOT NULL,
	remote_id       TEXT NOT NULL,
	overdue         BOOLEAN NOT NULL,
	created_at      TIMESTAMP NOT NULL,
	updated_at      TIMESTAMP NOT NULL,
	delivered_at    TIMESTAMP
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_record ON deliveries (destination_id, subject, record_id);
CREATE INDEX deliveries_org ON deliveries (organization_id, id);
