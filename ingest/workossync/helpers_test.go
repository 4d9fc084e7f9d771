package workossync

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"muster/ingest"
	"muster/ingest/directory"
	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
	"muster/schema"
	"muster/store"
	"muster/store/storetest"
)

// syncTest is a WorkOS directory source "okta" over the fake WorkOS, with
// the directory engine on a real store.
type syncTest struct {
	t     testing.TB
	fake  *workostest.Server
	seed  workostest.SeedResult
	eng   *directory.Engine
	w     *Sync
	st    *store.Store
	data  string
	specs []SourceSpec
}

// mustSyncTest seeds the fake with users and groups and registers one
// workos source "okta" (changed by edit, if set) with a client that
// retries without waiting.
// The WorkOS producer's tests run on SQLite, and again on PostgreSQL when
// MUSTER_TEST_POSTGRES names a server (storetest).
func TestMain(m *testing.M) { storetest.Main(m) }

func TestBackends(t *testing.T) { storetest.Report(t) }

func mustSyncTest(t testing.TB, users, groups int, edit func(*SourceSpec)) *syncTest {
	t.Helper()
	return mustSyncTestWith(t, workostest.Options{}, users, groups, edit)
}

// mustSyncTestWith is mustSyncTest with the fake's options.
func mustSyncTestWith(t testing.TB, opts workostest.Options, users, groups int, edit func(*SourceSpec)) *syncTest {
	t.Helper()
	fake := workostest.Start(t, opts)
	seed := fake.MustSeed(t, workostest.SeedSpec{Users: users, Groups: groups})
	dt := &syncTest{t: t, fake: fake, seed: seed, data: t.TempDir()}
	spec := SourceSpec{Config: ingest.SourceConfig{Name: "okta", Kind: store.KindWorkOS, Authoritative: true},
		DirectoryID: seed.Directory.ID}
	if edit != nil {
		edit(&spec)
	}
	dt.specs = []SourceSpec{spec}
	dt.st = storetest.Open(t)
	dt.eng, dt.w = dt.restart()
	return dt
}

// restart makes another engine and producer over the same store and
// specs, as a restarted daemon would.
func (dt *syncTest) restart() (*directory.Engine, *Sync) {
	dt.t.Helper()
	in := ingest.New(dt.st)
	in.TempDir = dt.data
	eng := directory.New(in, testLogger(dt.t))
	dt.t.Cleanup(func() { eng.Close() })
	client, err := workos.New(workos.Config{BaseURL: dt.fake.URL, APIKey: workos.Secret(dt.fake.APIKey()),
		DirectoryUsersInterval: -1, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	if err != nil {
		dt.t.Fatal(err)
	}
	w, err := New(context.Background(), client, eng, testLogger(dt.t), nil, dt.specs)
	if err != nil {
		dt.t.Fatal(err)
	}
	return eng, w
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

// lease holds source okta, as a pull does.
func (dt *syncTest) lease() *directory.Lease {
	s, err := dt.w.Source("", "okta")
	if err != nil {
		dt.t.Fatal(err)
	}
	l, ok := s.TryAcquire()
	if !ok {
		dt.t.Fatal("okta is busy")
	}
	return l
}

func (dt *syncTest) status() directory.RunStatus {
	s, err := dt.w.Source("", "okta")
	if err != nil {
		dt.t.Fatal(err)
	}
	return s.Status()
}

func (dt *syncTest) pull() *ingest.Report {
	dt.t.Helper()
	rep, _, err := dt.w.Pull(context.Background(), "", "okta", "test", ingest.Options{})
	if err != nil {
		dt.t.Fatalf("pull: %v", err)
	}
	return rep
}

func (dt *syncTest) org() store.Org {
	o, err := dt.st.LookupOrg(context.Background(), schema.DefaultOrg)
	if err != nil {
		dt.t.Fatal(err)
	}
	return o
}

// recipient returns the recipient's status and "source/group"s.
func (dt *syncTest) recipient(email string) (store.RecipientStatus, []string) {
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

func (dt *syncTest) mustBe(email string, status store.RecipientStatus, groups ...string) {
	dt.t.Helper()
	st, gs := dt.recipient(email)
	if st != status || !slices.Equal(gs, groups) {
		dt.t.Fatalf("%s = %s %v, want %s %v", email, st, gs, status, groups)
	}
}

func (dt *syncTest) counts() map[store.RecipientStatus]int64 {
	n, err := dt.st.RecipientCounts(context.Background(), dt.org().ID)
	if err != nil {
		dt.t.Fatal(err)
	}
	return n
}

func (dt *syncTest) drops() []store.Drop {
	ds, _, err := dt.st.Drops(context.Background(), dt.org().ID, store.DropFilter{Limit: 1000})
	if err != nil {
		dt.t.Fatal(err)
	}
	return ds
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

// mustEvent turns a fake's log entry into the event a webhook carries.
func mustEvent(t testing.TB, ev workostest.Event) workos.Event {
	t.Helper()
	var out workos.Event
	if err := json.Unmarshal(ev.Body, &out); err != nil {
		t.Fatal(err)
	}
	return out
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

func email(i int) string { return workostest.SeedEmail(i, "") }

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
