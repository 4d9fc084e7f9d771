package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"muster/ingest"
	"muster/ingest/workos"
	"muster/schema"
	"muster/store"
)

// Directories keeps the WorkOS directory sources in step with their
// directories: full pulls (on start, on each source's schedule, on demand),
// the events read between pulls from the Events API or received by the
// webhook endpoint, and the nightly reconciliation. Every change goes
// through the one pipeline (ingest.Ingester): a pull is a full-snapshot
// drop, a batch of events a delta drop.
//
// A source's pull and the application of its events never overlap: a pull
// holds the source for its whole length, and events for a source that is
// being pulled wait for the next poll (the webhook answers 500 so WorkOS
// delivers again). A second pull of a source while one runs is skipped.
type Directories struct {
	Client   *workos.Client
	Ingester *ingest.Ingester
	Logger   *slog.Logger
	// Prune, if set, is called by the reconciliation to prune the drops'
	// archive (ingest.Files.Prune) and returns what it removed.
	Prune func(now time.Time) int
	// OnRun, if set, is told how each pull ended (not one interrupted by
	// the stop), and OnDrift what a reconciliation repaired in an
	// organisation: notifications.
	OnRun   func(RunStatus)
	OnDrift func(ingest.RebuildReport)

	cfg     *Config
	sources []*dirSource
	byDir   map[string][]*dirSource
	started time.Time

	eventsMu sync.Mutex // one batch of events at a time (poll or webhook)

	statusMu sync.Mutex
	status   map[string]*RunStatus

	ctx    context.Context // the daemon's: background pulls stop with it
	cancel context.CancelFunc
	wg     sync.WaitGroup
	cron   *cron.Cron
}

// dirSource is one source of kind workos.
type dirSource struct {
	conf  *SourceConf
	cfg   store.SourceConfig
	pull  workos.PullOptions
	delta workos.DeltaOptions
	key   string // org/name

	mu      sync.Mutex  // held by a pull and by an events apply
	pulling atomic.Bool // a pull runs: another one is skipped
}

// RunStatus is what a source's pulls last did, for operators and metrics.
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
	// LastEvents is when events were last applied to the source.
	LastEvents time.Time `json:"last_events"`
}

// Trigger names of runs, kept with drops (Options.By) and logs.
const (
	byPull    = "workos"
	byEvents  = "workos events"
	byWebhook = "workos webhook"
	// eventRetention is how long applied event ids are kept for
	// de-duplication: WorkOS retries a webhook for up to 3 days.
	eventRetention = 7 * 24 * time.Hour
	// staleCursor: the Events API keeps 30 to 90 days; a cursor older than
	// this is dropped and every directory pulled instead (§5.1).
	staleCursor = 25 * 24 * time.Hour
	// sinceMargin is how far before "now" a fresh cursor starts reading, for
	// the skew between our clock and WorkOS's; repeats are de-duplicated.
	sinceMargin = 5 * time.Minute
)

var (
	errSkipped = errors.New("skipped: a pull of this source is already running")
	errBusy    = schema.Errorf(schema.EUnavailable, "a pull of the directory's source is running: deliver again later")
)

// newDirectories returns the directory sources of c, with a client; it
// reads the API key. Nothing runs until Open.
func newDirectories(c *Config, e *env, in *ingest.Ingester, log *slog.Logger, onRequest func(workos.RequestInfo)) (*Directories, error) {
	client, err := c.workosClient(e, onRequest)
	if err != nil {
		return nil, err
	}
	d := &Directories{Client: client, Ingester: in, Logger: log, cfg: c, byDir: map[string][]*dirSource{},
		status: map[string]*RunStatus{}, started: time.Now()}
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Kind != string(store.KindWorkOS) {
			continue
		}
		sc := c.sourceConfig(s)
		ds := &dirSource{conf: s, cfg: sc, key: s.Org + "/" + s.Name,
			pull:  workos.PullOptions{Groups: s.Groups, Attrs: sc.Attrs},
			delta: workos.DeltaOptions{Groups: s.Groups, Attrs: sc.Attrs}}
		d.sources = append(d.sources, ds)
		d.byDir[s.DirectoryID] = append(d.byDir[s.DirectoryID], ds)
		d.status[ds.key] = &RunStatus{Org: s.Org, Source: s.Name}
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d, nil
}

// source returns the directory source named, in org ("" : any org, if the
// name is unique).
func (d *Directories) source(org, name string) (*dirSource, error) {
	var found []*dirSource
	for _, s := range d.sources {
		if s.conf.Name == name && (org == "" || s.conf.Org == org) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, schema.Errorf(schema.ENotFound, "no workos source %q in the config", name)
	}
	return nil, schema.Errorf(schema.EInvalid, "workos source %q is in several organisations: name one with -org", name)
}

// Status returns each source's RunStatus, by "org/name".
func (d *Directories) Status() map[string]RunStatus {
	d.statusMu.Lock()
	defer d.statusMu.Unlock()
	out := make(map[string]RunStatus, len(d.status))
	for k, v := range d.status {
		out[k] = *v
	}
	return out
}

// Runs returns every source's RunStatus, in the config's order.
func (d *Directories) Runs() []RunStatus {
	d.statusMu.Lock()
	defer d.statusMu.Unlock()
	out := make([]RunStatus, 0, len(d.sources))
	for _, s := range d.sources {
		out = append(out, *d.status[s.key])
	}
	return out
}

// SyncNow starts a pull of the organisation's source in the background (an
// operator asked, by): ENotFound for a source that is not a configured
// directory, EConflict while a pull of it runs, EUnavailable once stopping.
func (d *Directories) SyncNow(_ context.Context, org, source, by string) error {
	s, err := d.source(org, source)
	if err != nil {
		return err
	}
	if s.pulling.Load() {
		return schema.Errorf(schema.EConflict, "a pull of source %s is already running", s.key)
	}
	if d.ctx.Err() != nil {
		return schema.Errorf(schema.EUnavailable, "muster is stopping")
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.Pull(d.ctx, s, by, ingest.Options{By: by})
	}()
	return nil
}

func (d *Directories) setStatus(s *dirSource, fn func(*RunStatus)) {
	d.statusMu.Lock()
	defer d.statusMu.Unlock()
	fn(d.status[s.key])
}

// Pull runs a full pull of the source now and returns its report. A pull
// that fails before its records are complete applies nothing: when the
// directory, its groups or memberships cannot be read no drop is recorded
// (the error says why); when reading the users fails part-way the drop is
// recorded as rejected with the client's error as its problem.
func (d *Directories) Pull(ctx context.Context, s *dirSource, why string, opt ingest.Options) (*ingest.Report, workos.PullStats, error) {
	log := d.Logger.With("source", s.key, "directory", s.conf.DirectoryID, "trigger", why)
	if !s.pulling.CompareAndSwap(false, true) {
		log.Info("workos pull skipped: the previous one is still running")
		return nil, workos.PullStats{}, errSkipped
	}
	defer s.pulling.Store(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	d.setStatus(s, func(st *RunStatus) { st.LastAttempt = start })
	rep, stats, err := d.pullLocked(ctx, s, opt)
	ms := time.Since(start).Milliseconds()
	// A stop while the users are read ends the stream with the context's
	// error, which the pipeline records as a rejected drop: that is a stop,
	// not a failure of the pull (nothing of it is applied either way).
	stopped := ctx.Err() != nil && (err != nil || rep.Decision == ingest.Rejected)
	d.setStatus(s, func(st *RunStatus) {
		if stopped {
			return
		}
		st.LastError, st.LastDecision, st.LastRun = "", "", time.Now()
		if err != nil {
			st.LastError = schema.ErrorMessageOf(err)
			return
		}
		st.LastDecision = string(rep.Decision)
		if rep.Decision == ingest.Applied || rep.Decision == ingest.Duplicate {
			if !opt.DryRun {
				st.LastSuccess = time.Now()
			}
		} else {
			st.LastError = rep.Reason
		}
	})
	if !stopped && d.OnRun != nil {
		d.OnRun(d.Status()[s.key])
	}
	attrs := []any{"requests", stats.Requests, "users", stats.Users, "groups", stats.Groups, "ms", ms}
	switch {
	case stopped:
		if rep != nil {
			attrs = append(attrs, "drop", rep.DropID)
		}
		log.Info("workos pull interrupted by the stop; nothing of it applied", attrs...)
	case err != nil:
		log.Error("workos pull failed; the store is unchanged, it is tried again at the next run", append(attrs, "error", err)...)
	default:
		log.Info("workos pull", append(attrs, "drop", rep.DropID, "decision", rep.Decision, "added", rep.Counts.Added,
			"updated", rep.Counts.Updated, "removed", rep.Counts.Removed, "suppressed", rep.Counts.Suppressed,
			"invalid", rep.Counts.Invalid, "reason", rep.Reason)...)
	}
	return rep, stats, err
}

func (d *Directories) pullLocked(ctx context.Context, s *dirSource, opt ingest.Options) (*ingest.Report, workos.PullStats, error) {
	stream, err := d.Client.Pull(ctx, s.conf.DirectoryID, s.pull)
	if err != nil {
		return nil, workos.PullStats{}, err
	}
	if err := d.cfg.checkDirectoryOrg(s.conf, stream.Directory); err != nil {
		return nil, stream.Stats(), err
	}
	name := "workos pull of " + stream.Directory.ID
	if n := stream.Directory.Name; n != "" {
		name = fmt.Sprintf("workos pull of %s (%s)", n, stream.Directory.ID)
	}
	if opt.By == "" {
		opt.By = byPull
	}
	// Reading stops with ctx (a stop); once read, the apply is short and
	// finishes, so a stop never leaves a drop half-recorded.
	rep, err := d.Ingester.Ingest(context.WithoutCancel(ctx), ingest.Drop{Org: s.conf.Org, Source: s.cfg, Name: name,
		Kind: store.DropKindStream, Records: stream}, opt)
	return rep, stream.Stats(), err
}

// pullAsync pulls a source in the background (an event asked for it).
func (d *Directories) pullAsync(s *dirSource, why string) {
	if d.ctx.Err() != nil {
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.Pull(d.ctx, s, why, ingest.Options{})
	}()
}

// Reconcile is the nightly reconciliation: a full pull of every directory,
// then a rebuild of every organisation's recipients from all its sources'
// snapshots, compared with the stored ones (differences are logged and
// repaired), then retention pruning of the drops' archive and of the applied
// event ids.
func (d *Directories) Reconcile(ctx context.Context) error {
	start := time.Now()
	log := d.Logger.With("run", "reconcile")
	var errs []error
	for _, s := range d.sources {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, _, err := d.Pull(ctx, s, "reconcile", ingest.Options{}); err != nil && !errors.Is(err, errSkipped) {
			errs = append(errs, fmt.Errorf("pull %s: %w", s.key, err))
		}
	}
	for _, org := range d.cfg.orgNames() {
		rep, err := d.Ingester.Rebuild(ctx, org, ingest.Options{By: "reconcile"})
		if err != nil {
			errs = append(errs, fmt.Errorf("rebuild %s: %w", org, err))
			continue
		}
		if rep.Differed > 0 {
			log.Warn("recipients differed from what their sources say; repaired", "org", org, "checked", rep.Checked,
				"differed", rep.Differed, "sample", rep.Sample)
			if d.OnDrift != nil {
				d.OnDrift(*rep)
			}
		} else {
			log.Info("recipients match their sources", "org", org, "checked", rep.Checked)
		}
	}
	pruned := 0
	if d.Prune != nil {
		pruned = d.Prune(time.Now())
	}
	events, err := d.Ingester.Store.PruneEvents(ctx, time.Now().Add(-eventRetention))
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

// orgNames lists the organisations of the config.
func (c *Config) orgNames() []string {
	var out []string
	for _, o := range c.Orgs {
		out = append(out, o.Name)
	}
	for _, s := range c.Sources {
		if !slices.Contains(out, s.Org) {
			out = append(out, s.Org)
		}
	}
	if len(out) == 0 {
		out = append(out, schema.DefaultOrg)
	}
	return out
}
