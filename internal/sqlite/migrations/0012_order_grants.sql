-- Who may call a local society's ceu_order, which answers any member's
-- credits to whoever names her member id: gateways at an address range
-- (cidr), or holding a credential (name, and the SHA-256 of its secret,
-- sent as HTTP Basic). A society with no grant answers no one, outside
-- the sandbox. One of cidr and name is set, the other empty.

CREATE TABLE society_order_grants (
	id          INTEGER PRIMARY KEY,
	society_id  INTEGER NOT NULL REFERENCES societies (id),
	cidr        TEXT NOT NULL DEFAULT '',
	name        TEXT NOT NULL DEFAULT '',
	name_key    TEXT NOT NULL DEFAULT '',
	secret_hash TEXT NOT NULL DEFAULT '',
	created_at  TIMESTAMP NOT NULL,
	CHECK ((cidr = '') <> (name = '')),
	UNIQUE (society_id, cidr, name_key)
);
