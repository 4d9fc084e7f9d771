package directory

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// Batch is a batch of edits of one source: what a producer received
// between pulls (a poll of WorkOS events, a webhook, a SCIM request).
type Batch struct {
	// Name says what the batch is, for people ("workos events (3)",
	// "scim PATCH /Users/2819c223").
	Name string
	// By says who sent it ("workos events", "scim:okta"), kept with the drop.
	By string
	// Edits are applied in order, folded over what the source lists now:
	// upserts (a record with Groups nil keeps the groups the source lists
	// for the person), deactivations (an upsert of an inactive record),
	// deletions (ingest.EditOffboard), group membership, renamed and deleted
	// groups. A person is found by their directory user id
	// (schema.Record.SourceID) first, so an email change moves them. An
	// edit whose record is invalid is skipped with a warning.
	Edits []ingest.Edit
	// InTx, if set, runs in the transaction that commits the batch, whatever
	// became of it (applied, held, queued), just before it commits: what
	// the producer records about the batch (the events applied, a feed's
	// cursor, its own resources) commits with it or not at all.
	InTx func(*store.Tx) error
}

// Result is what became of a batch.
type Result struct {
	// Report is the batch's drop: Decision Applied (committed), or Held (it
	// crossed the source's removal guard: held for an admin with its diff).
	// Nil when the batch was empty or Queued.
	Report *ingest.Report
	// Queued: the source has a held drop, and the batch waits behind it
	// (recorded, applied in order once the held drop is decided).
	Queued bool
	// Behind is the held drop a queued batch waits behind.
	Behind int64
}

// Decision is the report's decision, or "queued", or "" for an empty batch.
func (r *Result) Decision() string {
	switch {
	case r == nil:
		return ""
	case r.Queued:
		return "queued"
	case r.Report == nil:
		return ""
	}
	return string(r.Report.Decision)
}

// Apply commits a batch of edits of the leased source and returns what
// became of it:
//
//   - while the source has a held drop (a batch or a pull an admin must
//     decide), the batch is queued behind it, and applied in order once it
//     is decided (Engine.Settle), so nothing of a source applies out of
//     order;
//   - otherwise the batches queued before it are applied first, then it is
//     applied as one delta drop, or held with its diff when its removals,
//     with those of the source's batches applied over the engine's Window,
//     cross the source's max_remove_percent or max_remove_count.
//
// Everything is committed when Apply returns. An empty batch does nothing
// (InTx does not run) and returns an empty Result.
func (l *Lease) Apply(ctx context.Context, b Batch) (*Result, error) {
	if l.released.Load() {
		return nil, fmt.Errorf("directory: apply to %s with a released lease", l.s.Key())
	}
	if len(b.Edits) == 0 {
		return &Result{}, nil
	}
	s := l.s
	ref, err := s.ref(ctx)
	if err != nil {
		return nil, err
	}
	if ref.src.ID != 0 {
		held, err := l.drain(ctx, ref)
		if err != nil {
			return nil, err
		}
		if held != 0 {
			return l.enqueue(ctx, ref, b, held)
		}
	}
	inTx := b.InTx
	if !s.pulled && ref.src.ID != 0 {
		// A pushed source's health is its batches' (a pulled one's is its
		// pulls').
		inTx = func(tx *store.Tx) error {
			if err := tx.RunSucceeded(ref.src.ID, tx.Clock()); err != nil {
				return err
			}
			if b.InTx != nil {
				return b.InTx(tx)
			}
			return nil
		}
	}
	rep, err := s.applyEdits(ctx, b.Name, b.By, b.Edits, inTx)
	if err != nil {
		if !s.pulled && ref.src.ID != 0 {
			if rerr := s.e.store().RunEnded(context.WithoutCancel(ctx), ref.src.ID, runError(err)); rerr != nil {
				s.e.Logger.Warn("cannot record the batch's failure", "source", s.Key(), "error", rerr)
			}
		}
		return nil, err
	}
	return &Result{Report: rep}, nil
}

// RecordFailure records that something pushed to the source failed before
// it became a batch (a request refused), so its health says failing until
// a batch succeeds.
func (s *Source) RecordFailure(ctx context.Context, cause error) error {
	ref, err := s.ref(ctx)
	if err != nil || ref.src.ID == 0 {
		return err
	}
	return s.e.store().RunEnded(ctx, ref.src.ID, runError(cause))
}

// Apply holds the source (waiting while a pull or another batch of it
// runs, as long as ctx allows) and applies the batch: Lease.Apply.
func (s *Source) Apply(ctx context.Context, b Batch) (*Result, error) {
	l, err := s.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer l.Release()
	return l.Apply(ctx, b)
}

// sourceRef is a source as the store knows it (ids 0 before its first drop).
type sourceRef struct {
	org store.Org
	src store.Source
}

func (s *Source) ref(ctx context.Context) (sourceRef, error) {
	st := s.e.store()
	org, err := st.LookupOrg(ctx, s.org)
	if schema.ErrorCodeOf(err) == schema.ENotFound {
		return sourceRef{}, nil
	}
	if err != nil {
		return sourceRef{}, err
	}
	src, err := st.LookupSource(ctx, org.ID, s.name)
	if schema.ErrorCodeOf(err) == schema.ENotFound {
		return sourceRef{org: org}, nil
	}
	return sourceRef{org: org, src: src}, err
}

// held returns the source's newest undecided held drop (0: none).
func (s *Source) held(ctx context.Context, ref sourceRef) (int64, error) {
	ds, _, err := s.e.store().Drops(ctx, ref.org.ID, store.DropFilter{SourceID: ref.src.ID, Status: store.DropHeld, Limit: 1})
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	return ds[0].ID, nil
}

// applyEdits applies a batch through the pipeline with the removal window.
func (s *Source) applyEdits(ctx context.Context, name, by string, edits []ingest.Edit, inTx func(*store.Tx) error) (*ingest.Report, error) {
	rep, err := s.e.Ingester.ApplyEdits(ctx, ingest.Edits{Org: s.org, Source: s.Config(), Name: name, Edits: edits, InTx: inTx,
		Window: s.e.window()}, ingest.Options{By: by})
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.Key(), err)
	}
	s.setStatus(func(st *RunStatus) { st.LastEvents = time.Now() })
	c := rep.Counts
	log := s.e.Logger.With("source", s.Key(), "drop", rep.DropID, "decision", rep.Decision, "edits", c.Rows,
		"added", c.Added, "updated", c.Updated, "removed", c.Removed, "suppressed", c.Suppressed, "invalid", c.Invalid, "via", by)
	switch rep.Decision {
	case ingest.Applied:
		log.Info(string(s.kind) + " edits applied")
	case ingest.Held:
		log.Warn(string(s.kind)+" edits held for an admin: later changes of the source wait behind them", "reason", rep.Reason)
	default:
		log.Warn(string(s.kind)+" edits not applied", "reason", rep.Reason)
	}
	return rep, nil
}

// enqueue records a batch to apply once the source's held drop is decided,
// with what its producer records about it.
func (l *Lease) enqueue(ctx context.Context, ref sourceRef, b Batch, held int64) (*Result, error) {
	s := l.s
	edits, err := json.Marshal(b.Edits)
	if err != nil {
		return nil, fmt.Errorf("queue a batch of %s: %w", s.Key(), err)
	}
	tx, err := s.e.store().Begin(ctx, ref.org.ID)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	q := store.QueuedBatch{SourceID: ref.src.ID, Name: b.Name, By: b.By, Edits: edits}
	if err := tx.Enqueue(&q); err != nil {
		return nil, err
	}
	if b.InTx != nil {
		if err := b.InTx(tx); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	s.e.Logger.Info(string(s.kind)+" edits queued behind a held drop", "source", s.Key(), "held", held, "edits", len(b.Edits),
		"via", b.By)
	return &Result{Queued: true, Behind: held}, nil
}

// drain applies the source's queued batches in order while it has no
// held drop, and returns the held drop that stops it (0: none, the queue
// is empty).
func (l *Lease) drain(ctx context.Context, ref sourceRef) (held int64, err error) {
	s := l.s
	st := s.e.store()
	for {
		if held, err = s.held(ctx, ref); err != nil || held != 0 {
			return held, err
		}
		queued, err := st.Queued(ctx, ref.src.ID)
		if err != nil || len(queued) == 0 {
			return 0, err
		}
		q := queued[0]
		var edits []ingest.Edit
		if err := json.Unmarshal(q.Edits, &edits); err != nil {
			return 0, fmt.Errorf("queued batch %d of %s: %w", q.ID, s.Key(), err)
		}
		if _, err := s.applyEdits(ctx, q.Name, q.By, edits, func(tx *store.Tx) error { return tx.Dequeue(q.ID) }); err != nil {
			return 0, err
		}
	}
}

// supersede settles the source after a full pull read from start and
// recorded as drop id: the held drops before it are rejected (the pull says
// what they said, as of later), the batches queued before start forgotten
// (the pull includes them), and the batches queued after applied unless
// the pull itself is held.
func (l *Lease) supersede(ctx context.Context, id int64, start time.Time) error {
	s := l.s
	ref, err := s.ref(ctx)
	if err != nil || ref.src.ID == 0 {
		return err
	}
	ds, _, err := s.e.store().Drops(ctx, ref.org.ID, store.DropFilter{SourceID: ref.src.ID, Status: store.DropHeld, Before: id, Limit: 100})
	if err != nil {
		return err
	}
	for _, d := range ds {
		why := fmt.Sprintf("superseded by drop %d, a full pull of the source read after it", id)
		if _, err := s.e.Ingester.Reject(ctx, s.org, d.ID, why, ingest.Options{By: string(s.kind)}); err != nil &&
			schema.ErrorCodeOf(err) != schema.EConflict {
			return err
		}
		s.e.Logger.Info("held drop superseded by a full pull", "source", s.Key(), "held", d.ID, "pull", id)
	}
	n, err := s.e.store().DropQueuedBefore(ctx, ref.src.ID, start)
	if err != nil {
		return err
	}
	if n > 0 {
		s.e.Logger.Info("queued edits superseded by a full pull", "source", s.Key(), "batches", n, "pull", id)
	}
	_, err = l.drain(ctx, ref)
	return err
}

// Withdraw withdraws every assertion of the leased source (its directory
// was deleted), without offboarding anyone: a deleted directory no longer
// says anything about its people, which is not the same as saying they
// left. Over the source's guard it is held for an admin (the source's
// later batches then wait behind it). A source that never had a drop has
// nothing to withdraw.
func (l *Lease) Withdraw(ctx context.Context, why, by string) (*ingest.Report, error) {
	s := l.s
	rep, err := s.e.Ingester.WithdrawSource(ctx, s.org, s.name, why, ingest.Options{By: by})
	if err != nil {
		return nil, err
	}
	if rep.Decision == ingest.Held {
		s.e.Logger.Warn(string(s.kind)+" directory deleted: withdrawing the source's assertions is held for an admin",
			"source", s.Key(), "drop", rep.DropID, "reason", rep.Reason)
		return rep, nil
	}
	s.e.Logger.Warn(string(s.kind)+" directory deleted: the source's assertions are withdrawn", "source", s.Key(),
		"drop", rep.DropID, "removed", rep.Counts.Removed)
	return rep, nil
}
