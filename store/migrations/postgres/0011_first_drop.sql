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

-- The statement-level foreign key check of migration 0010, cheaper in the
-- case every COPY and upsert of an apply is: all the statement's new rows
-- name one parent (one source, one organisation), or none was inserted (an
-- upsert that only updated). One pass over the new rows (min and max of
-- the column) then decides: none, return; one parent, look it up and lock
-- it FOR KEY SHARE by its key; several, the general check of 0010 (a
-- sort for the distinct count and a join). Same meaning and errors: every
-- parent named exists and is locked, SQLSTATE 23503 otherwise. At 1M
-- people the general check sorted and hashed every row a second and a
-- third time after the transition table's copy of it.
CREATE OR REPLACE FUNCTION muster_fk_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  lo   bigint;
  hi   bigint;
  want bigint;
  got  bigint;
BEGIN
  EXECUTE format('SELECT min(%1$I), max(%1$I) FROM new_rows', TG_ARGV[0]) INTO lo, hi;
  IF lo IS NULL THEN
    RETURN NULL; -- no row inserted (the column is NOT NULL)
  END IF;
  IF lo = hi THEN
    want := 1;
    EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I p WHERE p.id = $1 FOR KEY SHARE OF p) x', TG_ARGV[1])
      INTO got USING lo;
  ELSE
    EXECUTE format('SELECT count(DISTINCT %I) FROM new_rows', TG_ARGV[0]) INTO want;
    EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I p WHERE p.id IN (SELECT %I FROM new_rows) FOR KEY SHARE OF p) x',
                   TG_ARGV[1], TG_ARGV[0]) INTO got;
  END IF;
  IF got <> want THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('insert or update on table "%s" violates foreign key constraint "%s_%s_fkey"', TG_TABLE_NAME, TG_TABLE_NAME, TG_ARGV[0]),
      DETAIL = format('A row names a %s id that is not present in table "%s".', TG_ARGV[0], TG_ARGV[1]),
      TABLE = TG_TABLE_NAME;
  END IF;
  RETURN NULL;
END $$;
