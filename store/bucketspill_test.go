package store

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// TestBucketSpillReusesItsBuffers: each bucket comes back whole and sorted
// by key hash, from the scratch file and memory, and reading one bucket
// after another allocates no new slice of entries each time (a 1M-row
// first ingest's index read 64 buckets of ~1 MB into fresh slices grown
// by appends: some 110 MB of garbage beside the store's commit).
func TestBucketSpillReusesItsBuffers(t *testing.T) {
	s := bucketSpill{dir: t.TempDir()}
	defer s.close()
	const n = 200000 // past spillMem in every bucket: read from the file too
	want := make(map[string]uint64, n)
	for i := range n {
		k := fmt.Sprint("k", i)
		want[k] = uint64(i)
		if err := s.add(spillRec{kh: uint64(i) * 0x9e3779b97f4a7c15, v: uint64(i)}, k); err != nil {
			t.Fatal(err)
		}
	}
	if s.f == nil {
		t.Fatal("nothing went to the scratch file: the test reads only memory")
	}
	total := 0
	read := func(b int) {
		recs, err := s.bucket(b)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if spillBucket(r.kh) != b || i > 0 && recs[i-1].kh >= r.kh || want[string(r.key)] != r.v {
				t.Fatalf("bucket %d, entry %d: %+v", b, i, r)
			}
		}
		total += len(recs)
	}
	read(0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b := 1; b < spillBuckets; b++ {
		read(b)
	}
	runtime.ReadMemStats(&after)
	if total != n {
		t.Fatalf("%d entries back, want %d", total, n)
	}
	if allocs := after.Mallocs - before.Mallocs; allocs > spillBuckets {
		t.Fatalf("%d allocations to read %d buckets after the first", allocs, spillBuckets-1)
	}
}

// TestSortByKeyHash: a bucket's entries come back in key hash order, every
// one once, however their hashes spread below the bucket's bits: evenly,
// all in one slot of the counting pass (only the lowest bits differ), in
// a few slots, with equal hashes, and for small buckets.
func TestSortByKeyHash(t *testing.T) {
	const b = uint64(37) << (64 - spillBucketBits) // one bucket's top bits
	rng := rand.New(rand.NewPCG(1, 2))
	cases := map[string]func(i int) uint64{
		"even":     func(int) uint64 { return b | rng.Uint64()>>spillBucketBits },
		"one slot": func(int) uint64 { return b | rng.Uint64()>>40 },
		"few":      func(i int) uint64 { return b | uint64(i%3)<<40 | rng.Uint64()>>50 },
		"equal":    func(i int) uint64 { return b | uint64(i%7)<<20 },
	}
	var s bucketSpill
	for name, kh := range cases {
		for _, n := range []int{0, 1, 5, 63, 64, 65, 1000, 20000} {
			recs := make([]spillRec, n)
			for i := range recs {
				recs[i] = spillRec{kh: kh(i), v: uint64(i)}
			}
			want := slices.Clone(recs)
			slices.SortFunc(want, cmpKeyHash)
			got := s.sortByKeyHash(slices.Clone(recs))
			if len(got) != n {
				t.Fatalf("%s, %d: %d entries back", name, n, len(got))
			}
			seen := make([]bool, n)
			for i, r := range got {
				if r.kh != want[i].kh || seen[r.v] || recs[r.v].kh != r.kh {
					t.Fatalf("%s, %d: entry %d is %+v, want key hash %x, each entry once", name, n, i, r, want[i].kh)
				}
				seen[r.v] = true
			}
		}
	}
}
