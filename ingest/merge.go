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

// Merged is a recipient derived from every source's assertion about them.
type Merged struct {
	Email, FirstName, LastName string
	Attrs                      schema.Attrs
	Status                     store.RecipientStatus
	// Groups is the union of the groups of the assertions that count, sorted
	// by source then name; empty unless Status is active.
	Groups []GroupRef
	// Winner names, for each field, the source whose value won (0: none).
	Winner map[Field]int64
}

// Merge derives a recipient from the current assertions about them
// (merge rules 1 to 5). An assertion counts when it says active: an inactive
// one from a non-authoritative source only withdraws that source's say, and
// an authoritative source's inactive row has already offboarded the person,
// which suppressed reports. For each field the source with the highest
// priority that gives a value wins, ties going to the most recent change
// (then to the lower source id, so the result never depends on order).
func Merge(asserts []store.Assertion, sources map[int64]SourceInfo, suppressed bool) Merged {
	var m Merged
	counting := make([]*store.Assertion, 0, len(asserts))
	for i := range asserts {
		if asserts[i].Status == schema.StatusActive {
			counting = append(counting, &asserts[i])
		}
	}
	switch {
	case suppressed:
		m.Status = store.StatusOffboarded
	case len(counting) > 0:
		m.Status = store.StatusActive
	case len(asserts) > 0:
		m.Status = store.StatusInactive
	default:
		m.Status = store.StatusGone
	}
	// Values come from the assertions that count; a person nobody lists as
	// active keeps the values their sources last gave, for display.
	pool := counting
	if len(pool) == 0 {
		for i := range asserts {
			pool = append(pool, &asserts[i])
		}
	}
	slices.SortStableFunc(pool, func(a, b *store.Assertion) int {
		if c := cmp.Compare(sources[b.SourceID].Priority, sources[a.SourceID].Priority); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Seq, a.Seq); c != 0 {
			return c
		}
		return cmp.Compare(a.SourceID, b.SourceID)
	})
	m.Winner = map[Field]int64{}
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
		for _, a := range counting {
			for _, g := range a.Groups {
				m.Groups = append(m.Groups, GroupRef{SourceID: a.SourceID, Name: g})
			}
		}
		slices.SortFunc(m.Groups, func(a, b GroupRef) int {
			return cmp.Or(cmp.Compare(a.SourceID, b.SourceID), cmp.Compare(a.Name, b.Name))
		})
		m.Groups = slices.Compact(m.Groups)
	}
	return m
}
