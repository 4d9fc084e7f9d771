package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestFirstDropChanges: a source's large first drop adds its rows (by COPY
// on PostgreSQL, multi-row INSERTs on SQLite), those after its first
// firstDropIndexed with first_drop set (left out of snapshot_seq) and the
// drop listed in first_drops; a small first drop leaves nothing out; every later write that gives a row
// another seq (an update through Assert or ReplaceAssertions) clears it.
// Each drop's changes are listed whole on both backends: the large first
// drop's through the primary key, the others' (the small first drop's, and
// updates by both paths and an add) through the index.
func TestFirstDropChanges(t *testing.T) {
	ctx := context.Background()
	s, org, src := mustOrgSource(t)
	// apply runs one drop of the source as an apply does: recorded
	// against the source's seq, its rows written, then applied.
	apply := func(src Source, write func(tx *Tx, d Drop) error) Drop {
		t.Helper()
		tx, err := s.Begin(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		cur, err := tx.Source(src.ID)
		if err != nil {
			t.Fatal(err)
		}
		d := Drop{SourceID: src.ID, Kind: DropKindFile, Name: fmt.Sprint("day", cur.Seq), BaseSeq: cur.Seq}
		if err := tx.CreateDrop(&d); err != nil {
			t.Fatal(err)
		}
		if d.Seq, err = tx.NextSeq(); err != nil {
			t.Fatal(err)
		}
		if err := write(tx, d); err != nil {
			t.Fatal(err)
		}
		d.Status = DropApplied
		if err := tx.FinishDrop(d); err != nil {
			t.Fatal(err)
		}
		if err := tx.SetSource(src.ID, d.Seq, 0); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		return d
	}
	list := func(d Drop, limit int) []string {
		var out []string
		after := ""
		for {
			page, next, err := s.DropChanges(ctx, d, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page {
				out = append(out, fmt.Sprintf("%v %s %s", c.Op, c.Key, c.LastName))
			}
			if next == "" {
				return out
			}
			after = next
		}
	}
	row := func(d Drop, i int, last string) Assertion {
		k := fmt.Sprintf("p%04d@example.com", i)
		return Assertion{SourceID: src.ID, Seq: d.Seq, DropID: d.ID, Key: k, Line: i + 2, Email: k, FirstName: "P", LastName: last}
	}
	const n = firstDropIndexed + 300
	first := apply(src, func(tx *Tx, d Drop) error {
		var as []Assertion
		for i := range n {
			as = append(as, row(d, i, "First"))
		}
		return tx.InsertAssertions(as)
	})
	other, _, err := s.EnsureSource(ctx, org.ID, SourceConfig{Name: "small"})
	if err != nil {
		t.Fatal(err)
	}
	small := apply(other, func(tx *Tx, d Drop) error {
		return tx.InsertAssertions([]Assertion{
			{SourceID: other.ID, Seq: d.Seq, DropID: d.ID, Key: "a@example.com", Email: "a@example.com"},
			{SourceID: other.ID, Seq: d.Seq, DropID: d.ID, Key: "b@example.com", Email: "b@example.com"},
		})
	})
	var flagged, listed int
	if err := s.db.QueryRow(`SELECT count(*) FROM snapshot WHERE first_drop AND source_id=? AND seq=?`, src.ID, first.Seq).Scan(&flagged); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRow(`SELECT count(*) FROM first_drops WHERE drop_id=?`, first.ID).Scan(&listed); err != nil {
		t.Fatal(err)
	}
	if flagged != n-firstDropIndexed || listed != 1 {
		t.Fatalf("%d rows of the first drop have first_drop (want %d), listed %d", flagged, n-firstDropIndexed, listed)
	}
	if err := s.db.QueryRow(`SELECT (SELECT count(*) FROM snapshot WHERE first_drop AND source_id=?)
		+ (SELECT count(*) FROM first_drops WHERE drop_id=?)`, other.ID, small.ID).Scan(&flagged); err != nil {
		t.Fatal(err)
	}
	if flagged != 0 {
		t.Fatalf("a first drop of 2 rows: %d rows left out or listed", flagged)
	}
	if got := len(list(small, 1)); got != 2 {
		t.Fatalf("%d changes of the small first drop, want 2", got)
	}
	second := apply(src, func(tx *Tx, d Drop) error {
		for _, i := range []int{5, n - 100} { // one row at a time (Assert)
			old, ok, err := tx.Current(src.ID, row(first, i, "").Key)
			if err != nil || !ok {
				return fmt.Errorf("current %d: %v %v", i, ok, err)
			}
			if err := tx.Assert(row(d, i, "Second"), &old); err != nil {
				return err
			}
		}
		// In bulk (ReplaceAssertions), the versions replaced kept first.
		keys := []string{row(first, 7, "").Key, row(first, n-150, "").Key}
		if _, err := tx.ArchiveAssertions(src.ID, keys, d.Seq); err != nil {
			return err
		}
		if err := tx.ReplaceAssertions([]Assertion{row(d, 7, "Second"), row(d, n-150, "Second")}); err != nil {
			return err
		}
		return tx.InsertAssertions([]Assertion{row(d, n+1, "Second")})
	})
	if second.BaseSeq != first.Seq || first.BaseSeq != 0 {
		t.Fatalf("base seqs %d, %d", first.BaseSeq, second.BaseSeq)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("%v %s First", OpAdd, row(first, i, "").Key))
	}
	wantSecond := []string{}
	for _, i := range []int{5, 7, n - 150, n - 100} {
		wantSecond = append(wantSecond, fmt.Sprintf("%v %s Second", OpUpdate, row(first, i, "").Key))
	}
	wantSecond = append(wantSecond, fmt.Sprintf("%v %s Second", OpAdd, row(first, n+1, "").Key))
	for _, limit := range []int{97, 1000} {
		// The first drop's changes: the rows it added, those updated since
		// included (as they were then, from their kept versions).
		if got := list(first, limit); !slices.Equal(got, want) {
			t.Fatalf("first drop's changes (pages of %d): %d, want %d (got from %q, want from %q)",
				limit, len(got), len(want), got[:min(3, len(got))], want[:3])
		}
		if got := list(second, limit); !slices.Equal(got, wantSecond) {
			t.Fatalf("second drop's changes (pages of %d):\n%q\nwant\n%q", limit, got, wantSecond)
		}
	}
}
