package ingest

import (
	"context"
	"strings"

	"muster/schema"
	"muster/store"
)

// RebuildReport says what a rebuild of an organisation's recipients found.
type RebuildReport struct {
	Org string `json:"org"`
	// Checked counts the people derived again: every recipient and everyone
	// a source lists.
	Checked int64 `json:"checked"`
	// Differed counts stored recipients that were not what the sources'
	// snapshots and the suppressions make them (missing ones included);
	// they were repaired unless DryRun.
	Differed int64 `json:"differed"`
	// Sample names the first of them.
	Sample []string `json:"sample,omitempty"`
	DryRun bool     `json:"dry_run,omitempty"`
}

// rebuildChunk bounds how many people one transaction derives, so drops
// waiting for the write lock wait for a chunk, not for the whole audience.
const rebuildChunk = 2000

// Rebuild derives every recipient of an organisation again from all its
// sources' current snapshots and its suppressions, the way an apply derives
// the people it touches (no source changes, so nobody is offboarded or
// reinstated), compares each with the stored recipient and repairs those
// that differ. Nightly reconciliation runs it: a difference means a bug or
// a hand edit of the store, and is reported.
func (in *Ingester) Rebuild(ctx context.Context, orgName string, opt Options) (*RebuildReport, error) {
	rep := &RebuildReport{Org: orgName, DryRun: opt.DryRun}
	org, err := in.Store.LookupOrg(ctx, orgName)
	if schema.ErrorCodeOf(err) == schema.ENotFound {
		return rep, nil
	}
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var keys []string
	add := func(k string) {
		if !seen[k] {
			k = strings.Clone(k)
			seen[k] = true
			keys = append(keys, k)
		}
	}
	err = in.Store.EachRecipient(ctx, org.ID, store.RecipientFilter{}, 0, func(r store.Recipient) error { add(r.Key); return nil })
	if err != nil {
		return nil, err
	}
	srcs, err := in.Store.Sources(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	for _, s := range srcs {
		if err := in.Store.SnapshotHashes(ctx, s.ID, func(k string, _ uint64, _ schema.Status) { add(k) }); err != nil {
			return nil, err
		}
	}
	seen = nil
	keys = sortedKeys(keys)
	for len(keys) > 0 {
		n := min(len(keys), rebuildChunk)
		if err := in.rebuildChunk(ctx, org.ID, keys[:n], rep, opt); err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	return rep, nil
}

func (in *Ingester) rebuildChunk(ctx context.Context, orgID int64, keys []string, rep *RebuildReport, opt Options) error {
	tx, err := in.Store.Begin(ctx, orgID)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	a, err := rederiver(tx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		before, existed, err := tx.Recipient(k)
		if err != nil {
			return err
		}
		after, err := a.rederive(k)
		if err != nil {
			return err
		}
		rep.Checked++
		if existed && sameRecipient(&before, &after) {
			continue
		}
		rep.Differed++
		if len(rep.Sample) < MaxSample {
			rep.Sample = append(rep.Sample, k)
		}
	}
	if opt.DryRun {
		return nil
	}
	return tx.Commit()
}

// Upgrade derives again the recipients of the organisations a migration
// asked for (the rules changed: store.PendingRebuilds), each then cleared.
// Every process that opens a store runs it; it costs one query when there
// is nothing to do. The reports say what differed (the old rules' results
// that the new ones correct).
func (in *Ingester) Upgrade(ctx context.Context) ([]*RebuildReport, error) {
	ids, err := in.Store.PendingRebuilds(ctx)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	orgs, err := in.Store.Orgs(ctx)
	if err != nil {
		return nil, err
	}
	var out []*RebuildReport
	for _, id := range ids {
		for _, o := range orgs {
			if o.ID != id {
				continue
			}
			rep, err := in.Rebuild(ctx, o.Name, Options{By: "upgrade"})
			if err != nil {
				return out, err
			}
			out = append(out, rep)
			in.logger().Info("recipients derived again under the current merge rules", "org", o.Name,
				"checked", rep.Checked, "differed", rep.Differed, "sample", rep.Sample)
		}
		if err := in.Store.RebuildDone(ctx, id); err != nil {
			return out, err
		}
	}
	return out, nil
}
