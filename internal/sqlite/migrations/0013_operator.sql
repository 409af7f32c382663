-- The operator's console (issue 17).
--
-- A web-service user or an API key may be disabled: refused on every
-- surface until enabled again, kept with its history. NULL is enabled.
ALTER TABLE web_service_users ADD COLUMN disabled_at TIMESTAMP;
ALTER TABLE api_keys ADD COLUMN disabled_at TIMESTAMP;

-- Who loaded each plan set ('' for the sets loaded before this column).
ALTER TABLE plan_sets ADD COLUMN loaded_by TEXT NOT NULL DEFAULT '';

-- The calls the gateway made to remote societies, for the operator: the
-- last ones of each society (the store keeps a fixed number, deleting
-- older ones as it adds), and per society counters since the first.
-- outcome is answered, refused (the society answered, refusing) or failed
-- (no usable answer); answer says what came back, in safe words.
CREATE TABLE society_calls (
	id          INTEGER PRIMARY KEY,
	society_id  INTEGER NOT NULL REFERENCES societies (id),
	at          TIMESTAMP NOT NULL,
	operation   TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	duration_us INTEGER NOT NULL,
	answer      TEXT NOT NULL
);
CREATE INDEX society_calls_society ON society_calls (society_id, id);

CREATE TABLE society_call_totals (
	society_id INTEGER PRIMARY KEY REFERENCES societies (id),
	calls      INTEGER NOT NULL,
	refusals   INTEGER NOT NULL,
	failures   INTEGER NOT NULL,
	since      TIMESTAMP NOT NULL
);
