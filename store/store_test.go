package store

import (
	"context"
	"database/sql"
	"fmt"
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
		var fk, sync, busy, temp int
		c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
		c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk)
		c.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync)
		c.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy)
		c.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&temp)
		// synchronous 2: FULL; temp_store 0: DEFAULT (files: SQLite's
		// sorter spills; see beginWrite for the write transactions').
		if mode != "wal" || fk != 1 || sync != 2 || busy < 1000 || temp != 0 {
			t.Fatalf("connection %d: journal %s, foreign_keys %d, synchronous %d, busy_timeout %d, temp_store %d",
				i, mode, fk, sync, busy, temp)
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

// An organisation's write transaction keeps its statement journal in
// memory (temp_store=MEMORY) and its connection goes back to the pool with
// the default, committed or rolled back.
func TestWriteTransactionsKeepTempFilesInMemory(t *testing.T) {
	skipUnlessSQLite(t, "SQLite's temp_store")
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	org, err := s.EnsureOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, commit := range []bool{true, false} {
		tx, err := s.Begin(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		var temp int
		if err := tx.tx.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&temp); err != nil {
			t.Fatal(err)
		}
		if temp != 2 {
			t.Fatalf("temp_store %d in a write transaction, want 2 (MEMORY)", temp)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
		// Every idle connection, the transaction's among them, is back to
		// the default.
		idle := s.db.Stats().Idle
		if idle == 0 {
			t.Fatal("no idle connection after the transaction")
		}
		conns := make([]*sql.Conn, 0, idle)
		for range idle {
			c, err := s.db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			if err := c.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&temp); err != nil {
				t.Fatal(err)
			}
			if temp != 0 {
				t.Fatalf("commit %v: a pooled connection has temp_store %d after the transaction, want 0", commit, temp)
			}
		}
		for _, c := range conns {
			c.Close()
		}
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

// BenchmarkCommit measures what a durable commit costs: a small write
// transaction (a drop recorded and decided, as every drop's outcome is)
// with synchronous=FULL, the store's setting, against NORMAL, which would
// not sync the WAL at each commit.
//
//	go test -run X -bench Commit -benchtime 200x ./store
func BenchmarkCommit(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run(sync, func(b *testing.B) {
			ctx := context.Background()
			s, err := OpenWith(ctx, filepath.Join(b.TempDir(), FileName), Options{synchronous: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			org, err := s.EnsureOrg(ctx, "")
			if err != nil {
				b.Fatal(err)
			}
			src, _, err := s.EnsureSource(ctx, org.ID, SourceConfig{Name: "hr", Kind: KindCSV, Mode: ModeFull}.WithDefaults())
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				tx, err := s.Begin(ctx, org.ID)
				if err != nil {
					b.Fatal(err)
				}
				d := Drop{SourceID: src.ID, Kind: DropKindFile, Name: "x.csv", ContentHash: "h"}
				if err := tx.CreateDrop(&d); err != nil {
					b.Fatal(err)
				}
				d.Status, d.Report = DropRejected, []byte(`{}`)
				if err := tx.FinishDrop(d); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestParseIDs(t *testing.T) {
	for in, want := range map[string]string{"": "[]", ",3,": "[3]", ",3,17,": "[3 17]", "3,17": "[3 17]", ",,4,x,5,": "[4 5]"} {
		if got := fmt.Sprint(parseIDs(in)); got != want && !(want == "[]" && got == "[]") {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
		if in == ",3,17," && groupList(parseIDs(in)) != in {
			t.Errorf("%q does not round-trip", in)
		}
	}
}

// LookupOrg keeps the organisations it found (no query a request) and
// nothing about names it did not find: an organisation created later is
// found, and the answer is the same with and without the cache.
func TestLookupOrgCachesOnlyWhatItFound(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t)
	if _, err := s.LookupOrg(ctx, "acme"); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("before EnsureOrg: %v", err)
	}
	made, err := s.EnsureOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first from the database, the second from the cache
		got, err := s.LookupOrg(ctx, "acme")
		if err != nil || got != made {
			t.Fatalf("LookupOrg = %+v, %v; want %+v", got, err, made)
		}
	}
	if _, ok := s.orgs.Load("acme"); !ok {
		t.Fatal("acme not kept")
	}
	if _, err := s.LookupOrg(ctx, "other"); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("other: %v", err)
	}
	if _, ok := s.orgs.Load("other"); ok {
		t.Fatal("a name not found was kept")
	}
}
