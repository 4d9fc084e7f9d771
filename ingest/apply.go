package ingest

import (
	"fmt"
	"slices"

	"muster/schema"
	"muster/store"
)

// applier applies one drop's changes to its source's snapshot and derives
// the recipients they touch, inside one store transaction. Only the keys
// the drop changes are derived again.
type applier struct {
	tx      *store.Tx
	src     store.Source
	seq     int64
	dropID  int64
	sources map[int64]SourceInfo
	others  []int64 // the organisation's other sources, which may list the same people
	counts  *Counts
	// freshSource: the snapshot was empty, so no change has an old row.
	freshSource bool
	// emptyOrg and noSuppressions let a first ingest skip lookups that
	// cannot find anything.
	emptyOrg       bool
	noSuppressions bool
	// withdrawOnly: removing the source, not the source deleting people, so
	// an authoritative source's removal does not offboard (merge rule 5).
	withdrawOnly bool
	// offboardAbsent: a removal of someone the source does not list still
	// offboards them when the source is authoritative (a user deleted from a
	// directory before it was pulled); absent counts those removals.
	offboardAbsent bool
	absent         int64
	hook           func(string)
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
	a.freshSource = src.Rows == 0
	a.emptyOrg, a.noSuppressions = !recipients, !suppressions
	return a, nil
}

// apply applies one change of the drop.
func (a *applier) apply(c store.Change) error {
	if a.emptyOrg && a.freshSource && c.Op == store.OpAdd {
		return a.addNew(c)
	}
	var old store.Assertion
	hadOld := false
	// An addition has no old row: the diff found none, and the apply runs
	// only if the snapshot is still the one the diff read (base seq).
	if c.Op != store.OpAdd {
		var err error
		if old, hadOld, err = a.tx.Current(a.src.ID, c.Key); err != nil {
			return err
		}
	}
	var cur *store.Assertion
	switch c.Op {
	case store.OpAdd, store.OpUpdate:
		n := c.Assertion
		n.SourceID, n.Seq, n.DropID = a.src.ID, a.seq, a.dropID
		var prev *store.Assertion
		if hadOld {
			prev = &old
		}
		if err := a.tx.Assert(n, prev); err != nil {
			return err
		}
		cur = &n
	case store.OpRemove:
		if !hadOld {
			if a.offboardAbsent && a.src.Authoritative && !a.withdrawOnly {
				a.absent++
				return a.derive(c.Key, nil, nil, c.Op)
			}
			return nil
		}
		if err := a.tx.Withdraw(old, a.seq); err != nil {
			return err
		}
	default:
		return fmt.Errorf("apply: unknown change %d", c.Op)
	}
	var prev *store.Assertion
	if hadOld {
		prev = &old
	}
	return a.derive(c.Key, cur, prev, c.Op)
}

// derive recomputes the recipient with key after this source's assertion
// became cur (nil: withdrawn), applying offboarding (merge rule 5).
func (a *applier) derive(key string, cur, old *store.Assertion, op store.ChangeOp) error {
	asserts, err := a.tx.Assertions(key, a.others)
	if err != nil {
		return err
	}
	if cur != nil {
		asserts = append(asserts, *cur)
	}
	var rec store.Recipient
	exists := false
	if !a.emptyOrg {
		if rec, exists, err = a.tx.Recipient(key); err != nil {
			return err
		}
	}
	var sup store.Suppression
	suppressed := false
	if !a.noSuppressions {
		if sup, suppressed, err = a.tx.ActiveSuppression(key); err != nil {
			return err
		}
	}
	if a.src.Authoritative && !a.withdrawOnly {
		// Offboarding follows transitions of this source's say, so a lifted
		// suppression stays lifted until the source changes its mind again.
		oldActive := old != nil && old.Status == schema.StatusActive
		curActive := cur != nil && cur.Status == schema.StatusActive
		offboard := !curActive && (oldActive || old == nil)
		reinstate := curActive && !oldActive
		switch {
		case offboard && !suppressed:
			reason := fmt.Sprintf("marked inactive by authoritative source %s", a.src.Name)
			if cur == nil {
				reason = fmt.Sprintf("removed by authoritative source %s", a.src.Name)
			}
			sup = store.Suppression{Key: key, Reason: reason, SourceID: a.src.ID, DropID: a.dropID}
			if err := a.tx.Suppress(&sup); err != nil {
				return err
			}
			suppressed, a.noSuppressions = true, false
			a.counts.Suppressed++
		case reinstate && suppressed:
			if err := a.tx.Lift(sup.ID, "source "+a.src.Name, "listed as active again by authoritative source "+a.src.Name); err != nil {
				return err
			}
			suppressed = false
		}
	}
	if suppressed && cur != nil && cur.Status == schema.StatusActive {
		a.counts.Suppressed++ // added or updated, but offboarded
	}
	m := Merge(asserts, a.sources, suppressed)
	next := store.Recipient{Key: key, Email: m.Email, FirstName: m.FirstName, LastName: m.LastName,
		Attrs: m.Attrs, Status: m.Status, CreatedSeq: a.seq, UpdatedSeq: a.seq}
	if exists {
		next.CreatedSeq = rec.CreatedSeq
	}
	if m.Status == store.StatusGone && exists {
		// Nobody lists them: keep the last known name and address for
		// history, but no attribute (an allowlist may narrow later).
		next.Email, next.FirstName, next.LastName = rec.Email, rec.FirstName, rec.LastName
	}
	if next.Email == "" {
		next.Email = key
	}
	for _, g := range m.Groups {
		id, err := a.tx.GroupID(g.SourceID, g.Name)
		if err != nil {
			return err
		}
		next.GroupIDs = append(next.GroupIDs, id)
	}
	slices.Sort(next.GroupIDs)
	next.GroupIDs = slices.Compact(next.GroupIDs)
	if exists && sameRecipient(&rec, &next) {
		return nil
	}
	return a.tx.SaveRecipient(&next, exists)
}

// addNew applies an addition in an organisation that had no recipients:
// the person has no other assertion, no recipient and no suppression yet,
// so the merge is this one assertion and rows are inserted in batches.
func (a *applier) addNew(c store.Change) error {
	n := c.Assertion
	n.SourceID, n.Seq, n.DropID = a.src.ID, a.seq, a.dropID
	r := store.Recipient{Key: n.Key, Email: n.Email, FirstName: n.FirstName, LastName: n.LastName, Attrs: n.Attrs,
		Status: store.StatusActive, CreatedSeq: a.seq, UpdatedSeq: a.seq}
	if r.Email == "" {
		r.Email = r.Key
	}
	switch {
	case n.Status == schema.StatusInactive && a.src.Authoritative && !a.withdrawOnly:
		sup := store.Suppression{Key: n.Key, SourceID: a.src.ID, DropID: a.dropID,
			Reason: fmt.Sprintf("marked inactive by authoritative source %s", a.src.Name)}
		if err := a.tx.Suppress(&sup); err != nil {
			return err
		}
		a.counts.Suppressed++
		r.Status = store.StatusOffboarded
	case n.Status == schema.StatusInactive:
		r.Status = store.StatusInactive
	default:
		for _, g := range n.Groups {
			id, err := a.tx.GroupID(a.src.ID, g)
			if err != nil {
				return err
			}
			r.GroupIDs = append(r.GroupIDs, id)
		}
		slices.Sort(r.GroupIDs)
		r.GroupIDs = slices.Compact(r.GroupIDs)
	}
	return a.tx.AddNew(n, r)
}

func sameRecipient(a, b *store.Recipient) bool {
	return a.Email == b.Email && a.FirstName == b.FirstName && a.LastName == b.LastName && a.Attrs == b.Attrs &&
		a.Status == b.Status && slices.Equal(a.GroupIDs, b.GroupIDs)
}
