-- As SQLite's 0005_leases.sql.
CREATE TABLE leases (
  name        text COLLATE "C" PRIMARY KEY,
  holder      text COLLATE "C" NOT NULL,
  term        bigint NOT NULL,
  acquired_ms bigint NOT NULL,
  renewed_ms  bigint NOT NULL,
  expires_ms  bigint NOT NULL
);
