-- Organizations, their web-service users, and the activity registry.

CREATE TABLE organizations (
	id          INTEGER PRIMARY KEY,
	kind        TEXT NOT NULL,
	provider_id TEXT UNIQUE,
	name        TEXT NOT NULL,
	created_at  TIMESTAMP NOT NULL
);

CREATE TABLE web_service_users (
	id                  INTEGER PRIMARY KEY,
	organization_id     INTEGER NOT NULL REFERENCES organizations (id),
	username            TEXT NOT NULL,
	username_key        TEXT NOT NULL,
	password_hash       TEXT NOT NULL,
	created_at          TIMESTAMP NOT NULL,
	password_changed_at TIMESTAMP NOT NULL,
	UNIQUE (organization_id, username_key)
);

-- Counters hand out identifiers that must follow a public format, such as
-- the nine-digit ACCME Activity ID.
CREATE TABLE counters (
	name  TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('activity_id', 300000000);

-- The current state of each activity. document is the whole record as JSON;
-- the other columns are copies for searching.
CREATE TABLE activities (
	id                   INTEGER PRIMARY KEY,
	organization_id      INTEGER NOT NULL REFERENCES organizations (id),
	provider_activity_id TEXT NOT NULL,
	activity_type        TEXT NOT NULL,
	start_date           TEXT,
	closed               BOOLEAN NOT NULL,
	deleted              BOOLEAN NOT NULL,
	revision             INTEGER NOT NULL,
	document             TEXT NOT NULL,
	created_at           TIMESTAMP NOT NULL,
	updated_at           TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX activities_live_provider_activity_id ON activities (organization_id, provider_activity_id) WHERE NOT deleted;
CREATE INDEX activities_start_date ON activities (organization_id, start_date);
CREATE INDEX activities_type ON activities (organization_id, activity_type);

-- Every accepted change of an activity, never updated nor deleted.
CREATE TABLE activity_revisions (
	activity_id INTEGER NOT NULL REFERENCES activities (id),
	revision    INTEGER NOT NULL,
	action      TEXT NOT NULL,
	recorded_at TIMESTAMP NOT NULL,
	recorded_by TEXT NOT NULL,
	document    TEXT NOT NULL,
	PRIMARY KEY (activity_id, revision)
);
CREATE TRIGGER activity_revisions_append_only_update BEFORE UPDATE ON activity_revisions
BEGIN
	SELECT RAISE(ABORT, 'activity_revisions is append-only');
END;
CREATE TRIGGER activity_revisions_append_only_delete BEFORE DELETE ON activity_revisions
BEGIN
	SELECT RAISE(ABORT, 'activity_revisions is append-only');
END;
