-- As SQLite's 0003_snapshot_token.sql.
ALTER TABLE sources ADD COLUMN snapshot_token bigint NOT NULL DEFAULT 0;
