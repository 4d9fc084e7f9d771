package main

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
	"muster/store"
)

// The events of a delta and the poll's cursor are saved in the delta's own
// transaction: at the moment it commits, before anything else runs, the
// store already holds them, so a crash just after the commit re-applies
// nothing. The hook runs right after the commit ("apply-done").
func TestEventsAndCursorCommitWithTheirDelta(t *testing.T) {
	ctx := context.Background()
	dt := mustDirTest(t, 50, 4, "")
	dt.pull()
	if _, err := dt.d.PollEvents(ctx); err != nil {
		t.Fatal(err)
	}
	dt.d.wg.Wait()
	before := len(dt.fake.Events())
	u, g := dt.seed.UserIDs, dt.seed.GroupIDs
	dt.fake.UpdateUser(u[1], func(u *workostest.User) { u.FirstName = "Renamed" })
	dt.fake.RemoveMember(g[2], u[2])
	evs := dt.fake.Events()[before:]
	if len(evs) != 2 {
		t.Fatalf("%d new events, want 2", len(evs))
	}
	ids := []string{evs[0].ID, evs[1].ID}
	var checked atomic.Int32
	dt.d.Ingester.Hook = func(point string) {
		if point != "apply-done" || checked.Add(1) != 1 {
			return
		}
		done, err := dt.st.EventsApplied(ctx, ids)
		if err != nil {
			t.Error(err)
		}
		for _, id := range ids {
			if !done[id] {
				t.Errorf("event %s not recorded when its delta committed", id)
			}
		}
		cur, _, err := dt.st.Cursor(ctx, dt.d.cursorName())
		if err != nil || cur.EventID != ids[1] {
			t.Errorf("cursor when the delta committed = %q, %v; want %s", cur.EventID, err, ids[1])
		}
	}
	if n, err := dt.d.PollEvents(ctx); err != nil || n != 2 {
		t.Fatalf("poll = %d, %v; want 2", n, err)
	}
	if checked.Load() == 0 {
		t.Fatal("no delta was applied")
	}
	if _, groups := dt.recipient(email(2)); slices.Contains(groups, "okta/"+workostest.GroupName(2)) {
		t.Errorf("the membership removal was not applied: %v", groups)
	}
}

// A membership event delivered late, after a newer event about its user,
// must not bring a deleted user back (dust-tt/dust #30259: out-of-order
// deliveries re-created a deprovisioned user); for a user still listed it
// still adds the group.
func TestLateMembershipEventDoesNotBringBackADeletedUser(t *testing.T) {
	ctx := context.Background()
	dt := mustDirTest(t, 20, 2, "")
	dt.pull()
	g := dt.seed.GroupIDs[0]
	gone, kept := dt.seed.UserIDs[3], dt.seed.UserIDs[5] // both in group 1
	for _, step := range []func() error{
		func() error { return dt.fake.AddMember(g, gone) },
		func() error { return dt.fake.DeleteUser(gone) },
		func() error { return dt.fake.AddMember(g, kept) },
		func() error {
			_, err := dt.fake.UpdateUser(kept, func(u *workostest.User) { u.FirstName = "Renamed" })
			return err
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	evs := dt.fake.Events()
	evs = evs[len(evs)-4:]
	want := []string{workos.EventGroupUserAdded, workos.EventUserDeleted, workos.EventGroupUserAdded, workos.EventUserUpdated}
	for i, ev := range evs {
		if ev.Name != want[i] {
			t.Fatalf("event %d is %s, want %s", i, ev.Name, want[i])
		}
	}
	// Each user's newer event first, then the older membership, late.
	for _, i := range []int{1, 0, 3, 2} {
		if err := dt.d.WebhookEvent(ctx, mustEvent(t, evs[i])); err != nil {
			t.Fatal(err)
		}
	}
	dt.mustBe(email(3), store.StatusOffboarded)
	dt.mustBe(email(5), store.StatusActive, "okta/"+workostest.GroupName(0), "okta/"+workostest.GroupName(1))
}
