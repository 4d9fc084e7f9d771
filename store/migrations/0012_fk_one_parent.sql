-- Nothing changes on SQLite, which checks the foreign keys of snapshot
-- and recipients per row inside its own engine. PostgreSQL's twin of this
-- migration makes its statement-level check of those keys (its 0010)
-- cheaper when a statement's new rows name one parent or none. The
-- statement below keeps this file a migration SQLite runs and records,
-- like any other.
SELECT 1;
