package workossync

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"muster/ingest"
	"muster/ingest/workos/workostest"
	"muster/schema"
	"muster/store"
)

// pulls counts the source's pull drops.
func (dt *syncTest) pulls() int {
	n := 0
	for _, d := range dt.drops() {
		if strings.HasPrefix(d.Name, "workos pull") {
			n++
		}
	}
	return n
}

// Deleting a quarter of a directory user by user, read by one poll of the
// Events API, is held as one drop (as the same change read by a pull is);
// the events that follow wait behind it, and are applied in order once an
// admin approves it. Split over two polls, the batch that crosses the
// share over the window is held.
func TestEventsDeletingAQuarterAreHeldThenAppliedInOrder(t *testing.T) {
	ctx := context.Background()
	dt := mustSyncTest(t, 200, 4, nil)
	dt.pull()
	dt.w.PollEvents(ctx)
	dt.eng.Wait()
	pulls := dt.pulls()
	u := dt.seed.UserIDs
	for i := 0; i < 50; i++ {
		if err := dt.fake.DeleteUser(u[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := dt.w.PollEvents(ctx); err != nil || n != 50 {
		t.Fatalf("poll = %d, %v", n, err)
	}
	ds := dt.drops()
	if ds[0].Status != store.DropHeld || !strings.Contains(string(ds[0].Report), `"removed":50`) {
		t.Fatalf("newest drop = %s %s, want the 50 deletions held as one", ds[0].Status, ds[0].Report)
	}
	held := ds[0].ID
	dt.mustBe(email(0), store.StatusActive, "okta/"+workostest.GroupName(0))
	// Later events wait behind it, in order.
	dt.fake.UpdateUser(u[60], func(x *workostest.User) { x.FirstName = "Renamed" })
	dt.fake.DeleteUser(u[61])
	_, err := dt.fake.CreateUser(dt.seed.Directory.ID, workostest.UserSpec{Email: "new.hire@example.com", FirstName: "New", LastName: "Hire", State: "active"})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := dt.w.PollEvents(ctx); err != nil || n != 3 {
		t.Fatalf("second poll = %d, %v", n, err)
	}
	if r, _ := dt.st.Recipient(ctx, dt.org().ID, email(60)); r.FirstName == "Renamed" {
		t.Fatal("an event after the held batch was applied before it")
	}
	if len(dt.drops()) != len(ds) {
		t.Fatalf("%d new drops while held, want the events queued", len(dt.drops())-len(ds))
	}
	if _, err := dt.eng.Ingester.Approve(ctx, schema.DefaultOrg, held, ingest.Options{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := dt.eng.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	dt.mustBe(email(0), store.StatusOffboarded)
	dt.mustBe(email(49), store.StatusOffboarded)
	dt.mustBe(email(61), store.StatusOffboarded)
	if r, _ := dt.st.Recipient(ctx, dt.org().ID, email(60)); r.FirstName != "Renamed" || r.Status != store.StatusActive {
		t.Fatalf("user 60 = %+v", r)
	}
	dt.mustBe("new.hire@example.com", store.StatusActive)
	if n := dt.counts()[store.StatusActive]; n != 200-51+1 {
		t.Fatalf("%d active, want 150", n)
	}
	if dt.pulls() != pulls {
		t.Fatal("a pull was made")
	}
	// Over two polls: 29 more (with the deletion queued behind the approved
	// drop, 30 of the 151 listed then) apply, the next 15 cross the share
	// over the window and are held.
	for i := 62; i < 91; i++ {
		dt.fake.DeleteUser(u[i])
	}
	dt.w.PollEvents(ctx)
	if ds := dt.drops(); ds[0].Status != store.DropApplied {
		t.Fatalf("30 of 151: %s %s", ds[0].Status, ds[0].Report)
	}
	for i := 91; i < 106; i++ {
		dt.fake.DeleteUser(u[i])
	}
	dt.w.PollEvents(ctx)
	if ds := dt.drops(); ds[0].Status != store.DropHeld || !strings.Contains(string(ds[0].Report), "45 of 151") {
		t.Fatalf("15 more: %s %s", ds[0].Status, ds[0].Report)
	}
}

// An event about an email-less user (a service account) beside a real
// deactivation: the deactivation is applied, the bad event skipped with a
// warning; no rejected drop, no pull.
func TestBadEventBesideADeactivationAppliesIt(t *testing.T) {
	ctx := context.Background()
	dt := mustSyncTest(t, 30, 2, nil)
	dt.pull()
	dt.w.PollEvents(ctx)
	dt.eng.Wait()
	pulls := dt.pulls()
	if _, err := dt.fake.CreateUser(dt.seed.Directory.ID, workostest.UserSpec{FirstName: "Build", LastName: "Bot", State: "active"}); err != nil {
		t.Fatal(err)
	}
	dt.fake.DeactivateUser(dt.seed.UserIDs[3])
	if n, err := dt.w.PollEvents(ctx); err != nil || n != 2 {
		t.Fatalf("poll = %d, %v", n, err)
	}
	dt.eng.Wait()
	dt.mustBe(email(3), store.StatusOffboarded)
	ds := dt.drops()
	if ds[0].Status != store.DropApplied || !strings.Contains(string(ds[0].Report), "skipped") {
		t.Fatalf("drop = %s %s", ds[0].Status, ds[0].Report)
	}
	for _, d := range ds {
		if d.Status == store.DropRejected {
			t.Fatalf("a rejected drop: %+v", d)
		}
	}
	if dt.pulls() != pulls {
		t.Fatal("the bad event made a pull")
	}
}

// The first poll after a full pull starts from that pull's start: events
// WorkOS still retains from before are in the pull, not replayed, even
// from a server that ignores range_start (WorkOS's own emulator).
func TestFirstPollAfterAPullReplaysNothing(t *testing.T) {
	ctx := context.Background()
	var behind atomic.Int64
	behind.Store(int64(time.Hour))
	opts := workostest.Options{IgnoreRangeStart: true, Now: func() time.Time { return time.Now().Add(-time.Duration(behind.Load())) }}
	dt := mustSyncTestWith(t, opts, 40, 2, nil)
	dt.fake.DeactivateUser(dt.seed.UserIDs[1])
	dt.fake.UpdateUser(dt.seed.UserIDs[2], func(u *workostest.User) { u.FirstName = "Older" })
	_, w := dt.restart() // a daemon starting now, long after those events
	dt.w = w
	dt.pull()
	drops := len(dt.drops())
	n, err := dt.w.PollEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dt.eng.Wait()
	if len(dt.drops()) != drops {
		t.Fatalf("%d events read, %d drops made: the pull's events were replayed", n, len(dt.drops())-drops)
	}
	dt.mustBe(email(1), store.StatusOffboarded)
	// What happens from now on is applied.
	behind.Store(0)
	dt.fake.UpdateUser(dt.seed.UserIDs[2], func(u *workostest.User) { u.FirstName = "Newer" })
	if n, err := dt.w.PollEvents(ctx); err != nil || n != 1 {
		t.Fatalf("poll = %d, %v", n, err)
	}
	if r, _ := dt.st.Recipient(ctx, dt.org().ID, email(2)); r.FirstName != "Newer" {
		t.Fatalf("first name %q, want Newer", r.FirstName)
	}
}
