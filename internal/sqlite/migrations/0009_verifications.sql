-- Printed transcripts: the code printed on each, and what it held, so that
-- /verify/CODE can tell whoever holds the paper whether the ledger agrees.

CREATE TABLE transcript_verifications (
	code         TEXT PRIMARY KEY,
	account_id   INTEGER NOT NULL REFERENCES gateway_accounts (id),
	name         TEXT NOT NULL,
	generated_at TIMESTAMP NOT NULL,
	credits      INTEGER NOT NULL,
	totals       TEXT NOT NULL,
	digest       TEXT NOT NULL
);
