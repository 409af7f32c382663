-- The learner registry, learner records and their status history, and
-- API keys.

CREATE TABLE persons (
	id             INTEGER PRIMARY KEY,
	given_name     TEXT NOT NULL,
	family_name    TEXT NOT NULL,
	name_key       TEXT NOT NULL,
	birth_date     TEXT NOT NULL,
	document       TEXT NOT NULL,
	created_at     TIMESTAMP NOT NULL,
	updated_at     TIMESTAMP NOT NULL
);
CREATE INDEX persons_name_key ON persons (name_key);

-- Every identifier of a person, for matching: kind npi, license (scope =
-- state), board (scope = board) or oci. An identifier names one person.
CREATE TABLE person_identifiers (
	person_id INTEGER NOT NULL REFERENCES persons (id),
	kind      TEXT NOT NULL,
	scope     TEXT NOT NULL,
	value     TEXT NOT NULL,
	PRIMARY KEY (kind, scope, value)
);
CREATE INDEX person_identifiers_person ON person_identifiers (person_id);

-- One row per credit a learner earned. The content (document and the
-- columns copied from it) never changes; status and deleted move, and
-- every move is appended to learner_record_events.
CREATE TABLE learner_records (
	id              INTEGER PRIMARY KEY,
	organization_id INTEGER NOT NULL REFERENCES organizations (id),
	credit_id       TEXT NOT NULL,
	activity_id     INTEGER NOT NULL REFERENCES activities (id),
	person_id       INTEGER REFERENCES persons (id),
	learner_key     TEXT NOT NULL,
	completion_date TEXT NOT NULL,
	board           TEXT NOT NULL,
	status          TEXT NOT NULL,
	status_code     TEXT NOT NULL,
	status_reason   TEXT NOT NULL,
	status_at       TIMESTAMP NOT NULL,
	deleted         BOOLEAN NOT NULL,
	document        TEXT NOT NULL,
	created_at      TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX learner_records_live_credit_id ON learner_records (organization_id, credit_id) WHERE NOT deleted;
CREATE INDEX learner_records_activity_learner ON learner_records (activity_id, learner_key);
CREATE INDEX learner_records_awaiting ON learner_records (status, status_at) WHERE NOT deleted AND board <> '';
CREATE TRIGGER learner_records_content_is_immutable
BEFORE UPDATE OF organization_id, credit_id, activity_id, person_id, learner_key, completion_date, board, document, created_at ON learner_records
BEGIN
	SELECT RAISE(ABORT, 'a learner record''s content never changes: delete it and add a new one');
END;
CREATE TRIGGER learner_records_never_removed BEFORE DELETE ON learner_records
BEGIN
	SELECT RAISE(ABORT, 'learner records are never removed, only marked deleted');
END;

CREATE TABLE learner_record_events (
	record_id INTEGER NOT NULL REFERENCES learner_records (id),
	seq       INTEGER NOT NULL,
	status    TEXT NOT NULL,
	at        TIMESTAMP NOT NULL,
	source    TEXT NOT NULL,
	code      TEXT NOT NULL,
	reason    TEXT NOT NULL,
	PRIMARY KEY (record_id, seq)
);
CREATE TRIGGER learner_record_events_append_only_update BEFORE UPDATE ON learner_record_events
BEGIN
	SELECT RAISE(ABORT, 'learner_record_events is append-only');
END;
CREATE TRIGGER learner_record_events_append_only_delete BEFORE DELETE ON learner_record_events
BEGIN
	SELECT RAISE(ABORT, 'learner_record_events is append-only');
END;

-- API keys of web-service users' organizations: only a hash is kept.
CREATE TABLE api_keys (
	id              INTEGER PRIMARY KEY,
	organization_id INTEGER NOT NULL REFERENCES organizations (id),
	name            TEXT NOT NULL,
	prefix          TEXT NOT NULL UNIQUE,
	hash            TEXT NOT NULL,
	created_at      TIMESTAMP NOT NULL,
	UNIQUE (organization_id, name)
);
