package ingest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"muster/schema"
	"muster/store"
)

// Explanation is everything muster knows about one recipient and why:
// each source's assertion and the fields it wins, groups, status, who
// offboards them and the lifts, and the recent history, newest first
// (`muster recipients explain`).
type Explanation struct {
	Recipient  store.Recipient   `json:"recipient"`
	Attrs      map[string]string `json:"attrs,omitempty"`
	Groups     []GroupName       `json:"groups"`
	Assertions []SourceAssertion `json:"assertions"`
	// Winners names, for each field, the source whose value won.
	Winners map[string]string `json:"winners"`
	// Offboarding lists every authoritative source's say that offboards
	// the person (inactive, or deleted), lifted or not.
	Offboarding []OffboardingSay `json:"offboarding,omitempty"`
	History     []HistoryEntry   `json:"history"`
}

// GroupName is a group with its source's name.
type GroupName struct {
	Source string `json:"source"`
	Name   string `json:"name"`
}

// SourceAssertion is one source's current say about the recipient.
type SourceAssertion struct {
	Source        string `json:"source"`
	Priority      int    `json:"priority"`
	Authoritative bool   `json:"authoritative"`
	Directory     bool   `json:"directory"`
	// Counts is false for an inactive assertion, which only withdraws the
	// source's say (or offboards, for an authoritative source).
	Counts    bool              `json:"counts"`
	Assertion store.Assertion   `json:"assertion"`
	Attrs     map[string]string `json:"attrs,omitempty"`
	// Drop names the drop that made this assertion: a file, a pull, a
	// batch of events.
	Drop string `json:"drop"`
	// Wins lists the fields whose value comes from this source.
	Wins []string `json:"wins"`
}

// OffboardingSay is one authoritative source's say that offboards the
// person: "inactive" (it lists them inactive) or "deleted" (its tombstone).
type OffboardingSay struct {
	Source string `json:"source"`
	Say    string `json:"say"`
	DropID int64  `json:"drop_id,omitempty"`
	Drop   string `json:"drop,omitempty"`
	At     string `json:"at,omitempty"`
	// Lifted is the admin's lift of it, nil when it is in force.
	Lifted *store.Lift `json:"lifted,omitempty"`
}

// HistoryEntry is one change to the recipient.
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
		byID[s.ID] = s
		if s.RemovedAt == "" {
			infos[s.ID] = sourceInfo(s)
		}
	}
	var says Says
	if says.Asserts, err = in.Store.Assertions(ctx, org.ID, key); err != nil {
		return nil, err
	}
	if says.Tombs, err = in.Store.Tombstones(ctx, org.ID, key); err != nil {
		return nil, err
	}
	if says.Lifts, err = in.Store.Lifts(ctx, org.ID, key); err != nil {
		return nil, err
	}
	legacy, err := in.Store.Suppressions(ctx, org.ID, key)
	if err != nil {
		return nil, err
	}
	versions, err := in.Store.Versions(ctx, org.ID, key)
	if err != nil {
		return nil, err
	}
	seqs := []int64{}
	for _, v := range versions {
		seqs = append(seqs, v.Seq, v.UntilSeq)
	}
	for _, t := range says.Tombs {
		seqs = append(seqs, t.Seq)
	}
	drops, err := in.Store.DropsBySeq(ctx, org.ID, seqs)
	if err != nil {
		return nil, err
	}
	m := Merge(Says{Asserts: slices.Clone(says.Asserts), Tombs: says.Tombs, Lifts: says.Lifts}, infos)
	ex := &Explanation{Recipient: rec, Attrs: attrMap(rec.Attrs), Winners: map[string]string{}, Groups: []GroupName{},
		Assertions: []SourceAssertion{}}
	wins := map[int64][]string{}
	for f, id := range m.Winner {
		ex.Winners[string(f)] = infos[id].Name
		wins[id] = append(wins[id], string(f))
	}
	groups, err := in.Store.GroupsByID(ctx, org.ID, rec.GroupIDs)
	if err != nil {
		return nil, err
	}
	for _, id := range rec.GroupIDs {
		ex.Groups = append(ex.Groups, GroupName{Source: groups[id].SourceName, Name: groups[id].Name})
	}
	slices.SortFunc(says.Asserts, func(a, b store.Assertion) int { return rank(infos[a.SourceID], infos[b.SourceID]) })
	for _, a := range says.Asserts {
		s := byID[a.SourceID]
		w := wins[a.SourceID]
		slices.Sort(w)
		ex.Assertions = append(ex.Assertions, SourceAssertion{Source: s.Name, Priority: s.Priority,
			Authoritative: s.Authoritative, Directory: s.Kind.Directory(), Counts: a.Status == schema.StatusActive,
			Assertion: a, Attrs: attrMap(a.Attrs), Drop: drops[a.Seq].Name, Wins: append([]string{}, w...)})
	}
	ex.Offboarding = offboardingSays(m, says, byID, drops)
	ex.History = history(versions, says.Tombs, says.Lifts, legacy, byID, drops)
	return ex, nil
}

// offboardingSays lists the authoritative sources' says that offboard the
// person, lifted or not.
func offboardingSays(m Merged, says Says, srcs map[int64]store.Source, drops map[int64]store.Drop) []OffboardingSay {
	var out []OffboardingSay
	for _, id := range slices.Sorted(slices.Values(append(slices.Clone(m.Offboarders), m.Lifted...))) {
		o := OffboardingSay{Source: srcs[id].Name, Say: "inactive"}
		var say int64
		for _, a := range says.Asserts {
			if a.SourceID == id {
				d := drops[a.Seq]
				o.DropID, o.Drop, o.At, say = a.DropID, d.Name, d.DecidedAt, a.Say()
			}
		}
		if o.DropID == 0 {
			for _, t := range says.Tombs {
				if t.SourceID == id {
					d := drops[t.Seq]
					o.Say, o.DropID, o.Drop, o.At, say = "deleted", t.DropID, d.Name, d.DecidedAt, t.Say()
				}
			}
		}
		for _, l := range says.Lifts {
			if l.SourceID == id && l.Say == say {
				o.Lifted = &l
			}
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b OffboardingSay) int { return cmp.Compare(a.Source, b.Source) })
	return out
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
// ends with no successor is a removal (a deletion when the source's
// tombstone says so). Lifts, and the offboardings recorded before muster
// derived them (legacy), add their own entries. Newest first.
func history(vs []store.Assertion, tombs []store.Tombstone, lifts []store.Lift, legacy []store.Suppression,
	srcs map[int64]store.Source, drops map[int64]store.Drop) []HistoryEntry {
	type sk struct{ src, seq int64 }
	endAt := map[sk]*store.Assertion{}
	startAt := map[sk]bool{}
	deleted := map[sk]bool{}
	for i := range vs {
		startAt[sk{vs[i].SourceID, vs[i].Seq}] = true
		if vs[i].UntilSeq > 0 {
			endAt[sk{vs[i].SourceID, vs[i].UntilSeq}] = &vs[i]
		}
	}
	for _, t := range tombs {
		deleted[sk{t.SourceID, t.Seq}] = true
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
		if end := (sk{v.SourceID, v.UntilSeq}); v.UntilSeq > 0 && !startAt[end] {
			kind := HistRemoved
			if deleted[end] {
				kind, deleted[end] = HistDeleted, false
			}
			out = append(out, entry(v.UntilSeq, v.SourceID, kind, 0))
		}
	}
	for _, t := range tombs {
		if deleted[sk{t.SourceID, t.Seq}] { // deleted while not listed
			out = append(out, entry(t.Seq, t.SourceID, HistDeleted, 0))
		}
	}
	for _, l := range lifts {
		out = append(out, HistoryEntry{At: l.CreatedAt, Source: srcs[l.SourceID].Name, Kind: HistLifted, Reason: l.Reason, By: l.By})
	}
	for _, p := range legacy {
		out = append(out, HistoryEntry{DropID: p.DropID, At: p.CreatedAt, Source: p.SourceName, Kind: HistOffboarded, Reason: p.Reason})
		if p.LiftedAt != "" {
			out = append(out, HistoryEntry{At: p.LiftedAt, Kind: HistLifted, Reason: p.LiftReason, By: p.LiftedBy})
		}
	}
	slices.SortStableFunc(out, func(a, b HistoryEntry) int {
		return cmp.Or(cmp.Compare(parseTime(b.At), parseTime(a.At)), cmp.Compare(b.Seq, a.Seq))
	})
	if len(out) > HistoryLimit {
		out = out[:HistoryLimit]
	}
	return out
}

// parseTime reads a store timestamp as Unix nanoseconds (0 when empty).
func parseTime(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0
	}
	return t.UnixNano()
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
	HistDeleted    = "deleted"    // an authoritative source deleted them (its tombstone)
	HistLifted     = "lifted"     // an admin lifted an offboarding
	HistOffboarded = "offboarded" // offboarded (recorded before offboarding was derived)
)

// String says an offboarding say in words, for the CLI.
func (o OffboardingSay) String() string {
	s := fmt.Sprintf("%s by authoritative source %s", map[string]string{"inactive": "marked inactive", "deleted": "deleted"}[o.Say], o.Source)
	if o.DropID != 0 {
		s += fmt.Sprintf(" (drop %d %q)", o.DropID, o.Drop)
	}
	if o.Lifted != nil {
		s += fmt.Sprintf("; lifted %s by %s", o.Lifted.CreatedAt, o.Lifted.By)
		if o.Lifted.Reason != "" {
			s += ": " + o.Lifted.Reason
		}
	}
	return s
}
