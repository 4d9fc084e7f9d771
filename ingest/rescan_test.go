package ingest

import (
	"slices"
	"testing"
	"time"
)

// A rescan queues a spooled file only once an earlier rescan listed it at
// least the wait before: an instance that just moved an upload into the
// shared spool claims it first. A file gone from the listing is forgotten.
func TestRescanTakesOnlyFilesListedAWaitAgo(t *testing.T) {
	const wait = 5 * time.Second
	t0 := time.Unix(1_000_000, 0)
	a := spooledFile{"default/hr", "spool/0/a.csv"}
	b := spooledFile{"default/hr", "spool/0/b.csv"}
	s := sightings{}
	steps := []struct {
		at     time.Duration
		listed []spooledFile
		due    []spooledFile
	}{
		{0, []spooledFile{a}, nil},                                    // first seen
		{time.Second, []spooledFile{a, b}, nil},                       // a 1 s old, b new
		{wait, []spooledFile{a, b}, []spooledFile{a}},                 // a a wait old
		{wait + time.Second, []spooledFile{b}, []spooledFile{b}},      // a gone: forgotten
		{wait + 2*time.Second, []spooledFile{a, b}, []spooledFile{b}}, // a again: starts over
		{2*wait + 2*time.Second, []spooledFile{a, b}, []spooledFile{a, b}},
	}
	for i, st := range steps {
		got := s.due(st.listed, t0.Add(st.at), wait)
		if !slices.Equal(got, st.due) {
			t.Fatalf("step %d (at %v, listed %v): due %v, want %v", i, st.at, st.listed, got, st.due)
		}
	}
	if len(s) != 2 {
		t.Fatalf("remembered %d files, want 2", len(s))
	}
}
