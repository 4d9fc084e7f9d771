package store

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"muster/schema"
)

// SnapshotIndexWriter writes the index of a source's snapshot as an apply
// leaves it: its base index with the apply's changes, which come in key
// order (every apply takes its changes from a sorted spill or a held diff
// in that order; a change out of order fails the writer). The new keys
// section is the base's, streamed, merged with the added keys and less the
// removed ones; the entries are the base's (updated, less the removed,
// renumbered) merged with the added ones. Added entries wait in buckets by
// key hash, in memory up to a bound and in a scratch file beyond it, and
// are sorted a bucket at a time: a first ingest of millions of rows writes
// its index without holding it.
//
// Any failure only means there will be no file (the next diff builds the
// index from the store): callers abort and carry on.
type SnapshotIndexWriter struct {
	s       *Store
	base    *SnapshotIndex
	f       *os.File
	w       *bufio.Writer
	sum     hash.Hash32 // of the keys section
	keysLen int64
	n       uint32 // keys written so far: the next key's rank
	// The base's keys in key order: bKey has rank bRank (bRank is
	// len(base.ents) once they are all read).
	br    *bufio.Reader
	bRank int
	bKey  []byte
	// shifts renumber the base's ranks: a base rank r becomes r plus the
	// delta of the last shift whose from is at most r.
	shifts []rankShift
	delta  int64
	last   []byte
	added  addedEntries
	buf    []byte
	err    error
}

type rankShift struct {
	from  uint32
	delta int64
}

// goneRank marks a base entry the apply removed.
const goneRank = ^uint32(0)

// NewSnapshotIndexWriter starts the index file of base's source after an
// apply; the writer takes base over (its entries become the new ones).
// Call it inside the apply's transaction (which holds the store's write
// lock, so no other process writes the same file).
func (s *Store) NewSnapshotIndexWriter(base *SnapshotIndex) (*SnapshotIndexWriter, error) {
	if err := os.MkdirAll(s.IndexDir(), 0o750); err != nil {
		return nil, fmt.Errorf("snapshot index: %w", err)
	}
	prefix := "source-" + strconv.FormatInt(base.SourceID, 10) + "-"
	if old, _ := filepath.Glob(filepath.Join(s.IndexDir(), prefix+"*.tmp")); len(old) > 0 {
		for _, p := range old {
			os.Remove(p) // left by a process that died writing
		}
	}
	f, err := os.CreateTemp(s.IndexDir(), prefix+"*.tmp")
	if err != nil {
		return nil, fmt.Errorf("snapshot index: %w", err)
	}
	w := &SnapshotIndexWriter{s: s, base: base, f: f, sum: crc32.New(castagnoli), added: addedEntries{dir: s.IndexDir()}}
	w.w = bufio.NewWriterSize(io.MultiWriter(f, w.sum), 1<<20)
	if _, err := f.Write(make([]byte, indexHeaderSize)); err != nil {
		w.Abort()
		return nil, fmt.Errorf("snapshot index: %w", err)
	}
	w.br = bufio.NewReaderSize(io.NewSectionReader(base.keys, base.keysOff, base.keysLen), 256<<10)
	w.bRank = -1
	if err := w.nextBase(); err != nil {
		w.Abort()
		return nil, err
	}
	return w, nil
}

// nextBase reads the base's next key.
func (w *SnapshotIndexWriter) nextBase() error {
	w.bRank++
	if w.bRank >= len(w.base.ents) {
		w.bKey = nil
		return nil
	}
	l, err := binary.ReadUvarint(w.br)
	if err == nil {
		w.bKey = slices.Grow(w.bKey[:0], int(l))[:l]
		_, err = io.ReadFull(w.br, w.bKey)
	}
	if err != nil {
		return fmt.Errorf("snapshot index: read base keys: %w", err)
	}
	return nil
}

// writeKey appends a key to the new keys section.
func (w *SnapshotIndexWriter) writeKey(key []byte) error {
	w.buf = binary.AppendUvarint(w.buf[:0], uint64(len(key)))
	w.buf = append(w.buf, key...)
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("snapshot index: %w", err)
	}
	w.keysLen += int64(len(w.buf))
	w.n++
	if w.keysLen > 1<<32-1 || w.n == goneRank {
		return errors.New("snapshot index: too large")
	}
	return nil
}

// copyBaseUntil copies the base's keys before key (all of them when key is
// nil) into the new section.
func (w *SnapshotIndexWriter) copyBaseUntil(key []byte) error {
	for w.bKey != nil && (key == nil || bytes.Compare(w.bKey, key) < 0) {
		if err := w.writeKey(w.bKey); err != nil {
			return err
		}
		if err := w.nextBase(); err != nil {
			return err
		}
	}
	return nil
}

// Add records one change of the apply; changes come in key order, each
// key once. A removal of a key the snapshot does not hold changes nothing,
// as in the store.
func (w *SnapshotIndexWriter) Add(op ChangeOp, key string, hash uint64, st schema.Status) error {
	if w.err == nil {
		w.err = w.add(op, key, hash, st)
	}
	return w.err
}

func (w *SnapshotIndexWriter) add(op ChangeOp, key string, hash uint64, st schema.Status) error {
	if w.last != nil && key <= string(w.last) || len(key) == 0 || len(key) > 1<<16-1 {
		return errors.New("snapshot index: changes out of key order")
	}
	w.last = append(w.last[:0], key...)
	if err := w.copyBaseUntil(w.last); err != nil {
		return err
	}
	kh := keyHash(w.base.seed, key)
	if w.bKey != nil && string(w.bKey) == key {
		i := w.base.Find(kh)
		if i < 0 || w.base.ents[i].rank != uint32(w.bRank) {
			return errSharedHash
		}
		e := &w.base.ents[i]
		if op == OpRemove {
			e.rank = goneRank
			w.delta--
			w.shift(uint32(w.bRank) + 1)
		} else {
			e.v = packValue(hash, st)
			if err := w.writeKey(w.bKey); err != nil {
				return err
			}
		}
		return w.nextBase()
	}
	if op == OpRemove {
		return nil
	}
	if w.base.Find(kh) >= 0 {
		return errSharedHash
	}
	if err := w.added.add(indexEntry{kh: kh, v: packValue(hash, st), rank: w.n}); err != nil {
		return err
	}
	if err := w.writeKey(w.last); err != nil {
		return err
	}
	w.delta++
	w.shift(uint32(w.bRank))
	return nil
}

// shift records that the base's ranks from from on move by w.delta; only
// where the delta changes between base keys, so there are at most as many
// shifts as base keys (none for a first ingest).
func (w *SnapshotIndexWriter) shift(from uint32) {
	switch n := len(w.shifts); {
	case int(from) >= len(w.base.ents):
	case n > 0 && w.shifts[n-1].from == from:
		w.shifts[n-1].delta = w.delta
	default:
		w.shifts = append(w.shifts, rankShift{from: from, delta: w.delta})
	}
}

// newRank is the rank a base key of rank r has in the new file.
func (w *SnapshotIndexWriter) newRank(r uint32) uint32 {
	j := sort.Search(len(w.shifts), func(j int) bool { return w.shifts[j].from > r })
	if j == 0 {
		return r
	}
	return uint32(int64(r) + w.shifts[j-1].delta)
}

// Commit finishes the file and puts it in place as the index of the
// snapshot whose token (to be committed by the caller's transaction) is
// token.
func (w *SnapshotIndexWriter) Commit(token int64) error {
	err := w.err
	if err == nil {
		err = w.finish(token)
	}
	if err != nil {
		w.Abort()
	}
	return err
}

func (w *SnapshotIndexWriter) finish(token int64) error {
	if err := w.copyBaseUntil(nil); err != nil {
		return err
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("snapshot index: %w", err)
	}
	keysSum := w.sum.Sum32()
	// The entries: the base's (in key hash order) merged with the added
	// ones, a bucket of key hashes at a time.
	entSum := crc32.New(castagnoli)
	out := bufio.NewWriterSize(io.MultiWriter(w.f, entSum), 1<<20)
	var b [indexEntrySize]byte
	n := 0
	put := func(e *indexEntry, rank uint32) {
		le := binary.LittleEndian
		le.PutUint64(b[0:], e.kh)
		le.PutUint64(b[8:], e.v)
		le.PutUint32(b[16:], rank)
		out.Write(b[:])
		n++
	}
	ents, j := w.base.ents, 0
	for bucket := range addedBuckets {
		add, err := w.added.bucket(bucket)
		if err != nil {
			return err
		}
		slices.SortFunc(add, func(a, b indexEntry) int { return cmp.Compare(a.kh, b.kh) })
		for k := 1; k < len(add); k++ {
			if add[k].kh == add[k-1].kh {
				return errSharedHash
			}
		}
		k := 0
		for ; j < len(ents) && int(ents[j].kh>>(64-addedBucketBits)) == bucket; j++ {
			e := &ents[j]
			if e.rank == goneRank {
				continue
			}
			for ; k < len(add) && add[k].kh < e.kh; k++ {
				put(&add[k], add[k].rank)
			}
			if k < len(add) && add[k].kh == e.kh {
				return errSharedHash
			}
			put(e, w.newRank(e.rank))
		}
		for ; k < len(add); k++ {
			put(&add[k], add[k].rank)
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("snapshot index: %w", err)
	}
	if n != int(w.n) {
		return fmt.Errorf("snapshot index: %d entries for %d keys", n, w.n)
	}
	var h [indexHeaderSize]byte
	le := binary.LittleEndian
	copy(h[:], indexMagic)
	le.PutUint64(h[8:], uint64(w.base.SourceID))
	le.PutUint64(h[16:], uint64(token))
	le.PutUint64(h[24:], w.base.seed)
	le.PutUint64(h[32:], uint64(n))
	le.PutUint64(h[40:], uint64(w.keysLen))
	le.PutUint32(h[48:], keysSum)
	le.PutUint32(h[52:], entSum.Sum32())
	le.PutUint32(h[56:], crc32.Checksum(h[:56], castagnoli))
	if _, err := w.f.WriteAt(h[:], 0); err != nil {
		return fmt.Errorf("snapshot index: %w", err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("snapshot index: %w", err)
	}
	if err := os.Rename(w.f.Name(), w.s.indexPath(w.base.SourceID)); err != nil {
		return fmt.Errorf("snapshot index: %w", err)
	}
	w.f = nil
	w.added.close()
	return nil
}

// Abort drops the file being written.
func (w *SnapshotIndexWriter) Abort() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
	w.added.close()
}

// addedBucketBits: added entries wait in 1<<addedBucketBits buckets by the
// top bits of their key hash.
const (
	addedBucketBits = 6
	addedBuckets    = 1 << addedBucketBits
	// addedChunk entries of a bucket are kept in memory before they go to
	// the scratch file: at most 64 buckets of 48 KB.
	addedChunk = 2048
)

// addedEntries holds the entries an apply adds, by bucket of key hash.
type addedEntries struct {
	dir     string
	mem     [addedBuckets][]indexEntry
	chunks  [addedBuckets][]int64 // offsets in f of full chunks
	f       *os.File
	size    int64
	scratch []byte
}

func (a *addedEntries) add(e indexEntry) error {
	b := e.kh >> (64 - addedBucketBits)
	if a.mem[b] == nil {
		a.mem[b] = make([]indexEntry, 0, 64)
	}
	a.mem[b] = append(a.mem[b], e)
	if len(a.mem[b]) < addedChunk {
		return nil
	}
	if a.f == nil {
		f, err := os.CreateTemp(a.dir, "muster-index-*.tmp")
		if err != nil {
			return fmt.Errorf("snapshot index: %w", err)
		}
		os.Remove(f.Name()) // scratch: gone with the process
		a.f = f
	}
	a.scratch = encodeEntries(a.scratch[:0], a.mem[b])
	if _, err := a.f.WriteAt(a.scratch, a.size); err != nil {
		return fmt.Errorf("snapshot index: %w", err)
	}
	a.chunks[b] = append(a.chunks[b], a.size)
	a.size += int64(len(a.scratch))
	a.mem[b] = a.mem[b][:0]
	return nil
}

// bucket returns every entry of bucket b (in no order); the slice is the
// writer's until the next call.
func (a *addedEntries) bucket(b int) ([]indexEntry, error) {
	out := a.mem[b]
	a.mem[b] = nil
	if len(a.chunks[b]) == 0 {
		return out, nil
	}
	all := make([]indexEntry, 0, len(a.chunks[b])*addedChunk+len(out))
	buf := make([]byte, addedChunk*indexEntrySize)
	le := binary.LittleEndian
	for _, off := range a.chunks[b] {
		if _, err := a.f.ReadAt(buf, off); err != nil {
			return nil, fmt.Errorf("snapshot index: %w", err)
		}
		for p := 0; p < len(buf); p += indexEntrySize {
			all = append(all, indexEntry{kh: le.Uint64(buf[p:]), v: le.Uint64(buf[p+8:]), rank: le.Uint32(buf[p+16:])})
		}
	}
	return append(all, out...), nil
}

func encodeEntries(b []byte, es []indexEntry) []byte {
	le := binary.LittleEndian
	for i := range es {
		b = le.AppendUint64(b, es[i].kh)
		b = le.AppendUint64(b, es[i].v)
		b = le.AppendUint32(b, es[i].rank)
	}
	return b
}

func (a *addedEntries) close() {
	if a.f != nil {
		a.f.Close()
		a.f = nil
	}
}
