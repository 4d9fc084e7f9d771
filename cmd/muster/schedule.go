package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"muster/ingest"
	"muster/ingest/directory"
	"muster/ingest/workossync"
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
// config says: a pull per source on its schedule, the events poll, the
// reconciliation.
type scheduler struct {
	engine *directory.Engine
	sync   *workossync.Sync
	conf   *Config
	log    *slog.Logger
	cron   *cron.Cron
	// leader says whether this instance runs the scheduled work (it holds
	// the scheduler's lease): a job that comes due on a follower is
	// skipped. Nil: always.
	leader func() bool
	stop   chan struct{}
	done   chan struct{}
}

// leading reports whether the jobs run here now.
func (s *scheduler) leading() bool { return s.leader == nil || s.leader() }

// Open starts the jobs (each skips a run while its previous one is still
// going, with a log line), and a first pull of every directory in the
// background: it catches up with what changed while muster was stopped
// (events older than the daemon are not read). It returns at once.
func (s *scheduler) Open() error {
	c := s.conf
	eng := s.engine
	sched := cron.New(cron.WithParser(cronParser), cron.WithLogger(cronLog{s.log}))
	add := func(spec, name string, fn func(ctx context.Context)) (cron.EntryID, error) {
		log := cronLog{s.log.With("job", name)}
		job := cron.NewChain(cron.Recover(log), cron.SkipIfStillRunning(log)).Then(cron.FuncJob(func() {
			if !s.leading() {
				s.log.Debug("job skipped: another instance leads", "job", name)
				return
			}
			fn(eng.Context())
		}))
		return sched.AddJob(spec, job)
	}
	pulls := map[cron.EntryID]*directory.Source{}
	sources := eng.Sources()
	for i := range c.Sources {
		conf := &c.Sources[i]
		if conf.Kind != "workos" {
			continue
		}
		src, err := eng.Source(conf.Org, conf.Name)
		if err != nil {
			return err
		}
		spec := c.WorkOS.Schedule
		if conf.Schedule != "" {
			spec = conf.Schedule
		}
		var id cron.EntryID
		id, err = add(spec, "pull "+src.Key(), func(ctx context.Context) {
			// cron has already planned the next run: every process shows it.
			s.nextRun(ctx, src, sched.Entry(id))
			src.Pull(ctx, "schedule", ingest.Options{})
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
	if c.WorkOS.Reconcile != "off" && len(sources) > 0 {
		if _, err := add(c.WorkOS.Reconcile, "reconcile", func(ctx context.Context) { eng.Reconcile(ctx) }); err != nil {
			return err
		}
	}
	s.cron = sched
	sched.Start()
	if s.leading() {
		for _, e := range sched.Entries() {
			if src, ok := pulls[e.ID]; ok {
				s.nextRun(eng.Context(), src, e)
			}
		}
	}
	// Batches queued behind a held drop apply once it is decided: at once
	// when decided in this process, else within settleEvery (on the
	// leader).
	eng.Leading = s.leader
	eng.Start(settleEvery)
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.follow(sources)
	return nil
}

// follow pulls every directory each time this instance becomes the leader
// (at start when alone): it catches up with what changed while no
// instance of muster followed them (or while the one that did died).
func (s *scheduler) follow(sources []*directory.Source) {
	defer close(s.done)
	t := time.NewTicker(followEvery)
	defer t.Stop()
	was := false
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

// Close stops the jobs: running pulls see their context end (nothing of an
// unfinished pull is applied), and Close waits for every run to return.
func (s *scheduler) Close() error {
	if s.cron == nil {
		return s.engine.Close()
	}
	close(s.stop)
	<-s.done
	running := s.cron.Stop()
	err := s.engine.Close()
	<-running.Done()
	return err
}
