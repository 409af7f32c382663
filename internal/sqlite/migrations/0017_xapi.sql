-- The xAPI learning record store: statements (immutable; the JSON as
-- stored, with the values queries select by), the agents and activities
-- they name, attachment contents by hash, activity definitions, and the
-- State, Activity Profile and Agent Profile documents. Every row belongs
-- to one provider, who alone sees it.

CREATE TABLE xapi_statements (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	organization_id BIGINT NOT NULL REFERENCES organizations (id),
	statement_id    TEXT NOT NULL,
	signature       TEXT NOT NULL,
	body            BLOB NOT NULL,
	verb            TEXT NOT NULL,
	voids           TEXT NOT NULL,
	object_ref      TEXT NOT NULL,
	registration    TEXT NOT NULL,
	stored          TIMESTAMP NOT NULL,
	voided          BOOLEAN NOT NULL DEFAULT FALSE,
	UNIQUE (organization_id, statement_id)
);

CREATE INDEX xapi_statements_stored ON xapi_statements (organization_id, seq);
CREATE INDEX xapi_statements_verb ON xapi_statements (organization_id, verb, seq);
CREATE INDEX xapi_statements_registration ON xapi_statements (organization_id, registration, seq);
CREATE INDEX xapi_statements_voids ON xapi_statements (organization_id, voids);

-- related is FALSE for the actor and an agent object (the agent filter),
-- TRUE for every other agent the statement names (related_agents).
CREATE TABLE xapi_statement_agents (
	seq       BIGINT NOT NULL REFERENCES xapi_statements (seq),
	agent_key TEXT NOT NULL,
	related   BOOLEAN NOT NULL
);

CREATE INDEX xapi_statement_agents_key ON xapi_statement_agents (agent_key, seq);

CREATE TABLE xapi_statement_activities (
	seq         BIGINT NOT NULL REFERENCES xapi_statements (seq),
	activity_id TEXT NOT NULL,
	related     BOOLEAN NOT NULL
);

CREATE INDEX xapi_statement_activities_id ON xapi_statement_activities (activity_id, seq);

CREATE TABLE xapi_attachments (
	organization_id BIGINT NOT NULL REFERENCES organizations (id),
	sha2            TEXT NOT NULL,
	content_type    TEXT NOT NULL,
	content         BLOB NOT NULL,
	PRIMARY KEY (organization_id, sha2)
);

CREATE TABLE xapi_activities (
	organization_id BIGINT NOT NULL REFERENCES organizations (id),
	activity_id     TEXT NOT NULL,
	definition      BLOB NOT NULL,
	PRIMARY KEY (organization_id, activity_id)
);

-- kind is state, activity or agent; the key columns a kind does not use
-- hold ''.
CREATE TABLE xapi_documents (
	organization_id BIGINT NOT NULL REFERENCES organizations (id),
	kind            TEXT NOT NULL,
	activity_id     TEXT NOT NULL,
	agent_key       TEXT NOT NULL,
	registration    TEXT NOT NULL,
	document_id     TEXT NOT NULL,
	content         BLOB NOT NULL,
	content_type    TEXT NOT NULL,
	etag            TEXT NOT NULL,
	updated         TIMESTAMP NOT NULL,
	PRIMARY KEY (organization_id, kind, activity_id, agent_key, registration, document_id)
);
