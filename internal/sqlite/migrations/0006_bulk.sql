-- Batch imports ask whether a CreditID was deleted (a repeated delete is
-- "already present"); the live ones have their unique index already, so
-- this one holds the deleted ones only, and costs nothing to records that
-- stay live. Transcripts and progress read a person's records, which in a
-- large ledger needs an index of its own.
CREATE INDEX learner_records_deleted_credit_id ON learner_records (organization_id, credit_id) WHERE deleted;
CREATE INDEX learner_records_person ON learner_records (person_id, completion_date) WHERE person_id IS NOT NULL;
