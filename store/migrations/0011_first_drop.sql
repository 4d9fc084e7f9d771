-- Nothing changes on SQLite. PostgreSQL's twin of this migration leaves
-- most rows of a source's large first drop out of the snapshot_seq index
-- (a column first_drop, a partial index, and a table first_drops naming the
-- drops read through the primary key instead), where each index entry
-- costs a first ingest a B-tree insert and its WAL; SQLite's store keeps
-- the index whole. The statement below keeps this file a migration SQLite
-- runs and records, like any other.
SELECT 1;
