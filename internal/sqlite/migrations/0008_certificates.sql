-- The certificate a physician keeps with a self-attested credit: a PDF or
-- an image, at most 5 MB, one per credit, removed with it.

CREATE TABLE self_credit_certificates (
	self_credit_id INTEGER PRIMARY KEY REFERENCES self_credits (id),
	name           TEXT NOT NULL,
	content_type   TEXT NOT NULL,
	size           INTEGER NOT NULL,
	data           BLOB NOT NULL
);
