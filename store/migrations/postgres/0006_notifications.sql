-- As SQLite's 0006_notifications.sql (read it for what each column holds),
-- for the PostgreSQL store (issue 17): the same table, its ids a sequence,
-- its texts compared byte by byte as SQLite compares them.
CREATE TABLE notifications (
  id          bigserial PRIMARY KEY,
  org         text COLLATE "C" NOT NULL,
  target      text COLLATE "C" NOT NULL,
  event       text COLLATE "C" NOT NULL,
  event_id    text COLLATE "C" NOT NULL,
  source      text COLLATE "C" NOT NULL DEFAULT '',
  summary     text NOT NULL,
  payload     text NOT NULL,
  status      text COLLATE "C" NOT NULL,
  attempts    bigint NOT NULL DEFAULT 0,
  last_error  text NOT NULL DEFAULT '',
  created_at  text COLLATE "C" NOT NULL,
  updated_at  text COLLATE "C" NOT NULL
);
CREATE INDEX notifications_org ON notifications (org, id);
CREATE INDEX notifications_status ON notifications (status, id);
