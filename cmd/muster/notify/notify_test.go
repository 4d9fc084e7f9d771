package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"muster/store"
)

// receiver is a local HTTP receiver for the tests: it records every
// request and answers what status says (200 by default).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	status func(n int) int // n: this request's number, from 1
	block  chan struct{}   // if set, every request waits for it
}

func MustReceiver(t testing.TB, status func(n int) int) *receiver {
	t.Helper()
	r := &receiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.heads = append(r.heads, req.Header.Clone())
		n, block := len(r.bodies), r.block
		r.mu.Unlock()
		if block != nil {
			select {
			case <-block:
			case <-req.Context().Done():
			}
		}
		code := http.StatusOK
		if r.status != nil {
			code = r.status(n)
		}
		w.WriteHeader(code)
		io.WriteString(w, http.StatusText(code))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

func (r *receiver) request(i int) ([]byte, http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[i], r.heads[i]
}

// MustStore opens a store in a temp dir.
func MustStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "muster.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// MustNotifier starts a notifier with fast retries.
func MustNotifier(t testing.TB, st *store.Store, targets ...Target) *Notifier {
	t.Helper()
	n := New(Config{Targets: targets, Store: st, RetryMin: 10 * time.Millisecond, RetryMax: 40 * time.Millisecond,
		RetryFor: 5 * time.Second, Timeout: 5 * time.Second})
	if err := n.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logged returns the notifications log, oldest first.
func logged(t testing.TB, st *store.Store) []store.Notification {
	t.Helper()
	list, _, err := st.Notifications(context.Background(), store.NotificationFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
		list[i], list[j] = list[j], list[i]
	}
	return list
}

func heldEvent() Event {
	ev := NewEvent(DropHeld, "default", "hr", "Drop 2 of default/hr held: it would remove 14 of 18 people")
	ev.Drop = &Drop{ID: 2, Name: "workday.csv", Decision: "held", Reason: "would remove 14 of 18 people",
		Counts: map[string]int64{"rows": 4, "removed": 14}, Command: "muster drops show -org default 2"}
	return ev
}

// A webhook gets the event as JSON, signed as WorkOS signs its own: the
// receiver recomputes the HMAC over "t.body" and checks it.
func TestWebhookIsSignedLikeWorkOS(t *testing.T) {
	rcv := MustReceiver(t, nil)
	st := MustStore(t)
	n := MustNotifier(t, st, Target{Name: "hook", Kind: KindWebhook, Org: "*", URL: rcv.URL, Secret: "whsec_test"})
	n.Notify(heldEvent())
	waitFor(t, "delivery", func() bool { return len(logged(t, st)) == 1 && logged(t, st)[0].Status == store.NotifyDelivered })
	body, h := rcv.request(0)
	sig := h.Get(SignatureHeader)
	ts, v1, ok := strings.Cut(sig, ", v1=")
	if !ok || !strings.HasPrefix(ts, "t=") {
		t.Fatalf("signature header %q", sig)
	}
	mac := hmac.New(sha256.New, []byte("whsec_test"))
	mac.Write([]byte(strings.TrimPrefix(ts, "t=") + "."))
	mac.Write(body)
	if want := hex.EncodeToString(mac.Sum(nil)); v1 != want {
		t.Fatalf("v1 = %s, want %s", v1, want)
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.Kind != DropHeld || ev.Drop.ID != 2 || ev.Drop.Counts["removed"] != 14 ||
		ev.Drop.Command != "muster drops show -org default 2" {
		t.Fatalf("body %s: %v", body, err)
	}
	if h.Get("Muster-Event") != DropHeld || h.Get("Muster-Event-Id") != ev.ID || h.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", h)
	}
	if got := logged(t, st)[0]; got.Target != "hook" || got.Event != DropHeld || got.Org != "default" || got.Attempts != 1 {
		t.Fatalf("log row %+v", got)
	}
}

// A Slack target gets an incoming-webhook message: text and one mrkdwn
// section, with Slack's markup characters escaped.
func TestSlackIncomingWebhookFormat(t *testing.T) {
	rcv := MustReceiver(t, nil)
	n := MustNotifier(t, nil, Target{Name: "slack", Kind: KindSlack, Org: "default", URL: rcv.URL})
	ev := heldEvent()
	ev.Drop.Name = "<script>&.csv"
	n.Notify(ev)
	waitFor(t, "delivery", func() bool { return rcv.count() == 1 })
	body, _ := rcv.request(0)
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text struct{ Type, Text string }
		} `json:"blocks"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg.Text, "*Drop held for a decision: default/hr*") || !strings.Contains(msg.Text, "&lt;script&gt;&amp;.csv") ||
		!strings.Contains(msg.Text, "muster drops show -org default 2") || len(msg.Blocks) != 1 || msg.Blocks[0].Text.Type != "mrkdwn" {
		t.Fatalf("slack message %s", body)
	}
}

// Mail goes over STARTTLS, verified against the server's CA, logs in only
// after TLS, and reads as the event.
func TestEmailOverSTARTTLS(t *testing.T) {
	srv := MustSMTPServer(t)
	st := MustStore(t)
	n := MustNotifier(t, st, Target{Name: "mail", Kind: KindEmail, Org: "*", Email: &Email{Addr: srv.Addr(),
		From: "muster@example.com", To: []string{"ops@example.com", "hr@example.com"}, Username: srv.User,
		Password: srv.Password, RootCAs: srv.CA}})
	n.Notify(heldEvent())
	waitFor(t, "mail", func() bool { return len(srv.Received()) == 1 })
	m := srv.Received()[0]
	if !m.TLS || m.Auth != "muster" || m.From != "muster@example.com" || strings.Join(m.To, ",") != "ops@example.com,hr@example.com" {
		t.Fatalf("envelope %+v", m)
	}
	head, body, _ := strings.Cut(m.Data, "\r\n\r\n")
	var subject string
	for _, l := range strings.Split(head, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Subject: "); ok {
			subject, _ = new(mime.WordDecoder).DecodeHeader(v)
		}
	}
	text, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if subject != "[muster] Drop held for a decision: default/hr" || !strings.Contains(string(text), "would remove 14 of 18 people") ||
		!strings.Contains(string(text), "muster drops show -org default 2") {
		t.Fatalf("subject %q, body %q", subject, text)
	}
	waitFor(t, "log", func() bool { return logged(t, st)[0].Status == store.NotifyDelivered })
}

// A server without STARTTLS is refused, not written to in clear, and not
// retried (retrying will not add STARTTLS).
func TestEmailWithoutSTARTTLSIsRefused(t *testing.T) {
	srv := MustSMTPServer(t)
	srv.NoSTARTTLS = true
	st := MustStore(t)
	n := MustNotifier(t, st, Target{Name: "mail", Kind: KindEmail, Org: "*", Email: &Email{Addr: srv.Addr(),
		From: "muster@example.com", To: []string{"ops@example.com"}, RootCAs: srv.CA}})
	n.Notify(heldEvent())
	waitFor(t, "failure", func() bool { l := logged(t, st); return len(l) == 1 && l[0].Status == store.NotifyFailed })
	if l := logged(t, st)[0]; l.Attempts != 1 || !strings.Contains(l.LastError, "STARTTLS") || len(srv.Received()) != 0 {
		t.Fatalf("log %+v, received %d", l, len(srv.Received()))
	}
}

// A 4xx answer of the mail server is temporary: retried until accepted.
func TestEmailTemporaryFailureIsRetried(t *testing.T) {
	srv := MustSMTPServer(t)
	srv.FailNext(2)
	st := MustStore(t)
	n := MustNotifier(t, st, Target{Name: "mail", Kind: KindEmail, Org: "*", Email: &Email{Addr: srv.Addr(),
		From: "muster@example.com", To: []string{"ops@example.com"}, RootCAs: srv.CA}})
	n.Notify(heldEvent())
	waitFor(t, "delivery", func() bool { l := logged(t, st); return len(l) == 1 && l[0].Status == store.NotifyDelivered })
	if l := logged(t, st)[0]; l.Attempts != 3 || len(srv.Received()) != 1 {
		t.Fatalf("log %+v, received %d", l, len(srv.Received()))
	}
}

// A receiver that is down (503) is retried with backoff until it takes the
// event; the log shows the attempts. A refusal (400) is not retried.
func TestRetriesUntilDeliveredAndRefusalIsFinal(t *testing.T) {
	down := MustReceiver(t, func(n int) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	refusing := MustReceiver(t, func(int) int { return http.StatusBadRequest })
	st := MustStore(t)
	n := MustNotifier(t, st, Target{Name: "down", Kind: KindWebhook, Org: "*", URL: down.URL},
		Target{Name: "refusing", Kind: KindWebhook, Org: "*", URL: refusing.URL})
	n.Notify(heldEvent())
	waitFor(t, "both done", func() bool {
		l := logged(t, st)
		return len(l) == 2 && l[0].Status != store.NotifyPending && l[1].Status != store.NotifyPending
	})
	for _, l := range logged(t, st) {
		switch l.Target {
		case "down":
			if l.Status != store.NotifyDelivered || l.Attempts != 4 || down.count() != 4 {
				t.Errorf("down: %+v, %d requests", l, down.count())
			}
		case "refusing":
			if l.Status != store.NotifyFailed || l.Attempts != 1 || !strings.Contains(l.LastError, "400") || refusing.count() != 1 {
				t.Errorf("refusing: %+v, %d requests", l, refusing.count())
			}
		}
	}
}

// Notify never waits for a receiver: with one that does not answer at
// all, a burst of events is queued at once, and the receiver gets them in
// order, each once, when it answers again.
func TestNotifyNeverWaitsForTheReceiver(t *testing.T) {
	rcv := MustReceiver(t, nil)
	release := make(chan struct{})
	rcv.mu.Lock()
	rcv.block = release
	rcv.mu.Unlock()
	n := MustNotifier(t, nil, Target{Name: "hook", Kind: KindWebhook, Org: "*", URL: rcv.URL})
	done := make(chan struct{})
	go func() {
		for i := 0; i < 100; i++ {
			n.Notify(NewEvent(DropRejected, "default", "hr", "rejected"))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify waited for a receiver that does not answer")
	}
	waitFor(t, "the first request to hang", func() bool { return rcv.count() == 1 })
	close(release)
	waitFor(t, "all events", func() bool { return rcv.count() == 100 })
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		b, _ := rcv.request(i)
		var ev Event
		json.Unmarshal(b, &ev)
		if seen[ev.ID] {
			t.Fatalf("event %s delivered twice", ev.ID)
		}
		seen[ev.ID] = true
	}
}

// A source is "failing" for a target after failing_after failures in a
// row, told once however long it goes on, and "recovered" once at the
// next success. A target with a higher threshold is told neither when the
// streak stays under it.
func TestFailingAndRecoveredAreToldOnceEach(t *testing.T) {
	three := MustReceiver(t, nil)
	ten := MustReceiver(t, nil)
	st := MustStore(t)
	n := MustNotifier(t, st, Target{Name: "three", Kind: KindWebhook, Org: "*", URL: three.URL, FailingAfter: 3},
		Target{Name: "ten", Kind: KindWebhook, Org: "*", URL: ten.URL, FailingAfter: 10})
	for i := 0; i < 5; i++ {
		n.SourceRun("default", "okta", true, "the directory cannot be read: 503")
	}
	n.SourceRun("default", "okta", false, "")
	n.SourceRun("default", "okta", false, "")
	n.SourceRun("default", "other", false, "")
	waitFor(t, "two deliveries", func() bool { return three.count() == 2 })
	time.Sleep(100 * time.Millisecond) // nothing more may come
	if three.count() != 2 || ten.count() != 0 {
		t.Fatalf("three got %d, ten got %d", three.count(), ten.count())
	}
	var kinds []string
	for i := 0; i < 2; i++ {
		b, _ := three.request(i)
		var ev Event
		json.Unmarshal(b, &ev)
		kinds = append(kinds, ev.Kind)
		if ev.Failing == nil || ev.Source != "okta" {
			t.Fatalf("event %s", b)
		}
		if ev.Kind == SourceRecovered && ev.Failing.Failures != 5 {
			t.Fatalf("recovered after %d failures, want 5", ev.Failing.Failures)
		}
	}
	if strings.Join(kinds, ",") != "source.failing,source.recovered" {
		t.Fatalf("kinds %v", kinds)
	}
}

// Targets get their organisation's events only; "*" gets all; events of
// the whole server go to "*" targets (or every target of a one-org config).
func TestTargetsSeeOnlyTheirOrganisation(t *testing.T) {
	acme, all := MustReceiver(t, nil), MustReceiver(t, nil)
	n := MustNotifier(t, nil, Target{Name: "acme", Kind: KindWebhook, Org: "acme", URL: acme.URL, Events: []string{DropHeld, SFTPBanned}},
		Target{Name: "all", Kind: KindWebhook, Org: "*", URL: all.URL})
	n.Notify(NewEvent(DropHeld, "globex", "hr", "globex held"))
	n.Notify(NewEvent(DropRejected, "acme", "hr", "acme rejected (not wanted by acme)"))
	n.Notify(NewEvent(DropHeld, "acme", "hr", "acme held"))
	n.Notify(NewEvent(SFTPBanned, "", "", "banned"))
	waitFor(t, "all four to *", func() bool { return all.count() == 4 })
	waitFor(t, "one to acme", func() bool { return acme.count() == 1 })
	time.Sleep(100 * time.Millisecond)
	b, _ := acme.request(0)
	if acme.count() != 1 || !strings.Contains(string(b), "acme held") {
		t.Fatalf("acme got %d: %s", acme.count(), b)
	}
}

// Deliveries left pending by a stop are resumed by the next start, and
// those of a target removed meanwhile are recorded as dropped.
func TestPendingDeliveriesResumeAfterRestart(t *testing.T) {
	st := MustStore(t)
	rcv := MustReceiver(t, func(int) int { return http.StatusServiceUnavailable })
	n := New(Config{Targets: []Target{{Name: "hook", Kind: KindWebhook, Org: "*", URL: rcv.URL},
		{Name: "gone", Kind: KindWebhook, Org: "*", URL: rcv.URL}}, Store: st, RetryMin: time.Hour, RetryFor: 2 * time.Hour})
	if err := n.Open(); err != nil {
		t.Fatal(err)
	}
	n.Notify(heldEvent())
	waitFor(t, "first attempts", func() bool {
		l := logged(t, st)
		return len(l) == 2 && l[0].Attempts == 1 && l[1].Attempts == 1
	})
	n.Close()
	ok := MustReceiver(t, nil)
	n2 := MustNotifier(t, st, Target{Name: "hook", Kind: KindWebhook, Org: "*", URL: ok.URL})
	_ = n2
	waitFor(t, "resumed", func() bool {
		l := logged(t, st)
		return l[0].Status != store.NotifyPending && l[1].Status != store.NotifyPending
	})
	for _, l := range logged(t, st) {
		want := map[string]store.NotificationStatus{"hook": store.NotifyDelivered, "gone": store.NotifyDropped}[l.Target]
		if l.Status != want {
			t.Errorf("%s: %s, want %s", l.Target, l.Status, want)
		}
	}
	if ok.count() != 1 {
		t.Fatalf("resumed delivery sent %d times", ok.count())
	}
}

// A target changed by a reload delivers its next attempt with the new
// settings; a new target gets the next events.
func TestSetTargetsTakesEffectAtOnce(t *testing.T) {
	old, repl := MustReceiver(t, nil), MustReceiver(t, nil)
	n := MustNotifier(t, nil, Target{Name: "hook", Kind: KindWebhook, Org: "*", URL: old.URL})
	n.Notify(heldEvent())
	waitFor(t, "old", func() bool { return old.count() == 1 })
	n.SetTargets([]Target{{Name: "hook", Kind: KindWebhook, Org: "*", URL: repl.URL},
		{Name: "slack", Kind: KindSlack, Org: "*", URL: repl.URL}})
	n.Notify(heldEvent())
	waitFor(t, "new", func() bool { return repl.count() == 2 })
	if old.count() != 1 {
		t.Fatalf("the old URL got %d", old.count())
	}
}

// The log keeps notifications for the retention: older ones are pruned
// when the notifier starts (and hourly).
func TestLogPrunedAfterRetention(t *testing.T) {
	st := MustStore(t)
	old := store.Notification{Org: "default", Target: "gone", Event: DropHeld, EventID: "evt_old", Summary: "old"}
	if err := st.AddNotification(context.Background(), &old); err != nil {
		t.Fatal(err)
	}
	st.UpdateNotification(context.Background(), old.ID, store.NotifyDelivered, 1, "")
	n := New(Config{Store: st, Retention: time.Nanosecond})
	if err := n.Open(); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	waitFor(t, "the prune", func() bool { return len(logged(t, st)) == 0 })
}
