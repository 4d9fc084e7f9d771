package ingest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"muster/store"
)

// TestBatchKeysAsASet: batchKeys answers as a set of the batch's keys
// would, for keys in order, out of order from some point, repeated next
// to each other and far apart, across resets (a batch cut at a repeat or
// when full, as applyDropWith does).
func TestBatchKeysAsASet(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		n := 1 + r.IntN(60)
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("k%03d", i*2)
		}
		switch round % 4 {
		case 1: // out of order from some point
			i := r.IntN(n)
			r.Shuffle(n-i, func(a, b int) { keys[i+a], keys[i+b] = keys[i+b], keys[i+a] })
		case 2: // repeats next to each other, in order
			for i := 1; i < n; i++ {
				if r.IntN(4) == 0 {
					keys[i] = keys[i-1]
				}
			}
		case 3: // anything: repeats anywhere
			for i := range keys {
				keys[i] = fmt.Sprintf("k%03d", r.IntN(n))
			}
		}
		var b batchKeys
		var batch []store.Change
		want := map[string]bool{}
		size := 1 + r.IntN(10)
		for _, k := range keys {
			got := b.seen(k, batch)
			if got != want[k] {
				t.Fatalf("round %d: seen(%s) %v, want %v (batch %d keys)", round, k, got, want[k], len(batch))
			}
			if got { // cut at the repeat: k starts the next batch
				b.reset()
				batch, want = batch[:0], map[string]bool{}
				if b.seen(k, batch) {
					t.Fatalf("round %d: %s seen in an empty batch", round, k)
				}
			}
			batch = append(batch, store.Change{Assertion: store.Assertion{Key: k}})
			want[k] = true
			if len(batch) == size { // full
				b.reset()
				batch, want = batch[:0], map[string]bool{}
			}
		}
	}
}
