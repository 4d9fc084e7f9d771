package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"muster/store"
)

// Config configures a Notifier. Zero values get the defaults shown.
type Config struct {
	Targets []Target
	// Store keeps the notifications log; nil keeps none (tests).
	Store  *store.Store
	Logger *slog.Logger
	// ServerEventsToAll sends events of the whole server (an SFTP address
	// banned) to every target, not only those of org "*": a config of one
	// organisation.
	ServerEventsToAll bool
	// HTTPClient sends webhooks (default: one with Timeout).
	HTTPClient *http.Client
	// Timeout bounds one attempt. Default 15s.
	Timeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts (default 2s
	// and 5m); RetryFor is how long after the event it is given up.
	// Default 1h.
	RetryMin, RetryMax, RetryFor time.Duration
	// QueueSize bounds the events waiting to be recorded. Default 1024.
	QueueSize int
	// UserAgent names muster in webhook requests.
	UserAgent string
	// OnResult, if set, is told each delivery's end: outcome delivered,
	// failed or dropped (metrics).
	OnResult func(target, kind, outcome string)
	// Retention is how long the log keeps a notification (checked hourly);
	// 0 keeps them for ever.
	Retention time.Duration
}

// Notifier delivers events to targets without ever making its caller
// wait: Notify queues, a dispatcher records each event per target in the
// notifications log, and one worker per target delivers them in order,
// retrying with backoff.
type Notifier struct {
	cfg Config
	log *slog.Logger
	in  chan Event

	mu      sync.Mutex
	targets map[string]*worker // by name
	order   []string           // target names in config order
	runs    map[string]*run    // by org/source: consecutive failures
	closed  bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// run is a source's current streak of failures.
type run struct {
	failures int
	since    time.Time
	lastErr  string
}

// New returns a notifier; Open starts it.
func New(cfg Config) *Notifier {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.Timeout}
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 2 * time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(5*time.Minute, cfg.RetryMin)
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = time.Hour
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1024
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "muster"
	}
	n := &Notifier{cfg: cfg, log: cfg.Logger.With("component", "notify"), in: make(chan Event, cfg.QueueSize),
		targets: map[string]*worker{}, runs: map[string]*run{}}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n
}

// Open starts the dispatcher and a worker per target, and resumes the
// deliveries a previous run left pending (those past RetryFor are marked
// failed).
func (n *Notifier) Open() error {
	n.SetTargets(n.cfg.Targets)
	if err := n.resume(); err != nil {
		return err
	}
	n.wg.Add(1)
	go n.dispatch()
	if n.cfg.Store != nil && n.cfg.Retention > 0 {
		n.wg.Add(1)
		go n.pruneLoop()
	}
	return nil
}

// pruneLoop deletes the log's notifications older than the retention, at
// start and hourly.
func (n *Notifier) pruneLoop() {
	defer n.wg.Done()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if k, err := n.cfg.Store.PruneNotifications(n.ctx, time.Now().Add(-n.cfg.Retention)); err != nil && n.ctx.Err() == nil {
			n.log.Warn("cannot prune the notifications log", "err", err)
		} else if k > 0 {
			n.log.Info("notifications log pruned", "deleted", k)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close stops delivering. Deliveries not finished stay pending in the log
// and are resumed by the next Open.
func (n *Notifier) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
	return nil
}

// Targets returns the targets' names, in config order.
func (n *Notifier) Targets() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.order...)
}

// SetTargets replaces the targets (a reload): a new target gets a worker,
// a changed one's next attempt uses its new settings, a removed one's
// waiting deliveries are dropped (recorded so).
func (n *Notifier) SetTargets(list []Target) {
	n.mu.Lock()
	defer n.mu.Unlock()
	keep := map[string]bool{}
	n.order = n.order[:0]
	for _, t := range list {
		keep[t.Name] = true
		n.order = append(n.order, t.Name)
		if t.FailingAfter <= 0 {
			t.FailingAfter = 3
		}
		if w := n.targets[t.Name]; w != nil {
			w.set(t)
			continue
		}
		w := newWorker(n, t)
		n.targets[t.Name] = w
		if !n.closed {
			n.wg.Add(1)
			go w.loop()
		}
	}
	for name, w := range n.targets {
		if !keep[name] {
			w.stop()
			delete(n.targets, name)
		}
	}
}

// Notify queues ev for every target that wants it. It never blocks: when
// the queue is full (a store that cannot be written for minutes), the
// event is logged and lost.
func (n *Notifier) Notify(ev Event) {
	if ev.ID == "" {
		ev = NewEvent(ev.Kind, ev.Org, ev.Source, ev.Summary)
	}
	select {
	case n.in <- ev:
	default:
		n.log.Error("notification queue full: event not sent", "event", ev.Kind, "org", ev.Org, "source", ev.Source,
			"summary", ev.Summary)
		if n.cfg.OnResult != nil {
			n.cfg.OnResult("", ev.Kind, "dropped")
		}
	}
}

// SourceRun tells the notifier how a run of a source ended (a drop
// applied or a pull succeeded: failed false; a drop rejected or a pull
// failed: true). A target is told source.failing when the source's
// failures in a row reach its failing_after, and source.recovered at the
// first success after that.
func (n *Notifier) SourceRun(org, source string, failed bool, errMsg string) {
	key := org + "/" + source
	n.mu.Lock()
	r := n.runs[key]
	if r == nil {
		r = &run{}
		n.runs[key] = r
	}
	var ev *Event
	switch {
	case failed:
		if r.failures == 0 {
			r.since = time.Now().UTC()
		}
		r.failures++
		r.lastErr = errMsg
		e := NewEvent(SourceFailing, org, source, "")
		e.Summary = fmt.Sprintf("Source %s has failed %d time(s) in a row: %s", key, r.failures, errMsg)
		e.Failing = &Failing{Failures: r.failures, LastError: errMsg, Since: r.since}
		ev = &e
	case r.failures > 0:
		e := NewEvent(SourceRecovered, org, source, "")
		e.Summary = fmt.Sprintf("Source %s works again after %d failed run(s)", key, r.failures)
		e.Failing = &Failing{Failures: r.failures, LastError: r.lastErr, Since: r.since}
		ev = &e
		*r = run{}
	}
	n.mu.Unlock()
	if ev != nil {
		n.Notify(*ev)
	}
}

// matches reports whether target t is told about ev.
func (n *Notifier) matches(t *Target, ev Event) bool {
	if !t.wants(ev.Kind) {
		return false
	}
	switch {
	case ev.Org == "" && !n.cfg.ServerEventsToAll && t.Org != "*":
		return false
	case ev.Org != "" && t.Org != "*" && t.Org != ev.Org:
		return false
	}
	switch ev.Kind {
	case SourceFailing:
		return ev.Failing != nil && ev.Failing.Failures == t.FailingAfter
	case SourceRecovered:
		return ev.Failing != nil && ev.Failing.Failures >= t.FailingAfter
	}
	return true
}

// dispatch records each event for the targets that want it and hands it
// to their workers.
func (n *Notifier) dispatch() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case ev := <-n.in:
			n.mu.Lock()
			var ws []*worker
			for _, name := range n.order {
				w := n.targets[name]
				if t := w.get(); n.matches(&t, ev) {
					ws = append(ws, w)
				}
			}
			n.mu.Unlock()
			for _, w := range ws {
				j := &job{ev: ev, created: ev.Time}
				j.id = n.record(w.get().Name, ev)
				w.add(j)
			}
		}
	}
}

// record adds the event for the target to the log as pending; 0 when it
// cannot be recorded (the delivery still happens).
func (n *Notifier) record(target string, ev Event) int64 {
	if n.cfg.Store == nil {
		return 0
	}
	payload, _ := json.Marshal(ev)
	row := store.Notification{Org: ev.Org, Target: target, Event: ev.Kind, EventID: ev.ID, Source: ev.Source,
		Summary: ev.Summary, Payload: payload}
	if err := n.cfg.Store.AddNotification(n.ctx, &row); err != nil {
		n.log.Warn("cannot record a notification in the log; delivering it anyway", "target", target, "event", ev.Kind, "err", err)
		return 0
	}
	return row.ID
}

// update records an attempt's outcome in the log.
func (n *Notifier) update(j *job, status store.NotificationStatus, lastErr string) {
	if n.cfg.Store == nil || j.id == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.cfg.Store.UpdateNotification(ctx, j.id, status, j.attempts, lastErr); err != nil {
		n.log.Warn("cannot update the notifications log", "id", j.id, "err", err)
	}
}

// resume queues the deliveries left pending by a previous run.
func (n *Notifier) resume() error {
	if n.cfg.Store == nil {
		return nil
	}
	pending, err := n.cfg.Store.PendingNotifications(n.ctx, time.Time{})
	if err != nil {
		return err
	}
	for _, row := range pending {
		var ev Event
		j := &job{id: row.ID, attempts: row.Attempts}
		_ = json.Unmarshal(row.Payload, &ev)
		j.ev, j.created = ev, ev.Time
		n.mu.Lock()
		w := n.targets[row.Target]
		n.mu.Unlock()
		switch {
		case w == nil:
			n.update(j, store.NotifyDropped, "the target is no longer in the config")
		case time.Since(j.created) > n.cfg.RetryFor:
			n.update(j, store.NotifyFailed, "given up: muster was stopped past the retry window ("+row.LastError+")")
		default:
			w.add(j)
		}
	}
	if len(pending) > 0 {
		n.log.Info("resuming notifications left pending", "count", len(pending))
	}
	return nil
}

// backoff is the wait before attempt number a (from 1), with jitter.
func (n *Notifier) backoff(a int) time.Duration {
	d := n.cfg.RetryMin
	for i := 1; i < a && d < n.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, n.cfg.RetryMax)
	return d/2 + rand.N(d/2+1)
}
