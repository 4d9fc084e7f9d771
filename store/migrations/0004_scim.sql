-- SCIM resources (ingest/scim): what each scim source's IdP last sent, so
-- the SCIM endpoint answers the IdP with exactly that, whatever the
-- audience made of it (a held burst, a person another source outranks).
-- id is muster's id of the resource; name is a user's userName or a group's
-- displayName and email a user's work email, both folded (schema.Fold) for
-- the case-insensitive lookups IdPs filter on; data holds the attributes as
-- JSON. A source's resources are listed in id order (stable paging).
CREATE TABLE scim_resources (
  source_id   INTEGER NOT NULL REFERENCES sources(id),
  type        TEXT NOT NULL,
  id          TEXT NOT NULL,
  name        TEXT NOT NULL,
  external_id TEXT NOT NULL,
  email       TEXT NOT NULL,
  data        TEXT NOT NULL,
  created     TEXT NOT NULL,
  modified    TEXT NOT NULL,
  version     INTEGER NOT NULL,
  PRIMARY KEY (source_id, type, id)
);
-- userName is unique within a source, ignoring case (RFC 7643: caseExact false).
CREATE UNIQUE INDEX scim_user_names ON scim_resources (source_id, name) WHERE type = 'User';
CREATE INDEX scim_resources_name ON scim_resources (source_id, type, name);
CREATE INDEX scim_resources_external ON scim_resources (source_id, type, external_id);
CREATE INDEX scim_resources_email ON scim_resources (source_id, email);

-- Group memberships, one row per member, so a membership PATCH writes one
-- row and a group's members are read only when asked for.
CREATE TABLE scim_members (
  source_id INTEGER NOT NULL REFERENCES sources(id),
  group_id  TEXT NOT NULL,
  user_id   TEXT NOT NULL,
  PRIMARY KEY (source_id, group_id, user_id)
);
CREATE INDEX scim_members_user ON scim_members (source_id, user_id);

-- What each scim source's requests did, for operators (sources list,
-- /v1/sources): added to by the daemon every few seconds.
CREATE TABLE scim_stats (
  source_id     INTEGER PRIMARY KEY REFERENCES sources(id),
  requests      INTEGER NOT NULL,
  errors        INTEGER NOT NULL,
  last_request  TEXT NOT NULL,
  last_status   INTEGER NOT NULL,
  last_error    TEXT NOT NULL,
  last_error_at TEXT NOT NULL
);
