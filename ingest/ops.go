package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"muster/schema"
	"muster/store"
)

// lookup returns the organisation and source named, which must exist.
func (in *Ingester) lookup(ctx context.Context, orgName, source string) (store.Org, store.Source, error) {
	org, err := in.Store.LookupOrg(ctx, orgName)
	if err != nil {
		return org, store.Source{}, err
	}
	src, err := in.Store.LookupSource(ctx, org.ID, source)
	return org, src, err
}

// Approve applies a held drop's computed diff as it was reviewed. The
// source's snapshot must not have moved since the diff was computed: if
// another drop was applied meanwhile the diff no longer says what it would
// do, so approving is a conflict and the file must be ingested again (which
// computes a fresh diff, held or applied on its own merits).
func (in *Ingester) Approve(ctx context.Context, orgName string, dropID int64, opt Options) (*Report, error) {
	org, err := in.Store.LookupOrg(ctx, orgName)
	if err != nil {
		return nil, err
	}
	d, err := in.Store.Drop(ctx, org.ID, dropID)
	if err != nil {
		return nil, err
	}
	if d.Status != store.DropHeld {
		return nil, schema.Errorf(schema.EConflict, "drop %d is %s, not held", dropID, d.Status)
	}
	src, err := in.Store.SourceByID(ctx, org.ID, d.SourceID)
	if err != nil {
		return nil, err
	}
	if src.Seq != d.BaseSeq {
		return nil, schema.Errorf(schema.EConflict,
			"source %s has changed since drop %d was computed: ingest its file again for a fresh diff, or reject it", src.Name, dropID)
	}
	rep, err := ParseReport(d.Report)
	if err != nil {
		return nil, err
	}
	rep.Reason = fmt.Sprintf("held (%s), approved", rep.Reason)
	if opt.By != "" {
		rep.Reason += " by " + opt.By
	}
	if opt.DryRun {
		rep.DryRun, rep.Decision = true, Applied
		return rep, nil
	}
	rep.Sample, rep.Counts.Suppressed = nil, 0
	// Another process may decide the drop from here on: the apply re-checks
	// under the write lock.
	in.hook("approve-checked")
	start := time.Now()
	each := func(fn func(store.Change) error) error { return in.Store.HeldChanges(ctx, d.ID, fn) }
	setup := func(a *applier) {
		// The admin accepted these removals: the source's removal window
		// starts again from here.
		a.inTx = func(tx *store.Tx) error { return tx.RestartWindow(src.ID, d.ID, tx.Clock(), false) }
		if d.Kind == store.DropKindRemoval {
			// A source's removal, or the withdrawal of a deleted directory,
			// held by its guard: applied as what it is (the source stays
			// when it was a withdrawal: replace's content hash says which).
			a.withdrawOnly, a.removalsWithdraw, a.removeSource = true, true, d.ContentHash != withdrawnHash
		}
	}
	if err := in.applyDropWith(ctx, &d, src, rep, each, rep.Counts.Added+rep.Counts.Updated+rep.Counts.Removed, opt, nil, setup); err != nil {
		return nil, err
	}
	in.notify(OpApprove, rep, start)
	return rep, nil
}

// Reject refuses a held drop: nothing of it is applied and its held diff is
// dropped.
func (in *Ingester) Reject(ctx context.Context, orgName string, dropID int64, reason string, opt Options) (*Report, error) {
	org, err := in.Store.LookupOrg(ctx, orgName)
	if err != nil {
		return nil, err
	}
	d, err := in.Store.Drop(ctx, org.ID, dropID)
	if err != nil {
		return nil, err
	}
	if d.Status != store.DropHeld {
		return nil, schema.Errorf(schema.EConflict, "drop %d is %s, not held", dropID, d.Status)
	}
	rep, err := ParseReport(d.Report)
	if err != nil {
		return nil, err
	}
	rep.Decision = Rejected
	rep.Reason = fmt.Sprintf("held (%s), rejected", rep.Reason)
	if opt.By != "" {
		rep.Reason += " by " + opt.By
	}
	if reason != "" {
		rep.Reason += ": " + reason
	}
	if opt.DryRun {
		rep.DryRun = true
		return rep, nil
	}
	if err := in.Store.DecideDrop(ctx, org.ID, d.ID, store.DropRejected, rep.JSON(), opt.By); err != nil {
		return rep, err
	}
	in.notify(OpReject, rep, time.Now())
	return rep, nil
}

// Rollback puts a source back to its snapshot right after an earlier
// applied drop: the difference is applied as a new drop (kind rollback), so
// the rollback itself is in the history and can be rolled back in turn.
// Guards do not apply: an admin asked for exactly this. People the earlier
// snapshot did not list are withdrawn, not offboarded, even from an
// authoritative source: not listed then is not deleted.
func (in *Ingester) Rollback(ctx context.Context, orgName, source string, toDrop int64, opt Options) (*Report, error) {
	org, src, err := in.lookup(ctx, orgName, source)
	if err != nil {
		return nil, err
	}
	target, err := in.Store.Drop(ctx, org.ID, toDrop)
	if err != nil {
		return nil, err
	}
	if src.RemovedAt != "" {
		return nil, schema.Errorf(schema.EConflict, "source %s was removed: ingest a drop of it to bring it back", src.Name)
	}
	if target.SourceID != src.ID {
		return nil, schema.Errorf(schema.EInvalid, "drop %d is of source %s, not %s", toDrop, target.SourceName, src.Name)
	}
	if target.Status != store.DropApplied || target.Seq == 0 {
		return nil, schema.Errorf(schema.EInvalid, "drop %d was %s, not applied: only an applied drop's snapshot can be restored", toDrop, target.Status)
	}
	name := fmt.Sprintf("rollback of %s to drop %d", src.Name, toDrop)
	want := func(fn func(store.Assertion) error) error { return in.Store.SnapshotAt(ctx, src.ID, target.Seq, fn) }
	return in.replace(ctx, org, src, store.DropKindRollback, name, target.ContentHash, want, target.Seq, rollback, opt)
}

// RemoveSource withdraws every assertion of a source and marks it removed,
// as deleting a CSV source does: people stay in the audience when another
// source still lists them (merge rule 2). Removing an authoritative source
// is not that source deleting its people, so nobody is offboarded.
func (in *Ingester) RemoveSource(ctx context.Context, orgName, source string, opt Options) (*Report, error) {
	org, src, err := in.lookup(ctx, orgName, source)
	if err != nil {
		return nil, err
	}
	if src.RemovedAt != "" {
		// (`sources list` says when.)
		return nil, schema.Errorf(schema.EConflict, "source %s was already removed", src.Name)
	}
	none := func(func(store.Assertion) error) error { return nil }
	return in.replace(ctx, org, src, store.DropKindRemoval, "removal of source "+src.Name, "removed", none, 0, removeSource, opt)
}

// How replace treats the source.
type replaceMode int

const (
	rollback       replaceMode = iota // back to an earlier snapshot
	withdrawSource                    // every assertion withdrawn; the source stays
	removeSource                      // every assertion withdrawn and the source marked removed
)

// replace makes the source's snapshot equal to want (a key-ordered stream)
// in one transaction, recorded as a new drop in that transaction.
//
// The source's tombstones made after tombsAfter are withdrawn too (not
// listed by want): a rollback withdraws the deletions made after the
// snapshot it restores, a withdrawal or removal (tombsAfter 0) every
// deletion of the source.
func (in *Ingester) replace(ctx context.Context, org store.Org, src store.Source, kind, name, hash string,
	want func(func(store.Assertion) error) error, tombsAfter int64, mode replaceMode, opt Options) (*Report, error) {
	start := time.Now()
	rep := &Report{Org: org.Name, Source: src.Name, Name: name, Mode: string(store.ModeFull), ContentHash: hash,
		Started: start.UTC(), DryRun: opt.DryRun, Decision: Applied}
	sp, err := newSpill(in.TempDir)
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	if err := in.snapshotDiff(ctx, src, want, tombsAfter, sp, rep); err != nil {
		return nil, err
	}
	in.hook("replace-diffed")
	rep.Timings.ReadMS = time.Since(start).Milliseconds()
	if mode != rollback {
		// A source's removal, or a deleted directory's withdrawal, takes all
		// its people out: held when that is over its guard, as a drop
		// removing them would be (an admin approves it).
		if why := overRemovalGuard(src, rep.Counts.Removed); why != "" {
			rep.Decision, rep.Reason = Held, why
		}
	}
	if opt.DryRun {
		sample(rep, sp)
		rep.Timings.TotalMS = time.Since(start).Milliseconds()
		return rep, nil
	}
	d := store.Drop{OrgID: org.ID, SourceID: src.ID, Kind: kind, Name: name, ContentHash: hash, BaseSeq: src.Seq}
	if rep.Decision == Held {
		sample(rep, sp)
		if err := in.Store.CreateDrop(ctx, &d); err != nil {
			return nil, err
		}
		rep.DropID = d.ID
		rep.Timings.TotalMS = time.Since(start).Milliseconds()
		if err := in.Store.HoldDrop(ctx, d.ID, src.Seq, rep.JSON(), sp.each); err != nil {
			in.abandon(&d, err)
			return nil, err
		}
		in.notify(OpIngest, rep, start)
		return rep, nil
	}
	setup := func(a *applier) {
		a.withdrawOnly, a.removalsWithdraw, a.removeSource = mode != rollback, true, mode == removeSource
	}
	if err := in.applyDropWith(ctx, &d, src, rep, sp.each, int64(sp.Len()), opt, nil, setup); err != nil {
		return nil, err // nothing recorded: the drop was to be created with its change
	}
	in.notify(opOfKind(kind), rep, start)
	return rep, nil
}

// snapshotDiff compares the source's current snapshot with want, both in
// key order, and spills the changes that turn one into the other, and a
// removal of each tombstone made after tombsAfter of someone want does not
// list (it withdraws the tombstone).
func (in *Ingester) snapshotDiff(ctx context.Context, src store.Source, want func(func(store.Assertion) error) error,
	tombsAfter int64, sp *spill, rep *Report) error {
	// The current snapshot's keys and hashes are read first (one scan), then
	// want is streamed against them.
	cur := map[string]uint64{}
	if err := in.Store.SnapshotHashes(ctx, src.ID, func(k string, h uint64, _ schema.Status) { cur[strings.Clone(k)] = h }); err != nil {
		return err
	}
	listed := map[string]bool{}
	err := want(func(a store.Assertion) error {
		listed[a.Key] = true
		rep.Counts.Rows++
		h, ok := cur[a.Key]
		delete(cur, a.Key)
		switch {
		case !ok:
			rep.Counts.Added++
			return sp.add(&store.Change{Op: store.OpAdd, Assertion: a})
		case h != a.Hash:
			rep.Counts.Updated++
			return sp.add(&store.Change{Op: store.OpUpdate, Assertion: a})
		}
		rep.Counts.Unchanged++
		return nil
	})
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(cur))
	for k := range cur {
		keys = append(keys, k)
	}
	for _, k := range sortedKeys(keys) {
		rep.Counts.Removed++
		if err := sp.add(&store.Change{Op: store.OpRemove, Assertion: store.Assertion{Key: k}}); err != nil {
			return err
		}
	}
	var tombs []string
	err = in.Store.SourceTombstones(ctx, src.ID, tombsAfter, func(t store.Tombstone) {
		if _, ok := cur[t.Key]; !ok && !listed[t.Key] {
			tombs = append(tombs, t.Key)
		}
	})
	if err != nil {
		return err
	}
	for _, k := range tombs {
		if err := sp.add(&store.Change{Op: store.OpRemove, Assertion: store.Assertion{Key: k}}); err != nil {
			return err
		}
	}
	return nil
}

// Lift lifts the offboarding of a person (an admin's decision): the say of
// every authoritative source that offboards them now (source ""), or only
// of the source named, is lifted, and they are derived again (back in the
// audience if a source lists them as active). A lift is an assertion too:
// it stands while that source says exactly what it said when the lift was
// made, and any change of that source's say ends it.
func (in *Ingester) Lift(ctx context.Context, orgName, key, source, reason string, opt Options) (store.Recipient, error) {
	org, err := in.Store.LookupOrg(ctx, orgName)
	if err != nil {
		return store.Recipient{}, err
	}
	tx, err := in.Store.Begin(ctx, org.ID)
	if err != nil {
		return store.Recipient{}, err
	}
	defer tx.Rollback()
	a, err := rederiver(tx)
	if err != nil {
		return store.Recipient{}, err
	}
	says, err := a.says(key)
	if err != nil {
		return store.Recipient{}, err
	}
	m := Merge(says, a.sources)
	by := opt.By
	if by == "" {
		by = "admin"
	}
	lifted := 0
	for _, id := range m.Offboarders {
		if source != "" && a.sources[id].Name != source {
			continue
		}
		l := store.Lift{Key: key, SourceID: id, Say: sayOf(says, id), By: by, Reason: strings.TrimSpace(reason)}
		if err := tx.PutLift(&l); err != nil {
			return store.Recipient{}, err
		}
		lifted++
	}
	if lifted == 0 {
		if source != "" {
			return store.Recipient{}, schema.Errorf(schema.ENotFound, "%s is not offboarded by source %s", key, source)
		}
		return store.Recipient{}, schema.Errorf(schema.ENotFound, "%s is not offboarded", key)
	}
	a.noOffboarding = false
	rec, err := a.rederive(key)
	if err != nil {
		return store.Recipient{}, err
	}
	if opt.DryRun {
		return rec, nil
	}
	return rec, tx.Commit()
}

// says reads what every source says about key, in the transaction.
func (a *applier) says(key string) (Says, error) {
	var says Says
	var err error
	keys := []string{key}
	if says.Asserts, err = a.tx.Assertions(key, a.others); err != nil {
		return says, err
	}
	tombs, err := a.tx.TombstonesOf(keys)
	if err != nil {
		return says, err
	}
	lifts, err := a.tx.LiftsOf(keys)
	if err != nil {
		return says, err
	}
	says.Tombs, says.Lifts = tombs[key], lifts[key]
	return says, nil
}

// sayOf is what the source says about the person: its assertion's say,
// else its tombstone's.
func sayOf(says Says, src int64) int64 {
	for _, a := range says.Asserts {
		if a.SourceID == src {
			return a.Say()
		}
	}
	for _, t := range says.Tombs {
		if t.SourceID == src {
			return t.Say()
		}
	}
	return 0
}

// rederiveSource derives every recipient the source lists or deleted
// again, after its priority, authority or kind changed.
func (in *Ingester) rederiveSource(ctx context.Context, orgID int64, src store.Source) error {
	var keys []string
	if err := in.Store.SnapshotHashes(ctx, src.ID, func(k string, _ uint64, _ schema.Status) { keys = append(keys, strings.Clone(k)) }); err != nil {
		return err
	}
	if err := in.Store.SourceTombstones(ctx, src.ID, 0, func(t store.Tombstone) { keys = append(keys, t.Key) }); err != nil {
		return err
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	tx, err := in.Store.Begin(ctx, orgID)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	a, err := rederiver(tx)
	if err != nil {
		return err
	}
	keys = sortedKeys(keys)
	for len(keys) > 0 {
		n := min(len(keys), applyBatch)
		people := make([]change, n)
		for i, k := range keys[:n] {
			people[i].key = k
		}
		if err := a.derive(people); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return tx.Commit()
}

// scrubSource clears, in every stored version of the source's rows and in
// its held drops, the values of attributes its allowlist no longer allows
// (merge rule 6), with their content hashes, in one transaction. The next
// drop then sees unchanged rows as unchanged.
func (in *Ingester) scrubSource(ctx context.Context, orgID int64, src store.Source) error {
	tx, err := in.Store.Begin(ctx, orgID)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	err = tx.RewriteAssertions(src.ID, func(a *store.Assertion) bool {
		f := src.Attrs.Filter(a.Attrs)
		if f == a.Attrs {
			return false
		}
		a.Attrs = f
		a.Hash = contentHash(a)
		return true
	})
	if err != nil {
		return err
	}
	return tx.Commit()
}

// rederiver returns an applier with no source of its own, which derives
// recipients from every source's current says without any source changing.
func rederiver(tx *store.Tx) (*applier, error) {
	a, err := newApplier(tx, store.Source{}, 0, 0, &Counts{})
	if err != nil {
		return nil, err
	}
	delete(a.sources, 0)
	a.withdrawOnly = true
	seq, err := tx.NextSeq()
	if err != nil {
		return nil, err
	}
	a.seq = seq - 1
	return a, nil
}

func (a *applier) rederive(key string) (store.Recipient, error) {
	if err := a.derive([]change{{key: key}}); err != nil {
		return store.Recipient{}, err
	}
	rec, _, err := a.tx.Recipient(key)
	return rec, err
}

func sortedKeys(keys []string) []string {
	slices.Sort(keys)
	return keys
}
