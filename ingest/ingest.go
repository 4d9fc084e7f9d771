package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"muster/schema"
	"muster/store"
)

// Drop is one batch of records from a source, whatever produced it: a
// decoded file, a WorkOS pull, an admin's edit. The pipeline never sees a
// path.
type Drop struct {
	// Org names the organisation; "" is schema.DefaultOrg.
	Org    string
	Source SourceConfig
	// Name says what the drop is, for people: a file name, "workos pull".
	Name string
	// Kind is one of the store.DropKind values; "" is store.DropKindFile.
	Kind string
	// ContentHash identifies the content (the file's SHA-256). When empty
	// (and Hash is nil) the pipeline hashes the records, so a stream can be
	// a duplicate too.
	ContentHash string
	// Hash, if set, gives ContentHash, still being computed when the drop
	// starts (OpenFile hashes the file while the pipeline reads it).
	Hash func() (string, error)
	// Delta says the records are explicit upserts and removals (a file with
	// an action column). A source configured as delta is always one.
	Delta bool
	// Records yields the records. Nil when the file could not be decoded at
	// all: FileProblems then say why and the drop is rejected.
	Records schema.Stream
	// FileProblems are problems about the whole file found by the decoder.
	FileProblems []schema.Problem
	// FileInfo is the decoder's description of the file, kept in the report.
	FileInfo json.RawMessage
	// Size, when known (not 0), is how many bytes Records reads (a file's):
	// the diff of a small drop is sorted in memory.
	Size int64
	// Info, if set, is called once the records are read: the decoder's
	// final description of the file, whose problems (file-level warnings)
	// join the report.
	Info func() schema.FileInfo
	// ReadFrom is when the source's state the records describe was read
	// (a pull's start); zero is when the drop arrived. A full snapshot
	// applied or found unchanged restarts the source's removal window
	// there (Edits.Window).
	ReadFrom time.Time
}

// Options change how a drop or an operation runs.
type Options struct {
	// DryRun computes the full report and writes nothing.
	DryRun bool
	// By says who asked (an admin, "sftp:acme", "workos"), kept with
	// decisions.
	By string
}

// Progress is reported during long drops.
type Progress struct {
	// Phase is "read" (decoding and diffing) or "apply".
	Phase string
	// Done counts rows read or changes applied; Total is the number of
	// changes to apply (0 while reading: the caller knows the file size).
	Done, Total int64
}

// Ingester runs drops through the pipeline into a store. Its fields may be
// set before the first call; it is safe for concurrent use (the store
// serialises applies).
type Ingester struct {
	Store *store.Store
	// TempDir holds a drop's computed diff while the guards decide; "" is
	// the system's temporary directory.
	TempDir string
	Logger  *slog.Logger
	// Progress, if set, is called every 65536 rows or changes.
	Progress func(Progress)
	// Hook, if set, is called at named points of an apply ("apply-begin",
	// "apply-half", "apply-commit", "apply-done"; "replace-diffed" (a
	// rollback or removal computed, not yet applied); and "approve-checked"
	// once Approve has read the held drop, before its apply): crash and
	// race tests stop the process there.
	Hook func(point string)

	// Observe, if set, is told the outcome of every operation that wrote a
	// drop's decision (see Outcome): metrics count them.
	Observe func(Outcome)

	// applyFunc, if set, replaces applier.apply (tests compare the batched
	// apply with one change at a time); batch, if set, replaces the batch size
	// (applyBatch, applyBatchRead).
	applyFunc func(a *applier, cs []store.Change) error
	batch     int
	// spillLimit, if set, bounds a diff's in-memory chunk (tests make it
	// small so the external merge runs).
	spillLimit int
	// knownRows counts the rows diffs knew by their digest, unread (tests).
	knownRows atomic.Int64
}

// New returns an Ingester over a store.
func New(st *store.Store) *Ingester {
	return &Ingester{Store: st, Logger: slog.New(slog.DiscardHandler)}
}

func (in *Ingester) progress(phase string, done, total int64) {
	if in.Progress != nil {
		in.Progress(Progress{Phase: phase, Done: done, Total: total})
	}
}

func (in *Ingester) hook(point string) {
	if in.Hook != nil {
		in.Hook(point)
	}
}

func (in *Ingester) logger() *slog.Logger {
	if in.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return in.Logger
}

// resolve finds (or, unless dry-running, creates) the organisation and the
// source, and returns the source's settings before this call (zero for a
// new source). A dry run of a source not known yet diffs against nothing.
func (in *Ingester) resolve(ctx context.Context, orgName string, cfg SourceConfig, dry bool) (store.Org, store.Source, store.SourceConfig, error) {
	var prev store.SourceConfig
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return store.Org{}, store.Source{}, prev, err
	}
	if dry {
		org, err := in.Store.LookupOrg(ctx, orgName)
		if schema.ErrorCodeOf(err) == schema.ENotFound {
			return store.Org{Name: orgName}, store.Source{SourceConfig: cfg}, prev, nil
		}
		if err != nil {
			return org, store.Source{}, prev, err
		}
		src, err := in.Store.LookupSource(ctx, org.ID, cfg.Name)
		if schema.ErrorCodeOf(err) == schema.ENotFound {
			return org, store.Source{SourceConfig: cfg, OrgID: org.ID}, prev, nil
		}
		if err == nil {
			prev, src.SourceConfig = src.SourceConfig, cfg
		}
		return org, src, prev, err
	}
	org, err := in.Store.EnsureOrg(ctx, orgName)
	if err != nil {
		return org, store.Source{}, prev, err
	}
	src, prev, err := in.Store.EnsureSource(ctx, org.ID, cfg)
	if err != nil {
		return org, src, prev, err
	}
	if prev.Name == "" {
		return org, src, prev, nil
	}
	if prev.Attrs&^src.Attrs != 0 {
		// Attributes no longer allowed: their values must not stay stored.
		if err := in.scrubSource(ctx, org.ID, src); err != nil {
			return org, src, prev, err
		}
	}
	if prev.Priority != src.Priority || prev.Authoritative != src.Authoritative || prev.Attrs != src.Attrs {
		if err := in.rederiveSource(ctx, org.ID, src); err != nil {
			return org, src, prev, err
		}
	}
	return org, src, prev, nil
}

// diffOutcome is a diff run on its own goroutine.
type diffOutcome struct {
	res *diffResult
	err error
}

// runDrop is Ingest without telling Observe (observe.go).
func (in *Ingester) runDrop(ctx context.Context, d Drop, opt Options) (*Report, error) {
	start := time.Now()
	if d.Org == "" {
		d.Org = schema.DefaultOrg
	}
	if d.Kind == "" {
		d.Kind = store.DropKindFile
	}
	cfg := d.Source.WithDefaults()
	org, src, prev, err := in.resolve(ctx, d.Org, cfg, opt.DryRun)
	if err != nil {
		return nil, err
	}
	// Attributes enabled by this drop have values in content seen before,
	// not stored yet: that content is not a duplicate now.
	widened := prev.Name != "" && src.Attrs&^prev.Attrs != 0
	delta := d.Delta || src.Mode == store.ModeDelta
	rep := &Report{Org: d.Org, Source: src.Name, Name: d.Name, Mode: string(store.ModeFull), ContentHash: d.ContentHash,
		Started: start.UTC(), File: d.FileInfo, DryRun: opt.DryRun, readFrom: d.ReadFrom}
	if rep.readFrom.IsZero() {
		rep.readFrom = start
	}
	if delta {
		rep.Mode = string(store.ModeDelta)
	}
	for _, p := range d.FileProblems {
		rep.addProblem(p)
	}
	// A file whose hash is still being computed is read and diffed
	// meanwhile (the diff writes nothing); the drop is recorded, and found a
	// duplicate or not, once the hash is known.
	// The diff's counts and problems are not those of a drop decided
	// without it.
	before, problems := rep.Counts, len(rep.Problems)
	var early chan diffOutcome
	stopEarly := func() {}
	if d.Hash != nil {
		if d.Records != nil {
			early = make(chan diffOutcome, 1)
			dctx, cancel := context.WithCancel(ctx)
			defer cancel()
			dd := d // the diff's copy: ContentHash is set below
			go func() {
				res, err := in.diff(dctx, src, delta, &dd, rep)
				early <- diffOutcome{res, err}
			}()
			stopEarly = func() {
				cancel()
				if o := <-early; o.res != nil {
					o.res.spill.Close()
					o.res.base.Close()
				}
				early = nil
			}
		}
		h, err := d.Hash()
		if err != nil {
			stopEarly()
			return nil, err
		}
		d.ContentHash, rep.ContentHash = h, h
	}
	notDiffed := func() {
		stopEarly()
		rep.Counts, rep.Problems, rep.ProblemsOmitted = before, rep.Problems[:problems], 0
	}
	drop := store.Drop{OrgID: org.ID, SourceID: src.ID, Kind: d.Kind, Name: d.Name, ContentHash: d.ContentHash, BaseSeq: src.Seq}
	if !opt.DryRun {
		if err := in.Store.CreateDrop(ctx, &drop); err != nil {
			stopEarly()
			return nil, err
		}
		rep.DropID = drop.ID
	}
	finish := func() { rep.Timings.TotalMS = time.Since(start).Milliseconds() }
	if d.Records == nil {
		rep.Decision, rep.Reason = Rejected, "the file could not be read"
		finish()
		return rep, in.decide(ctx, &drop, rep, opt)
	}
	if dup, ok, err := in.duplicateOf(ctx, src, d.ContentHash, widened); err != nil {
		stopEarly()
		return nil, err
	} else if ok {
		notDiffed()
		rep.Decision, rep.DuplicateOf = Duplicate, dup.ID
		rep.Reason = fmt.Sprintf("same content as drop %d (%s)", dup.ID, dup.Status)
		finish()
		return rep, in.decide(ctx, &drop, rep, opt)
	}
	var res *diffResult
	if early != nil {
		o := <-early
		res, err = o.res, o.err
	} else {
		res, err = in.diff(ctx, src, delta, &d, rep)
	}
	if err != nil {
		if (ctx.Err() != nil || errors.Is(err, context.Canceled)) && d.Kind != store.DropKindFile && !opt.DryRun {
			// A stream (a WorkOS pull) stopped by the caller is never
			// resumed: its record is closed now, saying so, and the next
			// pull starts afresh. A file's drop stays "received" instead,
			// for the watcher to redo the file and close it then.
			rep.Decision, rep.Reason = Rejected, "interrupted: muster stopped while reading it; nothing from it is used"
			rep.Interrupted, rep.Counts = true, Counts{Rows: rep.Counts.Rows}
			finish()
			if derr := in.decide(context.WithoutCancel(ctx), &drop, rep, opt); derr != nil {
				return nil, derr
			}
			return rep, nil
		}
		if d.Kind != store.DropKindFile && !opt.DryRun {
			// A stream (a pull) that failed part-way is not a bad file: it
			// is an interrupted pull, and nothing of it is applied (its
			// counts are of what was read, nothing more).
			rep.Decision, rep.Interrupted = Rejected, true
			rep.Reason = fmt.Sprintf("interrupted: the pull failed after %d records; nothing from it is used: %s",
				rep.Counts.Rows, schema.ErrorMessageOf(err))
			rep.Counts = Counts{Rows: rep.Counts.Rows}
			rep.addProblem(schema.Problem{Code: "interrupted", Severity: schema.SeverityError, Message: err.Error()})
			finish()
			return rep, in.decide(context.WithoutCancel(ctx), &drop, rep, opt)
		}
		if schema.ErrorCodeOf(err) == schema.EInvalid {
			rep.Decision, rep.Reason = Rejected, "the file broke part-way: nothing from it is used"
			var fe *schema.FileError
			if errors.As(err, &fe) {
				rep.File, _ = json.Marshal(fe.Info.Capped(MaxProblems))
				for _, p := range fe.Problems {
					rep.addProblem(p)
				}
			} else {
				rep.addProblem(schema.Problem{Code: "unreadable", Severity: schema.SeverityError, Message: err.Error()})
			}
			finish()
			return rep, in.decide(ctx, &drop, rep, opt)
		}
		in.abandon(&drop, err)
		return nil, err
	}
	defer res.spill.Close()
	defer res.base.Close()
	rep.Timings.ReadMS = time.Since(start).Milliseconds()
	if d.Info != nil {
		info := d.Info()
		for _, p := range info.Problems {
			rep.addProblem(p)
		}
		// The decoder left repeated addresses to the pipeline.
		info.Invalid += int(res.dupsOfValid + res.lazyInvalid)
		rep.File, _ = json.Marshal(info.Capped(MaxProblems))
	}
	if d.ContentHash == "" {
		rep.ContentHash, drop.ContentHash = res.recordsHash, res.recordsHash
		if !opt.DryRun {
			if err := in.Store.SetDropHash(ctx, drop.ID, drop.ContentHash); err != nil {
				return nil, err
			}
		}
		if dup, ok, err := in.duplicateOf(ctx, src, res.recordsHash, widened); err != nil {
			return nil, err
		} else if ok {
			rep.Decision, rep.DuplicateOf = Duplicate, dup.ID
			rep.Reason = fmt.Sprintf("same content as drop %d (%s)", dup.ID, dup.Status)
			rep.Counts = Counts{Rows: rep.Counts.Rows, Unchanged: rep.Counts.Rows}
			finish()
			return rep, in.decide(ctx, &drop, rep, opt)
		}
	}
	guard(rep, res, src, delta)
	if opt.DryRun {
		sample(rep, res.spill)
		finish()
		return rep, nil
	}
	switch rep.Decision {
	case Applied:
		// Finished before the apply reads the changes on two goroutines
		// (applyDropWith).
		if err = res.spill.finish(); err != nil {
			break
		}
		err = in.applyDropWith(ctx, &drop, src, rep, res.spill.each, int64(res.spill.Len()), opt, res.base, func(a *applier) {
			if !delta {
				a.inTx = func(tx *store.Tx) error { return tx.RestartWindow(src.ID, drop.ID, rep.readFrom, true) }
			}
		})
	case Held:
		sample(rep, res.spill)
		finish()
		err = in.Store.HoldDrop(ctx, drop.ID, src.Seq, rep.JSON(), func(yield func(store.Change) error) error {
			return res.spill.each(yield)
		})
	default:
		finish()
		err = in.decide(ctx, &drop, rep, opt)
	}
	if err != nil {
		in.abandon(&drop, err)
		return nil, err
	}
	in.logger().Info("drop", "drop", drop.ID, "source", src.Name, "decision", rep.Decision,
		"rows", rep.Counts.Rows, "added", rep.Counts.Added, "updated", rep.Counts.Updated,
		"removed", rep.Counts.Removed, "invalid", rep.Counts.Invalid, "ms", rep.Timings.TotalMS)
	return rep, nil
}

// abandon records a drop the pipeline failed on as rejected, so it does not
// stay "received" forever; the failure itself is returned to the caller.
func (in *Ingester) abandon(d *store.Drop, cause error) {
	if d.ID == 0 || errors.Is(cause, context.Canceled) {
		return
	}
	rep := &Report{Decision: Rejected, Reason: "failed: " + schema.ErrorMessageOf(cause)}
	_ = in.Store.DecideDrop(context.Background(), d.OrgID, d.ID, store.DropRejected, rep.JSON(), "")
}

func (in *Ingester) duplicateOf(ctx context.Context, src store.Source, hash string, widened bool) (store.Drop, bool, error) {
	if hash == "" || src.ID == 0 || widened {
		return store.Drop{}, false, nil
	}
	return in.Store.FindDuplicate(ctx, src, hash)
}

// decide records an outcome where nothing is applied.
func (in *Ingester) decide(ctx context.Context, d *store.Drop, rep *Report, opt Options) error {
	if opt.DryRun || d.ID == 0 {
		return nil
	}
	st := store.DropRejected
	if rep.Decision == Duplicate {
		st = store.DropDuplicate
	}
	if err := in.Store.DecideDrop(ctx, d.OrgID, d.ID, st, rep.JSON(), opt.By); err != nil {
		return err
	}
	if rep.Decision == Duplicate && rep.Mode == string(store.ModeFull) && d.SourceID != 0 {
		// A full snapshot found unchanged confirms the source's state.
		return in.Store.RestartWindow(ctx, d.SourceID, d.ID, rep.readFrom, true)
	}
	return nil
}

// guard decides a drop from its diff (README: Design, safety rules).
func guard(rep *Report, res *diffResult, src store.Source, delta bool) {
	c := &rep.Counts
	rep.Decision = Applied
	if !delta && c.Rows == 0 {
		rep.Decision = Held
		rep.Reason = "the drop has no rows (an empty or header-only file)"
		if src.Rows > 0 {
			rep.Reason += fmt.Sprintf(": as a full snapshot it would remove all %d people of source %s", src.Rows, src.Name)
		}
		return
	}
	if src.MaxInvalidPercent >= 0 && c.Rows > 0 && float64(c.Invalid)*100 > src.MaxInvalidPercent*float64(c.Rows) {
		rep.Decision = Rejected
		rep.Reason = fmt.Sprintf("%d of %d rows (%.1f%%) are invalid, over the %g%% limit", c.Invalid, c.Rows,
			float64(c.Invalid)*100/float64(c.Rows), src.MaxInvalidPercent)
		return
	}
	if delta || src.Rows == 0 {
		return
	}
	removing := c.Removed + res.deactivated
	if why := overRemovalGuard(src, removing); why != "" {
		rep.Decision, rep.Reason = Held, why
		return
	}
	switch {
	case res.unidentified > 0 && c.Removed > 0:
		rep.Decision = Held
		rep.Reason = fmt.Sprintf("%d invalid rows name nobody (no readable email or id), and it would remove %d people one of them may describe",
			res.unidentified, c.Removed)
	}
}

// overRemovalGuard says why removing that many of the source's people is
// over its guard ("" when it is not): whatever carries the removal (a full
// drop, a source's removal).
func overRemovalGuard(src store.Source, removing int64) string {
	switch {
	case src.Rows == 0:
	case src.MaxRemoveCount >= 0 && removing > int64(src.MaxRemoveCount):
		return fmt.Sprintf("it would remove %d of %d people, over the limit of %d", removing, src.Rows, src.MaxRemoveCount)
	case src.MaxRemovePercent >= 0 && float64(removing)*100 > src.MaxRemovePercent*float64(src.Rows):
		return fmt.Sprintf("it would remove %d of %d people (%.1f%%), over the %g%% limit", removing, src.Rows,
			float64(removing)*100/float64(src.Rows), src.MaxRemovePercent)
	}
	return ""
}

// sample fills the report's sample of changes from the spill (key order).
func sample(rep *Report, sp *spill) {
	errStop := errors.New("stop")
	_ = sp.each(func(c store.Change) error {
		if len(rep.Sample) >= MaxSample {
			return errStop
		}
		rep.addSample(c.Op, c.Key, c.Line)
		return nil
	})
}

// applyDrop applies a drop's changes in one transaction with its outcome.
// base, if set, is the snapshot the changes were computed against: the
// source must still hold exactly it.
func (in *Ingester) applyDrop(ctx context.Context, d *store.Drop, src store.Source, rep *Report,
	each func(func(store.Change) error) error, total int64, opt Options, withdrawOnly bool, base *store.SnapshotIndex) error {
	return in.applyDropWith(ctx, d, src, rep, each, total, opt, base, func(a *applier) { a.withdrawOnly = withdrawOnly })
}

// applyDropWith is applyDrop with the applier's settings made by setup.
// With a base, each may run on two goroutines at once (the apply's reading
// and the snapshot index's), and the base may be closed before it returns
// (a next day's: closing it again is harmless).
func (in *Ingester) applyDropWith(ctx context.Context, d *store.Drop, src store.Source, rep *Report,
	each func(func(store.Change) error) error, total int64, opt Options, base *store.SnapshotIndex, setup func(*applier)) error {
	applyStart := time.Now()
	tx, err := in.Store.Begin(ctx, d.OrgID)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	in.hook("apply-begin")
	cur, err := tx.Source(src.ID)
	if err != nil {
		return err
	}
	// The snapshot token also changes when the source's rows are rewritten
	// without a new seq (an allowlist narrowed scrubs them): a drop
	// computed from an index, or a rollback read from the stored rows, is
	// stale then too.
	token, checkToken := src.SnapshotToken, d.Kind == store.DropKindRollback
	if base != nil {
		token, checkToken = base.Token, true
	}
	if cur.Seq != d.BaseSeq || checkToken && cur.SnapshotToken != token {
		if d.ID == 0 {
			return schema.Errorf(schema.EConflict, "source %s changed while the %s was computed (another drop was applied, "+
				"or its allowlist changed): run it again", src.Name, d.Name)
		}
		return schema.Errorf(schema.EConflict,
			"source %s changed while drop %d was computed (another drop was applied): ingest it again", src.Name, d.ID)
	}
	if d.ID == 0 {
		// An operation's own drop (a rollback, a removal, a batch of
		// directory events) is recorded with its change: a crash leaves
		// either both or neither, never a drop "received" forever.
		if err := tx.CreateDrop(d); err != nil {
			return err
		}
		rep.DropID = d.ID
	}
	seq, err := tx.NextSeq()
	if err != nil {
		return err
	}
	a, err := newApplier(tx, cur, seq, d.ID, &rep.Counts)
	if err != nil {
		return err
	}
	setup(a)
	var ix *indexUpdate
	if !a.noIndex {
		ix = in.indexWriter(cur, base)
		defer ix.abort()
	}
	// A drop diffed against the index file that changes at most half of
	// the source's rows (a next day) gives the index its changes ahead of
	// the apply (a second reading of the changes, a small part of the
	// rows), so the new file is written beside the apply's SQLite work
	// instead of after it. A first ingest's changes are all its rows: they
	// are read once, and the file written beside the transaction's commit
	// (indexUpdate.begin).
	//
	// That reading runs on a goroutine of its own, beside the apply's (the
	// index's key checks read the base's file: ~25 ms at a million rows
	// with 2% churn), and the apply waits for it before the commit only.
	early := ix != nil && base != nil && 2*total <= cur.Rows
	waitIndex := func() error { return nil }
	if early {
		indexed := make(chan error, 1)
		go func() {
			err := each(func(c store.Change) error { ix.add(c); return nil })
			if err == nil {
				ix.start()
			}
			indexed <- err
		}()
		waitIndex = func() error {
			if indexed == nil {
				return nil
			}
			err := <-indexed
			indexed = nil
			return err
		}
		defer waitIndex() // before ix.abort, deferred earlier
	}
	rows := cur.Rows
	var done int64
	size := applyBatch
	if !a.emptyOrg {
		size = applyBatchRead
	}
	if in.batch > 0 {
		size = in.batch
	}
	batch := make([]store.Change, 0, size)
	var keys batchKeys // a batch holds distinct people (see applier)
	half := false
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		apply := a.apply
		if in.applyFunc != nil {
			apply = func(cs []store.Change) error { return in.applyFunc(a, cs) }
		}
		if err := apply(batch); err != nil {
			return fmt.Errorf("apply changes from %s: %w", batch[0].Key, err)
		}
		before := done
		done += int64(len(batch))
		batch = batch[:0]
		keys.reset()
		if before>>16 != done>>16 {
			if err := ctx.Err(); err != nil {
				return err
			}
			in.progress("apply", done, total)
		}
		if !half && total/2 > 0 && done >= total/2 {
			half = true
			in.hook("apply-half")
		}
		return nil
	}
	err = prefetch(ctx, each)(func(c *store.Change) error {
		if keys.seen(c.Key, batch) {
			if err := flush(); err != nil {
				return err
			}
			keys.seen(c.Key, batch) // the first of the new batch
		}
		switch c.Op {
		case store.OpAdd:
			rows++
		case store.OpRemove:
			rows--
		}
		rep.addSample(c.Op, c.Key, c.Line)
		if !early {
			ix.add(*c)
		}
		batch = append(batch, *c)
		if len(batch) == size {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	rows += a.absent // removals that offboarded someone the source did not list
	if err := tx.SetSource(src.ID, seq, rows); err != nil {
		return err
	}
	if a.removeSource {
		if err := tx.MarkSourceRemoved(src.ID); err != nil {
			return err
		}
	}
	if a.inTx != nil {
		if err := a.inTx(tx); err != nil {
			return err
		}
	}
	if err := waitIndex(); err != nil {
		return err
	}
	rep.Decision, rep.Seq = Applied, seq
	rep.Timings.ApplyMS = time.Since(applyStart).Milliseconds()
	rep.Timings.TotalMS = time.Since(rep.Started).Milliseconds()
	ix.begin(tx, src.ID)
	d.Status, d.Seq, d.Report, d.DecidedBy = store.DropApplied, seq, rep.JSON(), opt.By
	if err := tx.FinishDrop(*d); err != nil {
		return err
	}
	// The early index file goes in place before the commit, and the
	// base's file it replaces is let go of beside the commit: the last
	// close of a replaced file frees its blocks (~30 ms for a million
	// rows' 75 MB, the file system discarding them), work for the core
	// the commit leaves idle. A commit that then fails leaves a file whose
	// snapshot token is not the source's: unused, the next diff reads the
	// store once (as after a crash between a commit and the rename).
	if early {
		ix.finish()
	}
	in.hook("apply-commit")
	released := make(chan struct{})
	if early {
		go func() {
			base.Close()
			close(released)
		}()
	} else {
		close(released)
	}
	err = tx.Commit()
	<-released
	if err != nil {
		return err
	}
	if !early {
		ix.finish()
	}
	in.hook("apply-done")
	return nil
}

// batchKeys tells whether a key is already in the batch being built.
// Changes mostly come in key order (a spill's): while a batch's keys
// increase, its last key is its greatest and a greater one is new to it,
// so no key is hashed; the first key out of order fills a set with the
// batch's keys, which answers from then on.
type batchKeys struct {
	disorder bool
	last     string
	set      map[string]bool
}

// seen reports whether k is among the keys of batch (the changes before
// this one since the last reset) and notes it as the next one.
func (b *batchKeys) seen(k string, batch []store.Change) bool {
	if !b.disorder {
		if len(batch) == 0 || k > b.last {
			b.last = k
			return false
		}
		b.disorder = true
		if b.set == nil {
			b.set = map[string]bool{}
		}
		for i := range batch {
			b.set[batch[i].Key] = true
		}
	}
	if b.set[k] {
		return true
	}
	b.set[k] = true
	return false
}

// reset starts a new batch.
func (b *batchKeys) reset() {
	if b.disorder {
		clear(b.set)
	}
	b.disorder, b.last = false, ""
}
