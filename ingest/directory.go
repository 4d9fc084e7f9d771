package ingest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"muster/schema"
	"muster/store"
)

// EditKind is what one edit asks of a directory source's snapshot. Edits
// are what directory events (WorkOS dsync.* events) become: unlike a file's
// rows they may say only part of a person (a membership, a group's new
// name), so they are applied against what the source lists now.
type EditKind uint8

// Edit kinds.
const (
	// EditUpsert: Record is the person as the directory now describes them.
	// Record.Groups nil keeps the groups the source lists for them (user
	// events carry no memberships). An inactive record offboards the person
	// when the source is authoritative (merge rule 5).
	EditUpsert EditKind = iota + 1
	// EditOffboard: the person (Record.SourceID, else Record.Key) was deleted
	// from the directory. The source withdraws its assertion and, being
	// authoritative, offboards them, even when it did not list them.
	EditOffboard
	// EditGroupAdd: add Group to the person's groups; a person the source
	// does not list yet is added with this group (Record is the whole person).
	EditGroupAdd
	// EditGroupRemove: remove Group from the person's groups.
	EditGroupRemove
	// EditGroupRename: everyone of the source in OldGroup is now in Group.
	EditGroupRename
	// EditGroupDelete: remove Group from everyone of the source.
	EditGroupDelete
)

// Edit is one change to a directory source.
type Edit struct {
	Kind   EditKind
	Record schema.Record
	// IfListed applies an edit only to a person the source lists already (a
	// group-limited source learns of its members from pulls, and does not
	// offboard someone outside its groups).
	IfListed bool
	// Group names the group of the group kinds; OldGroup the former name of
	// a renamed one.
	Group, OldGroup string
	// NewID says Record.SourceID was never asserted before (a person the
	// directory has just created, such as a SCIM POST): an upsert looks the
	// person up by address only, without reading the source's ids.
	NewID bool
}

// Edits is a batch of edits to one source, applied as one delta drop.
type Edits struct {
	// Org names the organisation; "" is schema.DefaultOrg.
	Org    string
	Source SourceConfig
	// Name says what the batch is, for people ("workos events").
	Name  string
	Edits []Edit
	// InTx, if set, runs inside the transaction that applies or holds the
	// batch, just before it commits: what the caller records about the
	// batch (the events applied, a feed's cursor) then commits with it or
	// not at all. It does not run for a dry run; its error abandons the
	// batch.
	InTx func(*store.Tx) error
	// Window, when set, guards the batch's removals (people the source
	// lists removed or marked inactive) over a rolling window of that length
	// (since the source's latest full snapshot, if later): counted with the
	// removals of the batches applied in it against the source's
	// max_remove_percent and max_remove_count, a batch that crosses them is
	// held for an admin with its diff (DESIGN.md, safety rules).
	Window time.Duration
}

// ApplyEdits applies a batch of edits as one delta drop of kind stream: the
// edits are folded, in order, over what the source lists now (read from the
// store), and the net difference is applied in one transaction with its
// report, or held by the removal window (Edits.Window). Edits are deltas,
// not a file: one whose record is invalid (no email, malformed) is skipped
// with a warning in the report, and never rejects the batch. A person is
// found by their directory user id first, so an email change moves the
// assertion to the new address. Someone deleted from the directory whom the
// source did not list is still offboarded.
func (in *Ingester) ApplyEdits(ctx context.Context, e Edits, opt Options) (*Report, error) {
	start := time.Now()
	if e.Org == "" {
		e.Org = schema.DefaultOrg
	}
	org, src, _, err := in.resolve(ctx, e.Org, e.Source.WithDefaults(), opt.DryRun)
	if err != nil {
		return nil, err
	}
	rep := &Report{Org: e.Org, Source: src.Name, Name: e.Name, Mode: string(store.ModeDelta), Started: start.UTC(), DryRun: opt.DryRun}
	f := &fold{ctx: ctx, st: in.Store, src: src, rep: rep, people: map[string]*person{}, uids: map[string]string{}, scanned: map[string]bool{}}
	for _, ed := range e.Edits {
		rep.Counts.Rows++
		if err := f.edit(ed); err != nil {
			return nil, err
		}
	}
	sp, err := newSpill(in.TempDir)
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	if err := f.changes(sp); err != nil {
		return nil, err
	}
	c := &rep.Counts
	c.Unchanged = max(0, c.Rows-c.Invalid-c.Added-c.Updated-c.Removed)
	rep.Timings.ReadMS = time.Since(start).Milliseconds()
	rep.Decision = Applied
	removedRows := max(0, c.Removed-f.moved)
	removing := removedRows + f.deactivated
	if e.Window > 0 && removing > 0 && src.ID != 0 {
		if err := in.guardWindow(ctx, rep, src, removing, e.Window); err != nil {
			return nil, err
		}
	}
	if opt.DryRun {
		sample(rep, sp)
		rep.Timings.TotalMS = time.Since(start).Milliseconds()
		return rep, nil
	}
	drop := store.Drop{OrgID: org.ID, SourceID: src.ID, Kind: store.DropKindStream, Name: e.Name, BaseSeq: src.Seq}
	inTx := e.InTx
	if e.Window > 0 && removing > 0 {
		inTx = func(tx *store.Tx) error {
			if err := tx.RecordRemovals(src.ID, drop.ID, removing, removedRows); err != nil {
				return err
			}
			if e.InTx != nil {
				return e.InTx(tx)
			}
			return nil
		}
	}
	if rep.Decision == Applied {
		// The drop is recorded in the apply's transaction (applyDropWith).
		err = in.applyDropWith(ctx, &drop, src, rep, sp.each, int64(sp.Len()), opt, nil, func(a *applier) {
			// A SCIM source is only ever written by deltas: the snapshot
			// index file (a cache for full diffs, rewritten whole by every
			// apply) would be rewritten for every batch of requests and
			// never read. The file left behind names an old snapshot token,
			// so a full diff of the source would read the store instead.
			a.offboardAbsent, a.inTx, a.noIndex = true, inTx, src.Kind == store.KindSCIM
		})
	} else {
		sample(rep, sp)
		rep.Timings.TotalMS = time.Since(start).Milliseconds()
		err = in.holdEdits(ctx, &drop, rep, sp, e.InTx)
	}
	if err != nil {
		in.abandon(&drop, err)
		return nil, err
	}
	in.logger().Info("drop", "drop", drop.ID, "source", src.Name, "decision", rep.Decision, "edits", c.Rows,
		"added", c.Added, "updated", c.Updated, "removed", c.Removed, "suppressed", c.Suppressed, "invalid", c.Invalid,
		"ms", time.Since(start).Milliseconds())
	return rep, nil
}

// WithdrawSource withdraws every assertion of a source, as a drop of kind
// removal named for why, without offboarding anyone and without removing
// the source: a deleted WorkOS directory no longer says anything about its
// people, which is not the same as saying they left (merge rule 5). Like
// any mass removal it is held for an admin when over the source's guard.
func (in *Ingester) WithdrawSource(ctx context.Context, orgName, source, why string, opt Options) (*Report, error) {
	org, src, err := in.lookup(ctx, orgName, source)
	if err != nil {
		return nil, err
	}
	none := func(func(store.Assertion) error) error { return nil }
	return in.replace(ctx, org, src, store.DropKindRemoval, why, withdrawnHash, none, 0, withdrawSource, opt)
}

// withdrawnHash is the content hash of a withdrawal's drop (a removal's is
// "removed"): approving a held one withdraws without removing the source.
const withdrawnHash = "withdrawn"

// fold computes the net effect of a batch of edits on a source's snapshot.
// people holds everyone an edit touched, as the store had them (orig) and
// as the edits so far leave them (cur); the store is read only for them.
type fold struct {
	ctx     context.Context
	st      *store.Store
	src     store.Source
	rep     *Report
	people  map[string]*person
	uids    map[string]string // directory user id -> key, for people touched
	stored  map[string]string // directory user id -> key in the store, read once when needed
	scanned map[string]bool   // groups whose members were read from the store
	// deactivated counts people the source listed as active and now lists
	// as inactive: for the guard they leave as surely as a removal. moved
	// counts active people whose address changed: their old address is
	// removed, but nobody left.
	deactivated, moved int64
}

type person struct {
	orig, cur *store.Assertion // nil: not listed
	// offboard: deleted from the directory while not listed.
	offboard bool
}

// load returns the person with key, reading the store the first time.
func (f *fold) load(key string) (*person, error) {
	if p, ok := f.people[key]; ok {
		return p, nil
	}
	p := &person{}
	if f.src.ID != 0 {
		a, err := f.st.SnapshotAssertion(f.ctx, f.src.ID, key)
		switch {
		case err == nil:
			p.orig = &a
			p.cur = clone(&a)
			f.uids[a.UID] = key
		case schema.ErrorCodeOf(err) != schema.ENotFound:
			return nil, err
		}
	}
	f.people[key] = p
	return p, nil
}

// byUID returns the listed person with that directory user id, or nil.
// The source's ids are read from the store once per batch, and only when
// a record is not found under its own address (a new person, or a new
// address): one scan instead of one per event.
func (f *fold) byUID(uid string) (*person, error) {
	if uid == "" {
		return nil, nil
	}
	k, ok := f.uids[uid]
	if !ok && f.src.ID != 0 {
		if f.stored == nil {
			f.stored = map[string]string{}
			if err := f.st.SnapshotUIDs(f.ctx, f.src.ID, func(u, key string) { f.stored[u] = key }); err != nil {
				return nil, err
			}
		}
		k, ok = f.stored[uid]
	}
	if !ok {
		return nil, nil
	}
	// The store's row may already be changed or removed by this batch.
	p, err := f.load(k)
	if err != nil || p.cur == nil || p.cur.UID != uid {
		return nil, err
	}
	return p, nil
}

// find returns the listed person a record describes: under its address
// when the ids agree, else by its directory user id.
func (f *fold) find(r *schema.Record) (*person, error) {
	if r.Key != "" {
		p, err := f.load(r.Key)
		if err != nil {
			return nil, err
		}
		if p.cur != nil && (r.SourceID == "" || p.cur.UID == r.SourceID) {
			return p, nil
		}
	}
	return f.byUID(r.SourceID)
}

func (f *fold) edit(e Edit) error {
	r := &e.Record
	switch e.Kind {
	case EditUpsert:
		return f.upsert(r, e.IfListed, e.NewID)
	case EditOffboard:
		return f.offboard(r, e.IfListed)
	case EditGroupAdd, EditGroupRemove:
		p, err := f.find(r)
		if err != nil {
			return err
		}
		switch {
		case p != nil:
			p.setGroups(withGroup(p.cur.Groups, e.Group, e.Kind == EditGroupAdd))
		case e.Kind == EditGroupAdd && !e.IfListed:
			rr := *r
			rr.Groups = []string{e.Group}
			return f.upsert(&rr, false, e.NewID)
		}
		return nil
	case EditGroupRename, EditGroupDelete:
		return f.regroup(e.OldGroup, e.Group, e.Kind == EditGroupRename)
	}
	return fmt.Errorf("edit: unknown kind %d", e.Kind)
}

func (f *fold) upsert(r *schema.Record, ifListed, newID bool) error {
	for _, p := range r.Problems {
		// A batch of edits is not a file: its errors are the one edit's.
		p.Severity = schema.SeverityWarning
		f.rep.addProblem(p)
	}
	if !r.Valid() || r.Key == "" {
		f.rep.Counts.Invalid++
		f.rep.addProblem(schema.Problem{Line: r.Line, Code: "skipped", Severity: schema.SeverityWarning,
			Message: fmt.Sprintf("edit %d skipped: %s", f.rep.Counts.Rows, skipReason(r))})
		return nil
	}
	var p *person
	var err error
	if newID {
		// Nobody can hold this id yet: only the address can name someone.
		if p, err = f.load(r.Key); err == nil && (p.cur == nil || p.cur.UID != r.SourceID) {
			p = nil
		}
	} else {
		p, err = f.find(r)
	}
	if err != nil || (p == nil && ifListed) {
		return err
	}
	rr := *r
	if rr.Groups == nil {
		rr.Groups = []string{}
		if p != nil {
			rr.Groups = p.cur.Groups
		}
	}
	if p != nil && p.cur.Key != r.Key {
		p.cur = nil // the address changed: the old one is no longer listed
		if p.orig != nil && p.orig.Status == schema.StatusActive && r.Status == schema.StatusActive {
			f.moved++ // not someone leaving
		}
	}
	q, err := f.load(r.Key)
	if err != nil {
		return err
	}
	a := assertionOf(&rr, f.src)
	q.cur = &a
	f.uids[a.UID] = a.Key
	return nil
}

func (f *fold) offboard(r *schema.Record, ifListed bool) error {
	p, err := f.find(r)
	switch {
	case err != nil:
		return err
	case p != nil:
		p.cur = nil
	case ifListed:
	case r.Key != "":
		q, err := f.load(r.Key)
		if err != nil {
			return err
		}
		q.offboard = true
	default:
		f.rep.addProblem(schema.Problem{Code: "unknown_person", Severity: schema.SeverityWarning,
			Message: fmt.Sprintf("deleted directory user %s has no email and is not listed: nobody to offboard", r.SourceID)})
	}
	return nil
}

// regroup renames group old to name for everyone of the source, or removes
// it (rename false: name is the deleted group).
func (f *fold) regroup(old, name string, rename bool) error {
	from := old
	if !rename {
		from = name
	}
	if !f.scanned[from] && f.src.ID != 0 {
		err := f.st.Snapshot(f.ctx, f.src.ID, func(a store.Assertion) error {
			if _, touched := f.people[a.Key]; touched || !slices.Contains(a.Groups, from) {
				return nil
			}
			f.people[a.Key] = &person{orig: &a, cur: clone(&a)}
			f.uids[a.UID] = a.Key
			return nil
		})
		if err != nil {
			return err
		}
		f.scanned[from] = true
	}
	for _, p := range f.people {
		if p.cur == nil || !slices.Contains(p.cur.Groups, from) {
			continue
		}
		gs := withGroup(p.cur.Groups, from, false)
		if rename {
			gs = withGroup(gs, name, true)
		}
		p.setGroups(gs)
	}
	return nil
}

// setGroups replaces the person's groups (sorted, without repeats) and
// their content hash.
func (p *person) setGroups(gs []string) {
	a := clone(p.cur)
	a.Groups = gs
	a.Hash = contentHash(a)
	p.cur = a
}

func withGroup(gs []string, g string, add bool) []string {
	out := slices.DeleteFunc(slices.Clone(gs), func(x string) bool { return x == g })
	if add {
		out = append(out, g)
		slices.Sort(out)
	}
	return out
}

func clone(a *store.Assertion) *store.Assertion {
	c := *a
	c.Groups = slices.Clone(a.Groups)
	return &c
}

// changes spills the net changes, counting them.
func (f *fold) changes(sp *spill) error {
	keys := make([]string, 0, len(f.people))
	for k := range f.people {
		keys = append(keys, k)
	}
	c := &f.rep.Counts
	for _, k := range sortedKeys(keys) {
		p := f.people[k]
		var ch *store.Change
		switch {
		case p.orig == nil && p.cur != nil:
			c.Added++
			ch = &store.Change{Op: store.OpAdd, Assertion: *p.cur}
		case p.orig != nil && p.cur == nil:
			c.Removed++
			ch = &store.Change{Op: store.OpRemove, Assertion: store.Assertion{Key: k}}
		case p.orig != nil && p.orig.Hash&hashMask != p.cur.Hash&hashMask:
			c.Updated++
			if p.orig.Status == schema.StatusActive && p.cur.Status != schema.StatusActive {
				f.deactivated++
			}
			ch = &store.Change{Op: store.OpUpdate, Assertion: *p.cur}
		case p.orig == nil && p.offboard:
			// not listed, deleted from the directory: offboarded at apply
			ch = &store.Change{Op: store.OpRemove, Assertion: store.Assertion{Key: k}}
		}
		if ch != nil {
			if err := sp.add(ch); err != nil {
				return err
			}
		}
	}
	return nil
}

// skipReason says why an edit's record was skipped.
func skipReason(r *schema.Record) string {
	for _, p := range r.Problems {
		if p.Message != "" {
			return p.Message
		}
	}
	if r.SourceID != "" {
		return fmt.Sprintf("directory user %s has no usable email address", r.SourceID)
	}
	return "no usable email address"
}

// guardWindow holds the batch (rep.Decision Held) when its removals, with
// those of the source's batches applied in the window, cross the source's
// thresholds, as a full drop would be held (guard).
func (in *Ingester) guardWindow(ctx context.Context, rep *Report, src store.Source, removing int64, window time.Duration) error {
	earlier, earlierRows, err := in.Store.WindowRemovals(ctx, src.ID, in.Store.Clock().Add(-window))
	if err != nil {
		return err
	}
	total := earlier + removing
	base := src.Rows + earlierRows // the source's people when the window began
	over := ""
	switch {
	case src.MaxRemoveCount >= 0 && total > int64(src.MaxRemoveCount):
		over = fmt.Sprintf("over the limit of %d", src.MaxRemoveCount)
	case src.MaxRemovePercent >= 0 && base > 0 && float64(total)*100 > src.MaxRemovePercent*float64(base):
		over = fmt.Sprintf("%.1f%%, over the %g%% limit", float64(total)*100/float64(base), src.MaxRemovePercent)
	}
	if over == "" {
		return nil
	}
	rep.Decision = Held
	rep.Reason = fmt.Sprintf("it would remove %d people, %d of %d with the batches of the last %s (since the last full pull, if later), %s",
		removing, total, base, window, over)
	return nil
}

// holdEdits records a batch the removal window held, with its diff, in one
// transaction with what the caller records about it (inTx).
func (in *Ingester) holdEdits(ctx context.Context, d *store.Drop, rep *Report, sp *spill, inTx func(*store.Tx) error) error {
	tx, err := in.Store.Begin(ctx, d.OrgID)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := tx.CreateDrop(d); err != nil {
		return err
	}
	rep.DropID = d.ID
	if err := tx.HoldChanges(d, rep.JSON(), sp.each); err != nil {
		return err
	}
	if inTx != nil {
		if err := inTx(tx); err != nil {
			return err
		}
	}
	return tx.Commit()
}
