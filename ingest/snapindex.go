package ingest

import (
	"muster/store"
)

// indexUpdate writes, during an apply, the snapshot index file of the
// state the apply leaves (store/snapindex.go), so the next diff of the
// source reads its snapshot from the file. It is a cache: when anything
// fails the apply goes on without it, and the next diff reads the store.
// Its methods do nothing on a nil indexUpdate.
type indexUpdate struct {
	in   *Ingester
	w    *store.SnapshotIndexWriter
	base *store.SnapshotIndex // opened here, closed here
	// token is the snapshot token the apply's transaction commits
	// (begin).
	token int64
}

// indexWriter starts the index update of an apply to src (as read in the
// apply's transaction). base is the snapshot the drop was diffed against,
// or nil: then the index file of the source's current snapshot, if there
// is one, is the base.
//
// The rows of a diff based on a file keep their digests (base's salt); an
// apply with no base (a rollback, an approval) carries none.
func (in *Ingester) indexWriter(src store.Source, base *store.SnapshotIndex) *indexUpdate {
	u := &indexUpdate{in: in}
	salt := uint64(0)
	if base != nil {
		salt = base.Salt()
	} else {
		var err error
		if base, err = in.Store.OpenSnapshotIndex(src); err != nil {
			return nil
		}
		u.base = base
	}
	w, err := in.Store.NewSnapshotIndexWriter(base, salt)
	if err != nil {
		u.fail(err)
		return nil
	}
	u.w = w
	return u
}

func (u *indexUpdate) add(c store.Change) {
	if u == nil || u.w == nil {
		return
	}
	if err := u.w.Add(c.Op, c.Key, c.Hash, c.Status, c.Digest); err != nil {
		u.fail(err)
	}
}

// start writes the file but for its header beside the apply, once every
// change is added (store.SnapshotIndexWriter.Start).
func (u *indexUpdate) start() {
	if u != nil && u.w != nil {
		u.w.Start()
	}
}

// begin draws the snapshot token tx will commit and writes the file but
// for its header beside the rest of the transaction, its commit included
// (store.SnapshotIndexWriter.Start); finish, once tx committed, puts it in
// place. When the apply changed nothing the file says, it stays as it is
// (and the snapshot keeps its token).
//
// The file goes in place after the commit: a process that dies between
// the two leaves the file of the snapshot before (its token no longer the
// source's: unused, the next diff reads the store), or none. (A next day's
// file, written beside the apply, goes in place just before the commit
// instead, applyDropWith: a commit that fails leaves a file whose token is
// not the source's, unused likewise.)
func (u *indexUpdate) begin(tx *store.Tx, sourceID int64) {
	if u == nil || u.w == nil {
		return
	}
	if !u.w.Needed() {
		u.abort()
		return
	}
	u.token = tx.NewSnapshotToken(sourceID)
	u.w.Start()
}

// finish puts the file begun by begin in place, after the commit.
func (u *indexUpdate) finish() {
	if u == nil || u.w == nil {
		return
	}
	if err := u.w.Commit(u.token); err != nil {
		u.fail(err)
		return
	}
	u.w = nil
	u.abort()
}

func (u *indexUpdate) fail(err error) {
	u.in.logger().Warn("snapshot index not written: the next drop reads the store", "err", err)
	u.abort()
}

func (u *indexUpdate) abort() {
	if u == nil {
		return
	}
	if u.w != nil {
		u.w.Abort()
		u.w = nil
	}
	u.base.Close()
	u.base = nil
}
