-- As SQLite's 0002_directory_events.sql.
CREATE TABLE directory_events (
  event_id   text COLLATE "C" PRIMARY KEY,
  object     text COLLATE "C" NOT NULL,
  created_ns bigint NOT NULL,
  applied_ns bigint NOT NULL
);
CREATE INDEX directory_events_object ON directory_events (object, created_ns);
CREATE INDEX directory_events_applied ON directory_events (applied_ns);

CREATE TABLE directory_cursors (
  name       text COLLATE "C" PRIMARY KEY,
  event_id   text COLLATE "C" NOT NULL,
  since_ns   bigint NOT NULL,
  updated_ns bigint NOT NULL
);
