package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"slices"

	"muster/schema"
	"muster/store"
)

// The diff keeps, per key of the source's snapshot, the content hash with
// three flag bits in the top of one word: a million keys cost a string and
// a uint64 each.
const (
	flagSeen     = 1 << 63 // listed in this drop (or protected by an invalid row)
	flagNew      = 1 << 62 // not in the snapshot: added by this drop
	flagInactive = 1 << 61 // the snapshot row says inactive
	hashMask     = 1<<61 - 1
)

type diffResult struct {
	spill *spill
	// deactivated counts rows going from active to inactive: for the guard
	// they remove people as surely as a missing row does.
	deactivated int64
	// unidentified counts invalid rows naming nobody (no readable email, no
	// id matching a snapshot row): they could describe anyone removed.
	unidentified int64
	recordsHash  string
}

// differ computes a drop's diff against the source's snapshot in one pass
// over the stream, writing changes to a spill.
type differ struct {
	ctx    context.Context
	in     *Ingester
	src    store.Source
	delta  bool
	rep    *Report
	res    *diffResult
	prev   *keyTable       // full snapshots: the whole snapshot's hashes
	seen   map[string]int  // deltas: keys seen, with their line
	uids   map[string]bool // invalid rows' source ids, protecting their owners
	hasher hash.Hash       // records hash when the caller gave no content hash
}

func (in *Ingester) diff(ctx context.Context, src store.Source, delta bool, d *Drop, rep *Report) (*diffResult, error) {
	sp, err := newSpill(in.TempDir)
	if err != nil {
		return nil, err
	}
	df := &differ{ctx: ctx, in: in, src: src, delta: delta, rep: rep, res: &diffResult{spill: sp}, uids: map[string]bool{}}
	if err := df.run(d); err != nil {
		sp.Close()
		return nil, err
	}
	return df.res, nil
}

// batch is a run of decoded records with their assertions prepared.
type batch struct {
	recs []schema.Record
	as   []store.Assertion
	err  error
}

// run reads the stream and diffs it. Two things happen at once on their
// own goroutine each: reading the source's snapshot hashes from the store,
// and decoding records and hashing their content; the diff itself then
// only compares.
func (df *differ) run(d *Drop) error {
	ctx, cancel := context.WithCancel(df.ctx)
	defer cancel()
	loaded := make(chan error, 1)
	if df.delta {
		df.seen = map[string]int{}
		loaded <- nil
	} else {
		df.prev = newKeyTable(int(df.src.Rows))
		if df.src.ID == 0 || df.src.Rows == 0 {
			loaded <- nil
		} else {
			go func() {
				loaded <- df.in.Store.SnapshotHashes(ctx, df.src.ID, func(key string, h uint64, st schema.Status) {
					v := h & hashMask
					if st == schema.StatusInactive {
						v |= flagInactive
					}
					df.prev.put(key, v)
				})
			}()
		}
	}
	batches := make(chan batch, 16)
	go produce(ctx, d.Records, df.src, batches)
	if err := <-loaded; err != nil {
		return err
	}
	if d.ContentHash == "" {
		df.hasher = sha256.New()
	}
	for b := range batches {
		for i := range b.recs {
			if df.rep.Counts.Rows&0xffff == 0 {
				df.in.progress("read", df.rep.Counts.Rows, 0)
			}
			df.rep.Counts.Rows++
			if df.hasher != nil {
				hashRecord(df.hasher, &b.recs[i])
			}
			if err := df.record(&b.recs[i], &b.as[i]); err != nil {
				return err
			}
		}
		if b.err != nil {
			return schema.WrapError(schema.EInvalid, b.err, "read drop after %d rows", df.rep.Counts.Rows)
		}
	}
	if err := df.ctx.Err(); err != nil {
		return err
	}
	if !df.delta {
		if err := df.removals(); err != nil {
			return err
		}
	}
	if df.hasher != nil {
		df.res.recordsHash = "records:" + hex.EncodeToString(df.hasher.Sum(nil))
	}
	return nil
}

// produce decodes the stream into batches on its own goroutine, preparing
// each valid record's assertion (allowlist, hash). It stops at the end of
// the stream, on an error (sent as the last batch) or when ctx is done.
func produce(ctx context.Context, stream schema.Stream, src store.Source, out chan<- batch) {
	defer close(out)
	const size = 512
	b := batch{recs: make([]schema.Record, 0, size), as: make([]store.Assertion, 0, size)}
	send := func() bool {
		select {
		case out <- b:
			b = batch{recs: make([]schema.Record, 0, size), as: make([]store.Assertion, 0, size)}
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		r, err := stream.Next()
		// Only a bare io.EOF ends a stream (schema.Stream's contract). An
		// error that merely wraps it, like net/http's for a connection
		// dropped mid-body, is a failure: treating it as the end would
		// apply a partial snapshot and remove everyone after the cut.
		if err == io.EOF {
			send()
			return
		}
		if err != nil {
			b.err = err
			send()
			return
		}
		var a store.Assertion
		if r.Valid() && r.Key != "" {
			a = assertionOf(&r, src)
		}
		b.recs = append(b.recs, r)
		b.as = append(b.as, a)
		if len(b.recs) == size && !send() {
			return
		}
	}
}

func (df *differ) record(r *schema.Record, prepared *store.Assertion) error {
	for _, p := range r.Problems {
		df.rep.addProblem(p)
	}
	if r.Key != "" && df.duplicate(r) {
		return nil
	}
	if !r.Valid() {
		df.rep.Counts.Invalid++
		switch {
		case r.Key != "":
			if !df.delta {
				if v, ok := df.prev.get(r.Key); ok {
					df.prev.put(r.Key, v|flagSeen) // kept as it was: never removed for a bad row
				}
			}
		case r.SourceID != "":
			df.uids[r.SourceID] = true
		default:
			df.res.unidentified++
		}
		return nil
	}
	a := *prepared
	if df.delta && r.Action == schema.ActionRemove {
		_, found, err := df.in.Store.SnapshotRow(df.ctx, df.src.ID, r.Key)
		if err != nil {
			return err
		}
		if !found {
			df.rep.Counts.Unchanged++
			df.rep.addProblem(schema.Problem{Line: r.Line, Code: "not_listed", Severity: schema.SeverityWarning,
				Message: fmt.Sprintf("%s is not listed by source %s: nothing to remove", r.Email, df.src.Name)})
			return nil
		}
		return df.change(store.OpRemove, a)
	}
	prevHash, found, err := df.lookup(r.Key)
	if err != nil {
		return err
	}
	switch {
	case !found:
		return df.change(store.OpAdd, a)
	case prevHash&hashMask == a.Hash&hashMask:
		df.rep.Counts.Unchanged++
		return nil
	default:
		if prevHash&flagInactive == 0 && a.Status == schema.StatusInactive {
			df.res.deactivated++
		}
		return df.change(store.OpUpdate, a)
	}
}

// duplicate reports (and marks invalid) a second row for the same person in
// one drop: which of the two is right cannot be known.
func (df *differ) duplicate(r *schema.Record) bool {
	if df.delta {
		if first, ok := df.seen[r.Key]; ok {
			df.dupProblem(r, first)
			return true
		}
		df.seen[r.Key] = r.Line
		return false
	}
	s, ok := df.prev.upsert(r.Key)
	if ok && s.val&flagSeen != 0 {
		df.dupProblem(r, 0)
		return true
	}
	if !ok {
		s.val = flagNew
	}
	s.val |= flagSeen
	return false
}

func (df *differ) dupProblem(r *schema.Record, first int) {
	if r.Valid() {
		msg := fmt.Sprintf("%s is listed twice in this drop", r.Email)
		if first > 0 {
			msg = fmt.Sprintf("%s is listed twice in this drop (first at line %d)", r.Email, first)
		}
		df.rep.addProblem(schema.Problem{Line: r.Line, Column: "email", Code: "duplicate_email", Severity: schema.SeverityError, Message: msg})
	}
	df.rep.Counts.Invalid++
}

// lookup returns the snapshot's hash for key (with flags for full drops).
func (df *differ) lookup(key string) (uint64, bool, error) {
	if !df.delta {
		v, ok := df.prev.get(key)
		return v, ok && v&flagNew == 0, nil
	}
	if df.src.ID == 0 {
		return 0, false, nil
	}
	return df.in.Store.SnapshotRow(df.ctx, df.src.ID, key)
}

func (df *differ) change(op store.ChangeOp, a store.Assertion) error {
	switch op {
	case store.OpAdd:
		df.rep.Counts.Added++
	case store.OpUpdate:
		df.rep.Counts.Updated++
	case store.OpRemove:
		df.rep.Counts.Removed++
	}
	return df.res.spill.add(&store.Change{Op: op, Assertion: a})
}

// removals turns the snapshot rows the drop did not list into removals,
// except those an invalid row may describe.
func (df *differ) removals() error {
	var keys []string
	df.prev.each(func(k []byte, v uint64) {
		if v&flagSeen == 0 {
			keys = append(keys, string(k))
		}
	})
	df.prev = nil // the biggest allocation of the drop: let it go before apply
	slices.Sort(keys)
	for _, k := range keys {
		if len(df.uids) > 0 && df.src.ID != 0 {
			a, err := df.in.Store.SnapshotAssertion(df.ctx, df.src.ID, k)
			if err != nil {
				return err
			}
			if df.uids[a.UID] {
				continue // an invalid row with this person's id: keep them
			}
		}
		if err := df.change(store.OpRemove, store.Assertion{Key: k}); err != nil {
			return err
		}
	}
	return nil
}

// assertionOf turns a valid record into the source's assertion: attributes
// outside the allowlist are dropped here, before anything is stored or
// hashed (merge rule 6), and groups are sorted so their order in a file is
// not a change.
func assertionOf(r *schema.Record, src store.Source) store.Assertion {
	groups := slices.Clone(r.Groups)
	slices.Sort(groups)
	groups = slices.Compact(groups)
	a := store.Assertion{
		SourceID: src.ID, Key: r.Key, Email: r.Email, FirstName: r.FirstName, LastName: r.LastName,
		Status: r.Status, UID: r.SourceID, Groups: groups, Attrs: src.Attrs.Filter(r.Attrs), Line: r.Line,
	}
	if a.Email == "" {
		a.Email = a.Key
	}
	a.Hash = contentHash(&a)
	return a
}

// contentHash hashes the stored values of an assertion (not its line): equal
// hashes mean nothing to write. FNV-1a, inlined so a million rows hash
// without allocating.
func contentHash(a *store.Assertion) uint64 {
	h := uint64(14695981039346656037)
	w := func(s string) {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * 1099511628211
		}
		h = (h ^ 0xff) * 1099511628211 // field separator: no value contains 0xff
	}
	w(a.Email)
	w(a.FirstName)
	w(a.LastName)
	w(a.Status.String())
	w(a.UID)
	for _, g := range a.Groups {
		w(g)
	}
	h = (h ^ 0xfe) * 1099511628211
	for _, v := range a.Attrs {
		w(v)
	}
	return h & hashMask
}

// hashRecord feeds a record's content to the drop's content hash.
func hashRecord(h hash.Hash, r *schema.Record) {
	fmt.Fprintf(h, "%q %q %q %q %d %q %q %d %v %q\n", r.Key, r.Email, r.FirstName, r.LastName, r.Status,
		r.SourceID, r.Groups, r.Action, r.Valid(), r.Attrs)
}
