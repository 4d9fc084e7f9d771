-- The notifications log: one row per event and target, written when the
-- event is queued for the target and updated by every delivery attempt, so
-- an operator can see what was told to whom (muster notify log,
-- /v1/notifications) and a restart resumes deliveries still pending.
-- org is the organisation's name ("" for an event of the whole server, such
-- as an SFTP address banned); no foreign key, so an event of an organisation
-- with nothing ingested yet is kept too.
CREATE TABLE notifications (
  id          INTEGER PRIMARY KEY,
  org         TEXT NOT NULL,
  target      TEXT NOT NULL,
  event       TEXT NOT NULL,
  event_id    TEXT NOT NULL,
  source      TEXT NOT NULL DEFAULT '',
  summary     TEXT NOT NULL,
  -- the event as JSON, what is sent (never a secret)
  payload     TEXT NOT NULL,
  -- pending, delivered, failed (gave up), dropped (target removed)
  status      TEXT NOT NULL,
  attempts    INTEGER NOT NULL DEFAULT 0,
  last_error  TEXT NOT NULL DEFAULT '',
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);
CREATE INDEX notifications_org ON notifications (org, id);
CREATE INDEX notifications_status ON notifications (status, id);
