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
