-- Nothing changes on SQLite: it checks the foreign keys of snapshot
-- (source_id) and recipients (org_id) per row, cheaply, inside its own
-- engine. PostgreSQL's twin of this migration replaces the per-row check of
-- those two keys, a query and a row lock per inserted person there, with
-- one check per statement of the same meaning. The statement below keeps
-- this file a migration SQLite runs and records, like any other.
SELECT 1;
