package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"muster/schema"
)

// TestDecidedDropKeepsItsDecision: a drop decided by one process (closed as
// interrupted by the daemon, or a held drop rejected by an admin) is not
// given another outcome by a second process that read it earlier: holding
// or finishing it is a conflict, and it stays as decided.
func TestDecidedDropKeepsItsDecision(t *testing.T) {
	ctx := context.Background()
	target := testTarget(t)
	a := openTarget(t, target)
	b := openTarget(t, target) // the other process
	org, err := a.EnsureOrg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	src, _, err := a.EnsureSource(ctx, org.ID, SourceConfig{Name: "hr"})
	if err != nil {
		t.Fatal(err)
	}
	newDrop := func() Drop {
		d := Drop{OrgID: org.ID, SourceID: src.ID, Kind: DropKindFile, Name: "x.csv", ContentHash: "h"}
		if err := a.CreateDrop(ctx, &d); err != nil {
			t.Fatal(err)
		}
		if err := b.DecideDrop(ctx, org.ID, d.ID, DropRejected, []byte(`{"decision":"rejected"}`), "watcher"); err != nil {
			t.Fatal(err)
		}
		return d
	}
	check := func(d Drop, err error, what string) {
		t.Helper()
		if schema.ErrorCodeOf(err) != schema.EConflict {
			t.Fatalf("%s a drop rejected meanwhile: %v, want a conflict", what, err)
		}
		got, err := a.Drop(ctx, org.ID, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != DropRejected || got.DecidedBy != "watcher" || got.Seq != 0 {
			t.Fatalf("after %s: drop is %s (seq %d) by %q, want rejected by watcher", what, got.Status, got.Seq, got.DecidedBy)
		}
	}

	d := newDrop()
	err = a.HoldDrop(ctx, d.ID, 0, []byte(`{"decision":"held"}`), func(yield func(Change) error) error {
		return yield(Change{Op: OpAdd, Assertion: Assertion{Key: "a@example.com", Email: "a@example.com"}})
	})
	check(d, err, "holding")
	var held int
	if err := a.db.QueryRow(`SELECT count(*) FROM drop_changes WHERE drop_id=?`, d.ID).Scan(&held); err != nil || held != 0 {
		t.Fatalf("%d held changes kept for a rejected drop (%v)", held, err)
	}

	d = newDrop()
	tx, err := a.Begin(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.SetSource(src.ID, 1, 0); err != nil {
		t.Fatal(err)
	}
	d.Status, d.Seq = DropApplied, 1
	err = tx.FinishDrop(d)
	tx.Rollback()
	check(d, err, "finishing")
}

// TestHeldChangesPage pages through a held drop's changes from any cursor
// (a key held, one between two held keys, before the first, past the last)
// and finds exactly what reading them all and skipping to the cursor does.
func TestHeldChangesPage(t *testing.T) {
	ctx := context.Background()
	rig := newIndexRig(t)
	st, src := rig.s, rig.src
	d := Drop{OrgID: src.OrgID, SourceID: src.ID, Kind: DropKindFile, Name: "x.csv", ContentHash: "h"}
	if err := st.CreateDrop(ctx, &d); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	keys := make([]string, n) // in key order, as a held diff is stored
	for i := range keys {
		keys[i] = fmt.Sprintf("p%05d@example.com", 2*i)
	}
	err := st.HoldDrop(ctx, d.ID, 0, []byte(`{}`), func(yield func(Change) error) error {
		for i, k := range keys {
			if err := yield(Change{Op: OpRemove, Assertion: Assertion{Key: k, Line: i + 2}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []string{"", "a", keys[0], "p00001@example.com", keys[499], keys[n-2], keys[n-1], "z"} {
		var want []string
		for _, k := range keys {
			if k > after {
				want = append(want, k)
			}
		}
		for _, limit := range []int{1, 7, 100, n + 5} {
			var got []string
			cursor := after
			for pages := 0; ; pages++ {
				page, next, err := st.HeldChangesPage(ctx, d.ID, cursor, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > limit || pages > n {
					t.Fatalf("after %q limit %d: a page of %d", after, limit, len(page))
				}
				for _, c := range page {
					got = append(got, c.Key)
				}
				if next == "" {
					break
				}
				cursor = next
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("after %q, pages of %d: %d keys, want %d", after, limit, len(got), len(want))
			}
		}
	}
}
