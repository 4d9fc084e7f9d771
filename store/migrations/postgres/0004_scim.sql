-- As SQLite's 0004_scim.sql (read it for what each table holds).
CREATE TABLE scim_resources (
  source_id   bigint NOT NULL REFERENCES sources(id),
  type        text COLLATE "C" NOT NULL,
  id          text COLLATE "C" NOT NULL,
  name        text COLLATE "C" NOT NULL,
  external_id text COLLATE "C" NOT NULL,
  email       text COLLATE "C" NOT NULL,
  data        text NOT NULL,
  created     text COLLATE "C" NOT NULL,
  modified    text COLLATE "C" NOT NULL,
  version     bigint NOT NULL,
  PRIMARY KEY (source_id, type, id)
);
CREATE UNIQUE INDEX scim_user_names ON scim_resources (source_id, name) WHERE type = 'User';
CREATE INDEX scim_resources_name ON scim_resources (source_id, type, name);
CREATE INDEX scim_resources_external ON scim_resources (source_id, type, external_id);
CREATE INDEX scim_resources_email ON scim_resources (source_id, email);

CREATE TABLE scim_members (
  source_id bigint NOT NULL REFERENCES sources(id),
  group_id  text COLLATE "C" NOT NULL,
  user_id   text COLLATE "C" NOT NULL,
  PRIMARY KEY (source_id, group_id, user_id)
);
CREATE INDEX scim_members_user ON scim_members (source_id, user_id);

CREATE TABLE scim_stats (
  source_id     bigint PRIMARY KEY REFERENCES sources(id),
  requests      bigint NOT NULL,
  errors        bigint NOT NULL,
  last_request  text COLLATE "C" NOT NULL,
  last_status   bigint NOT NULL,
  last_error    text COLLATE "C" NOT NULL,
  last_error_at text COLLATE "C" NOT NULL
);
