-- Removals by batches of a directory source (events, webhooks, SCIM
-- writes) count against the source's mass-removal thresholds over a rolling
-- window (DESIGN.md, safety rules). One row per applied batch that removed
-- people (removed > 0), and one marker per source for its latest full
-- snapshot applied or found unchanged (removed = -1, at_ns the time the
-- snapshot was read from): the window starts there, or 24 hours ago.
-- rows_removed counts the removed people no longer in the source's snapshot (the
-- others were marked inactive): with the source's rows now, they give the
-- people it had when the window began.
CREATE TABLE removal_window (
  source_id INTEGER NOT NULL REFERENCES sources(id),
  at_ns     INTEGER NOT NULL,
  drop_id   INTEGER NOT NULL,
  removed   INTEGER NOT NULL,
  rows_removed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX removal_window_source ON removal_window (source_id, at_ns);

-- Batches of a directory source that arrived while it had a held drop:
-- they wait, in order, and are applied once the held drop is decided, so
-- nothing of a source applies out of order. edits is the batch as JSON.
CREATE TABLE directory_queue (
  id          INTEGER PRIMARY KEY,
  source_id   INTEGER NOT NULL REFERENCES sources(id),
  name        TEXT NOT NULL,
  by_whom     TEXT NOT NULL,
  edits       TEXT NOT NULL,
  received_ns INTEGER NOT NULL
);
CREATE INDEX directory_queue_source ON directory_queue (source_id, id);

-- What a source's runs last did, for `sources list`, /v1/sources and the
-- console, whichever process asks: its pulls (directories) or the batches
-- pushed to it (when the latest started, the latest failure and how many in
-- a row), and the scheduler's next run. Its successes are its drops. Times
-- are RFC 3339 text, '' for never.
CREATE TABLE source_runs (
  source_id    INTEGER PRIMARY KEY REFERENCES sources(id),
  last_attempt TEXT NOT NULL DEFAULT '',
  last_error   TEXT NOT NULL DEFAULT '',
  failures     INTEGER NOT NULL DEFAULT 0,
  next_run     TEXT NOT NULL DEFAULT ''
);
