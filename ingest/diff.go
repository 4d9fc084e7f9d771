package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"
	"sync/atomic"

	"muster/schema"
	"muster/store"
)

// hashMask keeps the bits of a content hash that are compared (the top
// three were flags once; stored hashes never have them).
const hashMask = 1<<61 - 1

type diffResult struct {
	spill *spill
	// base is the snapshot a full drop was compared with, for the apply to
	// write the snapshot index it leaves.
	base *store.SnapshotIndex
	// deactivated counts rows going from active to inactive: for the guard
	// they remove people as surely as a missing row does.
	deactivated int64
	// dupsOfValid counts rows the pipeline found repeating an earlier row's
	// address that the decoder counted valid (it leaves finding them to the
	// pipeline), lazyInvalid invalid rows the decoder left unread: the
	// file's invalid count is short of both.
	dupsOfValid, lazyInvalid int64
	// unidentified counts invalid rows naming nobody (no readable email, no
	// id matching a snapshot row): they could describe anyone removed.
	unidentified int64
	recordsHash  string
}

// differ computes a drop's diff against the source's snapshot in one pass
// over the stream, writing changes to a spill.
type differ struct {
	ctx   context.Context
	in    *Ingester
	src   store.Source
	delta bool
	rep   *Report
	res   *diffResult
	base  *store.SnapshotIndex // full snapshots: the snapshot's keys and hashes, and which the drop lists
	dseen map[string]int       // deltas: keys seen, with their line
	// dups, when the stream has it, makes the problem of a row repeating
	// an earlier row's address (the decoder's, which leaves finding them to
	// the pipeline).
	dups duplicateProblems
	// rows reads the rows the stream left unread (lazy), in prepare.
	rows   *schema.RowReader
	uids   map[string]bool // invalid rows' source ids, protecting their owners
	hasher hash.Hash       // records hash when the caller gave no content hash
}

func (in *Ingester) diff(ctx context.Context, src store.Source, delta bool, d *Drop, rep *Report) (*diffResult, error) {
	sp, err := newSpill(in.TempDir)
	if err != nil {
		return nil, err
	}
	if in.spillLimit > 0 {
		sp.limit = in.spillLimit
	} else {
		sp.sizeFor(d.Size, src.Rows == 0 && !delta)
	}
	df := &differ{ctx: ctx, in: in, src: src, delta: delta, rep: rep, res: &diffResult{spill: sp}, uids: map[string]bool{}}
	if dp, ok := d.Records.(duplicateProblems); ok && dp.DefersDuplicates() {
		df.dups = dp
	}
	if err := df.run(d); err != nil {
		sp.Close()
		df.res.base.Close()
		return nil, err
	}
	return df.res, nil
}

// lazyRows is a stream that can leave rows unread for its caller
// (schema.Decoder.SetLazy), or give their digests (SetDigests).
type lazyRows interface {
	SetLazy()
	SetDigests()
	RowSalt() uint64
	RowReader() *schema.RowReader
}

// assertionVersion is part of the salt of the digests a snapshot index
// keeps: change it whenever what a record turns into changes (assertionOf,
// contentHash), so that rows are read again once (schema's digestVersion is
// the same for decoding).
const assertionVersion = 1

// digestSalt is the salt of a source's digests: the file's reading and
// what the source keeps of a record.
func digestSalt(fileSalt uint64, src store.Source) uint64 {
	h := (fileSalt ^ uint64(src.Attrs)*0x9E3779B97F4A7C15 ^ assertionVersion) * 0xBF58476D1CE4E5B9
	h ^= h >> 31
	if h == 0 {
		h = 1
	}
	return h
}

// duplicateProblems is a stream that leaves finding repeated addresses to
// the pipeline and says what problem each gets (schema.Decoder with
// DeferDuplicates).
type duplicateProblems interface {
	DefersDuplicates() bool
	DuplicateAt(r *schema.Record) int
	DuplicateProblem(r *schema.Record, first int) schema.Problem
}

// batch is a run of decoded records with their assertions prepared.
type batch struct {
	recs []schema.Record
	as   []store.Assertion
	// Full snapshots: where the record's key is in the snapshot (-1: not
	// there), whether that row has the record's content hash, and the line
	// of the row that listed the key before (-1: none, the record lists it).
	khs    []uint64
	pos    []int32
	same   []bool
	first  []int32
	listed int   // rows found listed before the batch (the marks read early)
	err    error // the stream's, after the records
	// lazyInvalid counts the rows left unread by the decoder that prepare
	// read and found invalid (lazyRead all it read).
	lazyRead, lazyInvalid int64
	// ixErr is the snapshot index's, reading a row's content hash.
	ixErr error
	// rows holds what the records point into (schema.NextIntoBuf): the
	// rows the decoder left unread, the values and groups of those read
	// whole. It is reused with the batch, so nothing may keep a record's
	// strings past the batch without a copy (problems are formatted
	// copies; the spill copies changes; dseen and uids clone theirs).
	rows schema.RowBuf
}

// run reads the stream and diffs it. Two things happen at once on their
// own goroutine each: reading the source's snapshot hashes from the store,
// and decoding records and hashing their content; the diff itself then
// only compares.
func (df *differ) run(d *Drop) error {
	ctx, cancel := context.WithCancel(df.ctx)
	defer cancel()
	loaded := make(chan error, 1)
	ready := make(chan struct{}) // closed once df.base is set (or will not be)
	if df.delta {
		df.dseen = map[string]int{}
		loaded <- nil
		close(ready)
	} else {
		var salt uint64
		if lr, ok := d.Records.(lazyRows); ok && (d.ContentHash != "" || d.Hash != nil) {
			// (Without a content hash the records are hashed whole: all
			// read.)
			salt = digestSalt(lr.RowSalt(), df.src)
			if df.src.Rows > 0 {
				// The decoder splits rows and leaves their values unread;
				// prepare, on the other core, reads those the snapshot does
				// not hold exactly as the file says them (by their digest).
				lr.SetLazy()
				df.rows = lr.RowReader()
			} else {
				// With an empty snapshot no row can be known: all are read
				// at once, but keep their digests, so that the next file
				// is known by them.
				lr.SetDigests()
			}
		}
		go func() {
			// From the index file in a few milliseconds, or from the store.
			base, err := df.in.Store.LoadSnapshotIndex(ctx, df.src.ID, salt)
			if err == nil {
				df.base, df.res.base = base, base
			}
			close(ready)
			loaded <- err
		}()
	}
	// Decoding, preparing assertions (and finding each key in the snapshot)
	// and diffing run as a pipeline on three goroutines; processed batches
	// go back to the decoder for reuse.
	// A few batches ahead keep both cores busy; more only hold memory (a
	// batch is some 500 KB).
	decoded, prepared := make(chan *batch, 3), make(chan *batch, 3)
	free := make(chan *batch, 9)
	go produce(ctx, d.Records, decoded, free)
	go func() {
		<-ready
		prepare(ctx, df.src, df.base, df.rows, decoded, prepared, &df.in.knownRows)
	}()
	if err := <-loaded; err != nil {
		return err
	}
	if d.ContentHash == "" && d.Hash == nil {
		df.hasher = sha256.New()
	}
	for b := range prepared {
		if b.ixErr != nil {
			return b.ixErr
		}
		df.res.lazyInvalid += b.lazyInvalid
		for i := range b.recs {
			if df.rep.Counts.Rows&0xffff == 0 {
				df.in.progress("read", df.rep.Counts.Rows, 0)
			}
			df.rep.Counts.Rows++
			if df.hasher != nil {
				hashRecord(df.hasher, &b.recs[i])
			}
			listed := -1
			if i < len(b.first) {
				listed = int(b.first[i])
			}
			if err := df.record(&b.recs[i], &b.as[i], int(b.pos[i]), b.same[i], listed); err != nil {
				return err
			}
		}
		if b.err != nil {
			return schema.WrapError(schema.EInvalid, b.err, "read drop after %d rows", df.rep.Counts.Rows)
		}
		select {
		case free <- b:
		default:
		}
	}
	if err := df.ctx.Err(); err != nil {
		return err
	}
	if !df.delta {
		if err := df.dedup(); err != nil {
			return err
		}
		if err := df.removals(); err != nil {
			return err
		}
	}
	if df.hasher != nil {
		df.res.recordsHash = "records:" + hex.EncodeToString(df.hasher.Sum(nil))
	}
	return nil
}

// batchSize is how many records travel together through the pipeline.
const batchSize = 512

// produce decodes the stream into batches on its own goroutine, reusing
// the batches that come back on free. It stops at the end of the stream, on
// an error (sent as the last batch) or when ctx is done.
func produce(ctx context.Context, stream schema.Stream, out chan<- *batch, free <-chan *batch) {
	defer close(out)
	next := func() *batch {
		select {
		case b := <-free:
			b.recs, b.as, b.err, b.ixErr = b.recs[:0], b.as[:0], nil, nil
			b.lazyRead, b.lazyInvalid = 0, 0
			b.rows.Reset()
			return b
		default:
			return &batch{recs: make([]schema.Record, 0, batchSize), as: make([]store.Assertion, 0, batchSize)}
		}
	}
	b := next()
	send := func() bool {
		select {
		case out <- b:
			b = next()
			return true
		case <-ctx.Done():
			return false
		}
	}
	into, _ := stream.(interface{ NextInto(*schema.Record) error })
	intoBuf, _ := stream.(interface {
		NextIntoBuf(*schema.Record, *schema.RowBuf) error
	})
	for {
		// The slot is reused (the batch came back): written over whole.
		b.recs = b.recs[:len(b.recs)+1]
		r := &b.recs[len(b.recs)-1]
		var err error
		switch {
		case intoBuf != nil:
			err = intoBuf.NextIntoBuf(r, &b.rows)
		case into != nil:
			err = into.NextInto(r)
		default:
			*r, err = stream.Next()
		}
		// Only a bare io.EOF ends a stream (schema.Stream's contract). An
		// error that merely wraps it, like net/http's for a connection
		// dropped mid-body, is a failure: treating it as the end would
		// apply a partial snapshot and remove everyone after the cut.
		if err != nil {
			b.recs = b.recs[:len(b.recs)-1]
			if err != io.EOF {
				b.err = err
			}
			send()
			return
		}
		if len(b.recs) == batchSize && !send() {
			return
		}
	}
}

// prepare turns each valid record of the batches into the source's
// assertion (allowlist, content hash) and, for a full snapshot, finds its
// key's hash in the snapshot, on its own goroutine.
func prepare(ctx context.Context, src store.Source, base *store.SnapshotIndex, rows *schema.RowReader, in <-chan *batch,
	out chan<- *batch, known *atomic.Int64) {
	defer close(out)
	for b := range in {
		b.as, b.pos = b.as[:0], b.pos[:0]
		// The lookups first, in a loop of their own: each is a cache miss,
		// and the processor overlaps the misses of independent ones.
		b.pos = slices.Grow(b.pos, len(b.recs))[:len(b.recs)]
		if base != nil {
			b.khs = b.khs[:0]
			for i := range b.recs {
				kh := uint64(0)
				if r := &b.recs[i]; r.Key != "" {
					kh = base.KeyHash(r.Key)
				}
				b.khs = append(b.khs, kh)
			}
			base.FindAll(b.khs, b.pos)
			for i := range b.recs {
				if b.recs[i].Key == "" {
					b.pos[i] = -1
				}
			}
		} else {
			for i := range b.pos {
				b.pos[i] = -1
			}
		}
		// And the rows' listing marks (list below), likewise.
		listed := 0
		for _, p := range b.pos {
			if p >= 0 && base.Listed(int(p)) {
				listed++
			}
		}
		b.listed = listed
		// A row left unread is known when the snapshot's row came from a
		// row with its digest; the others are read now.
		n := int64(0)
		for i := range b.recs {
			r := &b.recs[i]
			if r.Lazy == nil {
				continue
			}
			if p := b.pos[i]; p >= 0 && base.Known(int(p), r.Digest) {
				r.Known = int(p) + 1
				n++
				continue
			}
			rows.Read(r)
			if b.lazyRead++; !r.Valid() {
				b.lazyInvalid++
			}
		}
		known.Add(n)
		b.same = b.same[:0]
		for i := range b.recs {
			r := &b.recs[i]
			var a store.Assertion
			if r.Valid() && r.Key != "" && r.Known == 0 {
				a = assertionOf(r, src)
			}
			b.as = append(b.as, a)
			same := false
			if p := b.pos[i]; p >= 0 {
				// A known row is the snapshot's row, read from the same bytes.
				same = r.Known != 0
				if r.Known == 0 {
					h, _, err := base.Entry(int(p))
					if err != nil && b.ixErr == nil {
						b.ixErr = err
					}
					same = h&hashMask == a.Hash&hashMask && r.Valid()
				}
			}
			b.same = append(b.same, same)
		}
		b.first = b.first[:0]
		if base != nil {
			list(base, b)
		}
		select {
		case out <- b:
		case <-ctx.Done():
			for range in {
			}
			return
		}
	}
}

// list marks, in file order, the snapshot rows a batch's records list
// (SnapshotIndex.List), settling each record's position (a key hash found
// may be another key's) and whether an earlier row listed the key: on the
// goroutine that found the rows, whose cache holds them.
func list(base *store.SnapshotIndex, b *batch) {
	for i := range b.recs {
		r := &b.recs[i]
		p, first := int(b.pos[i]), -1
		if r.Key == "" {
			b.first = append(b.first, -1)
			continue
		}
		if p >= 0 && !(r.Valid() && b.same[i] && !base.Listed(p)) {
			// Not the same content as the row at its key's hash, or listed
			// before: is it the same key? (The content hash covers the
			// address, so same content and a row not listed yet is the
			// same person.)
			var err error
			if p, err = base.Confirm(r.Key, p, nil); err != nil {
				if b.ixErr == nil {
					b.ixErr = err
				}
				p = -1
			}
		}
		if p >= 0 {
			if f, listed := base.List(p, r.Line); !listed {
				first = f
			}
		}
		b.pos[i] = int32(p)
		b.first = append(b.first, int32(first))
	}
}

// record diffs one record; for a full snapshot, pos is where its key is in
// the snapshot, same says that row has the record's content hash, and
// listed is the line of an earlier row listing the key (-1: none).
func (df *differ) record(r *schema.Record, prepared *store.Assertion, pos int, same bool, listed int) error {
	// A row repeating an earlier row's address is found here when the
	// earlier row is known now (a delta's, or a snapshot row's, by list);
	// among the addresses the snapshot does not hold, by the spill's dedup
	// at the end.
	first, repeats := 0, false
	if r.Key != "" && df.delta {
		if first, repeats = df.dseen[r.Key]; !repeats {
			df.dseen[strings.Clone(r.Key)] = r.Line
		}
	}
	if r.Key != "" && !df.delta && listed >= 0 {
		first, repeats = listed, true
	}
	valid := r.Valid()
	if repeats && df.dups != nil {
		// The decoder's own problem, in its place among the row's.
		ps := slices.Clone(r.Problems)
		r.Problems = slices.Insert(ps, df.dups.DuplicateAt(r), df.dups.DuplicateProblem(r, first))
	}
	for _, p := range r.Problems {
		if !aboutDisabledAttr(p, df.src.Attrs) {
			df.rep.addProblem(p)
		}
	}
	if repeats {
		if df.dups == nil {
			df.dupProblem(r, first)
		} else if valid {
			df.res.dupsOfValid++
		}
		df.rep.Counts.Invalid++
		return nil
	}
	if !df.delta && r.Key != "" {
		return df.full(r, prepared, pos, same)
	}
	if !valid {
		df.rep.Counts.Invalid++
		switch {
		case r.Key != "":
		case r.SourceID != "":
			df.uids[strings.Clone(r.SourceID)] = true
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
		return df.change(store.OpRemove, a, 0)
	}
	var prevHash uint64
	found := false
	if df.src.ID != 0 {
		var err error
		if prevHash, found, err = df.in.Store.SnapshotRow(df.ctx, df.src.ID, r.Key); err != nil {
			return err
		}
	}
	switch {
	case !found:
		return df.change(store.OpAdd, a, 0)
	case prevHash&hashMask == a.Hash&hashMask:
		df.rep.Counts.Unchanged++
		return nil
	}
	if a.Status == schema.StatusInactive {
		df.res.deactivated++
	}
	return df.change(store.OpUpdate, a, 0)
}

// full diffs one row of a full snapshot that names a person, not a repeat:
// at i in the snapshot (listed now), or fresh (i < 0). It is added,
// updated, unchanged, or an invalid row that keeps the person as they were
// (never removed for a bad row).
func (df *differ) full(r *schema.Record, a *store.Assertion, i int, same bool) error {
	valid := r.Valid()
	if i < 0 {
		// A fresh address: the spill finds whether a later or earlier row
		// repeats it; rat is where the problem saying so would go.
		rat := 0
		if df.dups != nil {
			at := df.dups.DuplicateAt(r)
			for _, p := range r.Problems[:at] {
				if !aboutDisabledAttr(p, df.src.Attrs) {
					rat++
				}
			}
		}
		if !valid {
			df.rep.Counts.Invalid++
			return df.res.spill.addFresh(&store.Change{Op: opMarker, Assertion: store.Assertion{Key: r.Key, Email: r.Email,
				UID: r.SourceID, Line: r.Line}}, rat)
		}
		df.rep.Counts.Added++
		return df.res.spill.addFresh(&store.Change{Op: store.OpAdd, Assertion: *a, Digest: r.Digest}, rat)
	}
	switch {
	case !valid:
		df.rep.Counts.Invalid++
		return nil
	case same:
		df.rep.Counts.Unchanged++
		if r.Known == 0 {
			// The index written after the apply keeps this row's digest.
			df.base.Note(i, r.Digest, a.Hash, a.Status)
		}
		return nil
	}
	_, st, err := df.base.Entry(i)
	if err != nil {
		return err
	}
	if st != schema.StatusInactive && a.Status == schema.StatusInactive {
		df.res.deactivated++
	}
	return df.change(store.OpUpdate, *a, r.Digest)
}

// dedup settles the fresh addresses the drop lists more than once: the
// first row of each stands, each later one is a duplicate (invalid, with
// its problem), and the first rows that are invalid protect the people
// their ids name, as an invalid row's id does.
func (df *differ) dedup() error {
	return df.res.spill.dedup(func(d spillDup) error {
		if !d.repeats {
			if d.c.UID != "" {
				// A new address on a bad row may be a listed person's new
				// address: their id keeps them.
				df.uids[d.c.UID] = true
			}
			return nil
		}
		valid := d.c.Op != opMarker
		if valid {
			df.rep.Counts.Added--
			df.rep.Counts.Invalid++
		}
		r := &schema.Record{Line: d.c.Line, Email: d.c.Email, Key: d.c.Key}
		if df.dups == nil {
			if valid {
				df.rep.insertProblem(df.dupMessage(r, d.first), 0)
			}
			return nil
		}
		if valid {
			df.res.dupsOfValid++
		}
		df.rep.insertProblem(df.dups.DuplicateProblem(r, d.first), d.rat)
		return nil
	})
}

// dupProblem reports (and marks invalid) a row repeating an earlier row's
// address, when the stream has no problem of its own for it: which of the
// two is right cannot be known.
func (df *differ) dupProblem(r *schema.Record, first int) {
	if r.Valid() {
		df.rep.addProblem(df.dupMessage(r, first))
	}
}

func (df *differ) dupMessage(r *schema.Record, first int) schema.Problem {
	msg := fmt.Sprintf("%s is listed twice in this drop", r.Email)
	if first > 0 {
		msg = fmt.Sprintf("%s is listed twice in this drop (first at line %d)", r.Email, first)
	}
	return schema.Problem{Line: r.Line, Column: "email", Code: "duplicate_email", Severity: schema.SeverityError, Message: msg}
}

func (df *differ) change(op store.ChangeOp, a store.Assertion, digest uint64) error {
	switch op {
	case store.OpAdd:
		df.rep.Counts.Added++
	case store.OpUpdate:
		df.rep.Counts.Updated++
	case store.OpRemove:
		df.rep.Counts.Removed++
	}
	return df.res.spill.add(&store.Change{Op: op, Assertion: a, Digest: digest})
}

// removals turns the snapshot rows the drop did not list into removals,
// except those an invalid row may describe.
func (df *differ) removals() error {
	return df.base.Unlisted(func(key []byte) error {
		k := string(key)
		if len(df.uids) > 0 && df.src.ID != 0 {
			a, err := df.in.Store.SnapshotAssertion(df.ctx, df.src.ID, k)
			if err != nil {
				return err
			}
			if df.uids[a.UID] {
				return nil // an invalid row with this person's id: keep them
			}
		}
		return df.change(store.OpRemove, store.Assertion{Key: k}, 0)
	})
}

// aboutDisabledAttr says a problem is a warning about the value of an
// attribute the source does not keep: the value is dropped anyway, and the
// decoder's message quotes it, which the report must not store (merge
// rule 6).
func aboutDisabledAttr(p schema.Problem, keep schema.AttrSet) bool {
	if p.Severity == schema.SeverityError {
		return false
	}
	switch p.Code {
	case schema.CodeInvalidDate:
		return !keep.Has(schema.AttrEmploymentStartDate)
	case schema.CodeInvalidManagerEmail:
		return !keep.Has(schema.AttrManagerEmail)
	}
	return false
}

// assertionOf turns a valid record into the source's assertion: attributes
// outside the allowlist are dropped here, before anything is stored or
// hashed (merge rule 6), and groups are sorted so their order in a file is
// not a change.
func assertionOf(r *schema.Record, src store.Source) store.Assertion {
	groups := r.Groups // shared when already in order; the record keeps its own order
	if !strictlySorted(groups) {
		groups = slices.Clone(groups)
		slices.Sort(groups)
		groups = slices.Compact(groups)
	}
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

func strictlySorted(v []string) bool {
	for i := 1; i < len(v); i++ {
		if v[i-1] >= v[i] {
			return false
		}
	}
	return true
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
