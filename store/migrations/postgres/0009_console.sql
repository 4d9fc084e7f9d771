-- See the SQLite twin (migrations/0009_console.sql) for what these are.
DROP INDEX snapshot_history_seq;
CREATE INDEX snapshot_history_seq ON snapshot_history (source_id, until_seq, key);
CREATE INDEX snapshot_history_start ON snapshot_history (source_id, seq, key);
CREATE INDEX snapshot_seq ON snapshot (source_id, seq, key);

ALTER TABLE recipients ADD COLUMN search text COLLATE "C" NOT NULL DEFAULT '';
UPDATE recipients SET search =
  CASE WHEN muster_fold(email) COLLATE "C" = key THEN '' ELSE muster_fold(email) || chr(31) END
  || muster_fold(first_name || ' ' || last_name);

CREATE TABLE console_signouts (
  id       text COLLATE "C" PRIMARY KEY,
  until_ms bigint NOT NULL
);
