-- Offboarding as assertions (merge rule 5): a recipient's status is derived
-- from what every source says now, never from the order drops arrived in.
-- An authoritative source's deletion of a person is kept as that source's
-- tombstone; an admin's lift of an offboarding is kept as a lift. The old
-- suppressions table (order-dependent state) is no longer written: it stays
-- as history, and its rows are carried over below.

-- A source deleted the person (a removal by an authoritative source: a user
-- deleted from a directory, or missing from a full pull). It lasts until the
-- source lists the person again, is rolled back to before it, withdrawn or
-- removed. seq and drop_id name the drop that deleted them.
CREATE TABLE tombstones (
  org_id    INTEGER NOT NULL REFERENCES orgs(id),
  source_id INTEGER NOT NULL REFERENCES sources(id),
  key       TEXT NOT NULL,
  seq       INTEGER NOT NULL,
  drop_id   INTEGER NOT NULL,
  PRIMARY KEY (source_id, key)
);
CREATE INDEX tombstones_key ON tombstones (org_id, key);

-- An admin lifted the offboarding of a person by a source: it stands while
-- that source still says exactly what it said when the lift was made (say:
-- the content hash of its assertion, or minus the seq of its tombstone).
-- Any change of that source's say ends it.
CREATE TABLE lifts (
  org_id     INTEGER NOT NULL REFERENCES orgs(id),
  key        TEXT NOT NULL,
  source_id  INTEGER NOT NULL REFERENCES sources(id),
  say        INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  lifted_by  TEXT NOT NULL,
  reason     TEXT NOT NULL,
  PRIMARY KEY (org_id, key, source_id)
);

-- An offboarding in force by a source that no longer lists the person was a
-- deletion: it becomes that source's tombstone. (One by a source that lists
-- them inactive is that assertion; one by a removed source no longer stands:
-- a removed source says nothing.)
INSERT INTO tombstones (org_id, source_id, key, seq, drop_id)
SELECT p.org_id, p.source_id, p.key, coalesce(d.seq, 0), coalesce(p.drop_id, 0)
FROM suppressions p
JOIN sources s ON s.id = p.source_id AND s.removed_at IS NULL
LEFT JOIN drops d ON d.id = p.drop_id
WHERE p.lifted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM snapshot a WHERE a.source_id = p.source_id AND a.key = p.key);

-- A person whose latest offboarding an admin lifted stays lifted: a lift of
-- every authoritative source that lists them inactive now.
INSERT INTO lifts (org_id, key, source_id, say, created_at, lifted_by, reason)
SELECT p.org_id, p.key, a.source_id, a.hash, p.lifted_at, coalesce(p.lifted_by, ''), coalesce(p.lift_reason, '')
FROM suppressions p
JOIN sources s ON s.org_id = p.org_id AND s.authoritative = 1 AND s.removed_at IS NULL
JOIN snapshot a ON a.source_id = s.id AND a.key = p.key AND a.status = 1
WHERE p.lifted_at IS NOT NULL
  AND coalesce(p.lifted_by, '') NOT LIKE 'source %'
  AND p.id = (SELECT max(q.id) FROM suppressions q WHERE q.org_id = p.org_id AND q.key = p.key);

-- Organisations whose recipients must be derived again under the new rules
-- (muster does it when it next opens the store, and clears the row).
CREATE TABLE pending_rebuilds (
  org_id INTEGER PRIMARY KEY REFERENCES orgs(id)
);
INSERT INTO pending_rebuilds (org_id) SELECT id FROM orgs;
