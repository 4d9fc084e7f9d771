package directory

import (
	"context"
	"time"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// Pull runs a full pull of the source now and returns its report: the
// Puller's snapshot goes through the pipeline as a full-snapshot drop (kind
// stream), with the guards of a full drop. It holds the source for its
// whole length; a second pull while one runs returns ErrPullRunning at
// once. A pull that fails applies nothing: when the Puller fails before
// the snapshot can be read no drop is recorded (the error says why); when
// reading it fails part-way the drop is recorded as rejected with the
// error as its problem. A stop (ctx ending) while the snapshot is read is
// not a failure: nothing of it is applied and the status keeps what it
// said.
func (s *Source) Pull(ctx context.Context, trigger string, opt ingest.Options) (*ingest.Report, error) {
	if !s.pulled {
		return nil, schema.Errorf(schema.EInvalid, "source %s is not pulled: its directory pushes its changes", s.Key())
	}
	log := s.e.Logger.With("source", s.Key(), "trigger", trigger)
	kind := string(s.kind)
	if !s.pulling.CompareAndSwap(false, true) {
		log.Info(kind + " pull skipped: the previous one is still running")
		return nil, ErrPullRunning
	}
	defer s.pulling.Store(false)
	// The pull also stops when the source is removed, or when its settings
	// change (Update starts it again with them).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	s.mu.Lock()
	s.stopPull = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.stopPull = nil
		s.mu.Unlock()
	}()
	lease, err := s.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer lease.Release()
	cfg, puller := s.Config(), s.puller.Load().Puller // in force for the whole pull
	start := time.Now()
	s.setStatus(func(st *RunStatus) { st.LastAttempt = start })
	srcID := s.recordStart(ctx, cfg, start, opt.DryRun)
	snap, err := puller.Pull(ctx)
	var rep *ingest.Report
	if err == nil {
		if opt.By == "" {
			opt.By = kind
		}
		// Reading stops with ctx (a stop); once read, the apply is short and
		// finishes, so a stop never leaves a drop half-recorded.
		rep, err = s.e.Ingester.Ingest(context.WithoutCancel(ctx), ingest.Drop{Org: s.org, Source: cfg, Name: snap.Name,
			Kind: store.DropKindStream, Records: snap.Records, ReadFrom: start}, opt)
	}
	if err == nil && !opt.DryRun && rep.Decision != ingest.Rejected {
		// Applied, unchanged or held, the pull says what the source's held
		// drops and queued batches said, as of later.
		if serr := lease.supersede(context.WithoutCancel(ctx), rep.DropID, start); serr != nil {
			log.Error("settling the source after its pull failed", "error", serr)
		}
	}
	// A stop while the records are read ends the stream with the context's
	// error, which the pipeline records as a rejected drop: that is a stop,
	// not a failure of the pull (nothing of it is applied either way).
	stopped := ctx.Err() != nil && (err != nil || rep.Decision == ingest.Rejected)
	if !stopped && !opt.DryRun {
		s.recordEnd(ctx, srcID, rep, err)
	}
	s.setStatus(func(st *RunStatus) {
		if stopped {
			return
		}
		st.LastError, st.LastDecision, st.LastRun = "", "", time.Now()
		if err != nil {
			st.LastError = runError(err)
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
	if !stopped && s.e.OnRun != nil {
		s.e.OnRun(s.Status())
	}
	attrs := []any{"ms", time.Since(start).Milliseconds()}
	if snap != nil && snap.Describe != nil {
		attrs = append(snap.Describe(), attrs...)
	}
	switch {
	case stopped:
		if rep != nil {
			attrs = append(attrs, "drop", rep.DropID)
		}
		log.Info(kind+" pull interrupted by the stop; nothing of it applied", attrs...)
	case err != nil:
		log.Error(kind+" pull failed; the store is unchanged, it is tried again at the next run", append(attrs, "error", err)...)
	default:
		log.Info(kind+" pull", append(attrs, "drop", rep.DropID, "decision", rep.Decision, "added", rep.Counts.Added,
			"updated", rep.Counts.Updated, "removed", rep.Counts.Removed, "suppressed", rep.Counts.Suppressed,
			"invalid", rep.Counts.Invalid, "reason", rep.Reason)...)
	}
	return rep, err
}

// recordStart records in the store that a run of the source starts (the
// source recorded first, with its settings, if it is not yet) and returns
// its id (0 when it could not be recorded: health is then what the
// drops say).
func (s *Source) recordStart(ctx context.Context, cfg ingest.SourceConfig, at time.Time, dry bool) int64 {
	if dry {
		return 0
	}
	src, err := s.e.Ingester.EnsureSource(ctx, s.org, cfg)
	if err == nil {
		err = s.e.store().RunStarted(ctx, src.ID, at)
	}
	if err != nil {
		s.e.Logger.Warn("cannot record the run's start", "source", s.Key(), "error", err)
		return 0
	}
	return src.ID
}

// recordEnd records how a pull ended: a failure (an error, or its drop
// rejected) with its message, else a success (applied, unchanged, held).
func (s *Source) recordEnd(ctx context.Context, srcID int64, rep *ingest.Report, err error) {
	if srcID == 0 {
		return
	}
	msg := ""
	switch {
	case err != nil:
		msg = runError(err)
	case rep.Decision == ingest.Rejected:
		msg = rep.Reason
	}
	if err := s.e.store().RunEnded(context.WithoutCancel(ctx), srcID, msg); err != nil {
		s.e.Logger.Warn("cannot record the run's end", "source", s.Key(), "error", err)
	}
}

// SetNextRun records when the scheduler pulls the source next, for every
// process to show.
func (s *Source) SetNextRun(ctx context.Context, at time.Time) error {
	ref, err := s.ref(ctx)
	if err != nil || ref.src.ID == 0 {
		return err
	}
	return s.e.store().SetNextRun(ctx, ref.src.ID, at)
}

// runError is a run's failure as the source's health shows it (to admins,
// never on /readyz): the whole error, as the client reported it (status,
// WorkOS's message, request id; never a secret).
func runError(err error) string { return err.Error() }
