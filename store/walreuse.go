package store

import (
	"context"
	"fmt"
	"os"
)

// The WAL is kept from one process to the next, as a running daemon keeps
// it from one drop to the next (its connections stay open, so SQLite never
// deletes it; after a checkpoint the next write transaction writes over
// it from its start). SQLite deletes it when the last connection closes:
// every `muster ingest` then appended its transaction to a new file (the
// file system allocating its blocks, the kernel new page-cache pages; a
// 1M-row next day writes ~100 MB of WAL) and unlinked it at exit. Each
// SQLite connection asks SQLite to keep the file (SQLITE_FCNTL_PERSIST_WAL,
// in the driver's connect hook) and Close restarts it (restartWAL).

// walRestartFrames is how many frames a WAL must hold for Close to restart
// it: fewer cost the next process little to read again.
const walRestartFrames = 64

// walKeepMin is the least a restarted WAL keeps of its file (tests lower
// it).
var walKeepMin int64 = 16 << 20

// walKeep is how much of its WAL file a store keeps at close: half the
// store file's size (a next day touching 2% of a million people writes
// about a third of its store's pages), at least walKeepMin. A first ingest
// writes a WAL as large as the store: the rest is given back.
func walKeep(storeSize int64) int64 {
	return max(storeSize/2, walKeepMin)
}

// restartWAL leaves the WAL ready to be written over by the next process.
// A kept WAL still holds the frames of the last transactions; the next
// process to open the store does not know they were copied into the store
// file already (the index of the WAL, in its -shm file, is rebuilt by the
// first connection), so it would read them all again and copy them into
// the store a second time. A RESTART checkpoint copies what is left and
// makes the next write start the WAL over; one small write (the header
// page's user_version, written as it is: muster does not use it) then
// writes a new WAL header, after which the old frames are no longer part
// of the WAL. That write is also the first transaction of the restarted
// WAL, which SQLite truncates to journal_size_limit: the file keeps
// walKeep of its size. Nothing waits for another process: with one in a
// transaction (busy) the WAL is left as it is, as it is after a crash.
func (s *Store) restartWAL() {
	ctx := context.Background()
	c, err := s.db.Conn(ctx)
	if err != nil {
		return
	}
	defer c.Close()
	var wait int64
	if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&wait); err != nil {
		return
	}
	if _, err := c.ExecContext(ctx, "PRAGMA busy_timeout=0"); err != nil {
		return
	}
	defer c.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout=%d", wait))
	var busy, frames, copied int
	err = c.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &copied)
	if err != nil || busy != 0 || frames < walRestartFrames || copied != frames {
		return
	}
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA journal_size_limit=%d", walKeep(fileSize(s.path)))); err != nil {
		return
	}
	// The limit is this connection's: set back, or its close (when it is
	// the last one) would truncate the WAL to nothing.
	defer c.ExecContext(ctx, "PRAGMA journal_size_limit=-1")
	var v int64
	if err := c.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return
	}
	_, _ = c.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version=%d", v))
}

// fileSize is the size of the file at path (0 when it cannot be read).
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
