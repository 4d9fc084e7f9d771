package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"muster/schema"
	"muster/store"
)

// TestSpillSortsAcrossRuns writes more than one chunk so the external merge
// runs, and checks every change comes back once, whole, in key order.
func TestSpillSortsAcrossRuns(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 120000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			sp, _ := newSpill(t.TempDir())
			defer sp.Close()
			sp.limit = 1 << 20 // many runs
			want := make([]string, 0, n)
			r := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < n; i++ {
				k := fmt.Sprintf("k%08d@example.com", r.IntN(1<<30))
				k += fmt.Sprint(i) // unique
				want = append(want, k)
				c := store.Change{Op: store.OpAdd, Assertion: store.Assertion{Key: k, Email: k, FirstName: "F" + k,
					Line: i + 2, Hash: uint64(i), Groups: []string{"a", "b"}, Status: schema.StatusInactive}}
				c.Attrs[schema.AttrCity] = "City" + k
				if err := sp.add(&c); err != nil {
					t.Fatal(err)
				}
			}
			if n == 120000 && len(sp.runs) < 2 {
				t.Fatalf("%d runs: the merge is not exercised", len(sp.runs))
			}
			slices.Sort(want)
			for pass := 0; pass < 2; pass++ {
				var got []string
				err := sp.each(func(c store.Change) error {
					if c.FirstName != "F"+c.Key || c.Attrs[schema.AttrCity] != "City"+c.Key || len(c.Groups) != 2 || c.Status != schema.StatusInactive {
						return fmt.Errorf("change %q came back altered: %+v", c.Key, c)
					}
					got = append(got, c.Key)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("pass %d: %d keys back, want %d in order", pass, len(got), len(want))
				}
			}
		})
	}
}

func TestPrefetchKeepsOrderAndStopsOnError(t *testing.T) {
	each := func(fn func(store.Change) error) error {
		for i := 0; i < 1000; i++ {
			if err := fn(store.Change{Assertion: store.Assertion{Line: i}}); err != nil {
				return err
			}
		}
		return nil
	}
	next := 0
	err := prefetch(context.Background(), each)(func(c store.Change) error {
		if c.Line != next {
			return fmt.Errorf("change %d came %dth", c.Line, next)
		}
		next++
		return nil
	})
	if err != nil || next != 1000 {
		t.Fatalf("prefetch: %v after %d", err, next)
	}
	stop := errors.New("stop")
	n := 0
	err = prefetch(context.Background(), each)(func(store.Change) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("error from fn: %v, want stop", err)
	}
	failing := func(fn func(store.Change) error) error { return errors.New("disk on fire") }
	if err := prefetch(context.Background(), failing)(func(store.Change) error { return nil }); err == nil {
		t.Fatal("an error from each was lost")
	}
}
