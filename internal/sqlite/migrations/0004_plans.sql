-- Credential plans and persons' role instances.

-- Every plan file loaded; the newest is in force. Kept, never changed, so
-- that what a member-management system was told can be traced.
CREATE TABLE plan_sets (
	id        INTEGER PRIMARY KEY,
	document  TEXT NOT NULL,
	loaded_at TIMESTAMP NOT NULL
);
CREATE TRIGGER plan_sets_append_only_update BEFORE UPDATE ON plan_sets
BEGIN
	SELECT RAISE(ABORT, 'plan_sets is append-only');
END;

CREATE TABLE role_instances (
	id                INTEGER PRIMARY KEY,
	person_id         INTEGER NOT NULL REFERENCES persons (id),
	role_key          TEXT NOT NULL,
	label             TEXT NOT NULL,
	unique_identifier TEXT NOT NULL,
	document          TEXT NOT NULL,
	updated_at        TIMESTAMP NOT NULL,
	UNIQUE (person_id, role_key, label)
);
CREATE INDEX role_instances_unique_identifier ON role_instances (unique_identifier);
CREATE INDEX person_identifiers_value ON person_identifiers (value);
