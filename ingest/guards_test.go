package ingest

import (
	"context"
	"fmt"
	"io"
	"testing"

	"muster/schema"
	"muster/store"
)

func people(n int, prefix string) []schema.Record {
	out := make([]schema.Record, n)
	for i := range out {
		out[i] = rec(i+2, fmt.Sprintf("%s%03d@example.com", prefix, i), "F", "L", "All")
	}
	return out
}

// withIDs gives records employee ids E0, E1... in order.
func withIDs(recs []schema.Record) []schema.Record {
	for i := range recs {
		recs[i].SourceID = fmt.Sprintf("E%d", i)
	}
	return recs
}

func TestGuardMassDeletionHeldByShare(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr"} // defaults: 20% or 500
	mustDecision(t, MustIngest(t, in, org, cfg, "day0", people(100, "p")...), Applied)
	rep := MustIngest(t, in, org, cfg, "truncated", people(79, "p")...)
	mustDecision(t, rep, Held)
	if rep.Counts.Removed != 21 {
		t.Fatalf("held report removed = %d, want the computed 21", rep.Counts.Removed)
	}
	if n := len(activeKeys(t, in, org)); n != 100 {
		t.Fatalf("%d active after a held drop, want 100: nothing applies", n)
	}
	// 20 of 100 is not over 20%: applied.
	mustDecision(t, MustIngest(t, in, org, cfg, "normal", people(80, "p")...), Applied)
}

func TestGuardMassDeletionHeldByCount(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr", MaxRemoveCount: 5, MaxRemovePercent: -1}
	MustIngest(t, in, org, cfg, "day0", people(100, "p")...)
	mustDecision(t, MustIngest(t, in, org, cfg, "six fewer", people(94, "p")...), Held)
	mustDecision(t, MustIngest(t, in, org, cfg, "five fewer", people(95, "p")...), Applied)
}

func TestGuardEmptyFileHeld(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr"}
	MustIngest(t, in, org, cfg, "day0", people(3, "p")...)
	rep := MustIngest(t, in, org, cfg, "header-only.csv")
	mustDecision(t, rep, Held)
	if rep.Counts.Removed != 3 {
		t.Fatalf("removed = %d, want 3 in the held diff", rep.Counts.Removed)
	}
	if n := len(activeKeys(t, in, org)); n != 3 {
		t.Fatalf("%d active, want 3", n)
	}
}

func TestGuardInvalidOverThresholdRejected(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr"}
	recs := people(100, "p")
	for i := 0; i < 3; i++ {
		recs[i] = invalid(recs[i], "bad date")
	}
	rep := MustIngest(t, in, org, cfg, "bad.csv", recs...)
	mustDecision(t, rep, Rejected)
	if rep.Counts.Invalid != 3 || len(rep.Problems) != 3 {
		t.Fatalf("invalid = %d, problems = %d", rep.Counts.Invalid, len(rep.Problems))
	}
	if n := len(activeKeys(t, in, org)); n != 0 {
		t.Fatalf("%d recipients after a rejected drop", n)
	}
}

func TestGuardInvalidUnderThresholdApplies(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr"}
	MustIngest(t, in, org, cfg, "day0", people(100, "p")...)
	recs := people(101, "p")
	recs[5] = invalid(recs[5], "bad date")              // p005 keeps its old row, not removed
	recs[100] = invalid(recs[100], "bad manager email") // a new person with a bad row: not added
	recs[7].FirstName = "Changed"
	rep := MustIngest(t, in, org, cfg, "day1", recs...)
	mustDecision(t, rep, Applied)
	c := rep.Counts
	if c.Rows != 101 || c.Invalid != 2 || c.Updated != 1 || c.Removed != 0 || c.Added != 0 || c.Unchanged != 98 {
		t.Fatalf("counts = %+v", c)
	}
	if r := MustRecipient(t, in, org, "p005@example.com"); r.Status != store.StatusActive {
		t.Fatalf("p005 (invalid row) = %s: an invalid row must never remove its person", r.Status)
	}
	if r := MustRecipient(t, in, org, "p007@example.com"); r.FirstName != "Changed" {
		t.Fatal("valid rows of the drop were not applied")
	}
	if len(rep.Problems) != 2 || rep.Problems[0].Line != 7 {
		t.Fatalf("problems = %v", rep.Problems)
	}
}

func TestGuardInvalidRowWithoutEmailProtectsByID(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr"}
	recs := withIDs(people(50, "p"))
	MustIngest(t, in, org, cfg, "day0", recs...)
	bad := recs[3]
	bad.Key, bad.Email = "", "not an email"
	recs[3] = invalid(bad, "email unreadable")
	mustDecision(t, MustIngest(t, in, org, cfg, "day1", recs...), Applied)
	if r := MustRecipient(t, in, org, "p003@example.com"); r.Status != store.StatusActive {
		t.Fatalf("p003 = %s, want kept (its invalid row carries its employee id)", r.Status)
	}
	// With no id either, the removal it might explain is held for review.
	recs2 := people(50, "p")[:49]
	recs2 = withIDs(append(recs2, people(80, "z")...)) // enough rows that one invalid is under 2%
	recs2[3] = invalid(schema.Record{Line: 5}, "email unreadable")
	mustDecision(t, MustIngest(t, in, org, cfg, "day2", recs2...), Held)
}

// An invalid row that carries a valid email different from the snapshot's
// (the person's address changed) but the id of a person the source lists
// describes that person: they are kept, not removed.
func TestGuardInvalidRowWithNewEmailProtectsByID(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr"}
	recs := withIDs(people(60, "p"))
	MustIngest(t, in, org, cfg, "day0", recs...)
	moved := rec(recs[3].Line, "p003.new@example.com", "F", "L", "All")
	moved.SourceID = "E3"
	recs[3] = invalid(moved, "status unreadable")
	rep := MustIngest(t, in, org, cfg, "day1", recs...)
	mustDecision(t, rep, Applied)
	if r := MustRecipient(t, in, org, "p003@example.com"); r.Status != store.StatusActive {
		t.Fatalf("p003 = %s (removed %d), want kept: its invalid row carries its employee id", r.Status, rep.Counts.Removed)
	}
}

func TestDuplicateContentNoOp(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr"}
	d := Drop{Source: cfg, Name: "a.csv", ContentHash: "sha256:aaa", Records: &schema.SliceStream{Records: people(3, "p")}}
	rep, err := in.Ingest(context.Background(), d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustDecision(t, rep, Applied)
	d.Records = &schema.SliceStream{Records: people(3, "p")}
	rep2, err := in.Ingest(context.Background(), d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustDecision(t, rep2, Duplicate)
	if rep2.DuplicateOf != rep.DropID {
		t.Fatalf("duplicate of %d, want %d", rep2.DuplicateOf, rep.DropID)
	}
	// Streams without a content hash are hashed by their records.
	s1 := MustIngest(t, in, org, src("api", 1, false), "pull", people(2, "q")...)
	s2 := MustIngest(t, in, org, src("api", 1, false), "pull", people(2, "q")...)
	mustDecision(t, s1, Applied)
	mustDecision(t, s2, Duplicate)
	o, _ := in.Store.LookupOrg(context.Background(), org)
	drops, _, err := in.Store.Drops(context.Background(), o.ID, store.DropFilter{Status: store.DropDuplicate})
	if err != nil || len(drops) != 2 {
		t.Fatalf("duplicates recorded = %d (%v), want 2", len(drops), err)
	}
}

// cutStream yields its records, then fails with an error that wraps io.EOF,
// as net/http does for a body cut short.
type cutStream struct{ schema.SliceStream }

func (c *cutStream) Next() (schema.Record, error) {
	r, err := c.SliceStream.Next()
	if err == io.EOF {
		return r, fmt.Errorf("read body: %w", io.EOF)
	}
	return r, err
}

// TestStreamCutShortAppliesNothing: only a bare io.EOF ends a stream. A
// stream that breaks part-way is a failed drop, never a smaller snapshot
// whose missing people would be removed.
func TestStreamCutShortAppliesNothing(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr", MaxRemovePercent: -1, MaxRemoveCount: -1} // no guard to hide behind
	MustIngest(t, in, org, cfg, "day0", people(10, "p")...)
	before, err := in.Store.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cut := &cutStream{schema.SliceStream{Records: people(4, "p")}}
	rep, err := in.Ingest(context.Background(), Drop{Org: org, Source: cfg, Name: "cut", Records: cut}, Options{})
	if err == nil && rep.Decision == Applied {
		t.Fatalf("a stream cut short was applied: %+v", rep.Counts)
	}
	if n := len(activeKeys(t, in, org)); n != 10 {
		t.Fatalf("%d active after a cut stream, want 10", n)
	}
	after, err := in.Store.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Fatalf("recipients changed after a cut stream")
	}
}
