-- Pages read in key order without scanning what they do not show.
--
-- An applied drop's changes (the console's /drops/{id}, the API's changes)
-- are the versions it asserted (snapshot and snapshot_history rows with its
-- seq) and those it ended (snapshot_history rows with its until_seq): each
-- is now a range of an index in key order, so a page of a drop of three
-- changes or of 100,000 reads its own rows only, however large the source.
-- The old (source_id, until_seq) index becomes (source_id, until_seq, key):
-- same writes, wider entries.
DROP INDEX snapshot_history_seq;
CREATE INDEX snapshot_history_seq ON snapshot_history (source_id, until_seq, key);
CREATE INDEX snapshot_history_start ON snapshot_history (source_id, seq, key);
CREATE INDEX snapshot_seq ON snapshot (source_id, seq, key);

-- What a search of recipients (CLI, API, console: a substring of the
-- address or the name, Unicode-folded) matches besides the key, folded
-- when the recipient is written (store.searchText: schema.Fold of the
-- address as written when it is not the key, a U+001F separator, then of
-- "first last"), so a search is LIKE over stored text in the database's
-- own code instead of a call of the fold per row. Filled here with
-- muster_fold, which is schema.Fold on SQLite.
ALTER TABLE recipients ADD COLUMN search TEXT NOT NULL DEFAULT '';
UPDATE recipients SET search =
  CASE WHEN muster_fold(email) = key THEN '' ELSE muster_fold(email) || char(31) END
  || muster_fold(first_name || ' ' || last_name);

-- Console sessions signed out (Sign out): a copy of the cookie is refused
-- by every instance sharing the store, and after a restart. A row can go
-- once the session would have expired anyway (until_ms, Unix ms).
CREATE TABLE console_signouts (
  id       TEXT PRIMARY KEY,
  until_ms INTEGER NOT NULL
) WITHOUT ROWID;
