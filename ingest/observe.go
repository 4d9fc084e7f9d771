package ingest

import (
	"context"
	"fmt"
	"time"

	"muster/store"
)

// Op names an operation that decides a drop, for Outcome.
type Op string

// Operations told to Ingester.Observe.
const (
	OpIngest   Op = "ingest"   // a drop ran through the pipeline (any decision)
	OpApprove  Op = "approve"  // a held drop was approved and applied
	OpReject   Op = "reject"   // a held drop was rejected
	OpRollback Op = "rollback" // a source was rolled back (a new applied drop)
	OpRemove   Op = "remove"   // a source was removed (a new applied drop)
)

// Outcome is what Ingester.Observe is told once an operation's decision is
// recorded in the store. Dry runs and failed operations are not told.
type Outcome struct {
	Op     Op
	Report *Report
	// Duration is how long the operation took, from the call to the
	// recorded decision.
	Duration time.Duration
}

// Ingest runs one drop through the pipeline and returns its report. The
// drop is recorded before anything is computed; its outcome (applied, held
// with its diff, rejected, duplicate) is recorded with the report. An error
// is returned only when the pipeline itself failed; a refused drop is a
// report with Decision Rejected.
func (in *Ingester) Ingest(ctx context.Context, d Drop, opt Options) (*Report, error) {
	start := time.Now()
	rep, err := in.runDrop(ctx, d, opt)
	if err == nil && !opt.DryRun {
		if d.Kind == "" || d.Kind == store.DropKindFile {
			in.settleInterrupted(ctx, rep, opt.By)
		}
		in.notify(OpIngest, rep, start)
	}
	return rep, err
}

// settleInterrupted closes the drops of the same file that an earlier run
// recorded but never finished (muster stopped or crashed while applying
// them): the file has now been taken through again, as this drop, whether
// by the watcher or by `muster ingest`. (A drop of the same content still
// being computed by another process is closed too: its own outcome would
// have been this one's, and it then fails as decided meanwhile.)
func (in *Ingester) settleInterrupted(ctx context.Context, rep *Report, by string) {
	st := in.Store
	org, err := st.LookupOrg(ctx, rep.Org)
	if err != nil {
		return
	}
	src, err := st.LookupSource(ctx, org.ID, rep.Source)
	if err != nil {
		return
	}
	drops, _, err := st.Drops(ctx, org.ID, store.DropFilter{SourceID: src.ID, Status: store.DropReceived})
	if err != nil {
		in.logger().Warn("cannot list interrupted drops", "source", rep.Source, "err", err)
		return
	}
	for _, d := range drops {
		if d.ContentHash != rep.ContentHash || d.ID >= rep.DropID {
			continue
		}
		why := &Report{Org: rep.Org, Source: rep.Source, Name: d.Name, ContentHash: d.ContentHash, Decision: Rejected,
			Reason: fmt.Sprintf("interrupted: muster stopped while processing it; the file was taken again as drop %d", rep.DropID)}
		if err := st.DecideDrop(ctx, org.ID, d.ID, store.DropRejected, why.JSON(), by); err != nil {
			in.logger().Warn("cannot close interrupted drop", "drop", d.ID, "err", err)
			continue
		}
		rep.interrupted = append(rep.interrupted, d.ID)
	}
}

func (in *Ingester) notify(op Op, rep *Report, start time.Time) {
	if in.Observe != nil && rep != nil && !rep.DryRun {
		in.Observe(Outcome{Op: op, Report: rep, Duration: time.Since(start)})
	}
}

func opOfKind(kind string) Op {
	if kind == store.DropKindRemoval {
		return OpRemove
	}
	return OpRollback
}
