package ingest

import (
	"cmp"
	"slices"

	"muster/schema"
	"muster/store"
)

// SourceInfo is what the merge needs to know about a source.
type SourceInfo struct {
	ID            int64
	Name          string
	Priority      int
	Authoritative bool
	// Directory: a directory source (WorkOS, SCIM), which outranks file
	// sources of the same priority (merge rule 2).
	Directory bool
}

// sourceInfo is a stored source as the merge sees it.
func sourceInfo(s store.Source) SourceInfo {
	return SourceInfo{ID: s.ID, Name: s.Name, Priority: s.Priority, Authoritative: s.Authoritative, Directory: s.Kind.Directory()}
}

// rank orders sources for a value (merge rule 3): the higher priority
// first, then a directory before a file, then by name. It never looks at
// when anything arrived, so the winner is the same whatever the order of
// the drops.
func rank(a, b SourceInfo) int {
	if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
		return c
	}
	if a.Directory != b.Directory {
		if a.Directory {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
}

// Field names a merged value, for explanations.
type Field string

// Merged fields besides the optional attributes (named by their Attr).
const (
	FieldEmail     Field = "email"
	FieldFirstName Field = "first_name"
	FieldLastName  Field = "last_name"
)

// GroupRef is a group named within its source (merge rule 4).
type GroupRef struct {
	SourceID int64  `json:"source_id"`
	Name     string `json:"name"`
}

// Says is everything the sources of an organisation say about one person
// now: their assertions (snapshot rows), the tombstones of the sources that
// deleted them, and the admins' lifts.
type Says struct {
	Asserts []store.Assertion
	Tombs   []store.Tombstone
	Lifts   []store.Lift
}

// Merged is a recipient derived from every source's say about them.
type Merged struct {
	Email, FirstName, LastName string
	Attrs                      schema.Attrs
	Status                     store.RecipientStatus
	// Groups is the union of the groups of the active assertions, sorted
	// by source then name; empty unless Status is active.
	Groups []GroupRef
	// Winner names, for each field, the source whose value won (0: none).
	Winner map[Field]int64
	// Offboarders are the authoritative sources that say the person is
	// inactive or deleted them, not lifted: they offboard the person unless
	// an authoritative source lists them active. Lifted are those whose say
	// an admin lifted.
	Offboarders, Lifted []int64
}

// Merge derives a recipient from what the sources say about them now
// (merge rules 1 to 5). It is a pure function of its arguments: the same
// says give the same recipient whatever order they arrived in.
//
//   - Offboarded: an authoritative source lists them inactive or deleted
//     them (its tombstone), that say is not lifted, and no authoritative
//     source lists them active.
//   - Otherwise active when an authoritative source lists them active, or
//     a source of the identity pool does (below); or when a file source
//     outside the pool does and every say of the pool is lifted.
//   - Otherwise inactive when a source lists them, gone when none does.
//
// The identity pool (merge rule 2): while a directory source lists the
// person, their names, address as written, status and attributes come from
// directory sources, and from file sources only if configured with a
// higher priority than those directories; else from every source. Among the
// pool's active assertions (or all of the pool's when none is active) each
// field goes to the best ranked source giving a value (rank). Groups are
// the union over every active assertion: a file source may always add a
// person to its own groups.
func Merge(says Says, sources map[int64]SourceInfo) Merged {
	m := Merged{Winner: map[Field]int64{}}
	asserts := says.Asserts
	listed := map[int64]*store.Assertion{}
	dirListed, dirTop := false, 0
	for i := range asserts {
		a := &asserts[i]
		listed[a.SourceID] = a
		if s := sources[a.SourceID]; s.Directory {
			if !dirListed || s.Priority > dirTop {
				dirTop = s.Priority
			}
			dirListed = true
		}
	}
	inPool := func(a *store.Assertion) bool {
		s := sources[a.SourceID]
		return !dirListed || s.Directory || s.Priority > dirTop
	}
	lifted := func(src, say int64) bool {
		for _, l := range says.Lifts {
			if l.SourceID == src && l.Say == say {
				return true
			}
		}
		return false
	}
	authActive, anyActive, poolActive := false, false, false
	for i := range asserts {
		a := &asserts[i]
		s := sources[a.SourceID]
		active := a.Status == schema.StatusActive
		anyActive = anyActive || active
		poolActive = poolActive || active && inPool(a)
		authActive = authActive || active && s.Authoritative
		if !active && s.Authoritative {
			m.offboardedBy(a.SourceID, lifted(a.SourceID, a.Say()))
		}
	}
	for _, t := range says.Tombs {
		if _, ok := listed[t.SourceID]; !ok && sources[t.SourceID].Authoritative {
			m.offboardedBy(t.SourceID, lifted(t.SourceID, t.Say()))
		}
	}
	poolLifted := true // every say of the pool is lifted
	for i := range asserts {
		if a := &asserts[i]; inPool(a) && !slices.Contains(m.Lifted, a.SourceID) {
			poolLifted = false
		}
	}
	switch {
	case !authActive && len(m.Offboarders) > 0:
		m.Status = store.StatusOffboarded
	case authActive || poolActive || anyActive && poolLifted:
		m.Status = store.StatusActive
	case len(asserts) > 0:
		m.Status = store.StatusInactive
	default:
		m.Status = store.StatusGone
	}
	// Values come from the pool's active assertions; a person the pool
	// lists as inactive only keeps the values it last gave, for display.
	var pool []*store.Assertion
	for _, active := range []bool{true, false} {
		for i := range asserts {
			a := &asserts[i]
			if inPool(a) && (!active || a.Status == schema.StatusActive) {
				pool = append(pool, a)
			}
		}
		if len(pool) > 0 {
			break
		}
	}
	slices.SortFunc(pool, func(a, b *store.Assertion) int { return rank(sources[a.SourceID], sources[b.SourceID]) })
	pick := func(f Field, get func(*store.Assertion) string) string {
		for _, a := range pool {
			if v := get(a); v != "" {
				m.Winner[f] = a.SourceID
				return v
			}
		}
		return ""
	}
	m.Email = pick(FieldEmail, func(a *store.Assertion) string { return a.Email })
	m.FirstName = pick(FieldFirstName, func(a *store.Assertion) string { return a.FirstName })
	m.LastName = pick(FieldLastName, func(a *store.Assertion) string { return a.LastName })
	for i := range m.Attrs {
		m.Attrs[i] = pick(Field(schema.Attr(i).String()), func(a *store.Assertion) string { return a.Attrs[i] })
	}
	if m.Status == store.StatusActive {
		for i := range asserts {
			a := &asserts[i]
			if a.Status != schema.StatusActive {
				continue
			}
			for _, g := range a.Groups {
				m.Groups = append(m.Groups, GroupRef{SourceID: a.SourceID, Name: g})
			}
		}
		slices.SortFunc(m.Groups, func(a, b GroupRef) int {
			return cmp.Or(cmp.Compare(a.SourceID, b.SourceID), cmp.Compare(a.Name, b.Name))
		})
		m.Groups = slices.Compact(m.Groups)
	}
	slices.Sort(m.Offboarders)
	slices.Sort(m.Lifted)
	return m
}

func (m *Merged) offboardedBy(src int64, lifted bool) {
	if lifted {
		m.Lifted = append(m.Lifted, src)
	} else {
		m.Offboarders = append(m.Offboarders, src)
	}
}
