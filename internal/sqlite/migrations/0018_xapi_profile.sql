-- The xAPI completion profile a provider configures (its JSON), and what
-- became of each completion statement: the learner report it made and its
-- CreditIDs, or the problems (PARS codes) the rules refused it for. A row
-- is written in the transaction that stores its statement.

CREATE TABLE xapi_profiles (
	organization_id BIGINT PRIMARY KEY REFERENCES organizations (id),
	profile         TEXT NOT NULL,
	updated         TIMESTAMP NOT NULL
);

CREATE TABLE xapi_outcomes (
	organization_id BIGINT NOT NULL REFERENCES organizations (id),
	statement_id    TEXT NOT NULL,
	outcome         TEXT NOT NULL,
	body            TEXT NOT NULL,
	at              TIMESTAMP NOT NULL,
	PRIMARY KEY (organization_id, statement_id)
);

CREATE INDEX xapi_outcomes_at ON xapi_outcomes (organization_id, at);
