-- A source's large first drop leaves most of its rows out of snapshot_seq
-- on SQLite too, as on PostgreSQL since its 0011 (store/firstdrop.go): the
-- index lists a drop's current versions in key order for DropChanges, and
-- a first drop's versions are every row its source had then, readable in
-- key order through the primary key. For a first drop of 100,000 people
-- the index was a sixth of the store's pages, each written twice (the WAL,
-- then the checkpoint) and a B-tree insert per person. first_drop is set
-- on the rows a listed first drop adds after its first 8192 and cleared
-- by every write that gives a row another seq; first_drops lists the drops
-- with such rows. Existing rows are all in the index (first_drop 0); the
-- index is built again once, here.
ALTER TABLE snapshot ADD COLUMN first_drop boolean NOT NULL DEFAULT false;
DROP INDEX snapshot_seq;
CREATE INDEX snapshot_seq ON snapshot (source_id, seq, key) WHERE NOT first_drop;
CREATE TABLE first_drops (
  drop_id INTEGER PRIMARY KEY REFERENCES drops(id)
);
