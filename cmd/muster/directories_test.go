package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"muster/ingest"
	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
	"muster/schema"
	"muster/store"
)

// dirTest is a directory source over the fake WorkOS, with a real store.
type dirTest struct {
	t    testing.TB
	fake *workostest.Server
	seed workostest.SeedResult
	d    *Directories
	st   *store.Store
	data string
	e    *env
	path string // the config file
}

const testWebhookSecret = "whsec_test_secret"

// mustDirTest seeds the fake with users and groups, writes a config with
// one workos source "okta" (plus extra TOML) and returns its Directories,
// whose client retries without waiting.
func mustDirTest(t testing.TB, users, groups int, extra string) *dirTest {
	t.Helper()
	fake := workostest.Start(t, workostest.Options{})
	seed := fake.MustSeed(t, workostest.SeedSpec{Users: users, Groups: groups})
	dt := &dirTest{t: t, fake: fake, seed: seed, data: t.TempDir()}
	cfgText := fmt.Sprintf(`data_dir = %q
[workos]
api_key_env = "WORKOS_API_KEY"
base_url = %q
users_interval = "0"
[[sources]]
name = "okta"
kind = "workos"
directory_id = %q
`, dt.data, fake.URL, seed.Directory.ID) + extra
	path := filepath.Join(t.TempDir(), "muster.toml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &env{stdout: &strings.Builder{}, stderr: &strings.Builder{}, getenv: func(k string) string {
		return map[string]string{"WORKOS_API_KEY": fake.APIKey(), "WORKOS_WEBHOOK_SECRET": testWebhookSecret}[k]
	}}
	dt.e, dt.path = e, path
	c, err := loadConfig(e, path, "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), filepath.Join(dt.data, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dt.st = st
	in := ingest.New(st)
	in.TempDir = dt.data
	dt.d, err = newDirectories(c, e, in, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dt.d.Close() })
	dt.d.Client, err = workos.New(workos.Config{BaseURL: fake.URL, APIKey: workos.Secret(fake.APIKey()),
		DirectoryUsersInterval: -1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return dt
}

// testLogger logs through t when -v asks for it.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (dt *dirTest) source(name string) *dirSource {
	s, err := dt.d.source("", name)
	if err != nil {
		dt.t.Fatal(err)
	}
	return s
}

func (dt *dirTest) pull() *ingest.Report {
	dt.t.Helper()
	rep, _, err := dt.d.Pull(context.Background(), dt.source("okta"), "test", ingest.Options{})
	if err != nil {
		dt.t.Fatalf("pull: %v", err)
	}
	return rep
}

func (dt *dirTest) org() store.Org {
	o, err := dt.st.LookupOrg(context.Background(), schema.DefaultOrg)
	if err != nil {
		dt.t.Fatal(err)
	}
	return o
}

// recipient returns seeded user i's recipient: status and "source/group"s.
func (dt *dirTest) recipient(email string) (store.RecipientStatus, []string) {
	dt.t.Helper()
	ctx := context.Background()
	o := dt.org()
	r, err := dt.st.Recipient(ctx, o.ID, email)
	if err != nil {
		dt.t.Fatalf("recipient %s: %v", email, err)
	}
	gs, err := dt.st.GroupsByID(ctx, o.ID, r.GroupIDs)
	if err != nil {
		dt.t.Fatal(err)
	}
	var names []string
	for _, id := range r.GroupIDs {
		names = append(names, gs[id].SourceName+"/"+gs[id].Name)
	}
	return r.Status, names
}

func (dt *dirTest) mustBe(email string, status store.RecipientStatus, groups ...string) {
	dt.t.Helper()
	st, gs := dt.recipient(email)
	if st != status || !slices.Equal(gs, groups) {
		dt.t.Fatalf("%s = %s %v, want %s %v", email, st, gs, status, groups)
	}
}

func (dt *dirTest) counts() map[store.RecipientStatus]int64 {
	n, err := dt.st.RecipientCounts(context.Background(), dt.org().ID)
	if err != nil {
		dt.t.Fatal(err)
	}
	return n
}

func (dt *dirTest) drops() []store.Drop {
	ds, _, err := dt.st.Drops(context.Background(), dt.org().ID, store.DropFilter{Limit: 1000})
	if err != nil {
		dt.t.Fatal(err)
	}
	return ds
}

func email(i int) string { return workostest.SeedEmail(i, "") }

func TestDirectoryPullAppliesThroughThePipelineWithinTheRequestBudget(t *testing.T) {
	dt := mustDirTest(t, 1000, 20, "")
	dt.fake.DeactivateUser(dt.seed.UserIDs[7])
	dt.fake.ResetCounts()
	rep, stats, err := dt.d.Pull(context.Background(), dt.source("okta"), "test", ingest.Options{})
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
	if s := dt.d.Status()["default/okta"]; s.LastSuccess.IsZero() || s.LastDecision != "duplicate" || s.LastError != "" {
		t.Fatalf("status = %+v", s)
	}
}

func TestFailedPullAppliesNothing(t *testing.T) {
	dt := mustDirTest(t, 300, 3, "")
	dt.pull()
	before := dt.counts()
	dropsBefore := len(dt.drops())
	dt.fake.DeactivateUser(dt.seed.UserIDs[1])
	dt.fake.DeleteUser(dt.seed.UserIDs[2])

	// Dropped connections on the second page of users, every retry: the
	// pull fails part-way. Its drop is recorded as rejected, nothing applied.
	dt.fake.AddFault(workostest.Fault{Path: "/directory_users", Query: "directory=", Skip: 1, Drop: true})
	rep, _, err := dt.d.Pull(context.Background(), dt.source("okta"), "test", ingest.Options{})
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
	if s := dt.d.Status()["default/okta"]; s.LastDecision != "rejected" || s.LastError == "" {
		t.Fatalf("status = %+v", s)
	}

	// A failure reading the memberships (before any user is read): no drop.
	dt.fake.ClearFaults()
	dt.fake.AddFault(workostest.Fault{Path: "/directory_users", Query: "group=", Skip: 1, Status: 503})
	if _, _, err := dt.d.Pull(context.Background(), dt.source("okta"), "test", ingest.Options{}); err == nil {
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

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestEventsPollAppliesDeltasOnceAndResumes(t *testing.T) {
	ctx := context.Background()
	dt := mustDirTest(t, 200, 10, "")
	dt.pull()
	if _, err := dt.d.PollEvents(ctx); err != nil { // the seed's dsync.activated asks for a pull
		t.Fatal(err)
	}
	dt.d.wg.Wait()
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
	n, err := dt.d.PollEvents(ctx)
	if err != nil || n != 7 {
		t.Fatalf("poll = %d, %v; want 7 events", n, err)
	}
	dt.d.wg.Wait()
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
	if n, err := dt.d.PollEvents(ctx); err != nil || n != 0 {
		t.Fatalf("second poll = %d, %v", n, err)
	}
	for _, ev := range dt.fake.Events() {
		if err := dt.d.WebhookEvent(ctx, mustEvent(t, ev)); err != nil {
			t.Fatal(err)
		}
	}
	if len(dt.drops()) != drops+1 {
		t.Fatal("repeated events made a drop")
	}
	// A restart reads the cursor from the store.
	dt.fake.UpdateUser(u[6], func(u *workostest.User) { u.FirstName = "Renamed" })
	d2, err := newDirectories(dt.d.cfg, dt.e, dt.d.Ingester, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	d2.Client = dt.d.Client
	defer d2.Close()
	if n, err := d2.PollEvents(ctx); err != nil || n != 1 {
		t.Fatalf("poll after restart = %d, %v; want the one new event", n, err)
	}
}

// mustEvent turns a fake's log entry into the event a webhook carries.
func mustEvent(t testing.TB, ev workostest.Event) workos.Event {
	t.Helper()
	var out workos.Event
	if err := json.Unmarshal(ev.Body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEventsForASourceBeingPulledWait(t *testing.T) {
	ctx := context.Background()
	dt := mustDirTest(t, 50, 2, "")
	dt.pull()
	dt.d.PollEvents(ctx)
	dt.d.wg.Wait()
	dt.fake.DeactivateUser(dt.seed.UserIDs[1])
	s := dt.source("okta")
	s.mu.Lock() // as a pull does
	n, err := dt.d.PollEvents(ctx)
	if err != nil || n != 0 {
		t.Fatalf("poll while pulling = %d, %v; want it to stop before the event", n, err)
	}
	if err := dt.d.WebhookEvent(ctx, mustEvent(t, dt.fake.Events()[len(dt.fake.Events())-1])); !errors.Is(err, errBusy) {
		t.Fatalf("webhook while pulling: %v, want busy", err)
	}
	dt.mustBe(email(1), store.StatusActive, "okta/"+workostest.GroupName(1))
	s.mu.Unlock()
	if n, err := dt.d.PollEvents(ctx); err != nil || n != 1 {
		t.Fatalf("poll after the pull = %d, %v", n, err)
	}
	dt.mustBe(email(1), store.StatusOffboarded)
}

func TestOverlappingPullIsSkipped(t *testing.T) {
	dt := mustDirTest(t, 50, 2, "")
	dt.fake.AddFault(workostest.Fault{Path: "/directories/*", Latency: 300 * time.Millisecond, Count: 1})
	done := make(chan error, 1)
	go func() {
		_, _, err := dt.d.Pull(context.Background(), dt.source("okta"), "first", ingest.Options{})
		done <- err
	}()
	for dt.fake.FaultHits()[0] == 0 {
		time.Sleep(time.Millisecond)
	}
	if _, _, err := dt.d.Pull(context.Background(), dt.source("okta"), "second", ingest.Options{}); !errors.Is(err, errSkipped) {
		t.Fatalf("overlapping pull: %v, want skipped", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStaleAndRepeatedWebhookEvents(t *testing.T) {
	ctx := context.Background()
	dt := mustDirTest(t, 20, 2, "")
	dt.pull()
	u := dt.seed.UserIDs[3]
	dt.fake.UpdateUser(u, func(x *workostest.User) { x.FirstName = "Older" })
	dt.fake.UpdateUser(u, func(x *workostest.User) { x.FirstName = "Newer" })
	evs := dt.fake.Events()
	older, newer := mustEvent(t, evs[len(evs)-2]), mustEvent(t, evs[len(evs)-1])
	// Delivered out of order: the newer first, then the older, late.
	for _, ev := range []workos.Event{newer, older, newer} {
		if err := dt.d.WebhookEvent(ctx, ev); err != nil {
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
	dt := mustDirTest(t, 20, 2, `
[[sources]]
name = "hr"
kind = "folder"
folder = "hr"
`)
	dt.pull()
	in := dt.d.Ingester
	_, err := in.Ingest(ctx, ingest.Drop{Source: ingest.SourceConfig{Name: "hr", Kind: store.KindFolder}, Name: "hr.csv",
		Records: &schema.SliceStream{Records: []schema.Record{{Email: email(0), Key: email(0), FirstName: "Zero", Groups: []string{"All"}}}}}, ingest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dt.d.PollEvents(ctx)
	dt.d.wg.Wait()
	if err := dt.fake.DeleteDirectory(dt.seed.Directory.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := dt.d.PollEvents(ctx); err != nil {
		t.Fatal(err)
	}
	dt.mustBe(email(0), store.StatusActive, "hr/All")
	dt.mustBe(email(1), store.StatusGone)
	if n := dt.counts(); n[store.StatusOffboarded] != 0 || n[store.StatusGone] != 19 {
		t.Fatalf("recipients = %v, want 19 gone, none offboarded", n)
	}
}

func TestGroupLimitedSourceResyncsOnSelectedGroupChanges(t *testing.T) {
	ctx := context.Background()
	dt := mustDirTest(t, 100, 4, `groups = ["`+workostest.GroupName(1)+`"]`+"\n")
	dt.pull()
	if n, want := dt.counts(), len(dt.fake.Members(dt.seed.GroupIDs[1])); n[store.StatusActive] != int64(want) || want == 0 {
		t.Fatalf("recipients = %v, want the %d members of the selected group", n, want)
	}
	dt.d.PollEvents(ctx)
	dt.d.wg.Wait()
	// Someone joins the selected group: the event names the group, so the
	// source is pulled again and adds them.
	dt.fake.AddMember(dt.seed.GroupIDs[1], dt.seed.UserIDs[0])
	// A user outside the selection is renamed: ignored.
	dt.fake.UpdateUser(dt.seed.UserIDs[2], func(u *workostest.User) { u.FirstName = "Outside" })
	if _, err := dt.d.PollEvents(ctx); err != nil {
		t.Fatal(err)
	}
	dt.d.wg.Wait()
	dt.mustBe(email(0), store.StatusActive, "okta/"+workostest.GroupName(1))
	o := dt.org()
	if _, err := dt.st.Recipient(ctx, o.ID, email(2)); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("a user outside the selected groups: %v, want no recipient", err)
	}
}

func TestReconcileRepairsAndPrunes(t *testing.T) {
	ctx := context.Background()
	dt := mustDirTest(t, 30, 3, "")
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
	dt.d.Prune = func(time.Time) int { pruned = true; return 0 }
	drops := len(dt.drops())
	if err := dt.d.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	dt.mustBe(email(5), store.StatusActive, "okta/"+workostest.GroupName(2))
	if !pruned || len(dt.drops()) != drops+1 {
		t.Fatalf("pruned %v, drops %d -> %d: want the pull recorded and pruning run", pruned, drops, len(dt.drops()))
	}
}

func TestWebhookEndpointAppliesAtOnceAndRefusesForgeries(t *testing.T) {
	ctx := context.Background()
	dt := mustDirTest(t, 30, 3, "")
	dt.pull()
	w, err := openWebhook("127.0.0.1:0", "/hooks/workos", testWebhookSecret, time.Minute, dt.d.WebhookEvent, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	url := "http://" + w.Addr().String() + "/hooks/workos"
	deliver := func(id string, forge workostest.Forgery) int {
		t.Helper()
		code, err := dt.fake.Deliver(ctx, workostest.Delivery{URL: url, Secret: testWebhookSecret, EventID: id, Forge: forge})
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	dt.fake.DeactivateUser(dt.seed.UserIDs[4])
	id := dt.fake.LastEventID()
	drops := len(dt.drops())
	for _, f := range []workostest.Forgery{workostest.ForgeWrongSecret, workostest.ForgeStaleTimestamp,
		workostest.ForgeTamperedBody, workostest.ForgeNoSignature} {
		if code := deliver(id, f); code != 401 {
			t.Fatalf("forgery %d answered %d, want 401", f, code)
		}
	}
	if len(dt.drops()) != drops {
		t.Fatal("a forged webhook made a drop")
	}
	dt.mustBe(email(4), store.StatusActive, "okta/"+workostest.GroupName(1))
	if code := deliver(id, workostest.Genuine); code != 200 {
		t.Fatalf("genuine webhook answered %d", code)
	}
	dt.mustBe(email(4), store.StatusOffboarded) // applied before the answer
	if code := deliver(id, workostest.Genuine); code != 200 || len(dt.drops()) != drops+1 {
		t.Fatalf("repeat answered %d with %d new drops, want 200 and none", code, len(dt.drops())-drops)
	}
	// While the source is pulled the endpoint answers 500: WorkOS delivers again.
	dt.fake.DeactivateUser(dt.seed.UserIDs[5])
	s := dt.source("okta")
	s.mu.Lock()
	code := deliver(dt.fake.LastEventID(), workostest.Genuine)
	s.mu.Unlock()
	if code != 500 {
		t.Fatalf("webhook during a pull answered %d, want 500", code)
	}
	if code := deliver(dt.fake.LastEventID(), workostest.Genuine); code != 200 {
		t.Fatalf("redelivery answered %d", code)
	}
	dt.mustBe(email(5), store.StatusOffboarded)
}

func TestScheduledPullsAndPollFollowTheDirectoryAndStopCleanly(t *testing.T) {
	dt := mustDirTest(t, 40, 4, `schedule = "@every 1s"`+"\n")
	one := Duration(time.Second)
	dt.d.cfg.WorkOS.EventsPoll = &one
	if err := dt.d.Open(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first pull", func() bool {
		_, err := dt.st.LookupOrg(context.Background(), schema.DefaultOrg)
		return err == nil && dt.counts()[store.StatusActive] == 40
	})
	dt.fake.DeactivateUser(dt.seed.UserIDs[2])
	waitUntil(t, "the deactivation", func() bool { st, _ := dt.recipient(email(2)); return st == store.StatusOffboarded })
	if err := dt.d.Close(); err != nil {
		t.Fatal(err)
	}
	// Stopped: nothing runs any more.
	n := dt.fake.TotalRequests()
	time.Sleep(1500 * time.Millisecond)
	if m := dt.fake.TotalRequests(); m != n {
		t.Fatalf("%d requests after Close", m-n)
	}
}

// waitUntil polls cond until it holds or a generous deadline passes.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStaleEventsCursorFallsBackToPulls(t *testing.T) {
	ctx := context.Background()
	dt := mustDirTest(t, 20, 2, "")
	dt.pull()
	// A cursor last moved 30 days ago (muster was stopped that long): the
	// Events API no longer has what follows it.
	dt.st.SetClock(func() time.Time { return time.Now().Add(-30 * 24 * time.Hour) })
	if err := dt.st.SetCursor(ctx, store.Cursor{Name: dt.d.cursorName(), EventID: "event_zzzz"}); err != nil {
		t.Fatal(err)
	}
	dt.st.SetClock(time.Now)
	dt.fake.DeactivateUser(dt.seed.UserIDs[3])
	drops := len(dt.drops())
	if _, err := dt.d.PollEvents(ctx); err != nil {
		t.Fatal(err)
	}
	dt.d.wg.Wait()
	dt.mustBe(email(3), store.StatusOffboarded)
	pulled := false
	for _, d := range dt.drops()[:len(dt.drops())-drops] {
		pulled = pulled || strings.HasPrefix(d.Name, "workos pull")
	}
	if !pulled {
		t.Fatal("no pull after a stale cursor")
	}
	if c, _, _ := dt.st.Cursor(ctx, dt.d.cursorName()); c.EventID == "event_zzzz" {
		t.Fatal("the stale cursor was kept")
	}
}

func TestSyncNowPullsInTheBackground(t *testing.T) {
	dt := mustDirTest(t, 10, 1, "")
	if err := dt.d.SyncNow(context.Background(), "", "nope", "api"); schema.ErrorCodeOf(err) != schema.ENotFound {
		t.Fatalf("unknown source: %v", err)
	}
	if err := dt.d.SyncNow(context.Background(), schema.DefaultOrg, "okta", "api"); err != nil {
		t.Fatal(err)
	}
	dt.d.wg.Wait()
	runs := dt.d.Runs()
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
	dt := mustDirTest(t, 300, 3, "")
	var logs syncBuilder
	dt.d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	// The second page of users is slow: the stop comes while it is awaited.
	dt.fake.AddFault(workostest.Fault{Path: "/directory_users", Query: "directory=", Skip: 1, Latency: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitUntil(t, "the slow page", func() bool { return dt.fake.FaultHits()[0] > 0 })
		cancel()
	}()
	dt.d.Pull(ctx, dt.source("okta"), "test", ingest.Options{})
	if n := dt.counts(); len(n) != 0 {
		t.Fatalf("recipients after a stopped first pull: %v", n)
	}
	out := logs.String()
	if !strings.Contains(out, "workos pull interrupted by the stop; nothing of it applied") || strings.Contains(out, "level=ERROR") ||
		strings.Contains(out, "decision=rejected") {
		t.Fatalf("log:\n%s", out)
	}
	if s := dt.d.Status()["default/okta"]; s.LastError != "" {
		t.Fatalf("status after a stop: %+v", s)
	}
	// Its drop is closed as interrupted, not left "received" nor called broken.
	ds := dt.drops()
	if len(ds) != 1 || ds[0].Status != store.DropRejected || !strings.Contains(string(ds[0].Report), "interrupted: muster stopped") {
		t.Fatalf("drops after a stopped pull: %+v", ds)
	}
}

// syncBuilder is a strings.Builder safe for a logger's concurrent writes.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestEventsOfADirectoryOfAnotherOrganizationRefused: the source says its
// directory must belong to WorkOS organization org_ours, but directory_id
// names another organization's directory (a pasted id, or a directory
// moved). Its pulls are refused; its events must be too: nothing crosses
// organisations, whichever way it comes in.
func TestEventsOfADirectoryOfAnotherOrganizationRefused(t *testing.T) {
	ctx := context.Background()
	dt := mustDirTest(t, 5, 1, "organization_id = \"org_ours\"\n")
	if _, _, err := dt.d.Pull(ctx, dt.source("okta"), "test", ingest.Options{}); err == nil ||
		!strings.Contains(err.Error(), "not org_ours") {
		t.Fatalf("pull of another organization's directory: %v", err)
	}
	if _, err := dt.d.PollEvents(ctx); err != nil {
		t.Fatal(err)
	}
	dt.d.wg.Wait()
	if _, err := dt.fake.CreateUser(dt.seed.Directory.ID, workostest.UserSpec{Email: "stranger@example.com",
		FirstName: "Not", LastName: "Ours", State: "active"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dt.d.PollEvents(ctx); err != nil {
		t.Fatal(err)
	}
	dt.d.wg.Wait()
	o, err := dt.st.LookupOrg(ctx, schema.DefaultOrg)
	if err == nil {
		if r, err := dt.st.Recipient(ctx, o.ID, "stranger@example.com"); err == nil {
			t.Fatalf("an event of another organization's directory was applied: %+v", r)
		}
	}
	// The same through the webhook endpoint.
	ev := workos.Event{ID: "event_stranger2", Event: workos.EventUserCreated, CreatedAt: workos.Timestamp{Time: time.Now()},
		Data: json.RawMessage(fmt.Sprintf(`{"object":"directory_user","id":"directory_user_x2","directory_id":%q,"organization_id":"org_theirs","emails":[{"primary":true,"value":"stranger2@example.com"}],"first_name":"Not","last_name":"Ours","state":"active"}`, dt.seed.Directory.ID))}
	if err := dt.d.WebhookEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	dt.d.wg.Wait()
	if o, err := dt.st.LookupOrg(ctx, schema.DefaultOrg); err == nil {
		if r, err := dt.st.Recipient(ctx, o.ID, "stranger2@example.com"); err == nil {
			t.Fatalf("a webhook event of another organization's directory was applied: %+v", r)
		}
	}
}
