-- Nothing changes on PostgreSQL: its 0011_first_drop already leaves a
-- large first drop's rows out of snapshot_seq; SQLite's twin of this
-- migration brings the same shape (snapshot.first_drop, the partial index,
-- first_drops) to SQLite. The statement below keeps this file a migration
-- PostgreSQL runs and records, like any other.
SELECT 1;
