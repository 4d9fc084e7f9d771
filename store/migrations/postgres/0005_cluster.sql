-- As SQLite's 0005_cluster.sql.
CREATE TABLE leases (
  name        text COLLATE "C" PRIMARY KEY,
  holder      text COLLATE "C" NOT NULL,
  term        bigint NOT NULL,
  acquired_ms bigint NOT NULL,
  renewed_ms  bigint NOT NULL,
  expires_ms  bigint NOT NULL
);

CREATE TABLE file_claims (
  name       text COLLATE "C" PRIMARY KEY,
  claimed_ms bigint NOT NULL
);
