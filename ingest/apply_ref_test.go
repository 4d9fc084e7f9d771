package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"muster/schema"
	"muster/store"
)

// refApply is how changes were applied before batching, one at a time,
// reading and writing each person with single-row statements. The batched
// applier must leave the store exactly as it does.
func refApply(a *applier, cs []store.Change) error {
	for _, c := range cs {
		if err := refApplyOne(a, c); err != nil {
			return err
		}
	}
	return nil
}

func refApplyOne(a *applier, c store.Change) error {
	var old store.Assertion
	hadOld := false
	if c.Op != store.OpAdd {
		var err error
		if old, hadOld, err = a.tx.Current(a.src.ID, c.Key); err != nil {
			return err
		}
	}
	deletes := a.src.Authoritative && !a.withdrawOnly && !a.removalsWithdraw
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
		if err := a.tx.DeleteTombstones(a.src.ID, []string{c.Key}); err != nil {
			return err
		}
		cur = &n
	case store.OpRemove:
		switch {
		case hadOld:
			if err := a.tx.Withdraw(old, a.seq); err != nil {
				return err
			}
		case a.offboardAbsent && deletes:
			a.absent++
		case a.withdrawOnly || a.removalsWithdraw:
			a.absent++
		default:
			return nil
		}
		if deletes {
			if err := a.tx.PutTombstones(a.src.ID, a.seq, a.dropID, []string{c.Key}); err != nil {
				return err
			}
		} else if err := a.tx.DeleteTombstones(a.src.ID, []string{c.Key}); err != nil {
			return err
		}
	}
	return refDerive(a, c.Key, cur)
}

func refDerive(a *applier, key string, cur *store.Assertion) error {
	asserts, err := a.tx.Assertions(key, a.others)
	if err != nil {
		return err
	}
	rec, exists, err := a.tx.Recipient(key)
	if err != nil {
		return err
	}
	tombs, err := a.tx.TombstonesOf([]string{key})
	if err != nil {
		return err
	}
	lifts, err := a.tx.LiftsOf([]string{key})
	if err != nil {
		return err
	}
	if cur != nil {
		asserts = append(asserts, *cur)
	}
	m := Merge(Says{Asserts: asserts, Tombs: tombs[key], Lifts: lifts[key]}, a.sources)
	if m.Status == store.StatusOffboarded && a.src.ID != 0 &&
		(!exists || rec.Status != store.StatusOffboarded || cur != nil && cur.Status == schema.StatusActive) {
		a.counts.Suppressed++
	}
	next := store.Recipient{Key: key, Email: m.Email, FirstName: m.FirstName, LastName: m.LastName,
		Attrs: m.Attrs, Status: m.Status, CreatedSeq: a.seq, UpdatedSeq: a.seq}
	if exists {
		next.CreatedSeq = rec.CreatedSeq
	}
	if len(asserts) == 0 && exists {
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
	// The audience's own count: in when they become active, out when an
	// active recipient stops being so.
	if was, is := exists && rec.Status == store.StatusActive, next.Status == store.StatusActive; is && !was {
		a.counts.Joined++
	} else if was && !is {
		a.counts.Left++
	}
	if exists && sameRecipient(&rec, &next) {
		return nil
	}
	return a.tx.SaveRecipient(&next, exists)
}

// lockstep runs the same operations on several ingesters and checks that
// their stores stay identical.
type lockstep struct {
	t     *testing.T
	ins   []*Ingester
	names []string
	// before runs before each operation on the ingester of that index.
	before []func(in *Ingester)
}

func (l *lockstep) run(what string, op func(in *Ingester) (any, error)) {
	l.t.Helper()
	var outs []string
	for i, in := range l.ins {
		if l.before[i] != nil {
			l.before[i](in)
		}
		out, err := op(in)
		b, _ := json.Marshal(out)
		s := string(b)
		if err != nil {
			s = "error: " + schema.ErrorMessageOf(err)
		}
		outs = append(outs, s)
	}
	var digests []string
	for _, in := range l.ins {
		d, err := in.Store.Digest(context.Background())
		if err != nil {
			l.t.Fatal(err)
		}
		digests = append(digests, d)
	}
	for i := 1; i < len(l.ins); i++ {
		if outs[i] != outs[0] {
			l.t.Fatalf("%s: %s gave\n%s\n%s gave\n%s", what, l.names[0], outs[0], l.names[i], outs[i])
		}
		if digests[i] != digests[0] {
			l.t.Fatalf("%s: the store of %s differs from %s's", what, l.names[i], l.names[0])
		}
	}
}

// outcome is what of a report must agree (timings and times differ).
func outcome(rep *Report) any {
	if rep == nil {
		return nil
	}
	return struct {
		D Decision
		R string
		C Counts
		S []ChangeLine
		P int
	}{rep.Decision, rep.Reason, rep.Counts, rep.Sample, len(rep.Problems)}
}

// TestBatchedApplyMatchesOneAtATime drives random drops, directory
// events, approvals, rollbacks, source removals, lifts and settings changes
// from several
// sources (one authoritative, one delta) through three pipelines in
// lockstep: the batched apply with snapshot index files, the same without
// index files (every diff reads the store), and the apply of one change at
// a time as it was before batching. Their reports and stores must be
// identical at every step.
func TestBatchedApplyMatchesOneAtATime(t *testing.T) {
	steps := 70
	if testing.Short() {
		steps = 25
	}
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { lockstepScenario(t, seed, steps) })
	}
}

func lockstepScenario(t *testing.T, seed uint64, steps int) {
	ctx := context.Background()
	batched, noIndex, ref := MustIngester(t), MustIngester(t), MustIngester(t)
	ref.applyFunc = refApply
	batched.batch = 7 // batches of several kinds of change
	dropIndex := func(in *Ingester) { os.RemoveAll(in.Store.IndexDir()) }
	l := &lockstep{t: t, ins: []*Ingester{batched, noIndex, ref}, names: []string{"batched", "no index", "one at a time"},
		before: []func(*Ingester){nil, dropIndex, dropIndex}}
	r := rand.New(rand.NewPCG(seed, 99))
	pool := make([]string, 90)
	for i := range pool {
		pool[i] = fmt.Sprintf("P%02d@Example.com", i)
	}
	sources := []SourceConfig{
		{Name: "hr", Priority: 10, MaxRemovePercent: 30, MaxRemoveCount: -1, MaxInvalidPercent: 10,
			Attrs: schema.AttrSet(0).With(schema.AttrJobTitle)},
		{Name: "dir", Kind: store.KindWorkOS, Priority: 20, Authoritative: true, MaxRemovePercent: -1, MaxRemoveCount: -1},
		{Name: "csv", MaxRemovePercent: -1, MaxRemoveCount: 8, MaxInvalidPercent: 10},
		{Name: "manual", Kind: store.KindManual, Mode: store.ModeDelta, MaxInvalidPercent: 10},
	}
	var applied []int64
	var held []int64
	decisions := map[Decision]int{}
	firsts := []string{"Ann", "Bo", "Cy"}
	groups := []string{"Eng", "Ops", "Sales", "All"}
	record := func(line int, email string) schema.Record {
		rc := rec(line, email, firsts[r.IntN(3)], "L"+email[1:3], groups[r.IntN(4)])
		if r.IntN(3) == 0 {
			rc.Groups = append(rc.Groups, groups[r.IntN(4)])
		}
		if r.IntN(8) == 0 {
			rc.Status = schema.StatusInactive
		}
		rc.SourceID = "u" + email[1:3]
		rc.Attrs[schema.AttrJobTitle] = []string{"", "Dev", "Lead"}[r.IntN(3)]
		rc.Attrs[schema.AttrCity] = "Paris"
		if r.IntN(90) == 0 {
			rc = invalid(rc, "bad row")
		}
		return rc
	}
	for step := range steps {
		si := r.IntN(len(sources))
		src := sources[si]
		switch k := r.IntN(21); {
		case k < 12:
			var recs []schema.Record
			delta := src.Mode == store.ModeDelta
			for i, p := range pool {
				if r.IntN(100) < r.IntN(40) || (delta && r.IntN(4) != 0) {
					continue
				}
				rc := record(i+2, p)
				if delta && r.IntN(3) == 0 {
					rc.Action = schema.ActionRemove
				}
				recs = append(recs, rc)
				if r.IntN(120) == 0 {
					recs = append(recs, record(i+2, p)) // listed twice
				}
				if r.IntN(60) == 0 {
					recs = append(recs, invalid(schema.Record{Line: i + 2, SourceID: "u" + p[1:3]}, "no email"))
				}
			}
			if r.IntN(15) == 0 {
				recs = nil
			}
			if r.IntN(10) == 0 {
				src.Priority = r.IntN(30)
				sources[si] = src
			}
			if r.IntN(12) == 0 {
				src.Attrs = src.Attrs ^ schema.AttrSet(0).With(schema.AttrCity)
				sources[si] = src
			}
			name := fmt.Sprintf("drop %d of %s", step, src.Name)
			var rep *Report
			l.run(name, func(in *Ingester) (any, error) {
				var err error
				rep, err = in.Ingest(ctx, Drop{Source: src, Name: name, Records: &schema.SliceStream{Records: recs}}, Options{})
				return outcome(rep), err
			})
			if rep != nil {
				decisions[rep.Decision]++
			}
			switch {
			case rep != nil && rep.Decision == Applied:
				applied = append(applied, rep.DropID)
			case rep != nil && rep.Decision == Held:
				held = append(held, rep.DropID)
			}
		case k < 14 && len(held) > 0:
			id := held[r.IntN(len(held))]
			if r.IntN(2) == 0 {
				l.run(fmt.Sprint("approve ", id), func(in *Ingester) (any, error) {
					rep, err := in.Approve(ctx, org, id, Options{})
					return outcome(rep), err
				})
			} else {
				l.run(fmt.Sprint("reject ", id), func(in *Ingester) (any, error) {
					rep, err := in.Reject(ctx, org, id, "no", Options{})
					return outcome(rep), err
				})
			}
		case k < 16 && len(applied) > 0:
			id := applied[r.IntN(len(applied))]
			l.run(fmt.Sprintf("rollback %s to %d", src.Name, id), func(in *Ingester) (any, error) {
				rep, err := in.Rollback(ctx, org, src.Name, id, Options{})
				return outcome(rep), err
			})
		case k < 18:
			// directory events: upserts, and deletions of people the
			// directory may not list (offboarded all the same)
			src = sources[1]
			var edits []Edit
			for i, p := range pool {
				switch r.IntN(12) {
				case 0:
					edits = append(edits, Edit{Kind: EditUpsert, Record: record(0, p)})
				case 1:
					edits = append(edits, Edit{Kind: EditOffboard, Record: schema.Record{Email: p, Key: testKey(p)}})
				case 2:
					edits = append(edits, Edit{Kind: EditGroupAdd, Record: record(0, p), Group: groups[i%4]})
				}
			}
			var rep *Report
			l.run(fmt.Sprintf("directory events %d", step), func(in *Ingester) (any, error) {
				var err error
				rep, err = in.ApplyEdits(ctx, Edits{Source: src, Name: "events", Edits: edits}, Options{})
				return outcome(rep), err
			})
			if rep != nil {
				decisions["events "+rep.Decision]++
			}
		case k < 19:
			l.run("remove "+src.Name, func(in *Ingester) (any, error) {
				rep, err := in.RemoveSource(ctx, org, src.Name, Options{})
				return outcome(rep), err
			})
		default:
			key := testKey(pool[r.IntN(len(pool))])
			l.run("lift "+key, func(in *Ingester) (any, error) { return in.Lift(ctx, org, key, "", "back", Options{}) })
		}
	}
	var n int64
	c, err := batched.Store.RecipientCounts(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range c {
		n += v
	}
	t.Logf("%d recipients; drops: %v", n, decisions)
	if n == 0 || decisions[Applied] < steps/5 || decisions[Held] == 0 || decisions[Rejected] == 0 {
		t.Fatalf("the scenario did little: %d recipients, drops %v", n, decisions)
	}
}

// TestSnapshotIndexFollowsScrubbedSnapshot shows a drop's diff reads the
// snapshot index file the previous apply wrote, and never one the store
// has moved past: narrowing the allowlist rewrites the snapshot's hashes
// (merge rule 6), after which the same rows are unchanged, not updated.
func TestSnapshotIndexFollowsScrubbedSnapshot(t *testing.T) {
	ctx := context.Background()
	in := MustIngester(t)
	var recs []schema.Record
	for i := range 50 {
		r := rec(i+2, fmt.Sprintf("p%02d@example.com", i), "Ann", "Lee", "Eng")
		r.Attrs[schema.AttrJobTitle] = "Dev"
		recs = append(recs, r)
	}
	cfg := src("hr", 0, false)
	cfg.Attrs = schema.AttrSet(0).With(schema.AttrJobTitle)
	mustDecision(t, MustIngest(t, in, org, cfg, "day0", recs...), Applied)
	o, _ := in.Store.LookupOrg(ctx, org)
	s, err := in.Store.LookupSource(ctx, o.ID, "hr")
	if err != nil {
		t.Fatal(err)
	}
	ix, err := in.Store.LoadSnapshotIndex(ctx, s.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	ix.Close()
	if !ix.FromFile || ix.Len() != 50 {
		t.Fatalf("after an apply: index from file %v, %d rows; want the file, 50", ix.FromFile, ix.Len())
	}
	recs[0].FirstName = "Anne"
	rep := MustIngest(t, in, org, cfg, "day1", recs...)
	if rep.Counts.Updated != 1 || rep.Counts.Unchanged != 49 {
		t.Fatalf("day1 counts %+v, want 1 updated, 49 unchanged", rep.Counts)
	}
	cfg.Attrs = 0 // job titles no longer kept: scrubbed from the snapshot
	recs[1].FirstName = "Bea"
	rep = MustIngest(t, in, org, cfg, "day2", recs...)
	if rep.Decision != Applied || rep.Counts.Updated != 1 || rep.Counts.Unchanged != 49 {
		t.Fatalf("after the allowlist narrowed: %s, counts %+v, want 1 updated, 49 unchanged", rep.Decision, rep.Counts)
	}
}
