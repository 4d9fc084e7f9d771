package store

import (
	"context"
	"path/filepath"
	"testing"

	"muster/schema"
)

func TestMigrationsRecordedAndNewerStoreRefused(t *testing.T) {
	ctx := context.Background()
	path := testTarget(t)
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var n, v int
	if err := s.db.QueryRow(`SELECT count(*), max(version) FROM migrations`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if v != SchemaVersion() || n != v {
		t.Fatalf("migrations recorded: %d, version %d, want all up to %d", n, v, SchemaVersion())
	}
	// Opening again applies nothing twice.
	s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	// A store written by a newer muster is refused, untouched.
	if _, err := s.db.Exec(`INSERT INTO migrations VALUES(?, 'future.sql', 'x')`, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(ctx, path)
	if schema.ErrorCodeOf(err) != schema.EInvalid {
		t.Fatalf("opening a newer store: %v, want an invalid error", err)
	}
}

func TestConnectionSettingsFromDSN(t *testing.T) {
	skipUnlessSQLite(t, "SQLite's per-connection settings")
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Every pooled connection gets the settings: check on several at once.
	ctx := context.Background()
	conns := make([]interface{ Close() error }, 0, 3)
	for i := 0; i < 3; i++ {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var mode string
		var fk, sync, busy int
		c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
		c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk)
		c.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync)
		c.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy)
		if mode != "wal" || fk != 1 || sync != 1 || busy < 1000 {
			t.Fatalf("connection %d: journal %s, foreign_keys %d, synchronous %d, busy_timeout %d", i, mode, fk, sync, busy)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestForeignKeysEnforced(t *testing.T) {
	s := openTarget(t, testTarget(t))
	_, err := s.db.Exec(`INSERT INTO sources(org_id, name, kind, mode, priority, authoritative, max_remove_percent,
		max_remove_count, max_invalid_percent, attrs, created_at) VALUES(999, 'x', 'csv', 'full', 0, ?, 20, 500, 2, 0, 'now')`, false)
	if !isConstraint(err) {
		t.Fatalf("a source of a missing organisation: %v, want a constraint error", err)
	}
}
