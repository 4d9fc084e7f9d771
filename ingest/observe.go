package ingest

import (
	"context"
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
		in.notify(OpIngest, rep, start)
	}
	return rep, err
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
