package ingest

import (
	"context"
	"slices"

	"muster/schema"
	"muster/store"
)

// Explanation is everything muster knows about one recipient and why:
// each source's assertion and which won, groups, status, suppression and
// recent history (`muster recipients explain`).
type Explanation struct {
	Recipient  store.Recipient    `json:"recipient"`
	Attrs      map[string]string  `json:"attrs,omitempty"`
	Groups     []GroupName        `json:"groups"`
	Assertions []SourceAssertion  `json:"assertions"`
	Winners    map[string]string  `json:"winners"`
	Suppressed *store.Suppression `json:"suppressed,omitempty"`
	// Suppressions lists every suppression, lifted ones included.
	Suppressions []store.Suppression `json:"suppressions,omitempty"`
	History      []HistoryEntry      `json:"history"`
}

// GroupName is a group with its source's name.
type GroupName struct {
	Source string `json:"source"`
	Name   string `json:"name"`
}

// SourceAssertion is one source's current say about the recipient.
type SourceAssertion struct {
	Source        string            `json:"source"`
	Priority      int               `json:"priority"`
	Authoritative bool              `json:"authoritative"`
	Counts        bool              `json:"counts"`
	Assertion     store.Assertion   `json:"assertion"`
	Attrs         map[string]string `json:"attrs,omitempty"`
	Drop          string            `json:"drop"`
}

// HistoryEntry is one change to the recipient, newest first.
type HistoryEntry struct {
	Seq     int64                `json:"seq,omitempty"`
	DropID  int64                `json:"drop_id,omitempty"`
	Drop    string               `json:"drop,omitempty"`
	At      string               `json:"at,omitempty"`
	Source  string               `json:"source,omitempty"`
	Kind    string               `json:"kind"`
	Line    int                  `json:"line,omitempty"`
	Changes map[string][2]string `json:"changes,omitempty"`
	Reason  string               `json:"reason,omitempty"`
	// By says who made the change: "watcher", "cli", "api:<token name>"...
	// (the drop's decided_by).
	By string `json:"by,omitempty"`
}

// HistoryLimit is how many history entries an explanation shows.
const HistoryLimit = 20

// Explain explains the organisation's recipient with key.
func (in *Ingester) Explain(ctx context.Context, orgName, key string) (*Explanation, error) {
	org, err := in.Store.LookupOrg(ctx, orgName)
	if err != nil {
		return nil, err
	}
	rec, err := in.Store.Recipient(ctx, org.ID, key)
	if err != nil {
		return nil, err
	}
	srcs, err := in.Store.Sources(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	infos := map[int64]SourceInfo{}
	byID := map[int64]store.Source{}
	for _, s := range srcs {
		infos[s.ID] = SourceInfo{ID: s.ID, Name: s.Name, Priority: s.Priority, Authoritative: s.Authoritative}
		byID[s.ID] = s
	}
	asserts, err := in.Store.Assertions(ctx, org.ID, key)
	if err != nil {
		return nil, err
	}
	sups, err := in.Store.Suppressions(ctx, org.ID, key)
	if err != nil {
		return nil, err
	}
	versions, err := in.Store.Versions(ctx, org.ID, key)
	if err != nil {
		return nil, err
	}
	ex := &Explanation{Recipient: rec, Attrs: attrMap(rec.Attrs), Winners: map[string]string{}, Suppressions: sups,
		Groups: []GroupName{}, Assertions: []SourceAssertion{}}
	for i := range sups {
		if sups[i].LiftedAt == "" {
			ex.Suppressed = &sups[i]
		}
	}
	m := Merge(slices.Clone(asserts), infos, ex.Suppressed != nil)
	for f, id := range m.Winner {
		ex.Winners[string(f)] = infos[id].Name
	}
	groups, err := in.Store.GroupsByID(ctx, org.ID, rec.GroupIDs)
	if err != nil {
		return nil, err
	}
	for _, id := range rec.GroupIDs {
		ex.Groups = append(ex.Groups, GroupName{Source: groups[id].SourceName, Name: groups[id].Name})
	}
	var seqs []int64
	for _, v := range versions {
		seqs = append(seqs, v.Seq)
		if v.UntilSeq > 0 {
			seqs = append(seqs, v.UntilSeq)
		}
	}
	drops, err := in.Store.DropsBySeq(ctx, org.ID, seqs)
	if err != nil {
		return nil, err
	}
	for _, a := range asserts {
		s := byID[a.SourceID]
		ex.Assertions = append(ex.Assertions, SourceAssertion{Source: s.Name, Priority: s.Priority,
			Authoritative: s.Authoritative, Counts: a.Status == schema.StatusActive, Assertion: a,
			Attrs: attrMap(a.Attrs), Drop: drops[a.Seq].Name})
	}
	ex.History = history(versions, sups, byID, drops)
	return ex, nil
}

func attrMap(a schema.Attrs) map[string]string {
	var m map[string]string
	for i, v := range a {
		if v != "" {
			if m == nil {
				m = map[string]string{}
			}
			m[schema.Attr(i).String()] = v
		}
	}
	return m
}

// history turns snapshot versions into changes: a version that starts
// where none of its source ended is an addition, one that starts where
// another ended is an update (with the fields that changed), and one that
// ends with no successor is a removal. Suppressions add their own entries.
func history(vs []store.Assertion, sups []store.Suppression, srcs map[int64]store.Source, drops map[int64]store.Drop) []HistoryEntry {
	type sk struct{ src, seq int64 }
	endAt := map[sk]*store.Assertion{}
	startAt := map[sk]bool{}
	for i := range vs {
		startAt[sk{vs[i].SourceID, vs[i].Seq}] = true
		if vs[i].UntilSeq > 0 {
			endAt[sk{vs[i].SourceID, vs[i].UntilSeq}] = &vs[i]
		}
	}
	var out []HistoryEntry
	entry := func(seq int64, src int64, kind string, line int) HistoryEntry {
		d := drops[seq]
		return HistoryEntry{Seq: seq, DropID: d.ID, Drop: d.Name, At: d.DecidedAt, Source: srcs[src].Name, Kind: kind, Line: line,
			By: d.DecidedBy}
	}
	for i := range vs {
		v := &vs[i]
		if prev, ok := endAt[sk{v.SourceID, v.Seq}]; ok {
			e := entry(v.Seq, v.SourceID, HistUpdated, v.Line)
			e.Changes = FieldChanges(prev, v)
			out = append(out, e)
		} else {
			out = append(out, entry(v.Seq, v.SourceID, HistAdded, v.Line))
		}
		if v.UntilSeq > 0 && !startAt[sk{v.SourceID, v.UntilSeq}] {
			out = append(out, entry(v.UntilSeq, v.SourceID, HistRemoved, 0))
		}
	}
	slices.SortStableFunc(out, func(a, b HistoryEntry) int { return int(b.Seq - a.Seq) })
	var sh []HistoryEntry
	for _, p := range sups {
		sh = append(sh, HistoryEntry{DropID: p.DropID, At: p.CreatedAt, Source: p.SourceName, Kind: HistOffboarded, Reason: p.Reason})
		if p.LiftedAt != "" {
			sh = append(sh, HistoryEntry{At: p.LiftedAt, Kind: HistLifted, Reason: p.LiftedBy + ": " + p.LiftReason})
		}
	}
	out = append(sh, out...)
	if len(out) > HistoryLimit {
		out = out[:HistoryLimit]
	}
	return out
}

// FieldChanges lists the fields whose values differ between two versions
// of an assertion, each as [old, new] (an empty a gives every value of b).
func FieldChanges(a, b *store.Assertion) map[string][2]string {
	ch := map[string][2]string{}
	add := func(name, x, y string) {
		if x != y {
			ch[name] = [2]string{x, y}
		}
	}
	add("email", a.Email, b.Email)
	add("first_name", a.FirstName, b.FirstName)
	add("last_name", a.LastName, b.LastName)
	add("status", a.Status.String(), b.Status.String())
	add("uid", a.UID, b.UID)
	add("groups", joinGroups(a.Groups), joinGroups(b.Groups))
	for i := range a.Attrs {
		add(schema.Attr(i).String(), a.Attrs[i], b.Attrs[i])
	}
	return ch
}

func joinGroups(g []string) string {
	out := ""
	for i, s := range g {
		if i > 0 {
			out += "; "
		}
		out += s
	}
	return out
}

// History entry kinds.
const (
	HistAdded      = "added"      // a source started listing the person
	HistUpdated    = "updated"    // a source changed what it says
	HistRemoved    = "removed"    // a source stopped listing them
	HistOffboarded = "offboarded" // an authoritative source offboarded them
	HistLifted     = "lifted"     // their suppression was lifted
)
