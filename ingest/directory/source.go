package directory

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// Source is one directory source of the engine. Its organisation, name
// and kind are fixed; its settings (and Puller) change with Engine.Update.
type Source struct {
	e      *Engine
	org    string
	name   string
	kind   store.SourceKind
	pulled bool // it has a Puller

	cfg    atomic.Pointer[ingest.SourceConfig]
	puller atomic.Pointer[pullerRef]

	// ctx ends when the source is removed (Engine.Remove) or the engine
	// closes: its pull stops, it cannot be leased any more.
	ctx    context.Context
	cancel context.CancelFunc

	// lock is held (a value in it) by a pull and by a batch of edits: one
	// change of the source at a time.
	lock    chan struct{}
	pulling atomic.Bool // a pull runs: another one is skipped

	mu       sync.Mutex
	status   RunStatus
	stopPull context.CancelFunc // ends the running pull (Update), nil when none runs
}

type pullerRef struct{ Puller }

// Org names the source's organisation.
func (s *Source) Org() string { return s.org }

// Name names the source.
func (s *Source) Name() string { return s.name }

// Key is "org/name", for logs.
func (s *Source) Key() string { return s.org + "/" + s.name }

// Kind is the source's kind (workos, scim...).
func (s *Source) Kind() store.SourceKind { return s.kind }

// Config returns the source's settings in force. A pull or a batch reads
// them once, when it starts, and keeps them to its end.
func (s *Source) Config() ingest.SourceConfig { return *s.cfg.Load() }

// Pulled reports whether the source has a Puller.
func (s *Source) Pulled() bool { return s.pulled }

// Removed reports whether the source was removed from its engine (or the
// engine closed).
func (s *Source) Removed() bool { return s.ctx.Err() != nil }

// Lease is the right to change a source: while it is held no pull and no
// other batch of the source runs. Release it when done.
type Lease struct {
	s        *Source
	released atomic.Bool
}

// Acquire waits for the source to be free and holds it; ctx bounds the
// wait (a pull may take minutes). A source removed (or an engine stopping)
// is refused, also while waiting.
func (s *Source) Acquire(ctx context.Context) (*Lease, error) {
	if err := s.gone(); err != nil {
		return nil, err
	}
	select {
	case s.lock <- struct{}{}:
		return &Lease{s: s}, nil
	case <-s.ctx.Done():
		return nil, s.gone()
	case <-ctx.Done():
		return nil, schema.WrapError(schema.EUnavailable, ctx.Err(), "source %s is busy (a pull or another batch runs)", s.Key())
	}
}

// TryAcquire holds the source if it is free; false if a pull or a batch of
// it runs.
func (s *Source) TryAcquire() (*Lease, bool) {
	if s.gone() != nil {
		return nil, false
	}
	select {
	case s.lock <- struct{}{}:
		return &Lease{s: s}, true
	default:
		return nil, false
	}
}

// gone is the error of a source that cannot be changed any more: removed
// from the config, or the engine stopping.
func (s *Source) gone() error {
	switch {
	case s.e.ctx.Err() != nil:
		return schema.Errorf(schema.EUnavailable, "muster is stopping")
	case s.ctx.Err() != nil:
		return schema.Errorf(schema.ENotFound, "directory source %s was removed from the config", s.Key())
	}
	return nil
}

// Source is the source the lease holds.
func (l *Lease) Source() *Source { return l.s }

// Release frees the source; later calls do nothing.
func (l *Lease) Release() {
	if l.released.CompareAndSwap(false, true) {
		<-l.s.lock
	}
}

// RunStatus is what a source's pulls and batches last did, for operators
// and metrics.
type RunStatus struct {
	Org    string `json:"org"`
	Source string `json:"source"`
	// LastAttempt is when the latest pull started, LastRun when it ended.
	LastAttempt time.Time `json:"last_attempt"`
	LastRun     time.Time `json:"last_run"`
	// LastSuccess is when the latest pull that completed and was applied
	// (or was a duplicate of the current snapshot) finished.
	LastSuccess time.Time `json:"last_success"`
	// LastDecision is the latest pull's decision ("" when it failed before
	// a drop was recorded); LastError its failure.
	LastDecision string `json:"last_decision,omitempty"`
	LastError    string `json:"last_error,omitempty"`
	// LastEvents is when a batch of edits was last applied to the source.
	LastEvents time.Time `json:"last_events"`
}

// Status returns the source's RunStatus.
func (s *Source) Status() RunStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *Source) setStatus(fn func(*RunStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.status)
}

// ErrPullRunning is Pull's error when a pull of the source already runs.
var ErrPullRunning = errors.New("skipped: a pull of this source is already running")
