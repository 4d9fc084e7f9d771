package workossync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"muster/ingest"
	"muster/ingest/directory"
	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
	"muster/schema"
	"muster/store"
)

func TestDirectoryPullAppliesThroughThePipelineWithinTheRequestBudget(t *testing.T) {
	dt := mustSyncTest(t, 1000, 20, nil)
	dt.fake.DeactivateUser(dt.seed.UserIDs[7])
	dt.fake.ResetCounts()
	rep, stats, err := dt.w.Pull(context.Background(), "", "okta", "test", ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Decision != ingest.Applied || rep.Counts.Added != 1000 || rep.Counts.Suppressed != 1 {
		t.Fatalf("report = %s %+v (%s)", rep.Decision, rep.Counts, rep.Reason)
	}
	if n := dt.counts(); n[store.StatusActive] != 999 || n[store.StatusOffboarded] != 1 {
		t.Fatalf("recipients = %v, want 999 active, the inactive one offboarded", n)
	}
	dt.mustBe(email(7), store.StatusOffboarded)
	dt.mustBe(email(10), store.StatusActive, "okta/"+workostest.GroupName(1), "okta/"+workostest.GroupName(10))
	dt.mustBe(email(49), store.StatusActive) // in no group
	// No request per user: the directory, a page of groups, one page per
	// group's members (about 55 each), ten pages of users.
	counts := dt.fake.Counts()
	membershipPages := counts[workostest.CountGroupMembers]
	if counts[workostest.CountUser] != 0 || counts[workostest.CountGroupsOfUser] != 0 {
		t.Fatalf("per-user requests: %v", counts)
	}
	budget := 1 + 1000/100 + 1 + membershipPages
	if total := dt.fake.TotalRequests(); total > budget || membershipPages != 20 || int64(total) != stats.Requests {
		t.Fatalf("requests = %d (pull says %d, membership pages %d), budget %d: %v", total, stats.Requests, membershipPages, budget, counts)
	}
	t.Logf("full pull of 1,000 users in 20 groups: %d requests (%v)", dt.fake.TotalRequests(), counts)
	// The same directory again is a duplicate of the current snapshot.
	if rep := dt.pull(); rep.Decision != ingest.Duplicate {
		t.Fatalf("second pull = %s, want duplicate", rep.Decision)
	}
	if s := dt.status(); s.LastSuccess.IsZero() || s.LastDecision != "duplicate" || s.LastError != "" {
		t.Fatalf("status = %+v", s)
	}
}

func TestFailedPullAppliesNothing(t *testing.T) {
	dt := mustSyncTest(t, 300, 3, nil)
	dt.pull()
	before := dt.counts()
	dropsBefore := len(dt.drops())
	dt.fake.DeactivateUser(dt.seed.UserIDs[1])
	dt.fake.DeleteUser(dt.seed.UserIDs[2])

	// Dropped connections on the second page of users, every retry: the
	// pull fails part-way. Its drop is recorded as rejected, nothing applied.
	dt.fake.AddFault(workostest.Fault{Path: "/directory_users", Query: "directory=", Skip: 1, Drop: true})
	rep, _, err := dt.w.Pull(context.Background(), "", "okta", "test", ingest.Options{})
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if rep.Decision != ingest.Rejected || rep.Counts.Added+rep.Counts.Updated+rep.Counts.Removed != 0 {
		t.Fatalf("report = %s %+v, want rejected with nothing applied", rep.Decision, rep.Counts)
	}
	ds := dt.drops()
	if len(ds) != dropsBefore+1 || ds[0].Status != store.DropRejected {
		t.Fatalf("drops = %d (newest %s), want one more, rejected", len(ds), ds[0].Status)
	}
	dt.mustBe(email(1), store.StatusActive, "okta/"+workostest.GroupName(1))
	dt.mustBe(email(2), store.StatusActive, "okta/"+workostest.GroupName(2))
	if after := dt.counts(); !mapsEqual(before, after) {
		t.Fatalf("recipients changed: %v -> %v", before, after)
	}
	if s := dt.status(); s.LastDecision != "rejected" || s.LastError == "" {
		t.Fatalf("status = %+v", s)
	}

	// A failure reading the memberships (before any user is read): no drop.
	dt.fake.ClearFaults()
	dt.fake.AddFault(workostest.Fault{Path: "/directory_users", Query: "group=", Skip: 1, Status: 503})
	if _, _, err := dt.w.Pull(context.Background(), "", "okta", "test", ingest.Options{}); err == nil {
		t.Fatal("a pull whose memberships could not be read succeeded")
	}
	if n := len(dt.drops()); n != dropsBefore+1 {
		t.Fatalf("drops = %d, want no new one", n)
	}
	dt.mustBe(email(1), store.StatusActive, "okta/"+workostest.GroupName(1))

	// The next pull succeeds and applies both changes.
	dt.fake.ClearFaults()
	if rep := dt.pull(); rep.Decision != ingest.Applied || rep.Counts.Suppressed != 2 {
		t.Fatalf("retry = %s %+v", rep.Decision, rep.Counts)
	}
	dt.mustBe(email(1), store.StatusOffboarded)
	dt.mustBe(email(2), store.StatusOffboarded)
}

func TestEventsPollAppliesDeltasOnceAndResumes(t *testing.T) {
	ctx := context.Background()
	dt := mustSyncTest(t, 200, 10, nil)
	dt.pull()
	if _, err := dt.w.PollEvents(ctx); err != nil { // the seed's dsync.activated asks for a pull
		t.Fatal(err)
	}
	dt.eng.Wait()
	u := dt.seed.UserIDs
	g := dt.seed.GroupIDs
	dt.fake.DeactivateUser(u[1])
	dt.fake.DeleteUser(u[2])
	dt.fake.RemoveMember(g[3], u[3])
	dt.fake.AddMember(g[5], u[3])
	nu, err := dt.fake.CreateUser(dt.seed.Directory.ID, workostest.UserSpec{Email: "new.hire@example.com", FirstName: "New", LastName: "Hire", State: "active"})
	if err != nil {
		t.Fatal(err)
	}
	dt.fake.AddMember(g[0], nu.ID)
	dt.fake.RenameGroup(g[4], "Sales EMEA")
	drops := len(dt.drops())
	n, err := dt.w.PollEvents(ctx)
	if err != nil || n != 7 {
		t.Fatalf("poll = %d, %v; want 7 events", n, err)
	}
	dt.eng.Wait()
	ds := dt.drops()
	if len(ds) != drops+1 || ds[0].Kind != store.DropKindStream || ds[0].Status != store.DropApplied {
		t.Fatalf("drops %d -> %d (newest %+v), want one applied delta", drops, len(ds), ds[0])
	}
	dt.mustBe(email(1), store.StatusOffboarded)
	dt.mustBe(email(2), store.StatusOffboarded)
	dt.mustBe(email(3), store.StatusActive, "okta/"+workostest.GroupName(5))
	dt.mustBe("new.hire@example.com", store.StatusActive, "okta/"+workostest.GroupName(0))
	dt.mustBe(email(4), store.StatusActive, "okta/Sales EMEA")

	// Nothing new: nothing applied. The events again through the webhook
	// path: already applied, ignored.
	if n, err := dt.w.PollEvents(ctx); err != nil || n != 0 {
		t.Fatalf("second poll = %d, %v", n, err)
	}
	for _, ev := range dt.fake.Events() {
		if err := dt.w.WebhookEvent(ctx, mustEvent(t, ev)); err != nil {
			t.Fatal(err)
		}
	}
	if len(dt.drops()) != drops+1 {
		t.Fatal("repeated events made a drop")
	}
	// A restart reads the cursor from the store.
	dt.fake.UpdateUser(u[6], func(u *workostest.User) { u.FirstName = "Renamed" })
	_, w2 := dt.restart()
	if n, err := w2.PollEvents(ctx); err != nil || n != 1 {
		t.Fatalf("poll after restart = %d, %v; want the one new event", n, err)
	}
}

func TestEventsForASourceBeingPulledWait(t *testing.T) {
	ctx := context.Background()
	dt := mustSyncTest(t, 50, 2, nil)
	dt.pull()
	dt.w.PollEvents(ctx)
	dt.eng.Wait()
	dt.fake.DeactivateUser(dt.seed.UserIDs[1])
	lease := dt.lease() // as a pull does
	n, err := dt.w.PollEvents(ctx)
	if err != nil || n != 0 {
		t.Fatalf("poll while pulling = %d, %v; want it to stop before the event", n, err)
	}
	if err := dt.w.WebhookEvent(ctx, mustEvent(t, dt.fake.Events()[len(dt.fake.Events())-1])); !errors.Is(err, ErrBusy) {
		t.Fatalf("webhook while pulling: %v, want busy", err)
	}
	dt.mustBe(email(1), store.StatusActive, "okta/"+workostest.GroupName(1))
	lease.Release()
	if n, err := dt.w.PollEvents(ctx); err != nil || n != 1 {
		t.Fatalf("poll after the pull = %d, %v", n, err)
	}
	dt.mustBe(email(1), store.StatusOffboarded)
}

func TestOverlappingPullIsSkipped(t *testing.T) {
	dt := mustSyncTest(t, 50, 2, nil)
	dt.fake.AddFault(workostest.Fault{Path: "/directories/*", Latency: 300 * time.Millisecond, Count: 1})
	done := make(chan error, 1)
	go func() {
		_, _, err := dt.w.Pull(context.Background(), "", "okta", "first", ingest.Options{})
		done <- err
	}()
	for dt.fake.FaultHits()[0] == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, _, err := dt.w.Pull(context.Background(), "", "okta", "second", ingest.Options{}); !errors.Is(err, directory.ErrPullRunning) {
		t.Fatalf("overlapping pull: %v, want skipped", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStaleAndRepeatedWebhookEvents(t *testing.T) {
	ctx := context.Background()
	dt := mustSyncTest(t, 20, 2, nil)
	dt.pull()
	u := dt.seed.UserIDs[3]
	dt.fake.UpdateUser(u, func(x *workostest.User) { x.FirstName = "Older" })
	dt.fake.UpdateUser(u, func(x *workostest.User) { x.FirstName = "Newer" })
	evs := dt.fake.Events()
	older, newer := mustEvent(t, evs[len(evs)-2]), mustEvent(t, evs[len(evs)-1])
	// Delivered out of order: the newer first, then the older, late.
	for _, ev := range []workos.Event{newer, older, newer} {
		if err := dt.w.WebhookEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	r, err := dt.st.Recipient(ctx, dt.org().ID, email(3))
	if err != nil || r.FirstName != "Newer" {
		t.Fatalf("first name = %q (%v), want Newer: a late older event must not undo it", r.FirstName, err)
	}
}

func TestDeletedDirectoryWithdrawsWithoutOffboarding(t *testing.T) {
	ctx := context.Background()
	dt := mustSyncTest(t, 20, 2, nil)
	dt.pull()
	in := dt.eng.Ingester
	_, err := in.Ingest(ctx, ingest.Drop{Source: ingest.SourceConfig{Name: "hr", Kind: store.KindFolder}, Name: "hr.csv",
		Records: &schema.SliceStream{Records: []schema.Record{{Email: email(0), Key: email(0), FirstName: "Zero", Groups: []string{"All"}}}}}, ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dt.w.PollEvents(ctx)
	dt.eng.Wait()
	if err := dt.fake.DeleteDirectory(dt.seed.Directory.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := dt.w.PollEvents(ctx); err != nil {
		t.Fatal(err)
	}
	// Like any mass removal, withdrawing a whole directory is held for an
	// admin (issue 11: every removal is guarded, whatever carries it).
	ds := dt.drops()
	if ds[0].Status != store.DropHeld || ds[0].Kind != store.DropKindRemoval {
		t.Fatalf("newest drop = %s %s, want the withdrawal held", ds[0].Kind, ds[0].Status)
	}
	dt.mustBe(email(1), store.StatusActive, "okta/"+workostest.GroupName(1))
	if _, err := dt.eng.Ingester.Approve(ctx, schema.DefaultOrg, ds[0].ID, ingest.Options{By: "alice"}); err != nil {
		t.Fatal(err)
	}
	dt.mustBe(email(0), store.StatusActive, "hr/All")
	dt.mustBe(email(1), store.StatusGone)
	if n := dt.counts(); n[store.StatusOffboarded] != 0 || n[store.StatusGone] != 19 {
		t.Fatalf("recipients = %v, want 19 gone, none offboarded", n)
	}
	// Withdrawn, not removed: the source stays (its directory may come back).
	src, err := dt.st.LookupSource(ctx, dt.org().ID, "okta")
	if err != nil || src.RemovedAt != "" || src.Rows != 0 {
		t.Fatalf("source after the withdrawal: %+v, %v", src, err)
	}
}

func TestGroupLimitedSourceResyncsOnSelectedGroupChanges(t *testing.T) {
	ctx := context.Background()
	dt := mustSyncTest(t, 100, 4, func(s *SourceSpec) { s.Groups = []string{workostest.GroupName(1)} })
	dt.pull()
	if n, want := dt.counts(), len(dt.fake.Members(dt.seed.GroupIDs[1])); n[store.StatusActive] != int64(want) || want == 0 {
		t.Fatalf("recipients = %v, want the %d members of the selected group", n, want)
	}
	dt.w.PollEvents(ctx)
	dt.eng.Wait()
	// Someone joins the selected group: the event names the group, so the
	// source is pulled again and adds them.
	dt.fake.AddMember(dt.seed.GroupIDs[1], dt.seed.UserIDs[0])
	// A user outside the selection is renamed: ignored.
	dt.fake.UpdateUser(dt.seed.UserIDs[2], func(u *workostest.User) { u.FirstName = "Outside" })
	if _, err := dt.w.PollEvents(ctx); err != nil {
		t.Fatal(err)
	}
	dt.eng.Wait()
	dt.mustBe(email(0), store.StatusActive, "okta/"+workostest.GroupName(1))
	o := dt.org()
	if _, err := dt.st.Recipient(ctx, o.ID, email(2)); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("a user outside the selected groups: %v, want no recipient", err)
	}
}

func TestReconcileRepairsAndPrunes(t *testing.T) {
	ctx := context.Background()
	dt := mustSyncTest(t, 30, 3, nil)
	dt.pull()
	o := dt.org()
	tx, err := dt.st.Begin(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	r, _, _ := tx.Recipient(email(5))
	r.GroupIDs = nil
	tx.SaveRecipient(&r, true)
	tx.Commit()
	pruned := false
	dt.eng.Prune = func(time.Time) int { pruned = true; return 0 }
	drops := len(dt.drops())
	if err := dt.eng.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	dt.mustBe(email(5), store.StatusActive, "okta/"+workostest.GroupName(2))
	if !pruned || len(dt.drops()) != drops+1 {
		t.Fatalf("pruned %v, drops %d -> %d: want the pull recorded and pruning run", pruned, drops, len(dt.drops()))
	}
}

func TestStaleEventsCursorFallsBackToPulls(t *testing.T) {
	ctx := context.Background()
	dt := mustSyncTest(t, 20, 2, nil)
	dt.pull()
	// A cursor last moved 30 days ago (muster was stopped that long): the
	// Events API no longer has what follows it.
	dt.st.SetClock(func() time.Time { return time.Now().Add(-30 * 24 * time.Hour) })
	old, _, err := dt.st.Cursor(ctx, dt.w.CursorName())
	if err != nil {
		t.Fatal(err)
	}
	old.EventID = "event_zzzz"
	if err := dt.st.SetCursor(ctx, &old); err != nil {
		t.Fatal(err)
	}
	dt.st.SetClock(time.Now)
	dt.fake.DeactivateUser(dt.seed.UserIDs[3])
	drops := len(dt.drops())
	if _, err := dt.w.PollEvents(ctx); err != nil {
		t.Fatal(err)
	}
	dt.eng.Wait()
	dt.mustBe(email(3), store.StatusOffboarded)
	pulled := false
	for _, d := range dt.drops()[:len(dt.drops())-drops] {
		pulled = pulled || strings.HasPrefix(d.Name, "workos pull")
	}
	if !pulled {
		t.Fatal("no pull after a stale cursor")
	}
	if c, _, _ := dt.st.Cursor(ctx, dt.w.CursorName()); c.EventID == "event_zzzz" {
		t.Fatal("the stale cursor was kept")
	}
}

func TestSyncNowPullsInTheBackground(t *testing.T) {
	dt := mustSyncTest(t, 10, 1, nil)
	if err := dt.eng.SyncNow(context.Background(), "", "nope", "api"); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("unknown source: %v", err)
	}
	if err := dt.eng.SyncNow(context.Background(), schema.DefaultOrg, "okta", "api"); err != nil {
		t.Fatal(err)
	}
	dt.eng.Wait()
	runs := dt.eng.Runs()
	if len(runs) != 1 || runs[0].Source != "okta" || runs[0].LastSuccess.IsZero() || runs[0].LastRun.Before(runs[0].LastAttempt) {
		t.Fatalf("runs = %+v", runs)
	}
	if ds := dt.drops(); len(ds) != 1 || ds[0].DecidedBy != "api" {
		t.Fatalf("drops = %+v, want one decided by api", ds)
	}
}

// TestPullStoppedPartWayIsAStopNotAFailure: muster stops (SIGTERM) while a
// pull reads the users. Nothing of it is applied, and it is logged as
// interrupted by the stop, not as a failed or "broken" pull, nor does it
// leave the source marked failing.
func TestPullStoppedPartWayIsAStopNotAFailure(t *testing.T) {
	dt := mustSyncTest(t, 300, 3, nil)
	var logs syncBuilder
	dt.eng.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	// The second page of users is slow: the stop comes while it is awaited.
	dt.fake.AddFault(workostest.Fault{Path: "/directory_users", Query: "directory=", Skip: 1, Latency: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitUntil(t, "the slow page", func() bool { return dt.fake.FaultHits()[0] > 0 })
		cancel()
	}()
	dt.w.Pull(ctx, "", "okta", "test", ingest.Options{})
	if n := dt.counts(); len(n) != 0 {
		t.Fatalf("recipients after a stopped first pull: %v", n)
	}
	out := logs.String()
	if !strings.Contains(out, "workos pull interrupted by the stop; nothing of it applied") || strings.Contains(out, "level=ERROR") ||
		strings.Contains(out, "decision=rejected") {
		t.Fatalf("log:\n%s", out)
	}
	if s := dt.status(); s.LastError != "" {
		t.Fatalf("status after a stop: %+v", s)
	}
	// Its drop is closed as interrupted, not left "received" nor called broken.
	ds := dt.drops()
	if len(ds) != 1 || ds[0].Status != store.DropRejected || !strings.Contains(string(ds[0].Report), "interrupted: muster stopped") {
		t.Fatalf("drops after a stopped pull: %+v", ds)
	}
}

// TestEventsOfADirectoryOfAnotherOrganizationRefused: the source says its
// directory must belong to WorkOS organization org_ours, but directory_id
// names another organization's directory (a pasted id, or a directory
// moved). Its pulls are refused; its events must be too: nothing crosses
// organisations, whichever way it comes in.
func TestEventsOfADirectoryOfAnotherOrganizationRefused(t *testing.T) {
	ctx := context.Background()
	dt := mustSyncTest(t, 5, 1, func(s *SourceSpec) { s.OrganizationID = "org_ours" })
	if _, _, err := dt.w.Pull(ctx, "", "okta", "test", ingest.Options{}); err == nil ||
		!strings.Contains(err.Error(), "not org_ours") {
		t.Fatalf("pull of another organization's directory: %v", err)
	}
	if _, err := dt.w.PollEvents(ctx); err != nil {
		t.Fatal(err)
	}
	dt.eng.Wait()
	if _, err := dt.fake.CreateUser(dt.seed.Directory.ID, workostest.UserSpec{Email: "stranger@example.com",
		FirstName: "Not", LastName: "Ours", State: "active"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dt.w.PollEvents(ctx); err != nil {
		t.Fatal(err)
	}
	dt.eng.Wait()
	o, err := dt.st.LookupOrg(ctx, schema.DefaultOrg)
	if err == nil {
		if r, err := dt.st.Recipient(ctx, o.ID, "stranger@example.com"); err == nil {
			t.Fatalf("an event of another organization's directory was applied: %+v", r)
		}
	}
	// The same through the webhook endpoint.
	ev := workos.Event{ID: "event_stranger2", Event: workos.EventUserCreated, CreatedAt: workos.Timestamp{Time: time.Now()},
		Data: json.RawMessage(fmt.Sprintf(`{"object":"directory_user","id":"directory_user_x2","directory_id":%q,"organization_id":"org_theirs","emails":[{"primary":true,"value":"stranger2@example.com"}],"first_name":"Not","last_name":"Ours","state":"active"}`, dt.seed.Directory.ID))}
	if err := dt.w.WebhookEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	dt.eng.Wait()
	if o, err := dt.st.LookupOrg(ctx, schema.DefaultOrg); err == nil {
		if r, err := dt.st.Recipient(ctx, o.ID, "stranger2@example.com"); err == nil {
			t.Fatalf("a webhook event of another organization's directory was applied: %+v", r)
		}
	}
}

// The events of a delta and the poll's cursor are saved in the delta's own
// transaction: at the moment it commits, before anything else runs, the
// store already holds them, so a crash just after the commit re-applies
// nothing. The hook runs right after the commit ("apply-done").
func TestEventsAndCursorCommitWithTheirDelta(t *testing.T) {
	ctx := context.Background()
	dt := mustSyncTest(t, 50, 4, nil)
	dt.pull()
	if _, err := dt.w.PollEvents(ctx); err != nil {
		t.Fatal(err)
	}
	dt.eng.Wait()
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
	dt.eng.Ingester.Hook = func(point string) {
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
		cur, _, err := dt.st.Cursor(ctx, dt.w.CursorName())
		if err != nil || cur.EventID != ids[1] {
			t.Errorf("cursor when the delta committed = %q, %v; want %s", cur.EventID, err, ids[1])
		}
	}
	if n, err := dt.w.PollEvents(ctx); err != nil || n != 2 {
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
	dt := mustSyncTest(t, 20, 2, nil)
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
		if err := dt.w.WebhookEvent(ctx, mustEvent(t, evs[i])); err != nil {
			t.Fatal(err)
		}
	}
	dt.mustBe(email(3), store.StatusOffboarded)
	dt.mustBe(email(5), store.StatusActive, "okta/"+workostest.GroupName(0), "okta/"+workostest.GroupName(1))
}
