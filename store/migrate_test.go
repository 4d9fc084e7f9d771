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
	s, err := Open(ctx, testTarget(t))
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
	// Two migrations past this binary's, as an upgrade would bring.
	v0 := SchemaVersion()
	if v := version(); v != v0 {
		t.Fatalf("version %d, want %d", v, v0)
	}
	good := migration{version: v0 + 1, name: "a.sql", sql: `CREATE TABLE probe_a (id INTEGER PRIMARY KEY)`}
	bad := migration{version: v0 + 2, name: "b.sql", sql: `CREATE TABLE probe_a (id INTEGER PRIMARY KEY)`} // exists by then
	if _, err := s.applyMigrations(ctx, []migration{good, bad}); err == nil {
		t.Fatal("a failing migration applied")
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM migrations WHERE version > ?`, v0).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != v0 || n != 0 {
		t.Fatalf("after a failed set: version %d, %d recorded past %d, want none", v, n, v0)
	}
	// The good one's table was rolled back with the rest: it can be made again.
	bad.sql = `CREATE TABLE probe_b (id INTEGER PRIMARY KEY)`
	applied, err := s.applyMigrations(ctx, []migration{good, bad})
	if err != nil || len(applied) != 2 || version() != v0+2 {
		t.Fatalf("applied %v (%v), version %d, want both and %d", applied, err, version(), v0+2)
	}
	// Already recorded ones are skipped.
	if applied, err := s.applyMigrations(ctx, []migration{good, bad}); err != nil || len(applied) != 0 {
		t.Fatalf("applied again: %v (%v)", applied, err)
	}
}
