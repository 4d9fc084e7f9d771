package main

import (
	"context"
	"log/slog"

	"github.com/robfig/cron/v3"

	"muster/ingest"
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

// Open starts the jobs with robfig/cron (a pull per source on its schedule,
// the events poll, the reconciliation; each skips a run while its previous
// one is still going, with a log line), and a first pull of every directory in the
// background: it catches up with what changed while muster was stopped
// (events older than the daemon are not read). It returns at once.
func (d *Directories) Open() error {
	c := d.cfg
	sched := cron.New(cron.WithParser(cronParser), cron.WithLogger(cronLog{d.Logger}))
	add := func(spec, name string, fn func(ctx context.Context)) error {
		log := cronLog{d.Logger.With("job", name)}
		job := cron.NewChain(cron.Recover(log), cron.SkipIfStillRunning(log)).Then(cron.FuncJob(func() { fn(d.ctx) }))
		_, err := sched.AddJob(spec, job)
		return err
	}
	for _, src := range d.sources {
		spec := src.conf.Schedule
		if spec == "" {
			spec = c.WorkOS.Schedule
		}
		if err := add(spec, "pull "+src.key, func(ctx context.Context) { d.Pull(ctx, src, "schedule", ingest.Options{}) }); err != nil {
			return err
		}
	}
	if every := c.WorkOS.eventsPoll(); every > 0 && len(d.sources) > 0 {
		err := add("@every "+every.String(), "workos events", func(ctx context.Context) {
			if _, err := d.PollEvents(ctx); err != nil && ctx.Err() == nil {
				d.Logger.Error("workos events poll failed; tried again at the next poll", "error", err)
			}
		})
		if err != nil {
			return err
		}
	}
	if c.WorkOS.Reconcile != "off" && len(d.sources) > 0 {
		if err := add(c.WorkOS.Reconcile, "reconcile", func(ctx context.Context) { d.Reconcile(ctx) }); err != nil {
			return err
		}
	}
	d.cron = sched
	sched.Start()
	for _, src := range d.sources {
		d.pullAsync(src, "start")
	}
	return nil
}

// Close stops the jobs: running pulls see their context end (nothing of an
// unfinished pull is applied), and Close waits for every run to return.
func (d *Directories) Close() error {
	d.cancel()
	if d.cron != nil {
		<-d.cron.Stop().Done()
	}
	d.wg.Wait()
	return nil
}
