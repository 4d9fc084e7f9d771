-- Coordination between muster instances sharing one store.
--
-- Leases: the right, for a while, to run what must run on one instance at a
-- time (the scheduler's leader, see store/lease.go). holder names the
-- instance; term grows at every change of holder (a fencing token); times
-- are the database clock's, in Unix milliseconds, so instances whose clocks
-- disagree still agree on who holds it.
CREATE TABLE leases (
  name        TEXT PRIMARY KEY,
  holder      TEXT NOT NULL,
  term        INTEGER NOT NULL,
  acquired_ms INTEGER NOT NULL,
  renewed_ms  INTEGER NOT NULL,
  expires_ms  INTEGER NOT NULL
) WITHOUT ROWID;

-- Files being processed, one row each, by the path relative to the folder
-- all instances share (drops/...): an instance holds a row's lock (SELECT
-- ... FOR UPDATE SKIP LOCKED, on PostgreSQL) while it takes the file
-- through the pipeline and files it away, so no other instance takes it
-- meanwhile, and one that dies lets it go with its connection. On SQLite
-- (one instance) the table is not used.
CREATE TABLE file_claims (
  name       TEXT PRIMARY KEY,
  claimed_ms INTEGER NOT NULL
) WITHOUT ROWID;
