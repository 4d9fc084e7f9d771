package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"muster/cmd/muster/api"
	"muster/ingest/workos/workostest"
	"muster/store"
)

// reloadRig is a daemon in-process on a config file the test rewrites:
// folder sources, a WorkOS directory (the fake), notification targets.
type reloadRig struct {
	t    *testing.T
	root string
	path string
	fake *workostest.Server
	dir  string
	vars map[string]string
}

func (r *reloadRig) write(extra string) {
	r.t.Helper()
	cfg := fmt.Sprintf(`data_dir = "data"
%s
[watch]
debounce = "20ms"
[workos]
api_key_env = "K"
base_url = %q
users_interval = "0"
events_poll = "0"
reconcile = "off"
`, extra, r.fake.URL)
	if err := os.WriteFile(r.path, []byte(cfg), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

func (r *reloadRig) start() *Main {
	r.t.Helper()
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(k string) string { return r.vars[k] }}
	c, err := loadConfig(e, r.path, "")
	if err != nil {
		r.t.Fatal(err)
	}
	m := NewMain(c, e)
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { m.Close() })
	return m
}

// sourceDrops lists the source's drops (of organisation default), newest
// first; none while the source is not recorded.
func sourceDrops(t testing.TB, m *Main, source string) []store.Drop {
	ctx := context.Background()
	org, err := m.Store.LookupOrg(ctx, "default")
	if err != nil {
		return nil
	}
	src, err := m.Store.LookupSource(ctx, org.ID, source)
	if err != nil {
		return nil
	}
	ds, _, err := m.Store.Drops(ctx, org.ID, store.DropFilter{SourceID: src.ID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// sourceDropStatuses lists the source's drops' statuses, oldest first.
func sourceDropStatuses(t testing.TB, m *Main, source string) []store.DropStatus {
	ds := sourceDrops(t, m, source)
	var out []store.DropStatus
	for i := len(ds) - 1; i >= 0; i-- {
		out = append(out, ds[i].Status)
	}
	return out
}

// A reload changes, while the daemon runs: a source's settings (the next
// drop is read with them), a new folder source (watched at once), a
// directory's schedule (pulled on the new one), the notification targets
// (the next event goes to the new one only), the log level. It says what
// it changed; what it did not touch keeps running.
func TestReloadChangesSourcesSchedulesTargetsAndLevel(t *testing.T) {
	fake := workostest.Start(t, workostest.Options{})
	seed := fake.MustSeed(t, workostest.SeedSpec{Users: 20, Groups: 2})
	a, b := mustHookReceiver(t), mustHookReceiver(t)
	root := t.TempDir()
	r := &reloadRig{t: t, root: root, path: filepath.Join(root, "muster.toml"), fake: fake, vars: map[string]string{"K": fake.APIKey()}}
	sources := func(priority int, schedule, extra string) string {
		return fmt.Sprintf(`[[sources]]
name = "hr"
kind = "folder"
folder = "hr"
priority = %d
[[sources]]
name = "okta"
kind = "workos"
directory_id = %q
schedule = %q
%s`, priority, seed.Directory.ID, schedule, extra)
	}
	target := func(name, url string) string {
		return fmt.Sprintf("[[notify]]\nname = %q\nkind = \"webhook\"\nurl = %q\nevents = [\"drop.held\"]\n", name, url)
	}
	r.write("log_level = \"warn\"\n" + sources(7, "@every 1h", "") + target("a", a.URL))
	m := r.start()
	waitUntil(t, "the start pull", func() bool {
		return slices.Equal(sourceDropStatuses(t, m, "okta"), []store.DropStatus{store.DropApplied})
	})
	oldDirs, oldSched := m.dirs(), m.sched()

	r.write("log_level = \"debug\"\n" + sources(9, "@every 1s", "[[sources]]\nname = \"extra\"\nkind = \"folder\"\nfolder = \"extra\"\n") +
		target("b", b.URL))
	res, err := m.Reload(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"log_level warn -> debug", "source default/extra added", "source default/hr: priority changed",
		"source default/okta: schedule changed", "notify target b added", "notify target a removed"}
	for _, w := range want {
		if !slices.Contains(res.Changed, w) {
			t.Errorf("the reload did not say %q: %q", w, res.Changed)
		}
	}
	if len(res.Restart) != 0 {
		t.Errorf("restart needed for %q", res.Restart)
	}
	if m.level.Level() != slog.LevelDebug {
		t.Errorf("log level %v", m.level.Level())
	}
	// The directory follows its new schedule (a pull at the restart of its
	// scheduler, then every second).
	if m.sched() == oldSched || m.dirs() != oldDirs {
		t.Fatal("the directories' scheduler was not restarted, or the engine was replaced")
	}
	waitUntil(t, "pulls on the new schedule", func() bool { return len(sourceDropStatuses(t, m, "okta")) >= 4 })
	// The new folder is watched; hr's next drop has its new priority.
	dropInto(t, filepath.Join(root, "extra"), "x.csv", "email,first name\nx@example.com,X\n")
	waitUntil(t, "the new source's drop", func() bool {
		return slices.Equal(sourceDropStatuses(t, m, "extra"), []store.DropStatus{store.DropApplied})
	})
	dropInto(t, filepath.Join(root, "hr"), "h.csv", "email,first name\nh@example.com,H\n")
	waitUntil(t, "hr's drop", func() bool { return len(sourceDropStatuses(t, m, "hr")) == 1 })
	org, _ := m.Store.LookupOrg(context.Background(), "default")
	if src, err := m.Store.LookupSource(context.Background(), org.ID, "hr"); err != nil || src.Priority != 9 {
		t.Fatalf("hr's priority after the reload: %d %v", src.Priority, err)
	}
	// The next held drop is told to b, not a.
	dropInto(t, filepath.Join(root, "hr"), "empty.csv", "")
	waitUntil(t, "b told", func() bool { return strings.Join(b.kinds(), ",") == "drop.held" })
	if len(a.kinds()) != 0 {
		t.Fatalf("the removed target was told %v", a.kinds())
	}
	// Nothing changed: nothing done.
	if res, err := m.Reload(context.Background(), "test"); err != nil || len(res.Changed)+len(res.Restart) != 0 {
		t.Fatalf("a reload of the same file: %+v %v", res, err)
	}
	// A bad config is refused whole, the running one kept.
	r.write("log_level = \"loud\"\n" + sources(-1, "@every 1s", ""))
	if _, err := m.Reload(context.Background(), "test"); err == nil || !strings.Contains(err.Error(), "log_level") ||
		!strings.Contains(err.Error(), "sources[0].priority") {
		t.Fatalf("a bad config: %v", err)
	}
	if m.conf().LogLevel != "debug" || len(m.conf().Sources) != 3 {
		t.Fatalf("the running config changed: %+v", m.conf())
	}
}

// A reload replaces a SCIM source's token: the old one is refused from
// the next request on, the new one is taken, without a restart.
func TestReloadReplacesSCIMTokens(t *testing.T) {
	oldTok, oldHash, _ := api.NewToken()
	newTok, newHash, _ := api.NewToken()
	root := t.TempDir()
	path := filepath.Join(root, "muster.toml")
	write := func(hash string) {
		os.WriteFile(path, []byte(fmt.Sprintf(`data_dir = "data"
[scim]
listen = "127.0.0.1:0"
[[sources]]
name = "okta"
kind = "scim"
token_hash = %q
`, hash)), 0o600)
	}
	write(oldHash)
	m := mustDaemon(t, path)
	get := func(tok string) int {
		req, _ := http.NewRequest("GET", "http://"+m.SCIMListener.Addr().String()+"/scim/v2/default/okta/ServiceProviderConfig", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if get(oldTok) != http.StatusOK || get(newTok) != http.StatusUnauthorized {
		t.Fatalf("before: old %d, new %d", get(oldTok), get(newTok))
	}
	write(newHash)
	res, err := m.Reload(context.Background(), "test")
	if err != nil || !slices.Contains(res.Changed, "source default/okta: token_hash changed") {
		t.Fatalf("reload: %+v %v", res, err)
	}
	if get(oldTok) != http.StatusUnauthorized || get(newTok) != http.StatusOK {
		t.Fatalf("after: old %d, new %d", get(oldTok), get(newTok))
	}
}
