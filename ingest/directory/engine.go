// Package directory is the directory engine: what every directory source
// (WorkOS pulled on a schedule with events between pulls, SCIM pushed by an
// IdP) shares, whichever producer feeds it.
//
//   - one change of a source at a time: a full pull and a batch of edits of
//     the same source never overlap (Source.Acquire, Lease);
//   - full pulls (Source.Pull): a full snapshot through the pipeline, a
//     second pull of a source while one runs skipped;
//   - batches of edits (Lease.Apply): upserts, deactivations, deletions and
//     group changes applied as one delta drop, committed before the call
//     returns;
//   - the run status of every source (Engine.Runs);
//   - the nightly reconciliation (Engine.Reconcile).
//
// A producer (package workossync for WorkOS, a SCIM server) turns what its
// outside system says into records and edits and hands them here; it holds
// no rule of its own about locking, guards or reconciliation.
package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// Engine runs the directory sources of one store.
type Engine struct {
	Ingester *ingest.Ingester
	Logger   *slog.Logger
	// Orgs are the organisations Reconcile rebuilds, besides those of the
	// sources (the config's). Set it before the engine runs; SetOrgs
	// changes it later.
	Orgs []string
	// Prune, if set, is called by Reconcile to prune the drops' archive and
	// returns what it removed.
	Prune func(now time.Time) int
	// EventRetention is how long Reconcile keeps applied event ids; zero is
	// DefaultEventRetention.
	EventRetention time.Duration
	// Window is how long a batch's removals count against the source's
	// thresholds (since its latest full pull, if later); zero is
	// DefaultWindow.
	Window time.Duration
	// Leading, if set, says whether this instance runs the background
	// settling (Start): only the leader does, when several share a store.
	Leading func() bool
	// OnRun, if set, is told how each pull ended (not one a stop
	// interrupted), and OnDrift what a Reconcile repaired in an
	// organisation: the daemon's notifications.
	OnRun   func(RunStatus)
	OnDrift func(ingest.RebuildReport)

	mu      sync.Mutex
	sources []*Source

	ctx    context.Context // background pulls stop with it (Close)
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // a held drop was decided: Settle soon
}

// DefaultWindow is the removal window of batches (DESIGN.md, safety rules).
const DefaultWindow = 24 * time.Hour

func (e *Engine) window() time.Duration {
	if e.Window > 0 {
		return e.Window
	}
	return DefaultWindow
}

// DefaultEventRetention is how long applied event ids are kept for
// de-duplication: WorkOS retries a webhook for up to 3 days.
const DefaultEventRetention = 7 * 24 * time.Hour

// New returns an engine over in with no source.
func New(in *ingest.Ingester, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{Ingester: in, Logger: log, kick: make(chan struct{}, 1)}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e
}

// Spec describes a directory source to the engine.
type Spec struct {
	// Org names the organisation; "" is schema.DefaultOrg.
	Org string
	// Config is the source's settings (kind workos, scim...). Directory
	// sources are authoritative unless the config says otherwise.
	Config ingest.SourceConfig
	// Puller reads a full snapshot of the directory; nil for a source that
	// is only pushed to (SCIM), which Pull refuses.
	Puller Puller
}

// Puller reads a full snapshot of a directory (a pull). It returns once the
// snapshot can be streamed; the records are read as the pipeline asks for
// them, and reading stops with ctx.
type Puller interface {
	Pull(ctx context.Context) (*Snapshot, error)
}

// PullerFunc adapts a function to Puller.
type PullerFunc func(ctx context.Context) (*Snapshot, error)

// Pull calls f.
func (f PullerFunc) Pull(ctx context.Context) (*Snapshot, error) { return f(ctx) }

// Snapshot is a full snapshot being read from a directory.
type Snapshot struct {
	// Name is the drop's name, for people ("workos pull of Okta (directory_01...)").
	Name string
	// Records yields everyone the directory lists. An error other than
	// io.EOF ends the pull: nothing of it is applied.
	Records schema.Stream
	// Describe, if set, returns what the producer knows of the pull (HTTP
	// requests made, users read...) as log attributes, called once it ended.
	// A Puller that fails may return a Snapshot with only Describe set.
	Describe func() []any
}

// PullAsync pulls a source in the background (on start, when an event asks
// for it, when an operator asks); Close waits for it. A pull already
// running, or a stopping engine, makes it a no-op.
func (e *Engine) PullAsync(s *Source, trigger string, opt ingest.Options) {
	if s.gone() != nil || !s.pulled {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		s.Pull(e.ctx, trigger, opt)
	}()
}

// SyncNow starts a pull of the organisation's source in the background (an
// operator asked, by): ENotFound for a source that is not registered or is
// not pulled, EConflict while a pull of it runs, EUnavailable once
// stopping.
func (e *Engine) SyncNow(_ context.Context, org, source, by string) error {
	s, err := e.Source(org, source)
	if err != nil {
		return err
	}
	if !s.pulled {
		return schema.Errorf(schema.EInvalid, "source %s is not pulled: its directory pushes its changes", s.Key())
	}
	if s.pulling.Load() {
		return schema.Errorf(schema.EConflict, "a pull of source %s is already running", s.Key())
	}
	if e.ctx.Err() != nil {
		return schema.Errorf(schema.EUnavailable, "muster is stopping")
	}
	e.PullAsync(s, by, ingest.Options{By: by})
	return nil
}

// Settle applies the batches queued behind held drops that have since
// been decided (approved or rejected: by the API, the console, or `muster
// drops` in another process), for every source that is free. Start runs it
// in the background.
func (e *Engine) Settle(ctx context.Context) error {
	var errs []error
	for _, s := range e.Sources() {
		l, ok := s.TryAcquire()
		if !ok {
			continue // a pull or a batch runs: it drains the queue itself
		}
		ref, err := s.ref(ctx)
		if err == nil && ref.src.ID != 0 {
			_, err = l.drain(ctx, ref)
		}
		l.Release()
		if err != nil {
			errs = append(errs, fmt.Errorf("source %s: %w", s.Key(), err))
		}
	}
	return errors.Join(errs...)
}

// Observe is told the pipeline's outcomes (chain it into
// ingest.Ingester.Observe): a held drop decided has the queues settled at
// once. It never blocks.
func (e *Engine) Observe(o ingest.Outcome) {
	if o.Op != ingest.OpApprove && o.Op != ingest.OpReject {
		return
	}
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Start settles the queues in the background: at once, every interval,
// and whenever Observe reports a decision. Close stops it.
func (e *Engine) Start(every time.Duration) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if e.Leading == nil || e.Leading() {
				if err := e.Settle(e.ctx); err != nil && e.ctx.Err() == nil {
					e.Logger.Error("applying queued directory edits failed; tried again later", "error", err)
				}
			}
			select {
			case <-e.ctx.Done():
				return
			case <-t.C:
			case <-e.kick:
			}
		}
	}()
}

// SetOrgs changes the organisations Reconcile rebuilds (a config reload).
func (e *Engine) SetOrgs(orgs []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Orgs = slices.Clone(orgs)
}

// Context is the engine's context: it ends with Close. Producers run their
// background work under it.
func (e *Engine) Context() context.Context { return e.ctx }

// Wait waits for the background pulls started so far.
func (e *Engine) Wait() { e.wg.Wait() }

// Close stops background pulls (nothing of an unfinished pull is applied)
// and waits for them.
func (e *Engine) Close() error {
	e.cancel()
	e.wg.Wait()
	return nil
}

// Reconcile is the nightly reconciliation: a full pull of every pulled
// source, then a rebuild of every organisation's recipients from all its
// sources' snapshots, compared with the stored ones (differences are
// logged and repaired), then retention pruning of the drops' archive and of
// the applied event ids.
func (e *Engine) Reconcile(ctx context.Context) error {
	start := time.Now()
	log := e.Logger.With("run", "reconcile")
	var errs []error
	e.mu.Lock()
	orgs := slices.Clone(e.Orgs)
	e.mu.Unlock()
	for _, s := range e.Sources() {
		if !slices.Contains(orgs, s.org) {
			orgs = append(orgs, s.org)
		}
		if !s.pulled {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := s.Pull(ctx, "reconcile", ingest.Options{}); err != nil && !errors.Is(err, ErrPullRunning) {
			errs = append(errs, fmt.Errorf("pull %s: %w", s.Key(), err))
		}
	}
	for _, org := range orgs {
		rep, err := e.Ingester.Rebuild(ctx, org, ingest.Options{By: "reconcile"})
		if err != nil {
			errs = append(errs, fmt.Errorf("rebuild %s: %w", org, err))
			continue
		}
		if rep.Differed > 0 {
			log.Warn("recipients differed from what their sources say; repaired", "org", org, "checked", rep.Checked,
				"differed", rep.Differed, "sample", rep.Sample)
			if e.OnDrift != nil {
				e.OnDrift(*rep)
			}
		} else {
			log.Info("recipients match their sources", "org", org, "checked", rep.Checked)
		}
	}
	pruned := 0
	if e.Prune != nil {
		pruned = e.Prune(time.Now())
	}
	keep := e.EventRetention
	if keep <= 0 {
		keep = DefaultEventRetention
	}
	events, err := e.Ingester.Store.PruneEvents(ctx, time.Now().Add(-keep))
	if err != nil {
		errs = append(errs, err)
	}
	err = errors.Join(errs...)
	if err != nil {
		log.Error("reconciliation finished with errors", "error", err, "ms", time.Since(start).Milliseconds())
	} else {
		log.Info("reconciliation done", "pruned_files", pruned, "pruned_events", events, "ms", time.Since(start).Milliseconds())
	}
	return err
}

// Runs returns every source's RunStatus, in the order they were added.
func (e *Engine) Runs() []RunStatus {
	var out []RunStatus
	for _, s := range e.Sources() {
		out = append(out, s.Status())
	}
	return out
}

// store returns the engine's store.
func (e *Engine) store() *store.Store { return e.Ingester.Store }
