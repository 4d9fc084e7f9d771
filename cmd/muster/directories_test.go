package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"muster/ingest"
	"muster/ingest/directory"
	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
	"muster/ingest/workossync"
	"muster/schema"
	"muster/store"
)

// dirTest is a directory source over the fake WorkOS, with a real store.
type dirTest struct {
	t    testing.TB
	fake *workostest.Server
	seed workostest.SeedResult
	eng  *directory.Engine
	w    *workossync.Sync
	st   *store.Store
	data string
	e    *env
	path string // the config file
	cfg  *Config
}

const testWebhookSecret = "whsec_test_secret"

// mustDirTest seeds the fake with users and groups, writes a config with
// one workos source "okta" (plus extra TOML) and returns its directory
// engine and WorkOS producer, whose client retries without waiting.
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
	dt.cfg = c
	dt.eng, dt.w, err = c.directories(e, in, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dt.eng.Close() })
	dt.w.Client, err = workos.New(workos.Config{BaseURL: fake.URL, APIKey: workos.Secret(fake.APIKey()),
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

func (dt *dirTest) pull() *ingest.Report {
	dt.t.Helper()
	rep, _, err := dt.w.Pull(context.Background(), "", "okta", "test", ingest.Options{})
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

func TestWebhookEndpointAppliesAtOnceAndRefusesForgeries(t *testing.T) {
	ctx := context.Background()
	dt := mustDirTest(t, 30, 3, "")
	dt.pull()
	w, err := openWebhook("127.0.0.1:0", "/hooks/workos", testWebhookSecret, time.Minute, dt.w.WebhookEvent, testLogger(t))
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
	s, err := dt.w.Source("", "okta")
	if err != nil {
		t.Fatal(err)
	}
	lease, _ := s.TryAcquire() // as a pull does
	code := deliver(dt.fake.LastEventID(), workostest.Genuine)
	lease.Release()
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
	dt.cfg.WorkOS.EventsPoll = &one
	sched := &scheduler{engine: dt.eng, sync: dt.w, conf: dt.cfg, log: testLogger(t)}
	if err := sched.Open(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first pull", func() bool {
		_, err := dt.st.LookupOrg(context.Background(), schema.DefaultOrg)
		return err == nil && dt.counts()[store.StatusActive] == 40
	})
	dt.fake.DeactivateUser(dt.seed.UserIDs[2])
	waitUntil(t, "the deactivation", func() bool { st, _ := dt.recipient(email(2)); return st == store.StatusOffboarded })
	// Stopped as the daemon stops them: the scheduler (its jobs end), then
	// the engine (the pulls it runs in the background, such as the one the
	// events poll asks for, end). The engine outlives the scheduler, which
	// a reload replaces.
	sched.Close()
	dt.eng.Close()
	// Nothing runs any more. What muster sends is counted where it is sent:
	// the client counts every attempt before the call returns, one the
	// stop abandoned included. The fake's count is no measure of that at
	// Close: a request abandoned in flight is counted when the fake's
	// handler gets to it, which may be after Close returned (seen under
	// load: the fake at 8, then 9, while the client had made 9, its 9th
	// ending "context canceled").
	sent := dt.w.Client.Stats().Requests
	time.Sleep(1500 * time.Millisecond)
	if n := dt.w.Client.Stats().Requests; n != sent {
		t.Fatalf("%d requests sent after Close", n-sent)
	}
	if got := int64(dt.fake.TotalRequests()); got > sent {
		t.Fatalf("the fake received %d requests, muster sent %d", got, sent)
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
