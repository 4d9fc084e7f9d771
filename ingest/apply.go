package ingest

import (
	"fmt"
	"slices"
	"strings"

	"muster/schema"
	"muster/store"
)

// applyBatch is how many changes an applier reads and writes together in
// an organisation without recipients yet (a first ingest: its batches read
// nothing back), applyBatchRead in one with recipients. There a batch reads
// the pages holding its people's snapshot rows and recipients, then writes
// those same pages a few statements later, and they must still be in
// SQLite's page cache by then. Once the transaction's changed pages fill
// the cache (8 MiB: 2,048 pages, of which SQLite keeps up to 90% dirty
// before spilling them to the WAL), what a batch reads lives in the clean
// ~200 pages left: a batch of 256 people read more than that per table and
// read most pages again from the file to write them. strace of a next day
// with 2% churn, preads of the store file against the pages the commit
// wrote: 1M 49,051 for 32,052 with batches of 256, 35,479 with 128, 32,718
// with 64 (a 32 MiB cache: 32,692); 3M 144,024, 99,124, 92,252 for 90,6xx.
// A batch of 64 is also one multi-row statement of each kind (bulkRows).
const (
	applyBatch     = 256
	applyBatchRead = 64
)

// applier applies one drop's changes to its source's snapshot and derives
// the recipients they touch, inside one store transaction. Only the keys
// the drop changes are derived again. Changes are applied in batches of
// distinct keys: what one change reads (the person's other assertions,
// recipient and suppression) no other change of the batch writes, so a
// batch reads everything it needs in a few statements, decides each person
// in key order exactly as one change at a time would, then writes in a few
// statements.
type applier struct {
	tx      *store.Tx
	src     store.Source
	seq     int64
	dropID  int64
	sources map[int64]SourceInfo
	others  []int64 // the organisation's other sources, which may list the same people
	counts  *Counts
	// emptyOrg and noOffboarding (no tombstone, no lift) let a first
	// ingest skip lookups that cannot find anything.
	emptyOrg      bool
	noOffboarding bool
	// withdrawOnly: removing the source, not the source deleting people, so
	// an authoritative source's removal leaves no tombstone (merge rule 5),
	// and its tombstones go with its assertions.
	withdrawOnly bool
	// removalsWithdraw: a rollback, whose removals restore a snapshot that
	// did not list the person rather than say they left, so they leave no
	// tombstone; a removal of someone the source does not list withdraws
	// the source's tombstone (one made after the snapshot restored).
	removalsWithdraw bool
	// removeSource: the apply removes the source itself (`sources remove`),
	// marked in the same transaction.
	removeSource bool
	// offboardAbsent: a removal of someone the source does not list still
	// offboards them when the source is authoritative (a user deleted from a
	// directory before it was pulled); absent counts the removals of people
	// the source did not list (those, and tombstones withdrawn).
	offboardAbsent bool
	absent         int64
	// inTx runs in the transaction before it commits (Edits.InTx).
	inTx func(*store.Tx) error
	// noIndex: the apply does not write the source's snapshot index file.
	noIndex bool
	hook    func(string)
	// ownGroups holds the ids of this source's groups by name, as
	// tx.GroupID gives them: a map keyed by the name alone is looked up
	// for each group of each new person at about half the cost of the
	// transaction's, keyed by source and name.
	ownGroups map[string]int64
	// buffers reused from batch to batch
	curs, added, replaced []store.Assertion
	keys, removed         []string
	tombs, untombs        []string
	people                []change
	inserts, updates      []store.Recipient
}

func newApplier(tx *store.Tx, src store.Source, seq, dropID int64, counts *Counts) (*applier, error) {
	a := &applier{tx: tx, src: src, seq: seq, dropID: dropID, counts: counts, sources: map[int64]SourceInfo{}}
	srcs, err := tx.Sources()
	if err != nil {
		return nil, err
	}
	for _, s := range srcs {
		a.sources[s.ID] = sourceInfo(s)
		if s.ID != src.ID {
			a.others = append(a.others, s.ID)
		}
	}
	a.sources[src.ID] = sourceInfo(src)
	recipients, offboarding, err := tx.Has()
	if err != nil {
		return nil, err
	}
	a.emptyOrg, a.noOffboarding = !recipients, !offboarding
	return a, nil
}

// change is one person a batch derives again: this source's assertion
// about them is now cur (nil: withdrawn, or unchanged when rederiving).
type change struct {
	key string
	cur *store.Assertion
}

// apply applies a batch of changes whose keys are distinct.
func (a *applier) apply(cs []store.Change) error {
	// An addition has no old row: the diff found none, and the apply runs
	// only if the snapshot is still the one the diff read (base seq).
	keys := a.keys[:0]
	for i := range cs {
		if cs[i].Op != store.OpAdd {
			keys = append(keys, cs[i].Key)
		}
	}
	a.keys = keys
	var old map[string]schema.Status
	if len(keys) > 0 {
		var err error
		if old, err = a.tx.ArchiveAssertions(a.src.ID, keys, a.seq); err != nil {
			return err
		}
	}
	// curs never grows past its capacity: people point into it.
	curs := slices.Grow(a.curs[:0], len(cs))
	added, replaced, removed, people := a.added[:0], a.replaced[:0], a.removed[:0], slices.Grow(a.people[:0], len(cs))
	// A removal by an authoritative source is its deletion of the person,
	// kept as its tombstone (merge rule 5); a listing ends its tombstone.
	deletes := a.src.Authoritative && !a.withdrawOnly && !a.removalsWithdraw
	tombs, untombs := a.tombs[:0], a.untombs[:0]
	defer func() {
		a.curs, a.added, a.replaced, a.removed, a.people, a.tombs, a.untombs = curs, added, replaced, removed, people, tombs, untombs
	}()
	for i := range cs {
		c := &cs[i]
		_, hadOld := old[c.Key]
		p := change{key: c.Key}
		switch c.Op {
		case store.OpAdd, store.OpUpdate:
			curs = append(curs, c.Assertion)
			n := &curs[len(curs)-1]
			n.SourceID, n.Seq, n.DropID = a.src.ID, a.seq, a.dropID
			if hadOld {
				replaced = append(replaced, *n)
			} else {
				added = append(added, *n)
			}
			p.cur = n
			untombs = append(untombs, c.Key)
		case store.OpRemove:
			switch {
			case hadOld:
				removed = append(removed, c.Key)
			case a.offboardAbsent && deletes:
				a.absent++ // deleted though not listed: offboarded all the same
			case a.withdrawOnly || a.removalsWithdraw:
				a.absent++ // a tombstone withdrawn (removal, rollback)
			default:
				continue
			}
			if deletes {
				tombs = append(tombs, c.Key)
			} else {
				untombs = append(untombs, c.Key)
			}
		default:
			return fmt.Errorf("apply: unknown change %d", c.Op)
		}
		people = append(people, p)
	}
	if err := a.tx.InsertAssertions(added); err != nil {
		return err
	}
	if err := a.tx.ReplaceAssertions(replaced); err != nil {
		return err
	}
	if err := a.tx.DeleteAssertions(a.src.ID, removed); err != nil {
		return err
	}
	if !a.noOffboarding {
		if err := a.tx.DeleteTombstones(a.src.ID, untombs); err != nil {
			return err
		}
	}
	if len(tombs) > 0 {
		if err := a.tx.PutTombstones(a.src.ID, a.seq, a.dropID, tombs); err != nil {
			return err
		}
		a.noOffboarding = false
	}
	return a.derive(people)
}

// derive recomputes the recipients of people after this source's
// assertions (and tombstones) changed: each is a pure function of what
// every source says about them now (Merge).
func (a *applier) derive(people []change) error {
	keys := a.keys[:0]
	for i := range people {
		keys = append(keys, people[i].key)
	}
	a.keys = keys
	recs := map[string]store.Recipient{}
	var err error
	if !a.emptyOrg {
		if recs, err = a.tx.RecipientsOf(keys); err != nil {
			return err
		}
	}
	tombs, lifts := map[string][]store.Tombstone{}, map[string][]store.Lift{}
	if !a.noOffboarding {
		if tombs, err = a.tx.TombstonesOf(keys); err != nil {
			return err
		}
		if lifts, err = a.tx.LiftsOf(keys); err != nil {
			return err
		}
	}
	// Every assertion has its recipient (an apply derives each person it
	// touches, and recipients are never deleted), so only people with a
	// recipient can have other sources' assertions.
	var known []string
	for _, k := range keys {
		if _, ok := recs[k]; ok {
			known = append(known, k)
		}
	}
	others := map[string][]store.Assertion{}
	if len(known) > 0 {
		if others, err = a.tx.AssertionsOf(known, a.others); err != nil {
			return err
		}
	}
	inserts, updates := a.inserts[:0], a.updates[:0]
	defer func() { a.inserts, a.updates = inserts, updates }()
	for i := range people {
		p := &people[i]
		rec, exists := recs[p.key]
		says := Says{Asserts: others[p.key], Tombs: tombs[p.key], Lifts: lifts[p.key]}
		next, err := a.merge(p, says, rec, exists)
		if err != nil {
			return fmt.Errorf("derive %s: %w", p.key, err)
		}
		wasActive, isActive := exists && rec.Status == store.StatusActive, next.Status == store.StatusActive
		switch {
		case isActive && !wasActive:
			a.counts.Joined++
		case wasActive && !isActive:
			a.counts.Left++
		}
		switch {
		case !exists:
			inserts = append(inserts, next)
		case !sameRecipient(&rec, &next):
			updates = append(updates, next)
		}
	}
	if err := a.tx.InsertRecipients(inserts); err != nil {
		return err
	}
	return a.tx.UpdateRecipients(updates)
}

// merge derives one person's recipient from what the sources say (says
// holds the other sources' assertions; this source's is p.cur).
func (a *applier) merge(p *change, says Says, rec store.Recipient, exists bool) (store.Recipient, error) {
	if p.cur != nil && !exists && len(says.Asserts) == 0 && len(says.Tombs) == 0 &&
		(p.cur.Status == schema.StatusActive || !a.src.Authoritative) {
		return a.newPerson(p.cur)
	}
	if p.cur != nil {
		says.Asserts = append(says.Asserts, *p.cur)
	}
	m := Merge(says, a.sources)
	// Suppressed counts who this drop offboarded, and who it lists as
	// active but who stays offboarded.
	if m.Status == store.StatusOffboarded && a.src.ID != 0 &&
		(!exists || rec.Status != store.StatusOffboarded || p.cur != nil && p.cur.Status == schema.StatusActive) {
		a.counts.Suppressed++
	}
	next := store.Recipient{Key: p.key, Email: m.Email, FirstName: m.FirstName, LastName: m.LastName,
		Attrs: m.Attrs, Status: m.Status, CreatedSeq: a.seq, UpdatedSeq: a.seq}
	if exists {
		next.CreatedSeq = rec.CreatedSeq
	}
	if len(says.Asserts) == 0 && exists {
		// Nobody lists them (gone, or offboarded by a deletion): keep the
		// last known name and address for history, but no attribute (an
		// allowlist may narrow later).
		next.Email, next.FirstName, next.LastName = rec.Email, rec.FirstName, rec.LastName
	}
	if next.Email == "" {
		next.Email = p.key
	}
	var err error
	next.GroupIDs, err = a.groupIDs(m.Groups)
	return next, err
}

// groupIDs returns the ids of groups, ascending.
func (a *applier) groupIDs(groups []GroupRef) ([]int64, error) {
	ids := make([]int64, 0, len(groups))
	for _, g := range groups {
		id, err := a.tx.GroupID(g.SourceID, g.Name)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return sortedIDs(ids), nil
}

func sortedIDs(ids []int64) []int64 {
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// newPerson is merge for someone nobody else lists, who has no recipient
// and is not offboarded (most of a first ingest): the recipient is this one
// assertion, as Merge would make it, without its bookkeeping.
func (a *applier) newPerson(cur *store.Assertion) (store.Recipient, error) {
	r := store.Recipient{Key: cur.Key, Email: cur.Email, FirstName: cur.FirstName, LastName: cur.LastName,
		Attrs: cur.Attrs, Status: store.StatusInactive, CreatedSeq: a.seq, UpdatedSeq: a.seq}
	if r.Email == "" {
		r.Email = r.Key
	}
	if cur.Status != schema.StatusActive {
		return r, nil
	}
	r.Status = store.StatusActive
	// groupIDs of the source's groups, without a GroupRef each.
	ids := make([]int64, 0, len(cur.Groups))
	for _, g := range cur.Groups {
		id, ok := a.ownGroups[g]
		if !ok {
			var err error
			if id, err = a.tx.GroupID(a.src.ID, g); err != nil {
				return r, err
			}
			if a.ownGroups == nil {
				a.ownGroups = map[string]int64{}
			}
			a.ownGroups[strings.Clone(g)] = id
		}
		ids = append(ids, id)
	}
	r.GroupIDs = sortedIDs(ids)
	return r, nil
}

func sameRecipient(a, b *store.Recipient) bool {
	return a.Email == b.Email && a.FirstName == b.FirstName && a.LastName == b.LastName && a.Attrs == b.Attrs &&
		a.Status == b.Status && slices.Equal(a.GroupIDs, b.GroupIDs)
}
