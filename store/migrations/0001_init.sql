-- The audience store. Every row belongs to one organisation, directly or
-- through its source; no index or query spans organisations.

CREATE TABLE orgs (
  id   INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE sources (
  id                 INTEGER PRIMARY KEY,
  org_id             INTEGER NOT NULL REFERENCES orgs(id),
  name               TEXT NOT NULL,
  kind               TEXT NOT NULL,
  mode               TEXT NOT NULL,
  priority           INTEGER NOT NULL,
  authoritative      INTEGER NOT NULL,
  max_remove_percent REAL NOT NULL,
  max_remove_count   INTEGER NOT NULL,
  max_invalid_percent REAL NOT NULL,
  attrs              INTEGER NOT NULL,
  -- seq of the drop whose result is the current snapshot (0: none yet).
  seq                INTEGER NOT NULL DEFAULT 0,
  -- number of rows in the current snapshot.
  rows               INTEGER NOT NULL DEFAULT 0,
  created_at         TEXT NOT NULL,
  -- set when the source was removed (its assertions withdrawn); naming it
  -- again brings it back with an empty snapshot.
  removed_at         TEXT,
  UNIQUE (org_id, name)
);

-- status: received (recorded, being processed), applied, held, rejected,
-- duplicate. seq orders applied drops (global, increasing); base_seq is the
-- source's seq the diff was computed against.
CREATE TABLE drops (
  id           INTEGER PRIMARY KEY,
  org_id       INTEGER NOT NULL REFERENCES orgs(id),
  source_id    INTEGER NOT NULL REFERENCES sources(id),
  kind         TEXT NOT NULL,
  name         TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  status       TEXT NOT NULL,
  base_seq     INTEGER NOT NULL DEFAULT 0,
  seq          INTEGER UNIQUE,
  report       TEXT,
  received_at  TEXT NOT NULL,
  decided_at   TEXT,
  decided_by   TEXT
);
CREATE INDEX drops_source ON drops (source_id, id);
CREATE INDEX drops_org ON drops (org_id, id);

-- Each source's current snapshot: what it asserts about each person.
-- hash is the content hash of the stored (allowlisted) values, so a diff
-- reads (key, hash) pairs only. data packs the values (email as written,
-- names, source id, groups, attributes) in one blob (see store/assertion.go):
-- a million-row apply binds and encodes one column instead of seven.
CREATE TABLE snapshot (
  source_id  INTEGER NOT NULL REFERENCES sources(id),
  key        TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  drop_id    INTEGER NOT NULL,
  line       INTEGER NOT NULL,
  hash       INTEGER NOT NULL,
  status     INTEGER NOT NULL,
  data       BLOB NOT NULL,
  PRIMARY KEY (source_id, key)
) WITHOUT ROWID;

-- Versions of snapshot rows that a later drop replaced or removed. With the
-- current snapshot they are the history of every change (a version starts
-- with the drop that asserted it and ends with the one that replaced or
-- removed it) and give any earlier applied drop's snapshot back for a
-- rollback, at the cost of the changed rows only.
CREATE TABLE snapshot_history (
  id         INTEGER PRIMARY KEY,
  source_id  INTEGER NOT NULL REFERENCES sources(id),
  key        TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  until_seq  INTEGER NOT NULL,
  drop_id    INTEGER NOT NULL,
  line       INTEGER NOT NULL,
  hash       INTEGER NOT NULL,
  status     INTEGER NOT NULL,
  data       BLOB NOT NULL
);
CREATE INDEX snapshot_history_seq ON snapshot_history (source_id, until_seq);
CREATE INDEX snapshot_history_key ON snapshot_history (key, source_id);

-- The computed diff of a held drop, applied as is when approved.
CREATE TABLE drop_changes (
  drop_id    INTEGER NOT NULL REFERENCES drops(id),
  n          INTEGER NOT NULL,
  op         INTEGER NOT NULL,
  key        TEXT NOT NULL,
  line       INTEGER NOT NULL,
  hash       INTEGER NOT NULL,
  status     INTEGER NOT NULL,
  data       BLOB NOT NULL,
  PRIMARY KEY (drop_id, n)
) WITHOUT ROWID;

-- The merged audience: one row per normalised email per organisation.
-- status: active (in the audience), offboarded (suppressed), inactive (only
-- inactive assertions), gone (no source lists them). Rows are kept when a
-- person leaves. Keyed by (org, key) alone: one B-tree per write.
CREATE TABLE recipients (
  org_id      INTEGER NOT NULL REFERENCES orgs(id),
  key         TEXT NOT NULL,
  email       TEXT NOT NULL,
  first_name  TEXT NOT NULL,
  last_name   TEXT NOT NULL,
  attrs       TEXT,
  status      TEXT NOT NULL,
  -- the recipient's memberships: the ids of its groups as ",3,17," (empty
  -- unless active). One column instead of a membership table keeps a
  -- million-row apply to two writes per person; a group's members are
  -- found with instr(group_ids, ',ID,').
  group_ids   TEXT NOT NULL,
  created_seq INTEGER NOT NULL,
  updated_seq INTEGER NOT NULL,
  PRIMARY KEY (org_id, key)
) WITHOUT ROWID;

CREATE TABLE groups (
  id        INTEGER PRIMARY KEY,
  org_id    INTEGER NOT NULL REFERENCES orgs(id),
  source_id INTEGER NOT NULL REFERENCES sources(id),
  name      TEXT NOT NULL,
  UNIQUE (source_id, name)
);
CREATE INDEX groups_org ON groups (org_id, name);

-- Offboarding (merge rule 5). One active (not lifted) suppression per person;
-- lifted ones stay as history.
CREATE TABLE suppressions (
  id           INTEGER PRIMARY KEY,
  org_id       INTEGER NOT NULL REFERENCES orgs(id),
  key          TEXT NOT NULL,
  reason       TEXT NOT NULL,
  source_id    INTEGER REFERENCES sources(id),
  drop_id      INTEGER REFERENCES drops(id),
  created_at   TEXT NOT NULL,
  lifted_at    TEXT,
  lifted_by    TEXT,
  lift_reason  TEXT
);
CREATE UNIQUE INDEX suppressions_active ON suppressions (org_id, key) WHERE lifted_at IS NULL;
CREATE INDEX suppressions_key ON suppressions (org_id, key, id);
