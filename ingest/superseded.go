package ingest

import (
	"context"
	"time"

	"muster/schema"
	"muster/store"
)

// Superseded records a drop that never reaches the pipeline: a file its
// sender replaced (or removed) before it was taken, such as an SFTP upload
// overwritten within the same session. d names it (Org, Source, Name and
// ContentHash); nothing is read or applied. The report says why.
func (in *Ingester) Superseded(ctx context.Context, d Drop, reason string, by string) (*Report, error) {
	start := time.Now()
	if d.Org == "" {
		d.Org = schema.DefaultOrg
	}
	org, src, _, err := in.resolve(ctx, d.Org, d.Source, false)
	if err != nil {
		return nil, err
	}
	drop := store.Drop{OrgID: org.ID, SourceID: src.ID, Kind: store.DropKindFile, Name: d.Name,
		ContentHash: d.ContentHash, BaseSeq: src.Seq}
	if err := in.Store.CreateDrop(ctx, &drop); err != nil {
		return nil, err
	}
	rep := &Report{DropID: drop.ID, Org: d.Org, Source: src.Name, Name: d.Name, Mode: string(src.Mode),
		ContentHash: d.ContentHash, Decision: Superseded, Reason: reason, Started: start.UTC()}
	rep.Timings.TotalMS = time.Since(start).Milliseconds()
	if err := in.Store.DecideDrop(ctx, org.ID, drop.ID, store.DropSuperseded, rep.JSON(), by); err != nil {
		return nil, err
	}
	in.notify(OpIngest, rep, start)
	return rep, nil
}
