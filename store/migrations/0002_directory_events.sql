-- Directory events (WorkOS Events API and webhooks) already applied, so a
-- repeated delivery is ignored (events are at-least-once, and the two
-- channels share ids), and the newest event applied per object, so an older
-- one arriving late (webhooks are not ordered) does not undo a newer one.
-- Rows older than the retention are pruned.
CREATE TABLE directory_events (
  event_id   TEXT PRIMARY KEY,
  -- what the event is about: "user:<id>", "member:<user>:<group>",
  -- "group:<id>", "directory:<id>"
  object     TEXT NOT NULL,
  -- the event's created_at and when it was applied, in Unix nanoseconds
  created_ns INTEGER NOT NULL,
  applied_ns INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX directory_events_object ON directory_events (object, created_ns);
CREATE INDEX directory_events_applied ON directory_events (applied_ns);

-- Where an event feed was read up to: the id of the last event processed
-- (not the API's list_metadata.after, which is null at the end), or, before
-- any event was seen, the time from which to read.
CREATE TABLE directory_cursors (
  name       TEXT PRIMARY KEY,
  event_id   TEXT NOT NULL,
  since_ns   INTEGER NOT NULL,
  updated_ns INTEGER NOT NULL
) WITHOUT ROWID;
