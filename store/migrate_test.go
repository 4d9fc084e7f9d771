package store

import (
	"context"
	"testing"
)

// TestPendingMigrationsApplyAtOnce: the migrations a store has not recorded
// run in one transaction, so one that fails leaves the store as it was
// (none of the others applied or recorded) and a good set is applied and
// recorded whole; on both backends.
func TestPendingMigrationsApplyAtOnce(t *testing.T) {
	ctx := context.Background()
	s, err := OpenWith(ctx, testTarget(t), Options{upTo: 12, Migrate: true, IndexDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	version := func() int {
		t.Helper()
		v, err := s.schemaVersion(ctx, s.db)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := version(); v != 12 {
		t.Fatalf("version %d, want 12", v)
	}
	good := migration{version: 13, name: "0013_a.sql", sql: `CREATE TABLE probe_a (id INTEGER PRIMARY KEY)`}
	bad := migration{version: 14, name: "0014_b.sql", sql: `CREATE TABLE probe_a (id INTEGER PRIMARY KEY)`} // exists by then
	if _, err := s.applyMigrations(ctx, []migration{good, bad}); err == nil {
		t.Fatal("a failing migration applied")
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM migrations WHERE version > 12`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != 12 || n != 0 {
		t.Fatalf("after a failed set: version %d, %d recorded past 12, want 12 and none", v, n)
	}
	// The good one's table was rolled back with the rest: it can be made again.
	bad.sql = `CREATE TABLE probe_b (id INTEGER PRIMARY KEY)`
	applied, err := s.applyMigrations(ctx, []migration{good, bad})
	if err != nil || len(applied) != 2 || version() != 14 {
		t.Fatalf("applied %v (%v), version %d, want both and 14", applied, err, version())
	}
	// Already recorded ones are skipped.
	if applied, err := s.applyMigrations(ctx, []migration{good, bad}); err != nil || len(applied) != 0 {
		t.Fatalf("applied again: %v (%v)", applied, err)
	}
}
