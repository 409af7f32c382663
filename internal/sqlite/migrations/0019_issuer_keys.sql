-- The installation's Ed25519 issuer keys for verifiable credentials: the
-- newest signs, every one stays published in the DID document (rotation).
-- The private key is sealed with the server key (sqlstore.SecretBox), as
-- destinations' credentials are. Credential status needs no table: a
-- credential's status index is its learner record's id, and the list is
-- read from learner_records (deleted, or rejected by a board).

CREATE TABLE issuer_keys (
	id          INTEGER PRIMARY KEY,
	key_id      TEXT NOT NULL UNIQUE,
	public_key  TEXT NOT NULL,
	private_key TEXT NOT NULL,
	created_at  TIMESTAMP NOT NULL
);
