package notify

import (
	"context"
	"fmt"
	"sync"
	"time"

	"muster/store"
)

// job is one event to deliver to one target.
type job struct {
	id       int64 // in the notifications log; 0: not recorded
	ev       Event
	created  time.Time
	attempts int
}

// worker delivers one target's events, one at a time and in order: a
// receiver that is down holds its own queue only.
type worker struct {
	n *Notifier

	mu      sync.Mutex
	target  Target
	queue   []*job
	wake    chan struct{}
	done    chan struct{}
	stopped bool
}

func newWorker(n *Notifier, t Target) *worker {
	return &worker{n: n, target: t, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (w *worker) get() Target {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.target
}

func (w *worker) set(t Target) {
	w.mu.Lock()
	w.target = t
	w.mu.Unlock()
}

func (w *worker) add(j *job) {
	w.mu.Lock()
	w.queue = append(w.queue, j)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// stop ends the worker (its target was removed): what it still holds is
// recorded as dropped.
func (w *worker) stop() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.stopped = true
	close(w.done)
	w.mu.Unlock()
}

func (w *worker) next() *job {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return nil
	}
	j := w.queue[0]
	w.queue = w.queue[1:]
	return j
}

func (w *worker) loop() {
	defer w.n.wg.Done()
	for {
		j := w.next()
		if j == nil {
			select {
			case <-w.wake:
				continue
			case <-w.done:
				w.drain()
				return
			case <-w.n.ctx.Done():
				return
			}
		}
		if !w.deliver(j) {
			return
		}
	}
}

// drain records what a removed target still held as dropped.
func (w *worker) drain() {
	for j := w.next(); j != nil; j = w.next() {
		w.n.update(j, store.NotifyDropped, "the target was removed from the config")
		w.result(j, "dropped")
	}
}

func (w *worker) result(j *job, outcome string) {
	if f := w.n.cfg.OnResult; f != nil {
		f(w.get().Name, j.ev.Kind, outcome)
	}
}

// deliver tries j until it is delivered, refused, or older than RetryFor.
// It returns false when the notifier or the worker stops meanwhile (the
// job stays pending in the log, for the next start).
func (w *worker) deliver(j *job) bool {
	n := w.n
	for {
		t := w.get()
		j.attempts++
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.Timeout)
		err := Deliver(ctx, n.cfg.HTTPClient, t, j.ev, n.cfg.UserAgent)
		cancel()
		log := n.log.With("target", t.Name, "event", j.ev.Kind, "event_id", j.ev.ID, "attempt", j.attempts)
		if err == nil {
			n.update(j, store.NotifyDelivered, "")
			w.result(j, "delivered")
			log.Info("notification delivered")
			return true
		}
		if n.ctx.Err() != nil {
			n.update(j, store.NotifyPending, "interrupted by the stop")
			return false
		}
		wait := n.backoff(j.attempts)
		giveUp := IsPermanent(err) || time.Since(j.created)+wait > n.cfg.RetryFor
		if giveUp {
			why := err.Error()
			if !IsPermanent(err) {
				why = fmt.Sprintf("given up after %d attempts over %s: %v", j.attempts, n.cfg.RetryFor, err)
			}
			n.update(j, store.NotifyFailed, why)
			w.result(j, "failed")
			log.Error("notification not delivered", "err", why)
			return true
		}
		n.update(j, store.NotifyPending, err.Error())
		log.Warn("notification not delivered yet; retrying", "err", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-time.After(wait):
		case <-n.ctx.Done():
			return false
		case <-w.done:
			n.update(j, store.NotifyDropped, "the target was removed from the config")
			w.result(j, "dropped")
			w.drain()
			return false
		}
	}
}
