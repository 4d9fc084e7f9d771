package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"muster/schema"
	"muster/store"
)

// TestSpillSortsAcrossRuns writes more than one chunk so the external merge
// runs, and checks every change comes back once, whole, in key order; and
// so does a small drop's diff, sorted in memory whatever its length. Keys
// share long prefixes (beyond the 16 bytes sorting compares first) and
// short ones.
func TestSpillSortsAcrossRuns(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 120000} {
		for _, sized := range []bool{false, true} {
			t.Run(fmt.Sprint(n, sized), func(t *testing.T) { testSpillSorts(t, n, sized) })
		}
	}
}

func testSpillSorts(t *testing.T, n int, sized bool) {
	sp, _ := newSpill(t.TempDir())
	defer sp.Close()
	sp.limit = 1 << 20 // many runs
	if sized {
		sp.sizeFor(smallDrop, true) // a drop's file of smallDrop bytes: one chunk
	}
	want := make([]string, 0, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("k%08d@example.com", r.IntN(1<<30))
		switch i % 3 {
		case 1:
			k = fmt.Sprintf("isabella.johnson.%d@x.org", r.IntN(1<<30))
		case 2:
			k = fmt.Sprint("a", r.IntN(100))
		}
		k += fmt.Sprint(i) // unique
		want = append(want, k)
		c := store.Change{Op: store.OpAdd, Assertion: store.Assertion{Key: k, Email: k, FirstName: "F" + k,
			Line: i + 2, Hash: uint64(i), Groups: []string{"a", "b"}, Status: schema.StatusInactive}}
		c.Attrs[schema.AttrCity] = "City" + k
		if err := sp.add(&c); err != nil {
			t.Fatal(err)
		}
	}
	if n == 120000 && !sized && len(sp.runs) < 2 {
		t.Fatalf("%d runs: the merge is not exercised", len(sp.runs))
	}
	if sized && len(sp.runs) != 0 {
		t.Fatalf("a small drop's diff wrote %d runs", len(sp.runs))
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
}

// dedup finds rows repeating a key among the fresh ones, in memory and
// across runs: the first row of a key stands (a marker for an invalid one,
// never given back), later ones are reported with the first's line and
// dropped; rows added after dedup (removals) come back in key order too.
func TestSpillDedup(t *testing.T) {
	for _, limit := range []int{chunkBytes, 2 << 10} {
		sp, _ := newSpill(t.TempDir())
		defer sp.Close()
		sp.limit = limit
		r := rand.New(rand.NewPCG(5, 6))
		first := map[string]int{}
		marker := map[string]bool{}
		var repeats []int
		for line := 2; line < 3000; line++ {
			k := fmt.Sprintf("k%04d@x.org", r.IntN(1500))
			c := store.Change{Op: store.OpAdd, Assertion: store.Assertion{Key: k, Email: k, Line: line, UID: fmt.Sprint("u", line)}}
			if r.IntN(4) == 0 {
				c.Op = opMarker
			}
			if f, ok := first[k]; ok && f != line {
				repeats = append(repeats, line)
			} else {
				first[k], marker[k] = line, c.Op == opMarker
			}
			if err := sp.addFresh(&c, line%3); err != nil {
				t.Fatal(err)
			}
		}
		if limit != chunkBytes && len(sp.runs) < 3 {
			t.Fatalf("%d runs: the merge is not exercised", len(sp.runs))
		}
		var gotRepeats []int
		firstMarkers := 0
		err := sp.dedup(func(d spillDup) error {
			switch {
			case !d.repeats:
				if d.c.Op != opMarker || first[d.c.Key] != d.c.Line || d.c.UID != fmt.Sprint("u", d.c.Line) {
					return fmt.Errorf("reported as first: %+v", d)
				}
				firstMarkers++
			case d.first != first[d.c.Key] || d.rat != d.c.Line%3:
				return fmt.Errorf("line %d: first %d rat %d, want %d %d", d.c.Line, d.first, d.rat, first[d.c.Key], d.c.Line%3)
			default:
				gotRepeats = append(gotRepeats, d.c.Line)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(gotRepeats)
		if !slices.Equal(gotRepeats, repeats) {
			t.Fatalf("limit %d: %d repeats found, want %d", limit, len(gotRepeats), len(repeats))
		}
		wantMarkers, applied := 0, 0
		for k := range first {
			if marker[k] {
				wantMarkers++
			} else {
				applied++
			}
		}
		if firstMarkers != wantMarkers {
			t.Fatalf("%d first markers, want %d", firstMarkers, wantMarkers)
		}
		// Removals come after dedup, between the fresh keys.
		for i := range 200 {
			k := fmt.Sprintf("k%04d@x.org~gone%d", r.IntN(1500), i)
			if err := sp.add(&store.Change{Op: store.OpRemove, Assertion: store.Assertion{Key: k}}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		err = sp.each(func(c store.Change) error {
			if c.Op == opMarker || c.Op == store.OpAdd && first[c.Key] != c.Line {
				return fmt.Errorf("given back: %+v", c)
			}
			got = append(got, c.Key)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != applied+200 || sp.Len() != len(got) || !slices.IsSorted(got) {
			t.Fatalf("limit %d: %d changes back (Len %d), want %d in key order", limit, len(got), sp.Len(), applied+200)
		}
	}
}

// TestSpillDedupWithoutMarkers: a chunk of valid rows only is walked by
// dedup only when its sort compared two equal keys; a sort compares every
// two records it leaves next to each other, so a key there twice is always
// found, wherever its rows are and however many there are.
func TestSpillDedupWithoutMarkers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 2, 3, 17, 100, 1000, 5000} {
		for _, dups := range []int{0, 1, 2, 50} {
			sp, _ := newSpill(t.TempDir())
			first := map[string]int{}
			var repeats []int
			keys := r.Perm(4 * n)
			for line := 2; line < n+2; line++ {
				// Keys sharing their first 16 bytes, some the same.
				k := fmt.Sprintf("isabella.johnson.%06d@example.com", keys[line-2])
				if dups > 0 && line > 2 && r.IntN(n) < dups {
					k = fmt.Sprintf("isabella.johnson.%06d@example.com", keys[r.IntN(line-2)])
				}
				if _, ok := first[k]; ok {
					repeats = append(repeats, line)
				} else {
					first[k] = line
				}
				if err := sp.addFresh(&store.Change{Op: store.OpAdd, Assertion: store.Assertion{Key: k, Email: k, Line: line}}, 0); err != nil {
					t.Fatal(err)
				}
			}
			var got []int
			err := sp.dedup(func(d spillDup) error {
				if !d.repeats || d.first != first[d.c.Key] {
					return fmt.Errorf("reported %+v", d)
				}
				got = append(got, d.c.Line)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, repeats) {
				t.Fatalf("%d rows, %d repeats: dedup found %d", n, len(repeats), len(got))
			}
			back := 0
			if err := sp.each(func(c store.Change) error {
				if first[c.Key] != c.Line {
					return fmt.Errorf("repeat given back: %+v", c)
				}
				back++
				return nil
			}); err != nil || back != len(first) {
				t.Fatalf("%d rows: %d back (%v), want %d", n, back, err, len(first))
			}
			sp.Close()
		}
	}
}

// TestSortChunkAsComparing: the chunk sorted by prefix bytes, then by
// comparing, is in the order of a plain sort by key and arrival, for keys
// short and long, sharing short or long beginnings, repeated or not, in
// piles small and large; and the sort says two keys were equal exactly
// when one is there twice.
func TestSortChunkAsComparing(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	letters := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abcz.\xc3\xa9"[r.IntN(7)]
		}
		return string(b)
	}
	shapes := []func(i int) string{
		func(int) string { return letters(1 + r.IntN(40)) },
		func(int) string { return letters(1 + r.IntN(3)) },
		func(i int) string { return fmt.Sprintf("isabella.johnson.%d@example.com", r.IntN(1<<20)) },
		func(i int) string { return fmt.Sprintf("%s.%s.%d@x.org", letters(2), letters(3), r.IntN(300)) },
		func(i int) string { return strings.Repeat("q", 16) + letters(r.IntN(3)) },
	}
	for _, n := range []int{1, 2, 50, 97, 500, 3000, 20000} {
		for si, shape := range shapes {
			for _, dup := range []bool{false, true} {
				sp, _ := newSpill(t.TempDir())
				seen := map[string]bool{}
				twice := false
				for line := 0; line < n; line++ {
					k := shape(line)
					if seen[k] && !dup {
						continue
					}
					twice = twice || seen[k]
					seen[k] = true
					if err := sp.add(&store.Change{Op: store.OpAdd, Assertion: store.Assertion{Key: k, Line: line}}); err != nil {
						t.Fatal(err)
					}
				}
				want := slices.Clone(sp.index)
				slices.SortFunc(want, func(a, b chunkRec) int {
					if c := strings.Compare(string(sp.key(a)), string(sp.key(b))); c != 0 {
						return c
					}
					return cmp.Compare(a.off, b.off)
				})
				sp.sortChunk()
				if !slices.Equal(sp.index, want) {
					t.Fatalf("%d keys of shape %d: not in order", len(want), si)
				}
				if sp.equalKeys != twice {
					t.Fatalf("%d keys of shape %d: equal keys %v, want %v", len(want), si, sp.equalKeys, twice)
				}
				sp.Close()
			}
		}
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
	err := prefetch(context.Background(), each)(func(c *store.Change) error {
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
	err = prefetch(context.Background(), each)(func(*store.Change) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("error from fn: %v, want stop", err)
	}
	failing := func(fn func(store.Change) error) error { return errors.New("disk on fire") }
	if err := prefetch(context.Background(), failing)(func(*store.Change) error { return nil }); err == nil {
		t.Fatal("an error from each was lost")
	}
}

// TestSpillInMemoryChangesAreViews: a diff sorted in memory gives its
// changes back as views of the chunk, not copies (a string a change was a
// 100k first ingest's most common allocation), and changes kept from one
// reading are whole after another.
func TestSpillInMemoryChangesAreViews(t *testing.T) {
	sp, _ := newSpill(t.TempDir())
	defer sp.Close()
	sp.sizeFor(1<<20, true)
	const n = 1000
	for i := range n {
		k := fmt.Sprintf("p%04d@example.com", n-i)
		c := store.Change{Op: store.OpAdd, Assertion: store.Assertion{Key: k, Email: k, FirstName: "F" + k, Line: i + 2,
			Groups: []string{"All", "G" + k}}}
		c.Attrs[schema.AttrCity] = "City" + k
		if err := sp.add(&c); err != nil {
			t.Fatal(err)
		}
	}
	var kept []store.Change
	if err := sp.each(func(c store.Change) error { kept = append(kept, c); return nil }); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(3, func() {
		if err := sp.each(func(store.Change) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
	if allocs >= n/10 {
		t.Fatalf("%.0f allocations to read %d changes in memory", allocs, n)
	}
	for i, c := range kept {
		k := fmt.Sprintf("p%04d@example.com", i+1)
		if c.Key != k || c.Email != k || c.FirstName != "F"+k || c.Attrs[schema.AttrCity] != "City"+k || c.Line != n-i+1 ||
			!slices.Equal(c.Groups, []string{"All", "G" + k}) {
			t.Fatalf("change %d: %+v, want key %s", i, c, k)
		}
	}
}

// BenchmarkSpillDedupEach: the sorted walks of a 100k-row first ingest's
// in-memory spill (dedup, with the sort, then each), keys sharing their
// first 16 bytes as many addresses do.
func BenchmarkSpillDedupEach(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		sp, _ := newSpill(b.TempDir())
		sp.sizeFor(25<<20, true)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range 100000 {
			k := fmt.Sprintf("isabella.johnson.%d@example.com", r.IntN(1<<30))
			c := store.Change{Op: store.OpAdd, Assertion: store.Assertion{Key: k, Email: k, FirstName: "Isabella",
				LastName: "Johnson", Line: i + 2, Hash: uint64(i), Groups: []string{"Sales"}, Status: schema.StatusActive}}
			c.Attrs[schema.AttrCity] = "Lyon"
			if err := sp.add(&c); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := sp.dedup(func(spillDup) error { return nil }); err != nil {
			b.Fatal(err)
		}
		if err := sp.each(func(store.Change) error { return nil }); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		sp.Close()
		b.StartTimer()
	}
}

// TestChangeSizeAsEncoded: a change's encoding is written in place after
// its length, known beforehand: changeSize and keyOffset must say what
// encodeChange writes, for values of every length around a varint's steps.
func TestChangeSizeAsEncoded(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	str := func() string { return strings.Repeat("v", []int{0, 1, 126, 127, 128, 300, 16383, 16384}[r.IntN(8)]) }
	for range 2000 {
		c := store.Change{Op: store.OpAdd, Assertion: store.Assertion{Key: "k" + str(), FirstName: str(), LastName: str(),
			UID: str(), Line: r.IntN(1 << 22)}}
		switch r.IntN(3) {
		case 0:
			c.Email = c.Key
		case 1:
			c.Email = str()
		}
		for range r.IntN(4) {
			c.Groups = append(c.Groups, str())
		}
		c.Attrs[r.IntN(len(c.Attrs))] = str()
		rat := r.IntN(300)
		enc := encodeChange(nil, &c, rat)
		ko, kl := keySpan(enc)
		if len(enc) != changeSize(&c, rat) || ko != keyOffset(&c, rat) || kl != len(c.Key) {
			t.Fatalf("encoded %d bytes, key at %d; changeSize %d, keyOffset %d", len(enc), ko, changeSize(&c, rat), keyOffset(&c, rat))
		}
	}
}

// TestChangeEncodingRoundTrip: a spilled change decodes to itself whether
// its address is its key (stored as one byte, not a copy), another
// address, or none (a removal's), copied or viewed.
func TestChangeEncodingRoundTrip(t *testing.T) {
	base := store.Change{Op: store.OpUpdate, Assertion: store.Assertion{Key: "ann.lee@example.com", FirstName: "Ann",
		LastName: "Lee", UID: "E7", Line: 300, Hash: 1 << 60, Groups: []string{"a", "b"}, Status: schema.StatusActive}}
	base.Attrs[schema.AttrCity] = "Lyon"
	base.Digest = 42
	for _, email := range []string{base.Key, "Ann.Lee@Example.com", "", strings.Repeat("x", 200) + "@example.com"} {
		c := base
		c.Email = email
		enc := encodeChange(nil, &c, 3)
		// Copied or viewed; group lists of their own or carved from an
		// arena with room for one list only, then none.
		arena := make([]string, 4095, 4097)
		for i, view := range []bool{false, true, false, true, true} {
			groups := &arena
			if i < 2 {
				groups = nil
			}
			got, rat, err := decodeChangeIn(enc, view, groups)
			if err != nil || rat != 3 || got.Email != email || got.Key != c.Key || got.UID != "E7" || got.Attrs != c.Attrs ||
				!slices.Equal(got.Groups, c.Groups) || got.Line != 300 || got.Hash != c.Hash || got.Digest != 42 {
				t.Fatalf("email %q (view %v, %d): %+v, %d, %v", email, view, i, got, rat, err)
			}
		}
		if _, _, err := decodeChange(enc[:len(enc)-len(c.Attrs[schema.AttrCity])-2]); err == nil {
			t.Fatalf("email %q: a cut record decoded", email)
		}
	}
	same, none := base, base
	same.Email = base.Key
	if a, b := len(encodeChange(nil, &same, 0)), len(encodeChange(nil, &none, 0)); a != b {
		t.Fatalf("an address equal to the key takes %d bytes more than none", a-b)
	}
}
