-- Physicians' accounts linked to their registry persons: providers'
-- invitations (single use; only the SHA-256 of the token is kept),
-- physicians' claims with the evidence they typed and, while they wait,
-- the candidates an operator chooses from, and the links themselves (one
-- person per account and one account per person).

CREATE TABLE person_invitations (
	id              INTEGER PRIMARY KEY,
	organization_id INTEGER NOT NULL REFERENCES organizations (id),
	person_id       INTEGER NOT NULL REFERENCES persons (id),
	token_hash      TEXT NOT NULL UNIQUE,
	created_at      TIMESTAMP NOT NULL,
	expires_at      TIMESTAMP NOT NULL,
	used_at         TIMESTAMP,
	used_by         INTEGER REFERENCES gateway_accounts (id)
);
CREATE INDEX person_invitations_organization ON person_invitations (organization_id, id);

CREATE TABLE person_claims (
	id            INTEGER PRIMARY KEY,
	account_id    INTEGER NOT NULL REFERENCES gateway_accounts (id),
	evidence      TEXT NOT NULL,
	invitation_id INTEGER REFERENCES person_invitations (id),
	state         TEXT NOT NULL,
	candidates    TEXT NOT NULL,
	person_id     INTEGER REFERENCES persons (id),
	reason        TEXT NOT NULL,
	created_at    TIMESTAMP NOT NULL,
	decided_at    TIMESTAMP,
	decided_by    TEXT NOT NULL
);
CREATE INDEX person_claims_account ON person_claims (account_id, id);
CREATE INDEX person_claims_state ON person_claims (state, id);

CREATE TABLE account_persons (
	account_id INTEGER PRIMARY KEY REFERENCES gateway_accounts (id),
	person_id  INTEGER NOT NULL UNIQUE REFERENCES persons (id),
	via        TEXT NOT NULL,
	linked_at  TIMESTAMP NOT NULL
);
