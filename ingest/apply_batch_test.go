package ingest

import (
	"fmt"
	"slices"
	"testing"

	"muster/schema"
	"muster/store"
)

// A first ingest into an organisation without recipients applies batches
// of applyBatch; once it has recipients (a next day, a second source), a
// batch reads the pages it writes, and is applyBatchRead long so they are
// still in SQLite's page cache when it writes them (apply.go).
func TestApplyBatchSizes(t *testing.T) {
	in := MustIngester(t)
	var sizes []int
	in.applyFunc = func(a *applier, cs []store.Change) error {
		sizes = append(sizes, len(cs))
		return a.apply(cs)
	}
	people := func(n int, last string) []schema.Record {
		recs := make([]schema.Record, n)
		for i := range recs {
			recs[i] = rec(i+2, fmt.Sprintf("p%04d@example.com", i), "P", last)
		}
		return recs
	}
	n := 2*applyBatch + 10
	for _, step := range []struct {
		name string
		src  SourceConfig
		recs []schema.Record
		want int // the largest batch
	}{
		{"first ingest", src("hr", 10, false), people(n, "One"), applyBatch},
		{"next day", src("hr", 10, false), people(n, "Two"), applyBatchRead},
		{"a second source", src("dir", 20, false), people(n, "Three"), applyBatchRead},
	} {
		sizes = sizes[:0]
		rep := MustIngest(t, in, "acme", step.src, step.name, step.recs...)
		mustDecision(t, rep, Applied)
		if got := slices.Max(sizes); got != step.want {
			t.Errorf("%s: batches %v, want at most %d and one of %d", step.name, sizes, step.want, step.want)
		}
		total := 0
		for _, s := range sizes {
			total += s
		}
		if total != n {
			t.Errorf("%s: %d changes applied in %v, want %d", step.name, total, sizes, n)
		}
	}
}
