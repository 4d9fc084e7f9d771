package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"muster/cmd/muster/notify"
	"muster/ingest/directory"
	"muster/store"
)

// hookReceiver is a local HTTP receiver of webhook notifications.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	events []notify.Event
	hits   int
	// fail answers the first n requests 503; hold, while set, keeps each
	// request waiting until it is closed.
	fail int
	hold chan struct{}
}

func mustHookReceiver(t testing.TB) *hookReceiver {
	h := &hookReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.hits++
		hold, fail := h.hold, h.hits <= h.fail
		h.mu.Unlock()
		if hold != nil {
			<-hold
		}
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var ev notify.Event
		if err := json.Unmarshal(b, &ev); err == nil {
			h.mu.Lock()
			h.events = append(h.events, ev)
			h.mu.Unlock()
		}
	}))
	t.Cleanup(h.Close)
	return h
}

// kinds lists the events received, as kind or kind(source):failures.
func (h *hookReceiver) kinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, ev := range h.events {
		k := ev.Kind
		if ev.Failing != nil {
			k += ":" + strconv.Itoa(ev.Failing.Failures)
		}
		out = append(out, k)
	}
	return out
}

// mustDaemonWith is mustDaemon with the Main set up by edit before Run.
func mustDaemonWith(t testing.TB, path string, edit func(*Main)) *Main {
	t.Helper()
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	c, err := loadConfig(e, path, "")
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(c, e)
	edit(m)
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// The daemon tells its targets, once each, of a rejected drop, the source
// failing (after failing_after rejected drops in a row), a held drop, and
// the source recovered. A receiver that is down is retried until it takes
// them; one that does not answer at all holds only its own queue: the
// drops are decided meanwhile, and the other target is told everything.
func TestDaemonNotifiesHeldRejectedFailingRecovered(t *testing.T) {
	ok, flaky, stuck := mustHookReceiver(t), mustHookReceiver(t), mustHookReceiver(t)
	flaky.fail = 2
	release := make(chan struct{})
	stuck.hold = release
	path := cliConfig(t, `
[[notify]]
name = "ok"
kind = "webhook"
url = "`+ok.URL+`"
failing_after = 2
[[notify]]
name = "flaky"
kind = "webhook"
url = "`+flaky.URL+`"
failing_after = 2
[[notify]]
name = "stuck"
kind = "webhook"
url = "`+stuck.URL+`"
failing_after = 2
`)
	m := mustDaemonWith(t, path, func(m *Main) { m.NotifyRetryMin = 20 * time.Millisecond })
	folder := m.Config.Sources[0].Folder
	steps := []struct {
		file, content string
		want          store.DropStatus
	}{
		{"day1.csv", hrSemicolon, store.DropApplied},
		{"noemail1.csv", "Vorname;Nachname\nAnn;Lee\n", store.DropRejected},
		{"noemail2.csv", "Vorname;Nachname\nBob;Ng\n", store.DropRejected},
		{"empty.csv", "", store.DropHeld},
		{"day2.csv", hrSemicolon + "dee@example.com;Dee;Do;01/01/2020;Clerk;Lager;ann@example.com;Ops\n", store.DropApplied},
	}
	for i, s := range steps {
		dropInto(t, folder, s.file, s.content)
		if got := waitDrop(t, m, int64(i+1)); got != s.want {
			t.Fatalf("%s: %s, want %s", s.file, got, s.want)
		}
	}
	want := "drop.rejected,drop.rejected,source.failing:2,drop.held,source.recovered:2"
	waitUntil(t, "every event at ok and flaky", func() bool {
		return strings.Join(ok.kinds(), ",") == want && strings.Join(flaky.kinds(), ",") == want
	})
	stuck.mu.Lock()
	stuckHits := stuck.hits
	stuck.mu.Unlock()
	if stuckHits != 1 {
		t.Fatalf("the stuck receiver got %d requests while the first hung, want 1", stuckHits)
	}
	close(release)
	waitUntil(t, "every event at stuck", func() bool { return strings.Join(stuck.kinds(), ",") == want })
	time.Sleep(100 * time.Millisecond)
	for name, h := range map[string]*hookReceiver{"ok": ok, "flaky": flaky, "stuck": stuck} {
		if got := strings.Join(h.kinds(), ","); got != want {
			t.Errorf("%s got %s, want each once: %s", name, got, want)
		}
	}
	// The held drop's event says what to do about it.
	ok.mu.Lock()
	defer ok.mu.Unlock()
	for _, ev := range ok.events {
		if ev.Kind == notify.DropHeld && (ev.Drop == nil || ev.Drop.ID != 4 || !strings.Contains(ev.Drop.Command, "muster drops show -config ") ||
			!strings.HasSuffix(ev.Drop.Command, "-changes 4") || ev.Org != "default" || ev.Source != "hr") {
			t.Errorf("held event %+v %+v", ev, ev.Drop)
		}
	}
	// The log: each delivered; flaky's first took three attempts.
	list, _, err := m.Store.Notifications(context.Background(), store.NotificationFilter{Target: "flaky", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 5 || list[4].Attempts != 3 || list[4].Status != store.NotifyDelivered || list[0].Status != store.NotifyDelivered {
		t.Fatalf("flaky's log: %+v", list)
	}
	code, out, errs := runEnv(t, nil, "notify", "log", "-config", path, "-target", "flaky")
	if code != exitOK || strings.Count(out, "delivered") != 5 || !strings.Contains(out, "drop.held") {
		t.Fatalf("notify log: exit %d\n%s%s", code, out, errs)
	}
}

// A directory's pulls tell the notifier too: failing after failing_after
// failed pulls, recovered at the next applied one; a held pull is
// neither.
func TestDirectoryRunsNotifyFailingAndRecovered(t *testing.T) {
	h := mustHookReceiver(t)
	m := mustDaemon(t, cliConfig(t, `
[[notify]]
name = "ok"
kind = "webhook"
url = "`+h.URL+`"
failing_after = 2
events = ["source.failing", "source.recovered"]
`))
	for _, st := range []directory.RunStatus{
		{Org: "default", Source: "okta", LastError: "workos: 503"},
		{Org: "default", Source: "okta", LastDecision: "held", LastError: "would remove 40%"},
		{Org: "default", Source: "okta", LastError: "workos: 503"},
		{Org: "default", Source: "okta", LastDecision: "rejected", LastError: "stream ended"},
		{Org: "default", Source: "okta", LastDecision: "applied"},
	} {
		m.notifyRun(st)
	}
	waitUntil(t, "failing and recovered", func() bool { return len(h.kinds()) == 2 })
	if got := strings.Join(h.kinds(), ","); got != "source.failing:2,source.recovered:3" {
		t.Fatalf("got %s", got)
	}
}

// `muster notify test` sends a test event to each target now, once, and
// says what each answered; it exits 1 when one failed.
func TestNotifyTestCommand(t *testing.T) {
	ok := mustHookReceiver(t)
	down := mustHookReceiver(t)
	down.fail = 100
	path := cliConfig(t, `
[[notify]]
name = "ok"
kind = "webhook"
url = "`+ok.URL+`"
[[notify]]
name = "down"
kind = "slack"
url_env = "DOWN_URL"
`)
	vars := map[string]string{"DOWN_URL": down.URL}
	code, out, errs := runEnv(t, vars, "notify", "test", "-config", path)
	if code != exitError || !strings.Contains(out, "ok (webhook): delivered") || !strings.Contains(out, "down (slack): FAILED: the receiver answered 503") ||
		!strings.Contains(errs, "1 of 2 target(s) failed") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if got := strings.Join(ok.kinds(), ","); got != "test" {
		t.Fatalf("ok received %q", got)
	}
	code, out, _ = runEnv(t, vars, "notify", "test", "-config", path, "-target", "ok", "-json")
	if code != exitOK || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("-target ok -json: exit %d\n%s", code, out)
	}
	if code, _, errs := runEnv(t, nil, "notify", "test", "-config", path); code != exitError || !strings.Contains(errs, "notify[1].url_env") {
		t.Fatalf("a target's secret unset: exit %d %s", code, errs)
	}
}
