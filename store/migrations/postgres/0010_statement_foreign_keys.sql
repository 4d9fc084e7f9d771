-- The two tables an ingest writes a row per person into check their
-- foreign key once per statement instead of once per row: snapshot rows
-- name their source, recipients their organisation. PostgreSQL checks a
-- FOREIGN KEY with a query and a row lock per inserted row, two thirds of
-- the server's work in a first ingest (a COPY of 8192 rows ran 8192 such
-- checks of the same one parent row). The triggers below keep the
-- constraint's meaning (SQLite checks its own per row, see its
-- 0010_statement_foreign_keys.sql): a row whose parent does not exist is
-- refused, the parent row is locked FOR KEY SHARE as the constraint's
-- check locks it (so a concurrent delete of it waits, then fails), and a
-- parent that rows still name cannot be deleted or renumbered. Errors are
-- SQLSTATE 23503 (foreign_key_violation), as the constraint's.
ALTER TABLE snapshot DROP CONSTRAINT snapshot_source_id_fkey;
ALTER TABLE recipients DROP CONSTRAINT recipients_org_id_fkey;

-- After an INSERT (or COPY) statement: every parent its new rows name
-- exists, and is locked. TG_ARGV: the column, the parent table (whose key
-- is id).
CREATE FUNCTION muster_fk_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  want bigint;
  got  bigint;
BEGIN
  EXECUTE format('SELECT count(DISTINCT %I) FROM new_rows', TG_ARGV[0]) INTO want;
  EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I p WHERE p.id IN (SELECT %I FROM new_rows) FOR KEY SHARE OF p) x',
                 TG_ARGV[1], TG_ARGV[0]) INTO got;
  IF got <> want THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('insert or update on table "%s" violates foreign key constraint "%s_%s_fkey"', TG_TABLE_NAME, TG_TABLE_NAME, TG_ARGV[0]),
      DETAIL = format('A row names a %s id that is not present in table "%s".', TG_ARGV[0], TG_ARGV[1]),
      TABLE = TG_TABLE_NAME;
  END IF;
  RETURN NULL;
END $$;

-- Before an UPDATE that changes the column (nothing in muster does): the
-- new parent exists, and is locked.
CREATE FUNCTION muster_fk_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  parent bigint;
BEGIN
  EXECUTE format('SELECT p.id FROM %I p WHERE p.id = ($1).%I FOR KEY SHARE OF p', TG_ARGV[1], TG_ARGV[0])
    INTO parent USING NEW;
  IF parent IS NULL THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('insert or update on table "%s" violates foreign key constraint "%s_%s_fkey"', TG_TABLE_NAME, TG_TABLE_NAME, TG_ARGV[0]),
      TABLE = TG_TABLE_NAME;
  END IF;
  RETURN NEW;
END $$;

-- After a parent row is deleted or its id changed: no row of the child
-- table (TG_ARGV: the child table, its column) names the old id.
CREATE FUNCTION muster_fk_parent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  named boolean;
BEGIN
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = $1)', TG_ARGV[0], TG_ARGV[1]) INTO named USING OLD.id;
  IF named THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('update or delete on table "%s" violates foreign key constraint "%s_%s_fkey" on table "%s"', TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1], TG_ARGV[0]),
      DETAIL = format('Key (id)=(%s) is still referenced from table "%s".', OLD.id, TG_ARGV[0]),
      TABLE = TG_TABLE_NAME;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER snapshot_source_fk AFTER INSERT ON snapshot REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION muster_fk_insert('source_id', 'sources');
CREATE TRIGGER snapshot_source_fk_update BEFORE UPDATE OF source_id ON snapshot
  FOR EACH ROW WHEN (NEW.source_id IS DISTINCT FROM OLD.source_id) EXECUTE FUNCTION muster_fk_update('source_id', 'sources');
CREATE TRIGGER sources_snapshot_fk AFTER DELETE ON sources
  FOR EACH ROW EXECUTE FUNCTION muster_fk_parent('snapshot', 'source_id');
CREATE TRIGGER sources_snapshot_fk_update AFTER UPDATE OF id ON sources
  FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION muster_fk_parent('snapshot', 'source_id');

CREATE TRIGGER recipients_org_fk AFTER INSERT ON recipients REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION muster_fk_insert('org_id', 'orgs');
CREATE TRIGGER recipients_org_fk_update BEFORE UPDATE OF org_id ON recipients
  FOR EACH ROW WHEN (NEW.org_id IS DISTINCT FROM OLD.org_id) EXECUTE FUNCTION muster_fk_update('org_id', 'orgs');
CREATE TRIGGER orgs_recipients_fk AFTER DELETE ON orgs
  FOR EACH ROW EXECUTE FUNCTION muster_fk_parent('recipients', 'org_id');
CREATE TRIGGER orgs_recipients_fk_update AFTER UPDATE OF id ON orgs
  FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION muster_fk_parent('recipients', 'org_id');
