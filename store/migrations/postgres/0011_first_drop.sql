-- A source's large first drop (applied on an empty snapshot: the source's
-- seq and the drop's base_seq are 0) leaves most of its rows out of
-- snapshot_seq. That index lists a drop's current versions in key order
-- (DropChanges, migration 0009); a first drop's versions are every row its
-- source had then, so they are read in key order through the primary key
-- instead, and the index would only cost a first ingest one more entry per
-- person: at 1M people, a B-tree insert each and ~140 MB of WAL (a fifth
-- of what the ingest wrote). first_drop is true on a row the first drop
-- wrote (its COPY, store/firstdrop.go) after its first 8192, and cleared by
-- every write that gives the row another seq (an update), so a row with
-- any other drop's seq is in the index. first_drops lists the drops with
-- such rows: DropChanges reads those through the primary key, every other
-- drop (a small first drop included: a source that grew later would be
-- scanned whole to find its rows) through the index. Adding the column
-- with a constant default rewrites nothing; the index is rebuilt once.
ALTER TABLE snapshot ADD COLUMN first_drop boolean NOT NULL DEFAULT false;
DROP INDEX snapshot_seq;
CREATE INDEX snapshot_seq ON snapshot (source_id, seq, key) WHERE NOT first_drop;
CREATE TABLE first_drops (
  drop_id bigint PRIMARY KEY REFERENCES drops(id)
);
