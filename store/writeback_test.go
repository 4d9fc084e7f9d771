package store

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// While an organisation's write transaction runs on SQLite, the store file
// and its WAL are handed to the kernel to be written (flushStart) again and
// again; committed or rolled back, it stops before Commit or Rollback
// returns. PostgreSQL's transactions start none.
func TestWriteTransactionsStartWriteback(t *testing.T) {
	ctx := context.Background()
	target := testTarget(t)
	s := openTarget(t, target)
	org, err := s.EnsureOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if testBackend != "sqlite" {
		tx, err := s.Begin(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if tx.tx.writeback != nil {
			t.Fatal("a PostgreSQL transaction started a writeback")
		}
		return
	}
	if flushStart == nil {
		t.Skip("no writeback on this platform")
	}
	var mu sync.Mutex
	flushed := map[string]int{}
	real := flushStart
	every := writebackEvery
	defer func() { flushStart, writebackEvery = real, every }()
	writebackEvery = time.Millisecond
	flushStart = func(f *os.File) error {
		mu.Lock()
		flushed[filepath.Base(f.Name())]++
		mu.Unlock()
		return real(f) // the real call, on the real files: it must not fail
	}
	count := func() (files, calls int) {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range flushed {
			calls += n
		}
		return len(flushed), calls
	}
	for _, commit := range []bool{true, false} {
		clear(flushed)
		tx, err := s.Begin(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.exec("write", `UPDATE orgs SET name=name WHERE id=?`, org.ID); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			if files, calls := count(); files == 2 && calls >= 4 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("commit %v: flushed %v during the transaction, want the store file and its WAL, twice each", commit, flushed)
			}
		}
		mu.Lock()
		if flushed[FileName] == 0 || flushed[FileName+"-wal"] == 0 {
			t.Fatalf("commit %v: flushed %v, want %s and %s-wal", commit, flushed, FileName, FileName)
		}
		mu.Unlock()
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
		_, calls := count()
		time.Sleep(20 * time.Millisecond)
		if _, after := count(); after != calls {
			t.Fatalf("commit %v: %d more flushes after the transaction ended", commit, after-calls)
		}
	}
}

// flushStart works on a file opened only for reading (as the writeback
// opens the store's files).
func TestFlushStartOnReadOnlyFile(t *testing.T) {
	if flushStart == nil {
		t.Skip("no writeback on this platform")
	}
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := flushStart(f); err != nil {
		t.Fatal(err)
	}
}
