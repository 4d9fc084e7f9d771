// Package leader chooses, among the muster instances sharing one store,
// the one that runs the scheduled work (directory pulls, the events poll,
// reconciliation, retention): the holder of a lease row in the store
// (store.TryLease), renewed in the background every third of its length
// and taken over by another instance once it lapses. Alone (Solo: a
// SQLite store, one instance per data directory) it is always this one,
// and no lease is written.
//
// Leadership is an optimisation, never a guarantee: an instance that
// cannot renew steps down at once, but for a moment two may each believe
// they lead. Nothing depends on there being one (drops apply under the
// organisation's lock with their base checked; cursors move by
// compare-and-swap); a second leader at worst repeats a fetch.
package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"muster/store"
)

// DefaultTTL is how long a lease lasts without renewal.
const DefaultTTL = 30 * time.Second

// Elector holds or follows one lease.
type Elector struct {
	Store *store.Store
	// Name is the lease's name ("scheduler").
	Name string
	// ID names this instance (default host:pid:random): a restart is a new
	// holder.
	ID string
	// TTL is the lease's length; it is renewed every TTL/3.
	TTL    time.Duration
	Logger *slog.Logger
	// OnElected, if set, is called (on its own goroutine) each time this
	// instance becomes the leader, with a context that ends when it stops
	// being one.
	OnElected func(ctx context.Context)
	// Solo: this instance is the only one (a SQLite store): it leads from
	// Open to Close and writes no lease (a renewal would wait behind a
	// long apply for SQLite's one write lock, and step down for nothing).
	Solo bool

	mu      sync.Mutex
	leading bool
	// validUntil is when, by this process's monotonic clock, leadership
	// ends unless renewed: TTL after the last successful renewal was sent.
	validUntil time.Time
	lease      store.Lease
	checked    time.Time // last look at the lease (held or not)
	lastErr    error
	endLead    context.CancelFunc

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Status is where the lease stands, as this instance last saw it.
type Status struct {
	// Leader says this instance leads now.
	Leader bool `json:"leader"`
	// ID is this instance's; Holder the lease's holder ("" none yet).
	ID     string `json:"id"`
	Holder string `json:"holder"`
	Term   int64  `json:"term"`
	// Age is how long ago the lease was last renewed (now, by this
	// instance's reckoning from its last look): past the TTL nobody
	// leads. HeldFor is how long its holder has held it.
	Age     time.Duration `json:"age"`
	HeldFor time.Duration `json:"held_for"`
	Expires time.Time     `json:"expires"`
	// Checked is when this instance last looked; Error its last failure.
	Checked time.Time `json:"checked"`
	Error   string    `json:"error,omitempty"`
}

// Open takes or follows the lease now (so a single instance leads as soon
// as Open returns), then keeps it renewed or watched in the background.
func (e *Elector) Open() error {
	if e.TTL <= 0 {
		e.TTL = DefaultTTL
	}
	if e.Name == "" {
		e.Name = "scheduler"
	}
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.Logger == nil {
		e.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	if e.Solo {
		e.mu.Lock()
		e.leading, e.validUntil, e.checked = true, time.Now().Add(100*365*24*time.Hour), time.Now()
		e.lease = store.Lease{Name: e.Name, Holder: e.ID, Acquired: time.Now(), Renewed: time.Now()}
		lctx, end := context.WithCancel(ctx)
		e.endLead = end
		if e.OnElected != nil {
			e.wg.Add(1)
			go func() { defer e.wg.Done(); e.OnElected(lctx) }()
		}
		e.mu.Unlock()
		return nil
	}
	e.try(ctx)
	e.wg.Add(1)
	go e.loop(ctx)
	return nil
}

// NewID returns an instance id: host name, process id and a random part.
func NewID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b))
}

func (e *Elector) loop(ctx context.Context) {
	defer e.wg.Done()
	t := time.NewTicker(e.TTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.try(ctx)
		}
	}
}

// try takes or renews the lease once, and steps down on any failure.
func (e *Elector) try(ctx context.Context) {
	sent := time.Now()
	tctx, cancel := context.WithTimeout(ctx, e.TTL/3)
	l, held, err := e.Store.TryLease(tctx, e.Name, e.ID, e.TTL)
	cancel()
	if ctx.Err() != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.checked, e.lastErr = time.Now(), err
	if err == nil {
		e.lease = l
	}
	switch {
	case err == nil && held:
		e.validUntil = sent.Add(e.TTL)
		if !e.leading {
			e.leading = true
			e.Logger.Info("leader: this instance now runs the scheduled work", "lease", e.Name, "id", e.ID, "term", l.Term)
			lctx, end := context.WithCancel(ctx)
			e.endLead = end
			if e.OnElected != nil {
				e.wg.Add(1)
				go func() { defer e.wg.Done(); e.OnElected(lctx) }()
			}
		}
	case e.leading:
		why := "another instance holds the lease"
		if err != nil {
			why = "the lease could not be renewed: " + err.Error()
		}
		e.stepDown(why)
	case err != nil:
		e.Logger.Warn("leader: cannot read the lease", "lease", e.Name, "err", err)
	}
}

// stepDown ends leadership (mu held).
func (e *Elector) stepDown(why string) {
	e.leading = false
	if e.endLead != nil {
		e.endLead()
		e.endLead = nil
	}
	e.Logger.Warn("leader: this instance stepped down; another runs the scheduled work", "lease", e.Name, "id", e.ID, "why", why)
}

// IsLeader reports whether this instance leads now: it holds the lease and
// renewed it less than a TTL ago.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leading && time.Now().After(e.validUntil) {
		e.stepDown("the lease lapsed before it could be renewed")
	}
	return e.leading
}

// Status returns the lease as this instance last saw it.
func (e *Elector) Status() Status {
	leading := e.IsLeader()
	e.mu.Lock()
	defer e.mu.Unlock()
	st := Status{Leader: leading, ID: e.ID, Holder: e.lease.Holder, Term: e.lease.Term, Expires: e.lease.Expires, Checked: e.checked}
	switch {
	case e.Solo:
		st.HeldFor = time.Since(e.lease.Acquired)
	case e.lease.Holder != "":
		since := time.Since(e.checked)
		st.Age = max(e.lease.Age()+since, 0)
		st.HeldFor = max(e.lease.Seen.Sub(e.lease.Acquired)+since, 0)
	}
	if e.lastErr != nil {
		st.Error = e.lastErr.Error()
	}
	return st
}

// Close stops renewing and, when leading, releases the lease so another
// instance takes over at once.
func (e *Elector) Close() error {
	if e.cancel == nil {
		return nil
	}
	e.cancel()
	e.mu.Lock()
	leading := e.leading
	switch {
	case leading && e.Solo:
		e.leading = false
		e.endLead()
	case leading:
		e.stepDown("stopping")
	}
	e.mu.Unlock()
	e.wg.Wait()
	if leading && !e.Solo {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return e.Store.ReleaseLease(ctx, e.Name, e.ID)
	}
	return nil
}
