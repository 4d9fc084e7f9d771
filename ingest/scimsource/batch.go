package scimsource

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"muster/ingest"
	"muster/ingest/directory"
	"muster/ingest/scim"
	"muster/schema"
	"muster/store"
)

// batch is the state of one batch of writes to a source: every resource a
// request touched, as stored (orig) and as the requests so far leave it
// (cur), read from the store the first time.
type batch struct {
	b     *Backend
	ctx   context.Context
	srcID int64
	now   time.Time
	res   map[string]*entry // "User/id", "Group/id"
	// names maps a folded userName changed in this batch to its owner ("" : freed).
	names    map[string]string
	affected []string // user ids whose assertion may change, in first-touch order
	seen     map[string]bool
}

type entry struct {
	orig, cur *scim.Resource
	created   bool
}

func (bt *batch) get(typ, id string) (*entry, error) {
	k := typ + "/" + id
	if e, ok := bt.res[k]; ok {
		return e, nil
	}
	e := &entry{}
	sr, err := bt.b.st.SCIMGet(bt.ctx, bt.srcID, typ, id)
	switch {
	case schema.ErrorCodeOf(err) == schema.ENotFound:
	case err != nil:
		return nil, err
	default:
		if e.orig, err = fromStore(sr); err != nil {
			return nil, err
		}
		if typ == scim.TypeGroup {
			ms, err := bt.b.st.SCIMMembers(bt.ctx, bt.srcID, []string{id})
			if err != nil {
				return nil, err
			}
			e.orig.Members = make([]scim.Member, 0, len(ms[id]))
			for _, u := range ms[id] {
				e.orig.Members = append(e.orig.Members, scim.Member{Value: u})
			}
		}
		e.cur = e.orig.Clone()
	}
	bt.res[k] = e
	return e, nil
}

func (bt *batch) touch(users ...string) {
	for _, u := range users {
		if !bt.seen[u] {
			bt.seen[u] = true
			bt.affected = append(bt.affected, u)
		}
	}
}

// prefetchNames reads, in one query, who holds the userNames the batch's
// creates ask for.
func (bt *batch) prefetchNames(reqs []*pending) error {
	var names []string
	for _, p := range reqs {
		if p.w.New != nil && p.w.New.Type == scim.TypeUser {
			names = append(names, foldName(p.w.New))
		}
	}
	if len(names) == 0 {
		return nil
	}
	held, err := bt.b.st.SCIMUserNames(bt.ctx, bt.srcID, names)
	if err != nil {
		return err
	}
	for _, n := range names {
		bt.names[n] = held[n] // "" : nobody
	}
	return nil
}

// owner returns the user holding a folded userName ("" none).
func (bt *batch) owner(name string) (string, error) {
	if id, ok := bt.names[name]; ok {
		return id, nil
	}
	id, _, err := bt.b.st.SCIMUserByName(bt.ctx, bt.srcID, name)
	return id, err
}

func foldName(r *scim.Resource) string { return schema.Fold(strings.TrimSpace(r.UserName())) }

// one applies a request to the batch's state and returns the resource as
// it leaves it. A request that fails changes nothing.
func (bt *batch) one(w scim.Write) (*scim.Resource, error) {
	switch {
	case w.New != nil:
		r := w.New.Clone()
		r.ID, r.Created, r.Modified, r.Version = bt.b.NewID(), bt.now, bt.now, 1
		if err := bt.check(nil, r); err != nil {
			return nil, err
		}
		bt.res[r.Type+"/"+r.ID] = &entry{cur: r, created: true}
		bt.commit(nil, r)
		return r.Clone(), nil
	case w.Delete:
		e, err := bt.get(w.Type, w.ID)
		if err != nil {
			return nil, err
		}
		if e.cur == nil {
			return nil, schema.Errorf(schema.ENotFound, "no %s %q", w.Type, w.ID)
		}
		old := e.cur
		e.cur = nil
		bt.commit(old, nil)
		return nil, nil
	}
	e, err := bt.get(w.Type, w.ID)
	if err != nil {
		return nil, err
	}
	if e.cur == nil {
		return nil, schema.Errorf(schema.ENotFound, "no %s %q", w.Type, w.ID)
	}
	c := e.cur.Clone()
	if err := w.Change(c); err != nil {
		return nil, err
	}
	c.ID, c.Type, c.Created = e.cur.ID, e.cur.Type, e.cur.Created
	c.Version, c.Modified = e.cur.Version+1, bt.now
	if err := bt.check(e.cur, c); err != nil {
		return nil, err
	}
	old := e.cur
	e.cur = c
	bt.commit(old, c)
	return c.Clone(), nil
}

// check refuses a taken userName and members that are not users of the
// source; it fills members' display names.
func (bt *batch) check(old, r *scim.Resource) error {
	if r.Type == scim.TypeUser {
		name := foldName(r)
		if old != nil && foldName(old) == name {
			return nil
		}
		owner, err := bt.owner(name)
		if err != nil {
			return err
		}
		if owner != "" && (old == nil || owner != old.ID) {
			return schema.Errorf(schema.EConflict, "a user with this userName already exists (id %s)", owner)
		}
		return nil
	}
	was := map[string]bool{}
	if old != nil {
		for _, m := range old.Members {
			was[m.Value] = true
		}
	}
	for i, m := range r.Members {
		if was[m.Value] {
			continue
		}
		u, err := bt.get(scim.TypeUser, m.Value)
		if err != nil {
			return err
		}
		if u.cur == nil {
			return schema.Errorf(schema.EInvalid, "member %q is not a user of this source", m.Value)
		}
		if m.Display == "" {
			r.Members[i].Display = u.cur.DisplayName()
		}
	}
	return nil
}

// commit records what a change touches: names, memberships, and the
// people whose assertion may change.
func (bt *batch) commit(old, cur *scim.Resource) {
	r := cur
	if r == nil {
		r = old
	}
	if r.Type == scim.TypeUser {
		if old != nil && (cur == nil || foldName(old) != foldName(cur)) {
			bt.names[foldName(old)] = ""
		}
		if cur != nil {
			bt.names[foldName(cur)] = cur.ID
		}
		if cur == nil {
			// A deleted user leaves every group this batch holds.
			for k, e := range bt.res {
				if strings.HasPrefix(k, scim.TypeGroup+"/") && e.cur != nil {
					e.cur.Members = slices.DeleteFunc(e.cur.Members, func(m scim.Member) bool { return m.Value == old.ID })
				}
			}
		}
		bt.touch(r.ID)
		return
	}
	renamed := old == nil || cur == nil || old.DisplayName() != cur.DisplayName()
	in := func(rs *scim.Resource) map[string]bool {
		out := map[string]bool{}
		if rs != nil {
			for _, m := range rs.Members {
				out[m.Value] = true
			}
		}
		return out
	}
	before, after := in(old), in(cur)
	var users []string
	for u := range before {
		if renamed || !after[u] {
			users = append(users, u)
		}
	}
	for u := range after {
		if renamed || !before[u] {
			users = append(users, u)
		}
	}
	sort.Strings(users)
	bt.touch(users...)
}

// run applies a batch of writes: each request in order against the
// batch's state, then the resources and the audience change they imply in
// one transaction, then the answers.
func (b *Backend) run(s *source, reqs []*pending) {
	ctx := b.ctx
	answers := make([]result, len(reqs))
	finish := func(err error) {
		for i, p := range reqs {
			if err != nil && answers[i].err == nil {
				answers[i] = result{err: err}
			}
			p.done <- answers[i]
		}
	}
	// The source's lease: no pull, reconciliation or other batch of the
	// source runs while this batch reads and writes it.
	lease, err := s.directory().Acquire(ctx)
	if err != nil {
		if schema.ErrorCodeOf(err) != schema.ENotFound {
			err = schema.WrapError(schema.EUnavailable, err, "muster is stopping")
		}
		finish(err)
		return
	}
	defer lease.Release()
	orgID, srcID, cfg, err := b.ids(ctx, s, true)
	if err != nil {
		finish(schema.WrapError(schema.EUnavailable, err, "the store is not available: try again"))
		return
	}
	bt := &batch{b: b, ctx: ctx, srcID: srcID, now: b.Now().UTC(), res: map[string]*entry{}, names: map[string]string{},
		seen: map[string]bool{}}
	if err := bt.prefetchNames(reqs); err != nil {
		finish(schema.WrapError(schema.EUnavailable, err, "the store is not available: try again"))
		return
	}
	for i, p := range reqs {
		if err := p.ctx.Err(); err != nil {
			answers[i].err = err // the client left before its turn: nothing done
			continue
		}
		answers[i].res, answers[i].err = bt.one(p.w)
		if answers[i].err != nil && scim.IsInternal(answers[i].err) {
			finish(schema.WrapError(schema.EUnavailable, answers[i].err, "the store is not available: try again"))
			return
		}
	}
	writes, err := bt.writes()
	if err == nil {
		err = b.apply(ctx, s, lease, orgID, srcID, cfg, bt, writes, len(reqs))
	}
	if err != nil {
		b.log.Error("scim: a batch of writes failed; nothing of it is applied", "source", s.ref.Key(), "requests", len(reqs), "error", err)
		for i := range answers {
			answers[i] = result{}
		}
		finish(schema.WrapError(schema.EUnavailable, err, "the write could not be applied: try again"))
		return
	}
	var users []*scim.Resource
	for i, a := range answers {
		// A user created now is in no group yet: nothing to read.
		if a.err == nil && a.res != nil && a.res.Type == scim.TypeUser && reqs[i].w.New == nil {
			users = append(users, a.res)
		}
	}
	if err := b.complete(ctx, srcID, users, false); err != nil {
		b.log.Warn("scim: reading written users' groups", "source", s.ref.Key(), "error", err)
	}
	finish(nil)
}

// writes returns the resource writes of the batch.
func (bt *batch) writes() (store.SCIMWrites, error) {
	var w store.SCIMWrites
	keys := make([]string, 0, len(bt.res))
	for k := range bt.res {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := bt.res[k]
		switch {
		case e.cur == nil && e.orig != nil:
			w.Delete = append(w.Delete, store.SCIMResource{Type: e.orig.Type, ID: e.orig.ID})
		case e.cur != nil && (e.orig == nil || e.orig.Version != e.cur.Version):
			sr, err := toStore(e.cur)
			if err != nil {
				return w, err
			}
			if e.orig != nil && e.cur.Type == scim.TypeUser && foldName(e.orig) != foldName(e.cur) {
				w.Moved = append(w.Moved, e.cur.ID)
			}
			w.Put = append(w.Put, sr)
		}
		if e.cur == nil || e.cur.Type != scim.TypeGroup {
			continue
		}
		before := map[string]bool{}
		if e.orig != nil {
			for _, m := range e.orig.Members {
				before[m.Value] = true
			}
		}
		after := map[string]bool{}
		for _, m := range e.cur.Members {
			after[m.Value] = true
			if !before[m.Value] {
				w.AddMembers = append(w.AddMembers, store.SCIMMember{Group: e.cur.ID, User: m.Value})
			}
		}
		for u := range before {
			if !after[u] {
				w.RemoveMembers = append(w.RemoveMembers, store.SCIMMember{Group: e.cur.ID, User: u})
			}
		}
	}
	return w, nil
}

// edits returns the audience change of the batch: each affected user as
// the source now asserts them (with their groups' names), or offboarded
// when deleted.
func (bt *batch) edits(cfg store.SourceConfig) ([]ingest.Edit, error) {
	var live []string
	for _, u := range bt.affected {
		e, err := bt.get(scim.TypeUser, u)
		if err != nil {
			return nil, err
		}
		if e.cur != nil && !e.created {
			live = append(live, u)
		}
	}
	stored, err := bt.b.st.SCIMGroupsOf(bt.ctx, bt.srcID, live)
	if err != nil {
		return nil, err
	}
	inBatch := map[string]map[string]bool{} // group id -> members now, for groups the batch holds
	for k, e := range bt.res {
		if g, ok := strings.CutPrefix(k, scim.TypeGroup+"/"); ok {
			set := map[string]bool{}
			if e.cur != nil {
				for _, m := range e.cur.Members {
					set[m.Value] = true
				}
			}
			inBatch[g] = set
		}
	}
	var need []string
	for _, gs := range stored {
		for _, g := range gs {
			if _, ok := inBatch[g]; !ok {
				need = append(need, g)
			}
		}
	}
	other, err := bt.b.st.SCIMGetMany(bt.ctx, bt.srcID, scim.TypeGroup, need)
	if err != nil {
		return nil, err
	}
	manager := func(id string) string {
		e, err := bt.get(scim.TypeUser, id)
		if err != nil || e.cur == nil {
			return ""
		}
		return e.cur.Email()
	}
	var out []ingest.Edit
	for _, u := range bt.affected {
		e := bt.res[scim.TypeUser+"/"+u]
		if e.cur == nil {
			if e.orig == nil {
				continue
			}
			rec := e.orig.Record(nil, 0, nil)
			if rec.Key == "" {
				continue // it never named anyone
			}
			out = append(out, ingest.Edit{Kind: ingest.EditOffboard, Record: schema.Record{SourceID: u, Key: rec.Key, Email: rec.Email}})
			continue
		}
		var groups []string
		for _, g := range stored[u] {
			if _, ok := inBatch[g]; !ok {
				groups = append(groups, displayOf(other[g]))
			}
		}
		for g, set := range inBatch {
			if set[u] {
				groups = append(groups, bt.res[scim.TypeGroup+"/"+g].cur.DisplayName())
			}
		}
		rec := e.cur.Record(groups, cfg.Attrs, manager)
		out = append(out, ingest.Edit{Kind: ingest.EditUpsert, Record: rec, NewID: e.created})
	}
	return out, nil
}

// apply commits the batch: the audience change as one batch of the
// engine, with the resources written in its transaction. When the engine
// does not apply the change now (held by the removal guard, queued behind
// a held drop, refused) the resources are still written, in a transaction
// of their own: the IdP reads back what it sent, and the audience follows
// when an admin decides.
func (b *Backend) apply(ctx context.Context, s *source, lease *directory.Lease, orgID, srcID int64, cfg store.SourceConfig,
	bt *batch, w store.SCIMWrites, n int) error {
	edits, err := bt.edits(cfg)
	if err != nil {
		return err
	}
	written := false
	res, err := lease.Apply(ctx, directory.Batch{Name: fmt.Sprintf("scim (%d requests)", n), By: "scim:" + s.ref.Name, Edits: edits,
		InTx: func(tx *store.Tx) error {
			written = true
			return tx.SCIMWrite(srcID, w)
		}})
	if err != nil {
		return err
	}
	if !written && !w.Empty() {
		if err := b.st.SCIMWrite(ctx, orgID, srcID, w); err != nil {
			return err
		}
	}
	switch d := res.Decision(); d {
	case "", string(ingest.Applied):
	case "queued":
		b.log.Warn("scim: a batch waits behind a held drop of the source; the IdP's resources are kept",
			"source", s.ref.Key(), "behind", res.Behind, "requests", n)
	default:
		b.log.Warn("scim: the audience change of a batch is "+d+"; the IdP's resources are kept",
			"source", s.ref.Key(), "drop", res.Report.DropID, "reason", res.Report.Reason, "requests", n)
	}
	return nil
}
