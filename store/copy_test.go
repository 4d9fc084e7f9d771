package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCopyToPostgres: a SQLite store with history (replaced versions, a
// held drop's diff, a suppression, events, a cursor, a lease) copied into
// PostgreSQL matches it table by table and in its audience digest; new
// rows then get new ids; a second copy into the same database is refused.
func TestCopyToPostgres(t *testing.T) {
	if os.Getenv(testEnv) == "" {
		t.Skip(testEnv + " is not set: the copy needs a PostgreSQL server")
	}
	if testBackend != "sqlite" {
		t.Skip("runs once, in the SQLite pass (it uses both backends)")
	}
	ctx := context.Background()
	from := openTarget(t, filepath.Join(t.TempDir(), FileName))
	r := &indexRig{t: t, s: from}
	org, err := from.EnsureOrg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.src, _, err = from.EnsureSource(ctx, org.ID, SourceConfig{Name: "hr", Authoritative: true}); err != nil {
		t.Fatal(err)
	}
	r.apply(nil, people(300, 0))
	r.apply(nil, people(50, 280), "p00001@example.com", "p00002@example.com")
	d := Drop{OrgID: org.ID, SourceID: r.src.ID, Kind: DropKindFile, Name: "held.csv", ContentHash: "h"}
	if err := from.CreateDrop(ctx, &d); err != nil {
		t.Fatal(err)
	}
	if err := from.HoldDrop(ctx, d.ID, 2, []byte(`{"decision":"held"}`), func(yield func(Change) error) error {
		return yield(Change{Op: OpRemove, Assertion: Assertion{Key: "p00003@example.com", Line: 2}})
	}); err != nil {
		t.Fatal(err)
	}
	tx, err := from.Begin(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.PutTombstones(r.src.ID, 2, d.ID, []string{"p00004@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.PutLift(&Lift{Key: "p00004@example.com", SourceID: r.src.ID, Say: -2, By: "admin", Reason: "contractor"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := from.RecordEvents(ctx, []AppliedEvent{{ID: "event_1", Object: "user:u1", Created: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := from.SetCursor(ctx, &Cursor{Name: "workos", EventID: "event_1"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := from.TryLease(ctx, "scheduler", "x", time.Minute); err != nil {
		t.Fatal(err)
	}

	testBackend = "postgres"
	target := testTarget(t)
	testBackend = "sqlite"
	to := openTarget(t, target)
	tables, err := from.CopyTo(ctx, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tables {
		t.Logf("%-20s %6d rows  %s %s", tc.Table, tc.Rows, tc.Source, tc.Target)
	}
	if bad := CopyMismatches(tables); len(bad) > 0 {
		t.Fatalf("tables differ after the copy: %v", bad)
	}
	if len(tables) < 10 {
		t.Fatalf("only %d tables compared", len(tables))
	}
	a, err := from.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := to.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("audience digests differ: %s and %s", a, b)
	}
	// The target is no longer empty: a second copy is refused.
	if _, err := from.CopyTo(ctx, to, nil); err == nil {
		t.Fatal("a second copy into a store holding rows was accepted")
	}
	// A difference is found: change one value in the copy.
	if _, err := to.db.Exec(`UPDATE snapshot SET line=line+1 WHERE key='p00010@example.com'`); err != nil {
		t.Fatal(err)
	}
	tables, err = from.Compare(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	if bad := CopyMismatches(tables); len(bad) != 1 || bad[0] != "snapshot" {
		t.Fatalf("after changing a snapshot row in the copy, differing tables: %v", bad)
	}
	// New rows get ids past the copied ones; new drops seqs past theirs.
	d2 := Drop{OrgID: org.ID, SourceID: r.src.ID, Kind: DropKindFile, Name: "next.csv", ContentHash: "n"}
	if err := to.CreateDrop(ctx, &d2); err != nil || d2.ID <= d.ID {
		t.Fatalf("a new drop after the copy: id %d (last copied %d), %v", d2.ID, d.ID, err)
	}
	nextSeq := func(s *Store) int64 {
		tx, err := s.Begin(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		seq, err := tx.NextSeq()
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	if a, b := nextSeq(from), nextSeq(to); a != b {
		t.Fatalf("next seq after the copy: %d, the SQLite store's %d", b, a)
	}
}
