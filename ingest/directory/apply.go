package directory

import (
	"context"
	"fmt"
	"time"

	"muster/ingest"
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
	// (schema.Record.SourceID) first, so an email change moves them.
	Edits []ingest.Edit
	// InTx, if set, runs in the transaction that applies the batch, just
	// before it commits: what the producer records about the batch (the
	// events applied, a feed's cursor) commits with it or not at all.
	InTx func(*store.Tx) error
}

// Result is what became of a batch.
type Result struct {
	// Report is the batch's drop: Decision Applied (committed), Held (it
	// crossed the source's removal guard: held for an admin with its diff)
	// or Rejected. Nil when the batch was empty or Queued.
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

// Apply applies a batch of edits to the leased source as one delta drop
// and returns what became of it once that is committed. An empty batch
// applies nothing (InTx does not run) and returns an empty Result.
func (l *Lease) Apply(ctx context.Context, b Batch) (*Result, error) {
	if l.released.Load() {
		return nil, fmt.Errorf("directory: apply to %s with a released lease", l.s.Key())
	}
	s := l.s
	if len(b.Edits) == 0 {
		return &Result{}, nil
	}
	rep, err := s.e.Ingester.ApplyEdits(ctx, ingest.Edits{Org: s.org, Source: s.cfg, Name: b.Name, Edits: b.Edits, InTx: b.InTx},
		ingest.Options{By: b.By})
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", s.Key(), err)
	}
	s.setStatus(func(st *RunStatus) { st.LastEvents = time.Now() })
	c := rep.Counts
	log := s.e.Logger.With("source", s.Key(), "drop", rep.DropID, "decision", rep.Decision, "edits", c.Rows,
		"added", c.Added, "updated", c.Updated, "removed", c.Removed, "suppressed", c.Suppressed, "invalid", c.Invalid, "via", b.By)
	if rep.Decision != ingest.Applied {
		log.Warn(string(s.cfg.Kind)+" edits not applied", "reason", rep.Reason)
	} else {
		log.Info(string(s.cfg.Kind) + " edits applied")
	}
	return &Result{Report: rep}, nil
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

// Withdraw withdraws every assertion of the leased source (its directory
// was deleted), without offboarding anyone: a deleted directory no longer
// says anything about its people, which is not the same as saying they
// left. A source that never had a drop has nothing to withdraw.
func (l *Lease) Withdraw(ctx context.Context, why, by string) (*ingest.Report, error) {
	s := l.s
	rep, err := s.e.Ingester.WithdrawSource(ctx, s.org, s.cfg.Name, why, ingest.Options{By: by})
	if err != nil {
		return nil, err
	}
	s.e.Logger.Warn(string(s.cfg.Kind)+" directory deleted: the source's assertions are withdrawn", "source", s.Key(),
		"drop", rep.DropID, "removed", rep.Counts.Removed)
	return rep, nil
}
