-- The audit log: every change to a record, a destination, an account or a
-- plan, appended in the change's own transaction. Triggers refuse any
-- UPDATE or DELETE, so no code path (or hand) can edit it.

CREATE TABLE audit_log (
	id      INTEGER PRIMARY KEY,
	at      TIMESTAMP NOT NULL,
	actor   TEXT NOT NULL,
	address TEXT NOT NULL,
	action  TEXT NOT NULL,
	subject TEXT NOT NULL,
	detail  TEXT NOT NULL
);

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_subject ON audit_log (subject, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'the audit log is append-only');
END;
