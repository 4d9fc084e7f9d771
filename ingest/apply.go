package ingest

import (
	"fmt"
	"slices"

	"muster/schema"
	"muster/store"
)

// applyBatch is how many changes an applier reads and writes together.
const applyBatch = 256

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
	// emptyOrg and noSuppressions let a first ingest skip lookups that
	// cannot find anything.
	emptyOrg       bool
	noSuppressions bool
	// withdrawOnly: removing the source, not the source deleting people, so
	// an authoritative source's removal does not offboard (merge rule 5).
	withdrawOnly bool
	// removalsWithdraw: a rollback, whose removals restore a snapshot that
	// did not list the person rather than say they left, so they withdraw
	// without offboarding; its status changes still count.
	removalsWithdraw bool
	// removeSource: the apply removes the source itself (`sources remove`),
	// marked in the same transaction.
	removeSource bool
	// offboardAbsent: a removal of someone the source does not list still
	// offboards them when the source is authoritative (a user deleted from a
	// directory before it was pulled); absent counts those removals.
	offboardAbsent bool
	absent         int64
	// inTx runs in the transaction before it commits (Edits.InTx).
	inTx func(*store.Tx) error
	// noIndex: the apply does not write the source's snapshot index file.
	noIndex bool
	hook    func(string)
	// buffers reused from batch to batch
	curs, added, replaced []store.Assertion
	keys, removed         []string
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
		a.sources[s.ID] = SourceInfo{ID: s.ID, Name: s.Name, Priority: s.Priority, Authoritative: s.Authoritative}
		if s.ID != src.ID {
			a.others = append(a.others, s.ID)
		}
	}
	a.sources[src.ID] = SourceInfo{ID: src.ID, Name: src.Name, Priority: src.Priority, Authoritative: src.Authoritative}
	recipients, suppressions, err := tx.Has()
	if err != nil {
		return nil, err
	}
	a.emptyOrg, a.noSuppressions = !recipients, !suppressions
	return a, nil
}

// change is one person a batch derives again: this source's assertion
// about them is now cur (nil: withdrawn, or unchanged when rederiving), and
// was old.
type change struct {
	key    string
	cur    *store.Assertion
	old    schema.Status
	hadOld bool
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
	defer func() { a.curs, a.added, a.replaced, a.removed, a.people = curs, added, replaced, removed, people }()
	for i := range cs {
		c := &cs[i]
		st, hadOld := old[c.Key]
		p := change{key: c.Key, old: st, hadOld: hadOld}
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
		case store.OpRemove:
			if !hadOld {
				if a.offboardAbsent && a.src.Authoritative && !a.withdrawOnly {
					a.absent++
					people = append(people, p) // offboarded all the same
				}
				continue
			}
			removed = append(removed, c.Key)
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
	return a.derive(people)
}

// derive recomputes the recipients of people after this source's
// assertions changed, applying offboarding (merge rule 5).
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
	sups := map[string]store.Suppression{}
	if !a.noSuppressions {
		if sups, err = a.tx.ActiveSuppressionsOf(keys); err != nil {
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
		sup, suppressed := sups[p.key]
		next, err := a.merge(p, others[p.key], rec, exists, sup, suppressed)
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

// merge derives one person's recipient from their assertions, offboarding
// or reinstating them when this source is authoritative.
func (a *applier) merge(p *change, asserts []store.Assertion, rec store.Recipient, exists bool,
	sup store.Suppression, suppressed bool) (store.Recipient, error) {
	if p.cur != nil && !exists && !suppressed && len(asserts) == 0 &&
		(p.cur.Status == schema.StatusActive || !a.src.Authoritative || a.withdrawOnly) {
		return a.newPerson(p.cur)
	}
	if p.cur != nil {
		asserts = append(asserts, *p.cur)
	}
	if a.src.Authoritative && !a.withdrawOnly {
		// Offboarding follows transitions of this source's say, so a lifted
		// suppression stays lifted until the source changes its mind again.
		oldActive := p.hadOld && p.old == schema.StatusActive
		curActive := p.cur != nil && p.cur.Status == schema.StatusActive
		offboard := !curActive && (oldActive || !p.hadOld) && (p.cur != nil || !a.removalsWithdraw)
		reinstate := curActive && !oldActive
		switch {
		case offboard && !suppressed:
			reason := fmt.Sprintf("marked inactive by authoritative source %s", a.src.Name)
			if p.cur == nil {
				reason = fmt.Sprintf("removed by authoritative source %s", a.src.Name)
			}
			sup = store.Suppression{Key: p.key, Reason: reason, SourceID: a.src.ID, DropID: a.dropID}
			if err := a.tx.Suppress(&sup); err != nil {
				return store.Recipient{}, err
			}
			suppressed, a.noSuppressions = true, false
			a.counts.Suppressed++
		case reinstate && suppressed:
			if err := a.tx.Lift(sup.ID, "source "+a.src.Name, "listed as active again by authoritative source "+a.src.Name); err != nil {
				return store.Recipient{}, err
			}
			suppressed = false
		}
	}
	if suppressed && p.cur != nil && p.cur.Status == schema.StatusActive {
		a.counts.Suppressed++ // added or updated, but offboarded
	}
	m := Merge(asserts, a.sources, suppressed)
	next := store.Recipient{Key: p.key, Email: m.Email, FirstName: m.FirstName, LastName: m.LastName,
		Attrs: m.Attrs, Status: m.Status, CreatedSeq: a.seq, UpdatedSeq: a.seq}
	if exists {
		next.CreatedSeq = rec.CreatedSeq
	}
	if len(asserts) == 0 && exists {
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
	var ids []int64
	for _, g := range groups {
		id, err := a.tx.GroupID(g.SourceID, g.Name)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
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
	groups := make([]GroupRef, len(cur.Groups))
	for i, g := range cur.Groups {
		groups[i] = GroupRef{SourceID: a.src.ID, Name: g}
	}
	var err error
	r.GroupIDs, err = a.groupIDs(groups)
	return r, err
}

func sameRecipient(a, b *store.Recipient) bool {
	return a.Email == b.Email && a.FirstName == b.FirstName && a.LastName == b.LastName && a.Attrs == b.Attrs &&
		a.Status == b.Status && slices.Equal(a.GroupIDs, b.GroupIDs)
}
