-- Single-use values (Process Synchronization's secure tokens, by their
-- SHA-256), each kept until it could no longer be accepted anyway.

CREATE TABLE used_nonces (
	nonce      TEXT PRIMARY KEY,
	expires_at TIMESTAMP NOT NULL
);

CREATE INDEX used_nonces_expiry ON used_nonces (expires_at);
