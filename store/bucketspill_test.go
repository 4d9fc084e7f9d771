package store

import (
	"fmt"
	"runtime"
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
