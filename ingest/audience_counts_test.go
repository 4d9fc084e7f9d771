package ingest

import "testing"

// TestCountsJoinedLeft: a drop's report counts the people it brought into
// the audience and took out of it, not the source's rows: a person another
// source still lists neither joins nor leaves.
func TestCountsJoinedLeft(t *testing.T) {
	in := MustIngester(t)
	hr, dir := src("hr", 0, false), src("dir", 10, true)
	a, b, c := rec(2, "a@x.example", "A", "A"), rec(3, "b@x.example", "B", "B"), rec(4, "c@x.example", "C", "C")
	rep := MustIngest(t, in, "o", hr, "day1.csv", a, b, c)
	if rep.Counts.Joined != 3 || rep.Counts.Left != 0 {
		t.Fatalf("first drop: joined %d left %d, want 3 and 0", rep.Counts.Joined, rep.Counts.Left)
	}
	rep = MustIngest(t, in, "o", dir, "pull", b)
	if rep.Counts.Added != 1 || rep.Counts.Joined != 0 {
		t.Fatalf("b listed by a second source: added %d joined %d, want 1 and 0", rep.Counts.Added, rep.Counts.Joined)
	}
	// hr drops b and c: c leaves, b stays (dir lists b).
	rep = MustIngest(t, in, "o", hr, "day2.csv", a)
	if rep.Counts.Removed != 2 || rep.Counts.Left != 1 || rep.Counts.Joined != 0 {
		t.Fatalf("day 2: removed %d left %d joined %d, want 2, 1, 0", rep.Counts.Removed, rep.Counts.Left, rep.Counts.Joined)
	}
	// dir marks b inactive: offboarded, leaves.
	rep = MustIngest(t, in, "o", dir, "pull 2", inactive(b))
	if rep.Counts.Left != 1 {
		t.Fatalf("offboarding: left %d, want 1", rep.Counts.Left)
	}
}
