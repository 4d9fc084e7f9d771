-- Nothing changes on SQLite. PostgreSQL's twin of this migration leaves a
-- source's first drop out of the snapshot_seq index (a column first_drop
-- and a partial index), where each index entry costs a first ingest a
-- B-tree insert and its WAL; SQLite's store keeps the index whole. The
-- statement below keeps this file a migration SQLite runs and records,
-- like any other.
SELECT 1;
