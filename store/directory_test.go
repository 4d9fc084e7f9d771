package store

import (
	"context"
	"testing"
	"time"
)

func mustOpen(t *testing.T) *Store {
	t.Helper()
	return openTarget(t, testTarget(t))
}

func TestDirectoryEventsDedupeStalenessAndPrune(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	t0 := time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC)
	if err := s.RecordEvents(ctx, []AppliedEvent{{ID: "event_2", Object: "user:u1", Created: t0.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	// Recording the same id again is not an error and changes nothing.
	if err := s.RecordEvents(ctx, []AppliedEvent{{ID: "event_2", Object: "user:other", Created: t0}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.EventsApplied(ctx, []string{"event_1", "event_2", "event_3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got["event_2"] {
		t.Fatalf("applied = %v, want only event_2", got)
	}
	// An older event about the same user is stale; a newer one or one about
	// another object is not.
	for _, c := range []struct {
		object string
		at     time.Time
		want   bool
	}{{"user:u1", t0, true}, {"user:u1", t0.Add(2 * time.Minute), false}, {"user:other", t0, false}} {
		stale, err := s.NewerEvent(ctx, c.object, c.at, "event_1")
		if err != nil {
			t.Fatal(err)
		}
		if stale != c.want {
			t.Errorf("NewerEvent(%s, %s) = %v, want %v", c.object, c.at, stale, c.want)
		}
	}
	// At the same time, the id decides.
	for id, want := range map[string]bool{"event_1": true, "event_3": false} {
		if stale, _ := s.NewerEvent(ctx, "user:u1", t0.Add(time.Minute), id); stale != want {
			t.Errorf("same time, id %s: stale %v, want %v", id, stale, want)
		}
	}
	now = now.Add(8 * 24 * time.Hour)
	if err := s.RecordEvents(ctx, []AppliedEvent{{ID: "event_9", Object: "user:u9", Created: t0}}); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneEvents(ctx, now.Add(-7*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want 1", n, err)
	}
	got, _ = s.EventsApplied(ctx, []string{"event_2", "event_9"})
	if got["event_2"] || !got["event_9"] {
		t.Fatalf("after prune applied = %v, want event_9 only", got)
	}
	// Many ids at once are asked in chunks.
	many := make([]string, 1200)
	for i := range many {
		many[i] = "x"
	}
	many[1100] = "event_9"
	if got, err := s.EventsApplied(ctx, many); err != nil || !got["event_9"] {
		t.Fatalf("chunked lookup = %v, %v", got, err)
	}
}

func TestDirectoryCursor(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t)
	if _, found, err := s.Cursor(ctx, "workos"); err != nil || found {
		t.Fatalf("cursor before any: found %v, %v", found, err)
	}
	since := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	if err := s.SetCursor(ctx, &Cursor{Name: "workos", Since: since}); err != nil {
		t.Fatal(err)
	}
	c, found, err := s.Cursor(ctx, "workos")
	if err != nil || !found || c.EventID != "" || !c.Since.Equal(since) {
		t.Fatalf("cursor = %+v %v %v", c, found, err)
	}
	if err := s.SetCursor(ctx, &Cursor{Name: "workos", EventID: "event_5"}); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := s.Cursor(ctx, "workos"); c.EventID != "event_5" || c.Updated.IsZero() {
		t.Fatalf("cursor = %+v, want event_5", c)
	}
}

func TestSnapshotUIDs(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t)
	org, err := s.EnsureOrg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	src, _, err := s.EnsureSource(ctx, org.ID, SourceConfig{Name: "okta", Kind: KindWorkOS})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.Begin(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	a := Assertion{SourceID: src.ID, Key: "ann@example.com", Email: "ann@example.com", UID: "directory_user_1", Seq: 1, Groups: []string{"Eng"}}
	if err := tx.Assert(a, nil); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := s.SnapshotUIDs(ctx, src.ID, func(uid, key string) { got[uid] = key }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["directory_user_1"] != "ann@example.com" {
		t.Fatalf("uids = %v", got)
	}
}

// TestCursorCompareAndSwap: a cursor is saved only from where it was read
// (or again where it is): a second poller that read it before the first
// moved it cannot move it back or elsewhere.
func TestCursorCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	target := testTarget(t)
	a, b := openTarget(t, target), openTarget(t, target)
	if err := a.SetCursor(ctx, &Cursor{Name: "workos", EventID: "event_1"}); err != nil {
		t.Fatal(err)
	}
	ca, _, _ := a.Cursor(ctx, "workos")
	cb, _, _ := b.Cursor(ctx, "workos")
	ca.EventID = "event_3"
	if err := a.SetCursor(ctx, &ca); err != nil {
		t.Fatal(err)
	}
	if err := a.SetCursor(ctx, &ca); err != nil { // saved again where it is
		t.Fatalf("saving the cursor again where it is: %v", err)
	}
	cb.EventID = "event_2"
	if err := b.SetCursor(ctx, &cb); err != ErrCursorMoved {
		t.Fatalf("moving a cursor read before another moved it: %v, want ErrCursorMoved", err)
	}
	org, err := b.EnsureOrg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := b.Begin(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.SetCursor(cb); err != ErrCursorMoved {
		t.Fatalf("in a transaction: %v, want ErrCursorMoved", err)
	}
	tx.Rollback()
	if c, _, _ := a.Cursor(ctx, "workos"); c.EventID != "event_3" {
		t.Fatalf("cursor at %s, want event_3", c.EventID)
	}
}
