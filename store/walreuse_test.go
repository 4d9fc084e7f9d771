package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mustFillWAL writes about n bytes into the store through one transaction
// (a table of its own: the WAL is what is looked at).
func mustFillWAL(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS filler(v BLOB)`); err != nil {
		t.Fatal(err)
	}
	row := []byte(strings.Repeat("x", 1000))
	for range n / len(row) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO filler(v) VALUES(?)`, row); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// walFrames opens the store file as the next process would (its WAL's
// index rebuilt from the WAL) and says how many frames its WAL holds.
func walFrames(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open(driverName, dsn(path, Options{BusyTimeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var busy, frames, copied int
	if err := db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		t.Fatal(err)
	}
	return frames
}

// A closed SQLite store keeps its WAL, restarted: the next process finds
// no frame of the transactions before to read and copy again (one, the
// write that restarted it), and its file is cut to walKeep of the store's
// size.
func TestCloseKeepsARestartedWAL(t *testing.T) {
	defer func(k int64) { walKeepMin = k }(walKeepMin)
	walKeepMin = 64 << 10
	path := filepath.Join(t.TempDir(), FileName)
	s, err := OpenWith(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustFillWAL(t, s, 4<<20)
	before := fileSize(path + "-wal")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatalf("the WAL is gone after Close: %v", err)
	}
	keep := walKeep(fileSize(path))
	if before <= keep || after.Size() > keep || after.Size() == 0 {
		t.Fatalf("WAL %d bytes before Close, %d after, want at most %d kept (and some)", before, after.Size(), keep)
	}
	if n := walFrames(t, path); n > 1 {
		t.Fatalf("the next process finds %d frames in the WAL, want at most the one that restarted it", n)
	}
	// And the store holds what was written.
	s, err = OpenWith(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var rows int
	if err := s.db.QueryRow(`SELECT count(*) FROM filler`).Scan(&rows); err != nil || rows != (4<<20)/1000 {
		t.Fatalf("filler rows = %d, %v", rows, err)
	}
}

// With another connection reading (another process, say), Close does not
// wait to restart the WAL (its busy timeout here is an hour): it leaves the
// WAL as it is, for a later process to read again.
func TestCloseDoesNotWaitToRestartTheWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := OpenWith(context.Background(), path, Options{BusyTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	mustFillWAL(t, s, 1<<20)
	reader := strings.Replace(dsn(path, Options{BusyTimeout: time.Second}), "_txlock=immediate", "_txlock=deferred", 1)
	other, err := sql.Open(driverName, reader)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	rtx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow(`SELECT count(*) FROM filler`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rtx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if n := walFrames(t, path); n < walRestartFrames {
		t.Fatalf("the WAL holds %d frames: it was restarted under a reader", n)
	}
}
