-- As SQLite's 0007_tombstones_lifts.sql (read it for what each holds).
CREATE TABLE tombstones (
  org_id    bigint NOT NULL REFERENCES orgs(id),
  source_id bigint NOT NULL REFERENCES sources(id),
  key       text COLLATE "C" NOT NULL,
  seq       bigint NOT NULL,
  drop_id   bigint NOT NULL,
  PRIMARY KEY (source_id, key)
);
CREATE INDEX tombstones_key ON tombstones (org_id, key);

CREATE TABLE lifts (
  org_id     bigint NOT NULL REFERENCES orgs(id),
  key        text COLLATE "C" NOT NULL,
  source_id  bigint NOT NULL REFERENCES sources(id),
  say        bigint NOT NULL,
  created_at text COLLATE "C" NOT NULL,
  lifted_by  text COLLATE "C" NOT NULL,
  reason     text NOT NULL,
  PRIMARY KEY (org_id, key, source_id)
);

INSERT INTO tombstones (org_id, source_id, key, seq, drop_id)
SELECT p.org_id, p.source_id, p.key, coalesce(d.seq, 0), coalesce(p.drop_id, 0)
FROM suppressions p
JOIN sources s ON s.id = p.source_id AND s.removed_at IS NULL
LEFT JOIN drops d ON d.id = p.drop_id
WHERE p.lifted_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM snapshot a WHERE a.source_id = p.source_id AND a.key = p.key);

INSERT INTO lifts (org_id, key, source_id, say, created_at, lifted_by, reason)
SELECT p.org_id, p.key, a.source_id, a.hash, p.lifted_at, coalesce(p.lifted_by, ''), coalesce(p.lift_reason, '')
FROM suppressions p
JOIN sources s ON s.org_id = p.org_id AND s.authoritative AND s.removed_at IS NULL
JOIN snapshot a ON a.source_id = s.id AND a.key = p.key AND a.status = 1
WHERE p.lifted_at IS NOT NULL
  AND coalesce(p.lifted_by, '') NOT LIKE 'source %'
  AND p.id = (SELECT max(q.id) FROM suppressions q WHERE q.org_id = p.org_id AND q.key = p.key);

CREATE TABLE pending_rebuilds (
  org_id bigint PRIMARY KEY REFERENCES orgs(id)
);
INSERT INTO pending_rebuilds (org_id) SELECT id FROM orgs;
