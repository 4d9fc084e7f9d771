package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"muster/ingest"
	"muster/ingest/directory"
	"muster/ingest/workossync"
	"muster/store"
)

// cronLog adapts slog to cron's logger: cron's own chatter (schedule, wake,
// run) is debug; a skipped run is worth an info line.
type cronLog struct{ l *slog.Logger }

func (c cronLog) Info(msg string, kv ...any) {
	if msg == "skip" {
		c.l.Info("run skipped: the previous one is still running")
		return
	}
	c.l.Debug("cron "+msg, kv...)
}

func (c cronLog) Error(err error, msg string, kv ...any) {
	c.l.Error("cron "+msg, append(kv, "error", err)...)
}

// scheduler runs the directory engine's jobs with robfig/cron, as the
// config says: a pull per WorkOS source on its schedule, the events poll,
// and the reconciliation whenever the config has a directory source
// (WorkOS or SCIM). The engine outlives it: a reload replaces the
// scheduler, not the engine.
type scheduler struct {
	engine *directory.Engine
	sync   *workossync.Sync // nil without WorkOS
	conf   *Config
	log    *slog.Logger
	cron   *cron.Cron
	// leader says whether this instance runs the scheduled work (it holds
	// the scheduler's lease): a job that comes due on a follower is
	// skipped. Nil: always.
	leader func() bool
	// wasLeading says this instance led already when the scheduler
	// started (a reload): then only pullFirst are pulled at once, not
	// every directory as when it starts leading.
	wasLeading bool
	pullFirst  []*directory.Source

	ctx     context.Context // the jobs' context: ends with Close
	cancel  context.CancelFunc
	mu      sync.Mutex
	running map[*directory.Source]bool // scheduled pulls in progress
	stop    chan struct{}
	done    chan struct{}
}

// leading reports whether the jobs run here now.
func (s *scheduler) leading() bool { return s.leader == nil || s.leader() }

// hasDirectories reports whether the config has a directory source.
func (c *Config) hasDirectories() bool {
	for _, s := range c.Sources {
		if store.SourceKind(s.Kind).Directory() {
			return true
		}
	}
	return false
}

// Open starts the jobs (each skips a run while its previous one is still
// going, with a log line), and a first pull of every directory in the
// background when this instance leads: it catches up with what changed
// while muster was stopped (events older than the daemon are not read).
// It returns at once.
func (s *scheduler) Open() error {
	c := s.conf
	eng := s.engine
	s.ctx, s.cancel = context.WithCancel(eng.Context())
	s.running = map[*directory.Source]bool{}
	sched := cron.New(cron.WithParser(cronParser), cron.WithLogger(cronLog{s.log}))
	add := func(spec, name string, fn func(ctx context.Context)) (cron.EntryID, error) {
		log := cronLog{s.log.With("job", name)}
		job := cron.NewChain(cron.Recover(log), cron.SkipIfStillRunning(log)).Then(cron.FuncJob(func() {
			if !s.leading() {
				s.log.Debug("job skipped: another instance leads", "job", name)
				return
			}
			fn(s.ctx)
		}))
		return sched.AddJob(spec, job)
	}
	pulls := map[cron.EntryID]*directory.Source{}
	var sources []*directory.Source
	for i := range c.Sources {
		conf := &c.Sources[i]
		if conf.Kind != "workos" || s.sync == nil {
			continue
		}
		src, err := s.sync.Source(conf.Org, conf.Name)
		if err != nil {
			return err
		}
		sources = append(sources, src)
		spec := c.WorkOS.Schedule
		if conf.Schedule != "" {
			spec = conf.Schedule
		}
		var id cron.EntryID
		id, err = add(spec, "pull "+src.Key(), func(ctx context.Context) {
			// cron has already planned the next run: every process shows it.
			s.nextRun(ctx, src, sched.Entry(id))
			s.pull(ctx, src)
		})
		if err != nil {
			return err
		}
		pulls[id] = src
	}
	if every := c.WorkOS.eventsPoll(); every > 0 && len(sources) > 0 {
		_, err := add("@every "+every.String(), "workos events", func(ctx context.Context) {
			if _, err := s.sync.PollEvents(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("workos events poll failed; tried again at the next poll", "error", err)
			}
		})
		if err != nil {
			return err
		}
	}
	if c.WorkOS.Reconcile != "off" && c.hasDirectories() {
		if _, err := add(c.WorkOS.Reconcile, "reconcile", func(ctx context.Context) { eng.Reconcile(ctx) }); err != nil {
			return err
		}
	}
	s.cron = sched
	sched.Start()
	if s.leading() {
		for _, e := range sched.Entries() {
			if src, ok := pulls[e.ID]; ok {
				s.nextRun(s.ctx, src, e)
			}
		}
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.follow(sources)
	return nil
}

// pull runs a scheduled pull, noting it in progress: one the scheduler's
// Close stops is pulled again by the next scheduler.
func (s *scheduler) pull(ctx context.Context, src *directory.Source) {
	s.mu.Lock()
	s.running[src] = true
	s.mu.Unlock()
	src.Pull(ctx, "schedule", ingest.Options{})
	if ctx.Err() == nil {
		s.mu.Lock()
		delete(s.running, src)
		s.mu.Unlock()
	}
}

// follow pulls every directory each time this instance becomes the leader
// (at start when alone): it catches up with what changed while no
// instance of muster followed them (or while the one that did died). A
// scheduler started by a reload on the leader pulls only pullFirst.
func (s *scheduler) follow(sources []*directory.Source) {
	defer close(s.done)
	t := time.NewTicker(followEvery)
	defer t.Stop()
	was := s.wasLeading
	if was && s.leading() {
		for _, src := range s.pullFirst {
			s.engine.PullAsync(src, "reload", ingest.Options{})
		}
	}
	for {
		if lead := s.leading(); lead != was {
			was = lead
			if lead {
				for _, src := range sources {
					s.engine.PullAsync(src, "start", ingest.Options{})
				}
			}
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// followEvery is how often the scheduler looks whether it became the
// leader.
const followEvery = 250 * time.Millisecond

// settleEvery is how often the engine looks for held drops decided by
// another process (`muster drops approve`), whose queued batches then apply.
const settleEvery = 5 * time.Second

// nextRun records the source's next scheduled pull.
func (s *scheduler) nextRun(ctx context.Context, src *directory.Source, e cron.Entry) {
	if err := src.SetNextRun(ctx, e.Next); err != nil && ctx.Err() == nil {
		s.log.Warn("cannot record the next run", "source", src.Key(), "error", err)
	}
}

// Close stops the jobs: running pulls and a reconciliation see their
// context end (nothing of an unfinished pull is applied), and Close waits
// for every run to return. It returns the sources whose scheduled pull it
// stopped. The engine keeps running (its own Close stops it).
func (s *scheduler) Close() []*directory.Source {
	if s.cron == nil {
		if s.cancel != nil {
			s.cancel()
		}
		return nil
	}
	close(s.stop)
	<-s.done
	running := s.cron.Stop()
	s.cancel()
	<-running.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*directory.Source
	for src := range s.running {
		if !src.Removed() {
			out = append(out, src)
		}
	}
	return out
}
