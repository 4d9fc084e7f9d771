package store

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"muster/schema"
)

// A snapshot index is a cache, in a file beside the store, of what a diff
// reads of a source's snapshot: every row's key and content hash. Reading
// a million rows out of SQLite takes over a second; reading the file takes
// a few milliseconds, and holds 24 bytes a row in memory.
//
// The store stays the truth. Every transaction that writes a source's
// snapshot rows gives the source a new random snapshot token (Tx.touch),
// and a file is used only when it names the token the source has now, its
// checksums hold and its contents are consistent; otherwise the index is
// built from SQLite. An apply writes the file of the state it leaves, under
// the token it is about to commit, before it commits: a crash before the
// commit leaves a file whose token the store never got, a crash after it
// the right file or the previous one (whose token is gone). Files are never
// synced: one an OS crash damages fails its checksum.
//
// File layout (little endian): a 64-byte header; the keys, each as a
// uvarint length and its bytes; then one 24-byte entry a key, in key hash
// order (the key hash is seeded per index, so nobody can choose keys that
// collide): key hash, content hash, offset and length of the key, status.

const (
	indexMagic      = "MUSTSIX1"
	indexHeaderSize = 64
	indexEntrySize  = 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type indexEntry struct {
	kh   uint64
	hash uint64
	off  uint32 // of the key's bytes in the keys section
	klen uint16
	st   schema.Status
}

// SnapshotIndex holds a source's snapshot keys and content hashes, looked
// up by key hash. Keys themselves are read only when asked for (Key).
type SnapshotIndex struct {
	SourceID int64
	// Token is the snapshot token of the state the index describes.
	Token int64
	// FromFile says the index was read from its file, not built from SQLite.
	FromFile bool
	seed     uint64
	n        int
	// slots holds the entries in key hash order, each at or just after its
	// home slot (home), in a table a third larger than the entries: a
	// lookup reads one or two neighbouring slots, one cache miss.
	slots   []indexEntry
	keys    io.ReaderAt // keys section, at keysOff
	keysOff int64
	keysLen int64
	keysSum uint32 // CRC-32C of the keys section
	file    *os.File
	buf     []byte
}

// Len returns the number of rows.
func (ix *SnapshotIndex) Len() int { return ix.n }

// Positions returns the bound of the positions of rows (Find, Locate):
// positions are below it, and some below it hold no row (Has).
func (ix *SnapshotIndex) Positions() int { return len(ix.slots) }

// Has reports whether position i holds a row.
func (ix *SnapshotIndex) Has(i int) bool { return ix.slots[i].klen != 0 }

// KeyHash returns the index's hash of a key.
func (ix *SnapshotIndex) KeyHash(key string) uint64 { return keyHash(ix.seed, key) }

// home is where an entry with key hash kh goes, or the first free slot
// after: homes grow with key hashes, so the table stays in key hash order.
func (ix *SnapshotIndex) home(kh uint64) int {
	hi, _ := bits.Mul64(kh, uint64(ix.table()))
	return int(hi)
}

// table is the number of home slots (the slice has room after them for the
// entries pushed past the last one).
func (ix *SnapshotIndex) table() int { return ix.n + ix.n/3 + 1 }

// Find returns the position of the row whose key has hash kh, or -1. The
// row's key is the one asked for unless two keys share a 64-bit hash: a
// caller that must be sure compares Key.
func (ix *SnapshotIndex) Find(kh uint64) int {
	if ix.n == 0 {
		return -1
	}
	for i := ix.home(kh); i < len(ix.slots); i++ {
		switch e := &ix.slots[i]; {
		case e.klen == 0 || e.kh > kh:
			return -1
		case e.kh == kh:
			return i
		}
	}
	return -1
}

// layout places entries, in key hash order, into the slots.
func (ix *SnapshotIndex) layout(ents []indexEntry) {
	ix.n = len(ents)
	ix.slots = make([]indexEntry, ix.table(), ix.table()+64)
	next := 0
	for i := range ents {
		ix.place(&ents[i], &next)
	}
}

// place puts e, the next entry in key hash order, at or after its home and
// at or after next.
func (ix *SnapshotIndex) place(e *indexEntry, next *int) {
	p := max(ix.home(e.kh), *next)
	for p >= len(ix.slots) {
		ix.slots = append(ix.slots, indexEntry{})
	}
	ix.slots[p] = *e
	*next = p + 1
}

// Locate returns the position of key's row, or -1 when the snapshot does
// not hold key. Rows are found by key hash; the key of the row found is
// read back to compare unless sure(i) says the caller needs no more (a
// diff whose row has the same content hash, which covers the address: the
// same person beyond doubt). So two keys that share a 64-bit hash are told
// apart.
func (ix *SnapshotIndex) Locate(key string, sure func(i int) bool) (int, error) {
	return ix.Confirm(key, ix.Find(ix.KeyHash(key)), sure)
}

// Confirm is Locate for a key whose hash was found at i by Find.
func (ix *SnapshotIndex) Confirm(key string, i int, sure func(i int) bool) (int, error) {
	if i < 0 || (sure != nil && sure(i)) {
		return i, nil
	}
	k, err := ix.Key(i, ix.buf)
	if err != nil {
		return 0, err
	}
	ix.buf = k
	if string(k) != key {
		return -1, nil
	}
	return i, nil
}

// Entry returns the content hash and status of the row at position i.
func (ix *SnapshotIndex) Entry(i int) (hash uint64, st schema.Status) {
	e := &ix.slots[i]
	return e.hash, e.st
}

// Key reads the key of the row at position i into buf.
func (ix *SnapshotIndex) Key(i int, buf []byte) ([]byte, error) { return ix.keyAt(&ix.slots[i], buf) }

func (ix *SnapshotIndex) keyAt(e *indexEntry, buf []byte) ([]byte, error) {
	buf = slices.Grow(buf[:0], int(e.klen))[:e.klen]
	if _, err := ix.keys.ReadAt(buf, ix.keysOff+int64(e.off)); err != nil {
		return nil, fmt.Errorf("snapshot index: read key: %w", err)
	}
	return buf, nil
}

// Close releases the index's file.
func (ix *SnapshotIndex) Close() error {
	if ix == nil || ix.file == nil {
		return nil
	}
	err := ix.file.Close()
	ix.file = nil
	return err
}

// IndexDir is where the store keeps its snapshot index files (a cache).
func (s *Store) IndexDir() string { return s.idxDir }

func (s *Store) indexPath(sourceID int64) string {
	return filepath.Join(s.IndexDir(), "source-"+strconv.FormatInt(sourceID, 10)+".idx")
}

// LoadSnapshotIndex returns the index of the source's current snapshot:
// its file when that describes the snapshot the source holds now, else one
// built from the store. Its Token says which state it describes: an apply
// based on it must find the source's token unchanged.
func (s *Store) LoadSnapshotIndex(ctx context.Context, sourceID int64) (*SnapshotIndex, error) {
	src := Source{ID: sourceID}
	if sourceID != 0 {
		err := s.db.QueryRowContext(ctx, `SELECT rows, snapshot_token FROM sources WHERE id=?`, sourceID).
			Scan(&src.Rows, &src.SnapshotToken)
		if err != nil {
			return nil, wrapErr(err, "source %d", sourceID)
		}
	}
	if src.ID == 0 || src.Rows == 0 {
		return emptyIndex(src), nil
	}
	if src.SnapshotToken != 0 {
		ix, err := s.readIndex(src)
		if err == nil {
			return ix, nil
		}
	}
	return s.buildIndex(ctx, src)
}

// OpenSnapshotIndex returns src's index from its file, or an ENotFound
// error when there is no file describing src's current snapshot.
func (s *Store) OpenSnapshotIndex(src Source) (*SnapshotIndex, error) {
	if src.ID != 0 && src.Rows == 0 {
		return emptyIndex(src), nil
	}
	if src.ID == 0 || src.SnapshotToken == 0 {
		return nil, schema.Errorf(schema.ENotFound, "source %d has no snapshot index", src.ID)
	}
	ix, err := s.readIndex(src)
	if err != nil {
		return nil, schema.WrapError(schema.ENotFound, err, "source %d has no usable snapshot index", src.ID)
	}
	return ix, nil
}

func emptyIndex(src Source) *SnapshotIndex {
	ix := &SnapshotIndex{SourceID: src.ID, Token: src.SnapshotToken, seed: rand.Uint64(), keys: bytes.NewReader(nil)}
	ix.layout(nil)
	return ix
}

// readIndex reads and checks src's index file.
func (s *Store) readIndex(src Source) (ix *SnapshotIndex, err error) {
	f, err := os.Open(s.indexPath(src.ID))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	var h [indexHeaderSize]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch {
	case string(h[:8]) != indexMagic || crc32.Checksum(h[:56], castagnoli) != le.Uint32(h[56:]):
		return nil, errors.New("snapshot index: bad header")
	case int64(le.Uint64(h[8:])) != src.ID || int64(le.Uint64(h[16:])) != src.SnapshotToken:
		return nil, errors.New("snapshot index: stale")
	case int64(le.Uint64(h[32:])) != src.Rows:
		return nil, errors.New("snapshot index: wrong row count")
	}
	ix = &SnapshotIndex{SourceID: src.ID, Token: src.SnapshotToken, FromFile: true, seed: le.Uint64(h[24:]),
		keys: f, keysOff: indexHeaderSize, keysLen: int64(le.Uint64(h[40:])), file: f}
	n := int(src.Rows)
	if st, err := f.Stat(); err != nil || st.Size() != indexHeaderSize+ix.keysLen+int64(n)*indexEntrySize {
		return nil, errors.New("snapshot index: wrong size")
	}
	r := bufio.NewReaderSize(f, 1<<20)
	sum := crc32.New(castagnoli)
	if _, err := io.CopyN(sum, r, ix.keysLen); err != nil {
		return nil, err
	}
	if ix.keysSum = sum.Sum32(); ix.keysSum != le.Uint32(h[48:]) {
		return nil, errors.New("snapshot index: keys checksum")
	}
	ix.n = n
	ix.slots = make([]indexEntry, ix.table(), ix.table()+64)
	sum.Reset()
	var b [indexEntrySize]byte
	var prev uint64
	next := 0
	for i := range n {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, err
		}
		sum.Write(b[:])
		e := indexEntry{kh: le.Uint64(b[0:]), hash: le.Uint64(b[8:]), off: le.Uint32(b[16:]), klen: le.Uint16(b[20:]),
			st: schema.Status(b[22])}
		if (i > 0 && e.kh <= prev) || e.klen == 0 || int64(e.off)+int64(e.klen) > ix.keysLen {
			return nil, errors.New("snapshot index: bad entry")
		}
		prev = e.kh
		ix.place(&e, &next)
	}
	if sum.Sum32() != le.Uint32(h[52:]) {
		return nil, errors.New("snapshot index: entries checksum")
	}
	return ix, nil
}

// buildIndex reads src's snapshot from the store into an index held in
// memory.
func (s *Store) buildIndex(ctx context.Context, src Source) (*SnapshotIndex, error) {
	ix := &SnapshotIndex{SourceID: src.ID, Token: src.SnapshotToken, seed: rand.Uint64()}
	// The keys go to a scratch file beside the store, unlinked at once (gone
	// with the process), not to memory: a million keys are 50 MB.
	dir := filepath.Dir(s.path)
	if s.d.postgres {
		dir = s.IndexDir()
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("snapshot index: %w", err)
		}
	}
	f, err := os.CreateTemp(dir, "muster-index-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("snapshot index: %w", err)
	}
	os.Remove(f.Name())
	built := false
	defer func() {
		if !built {
			f.Close()
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	sum := crc32.New(castagnoli)
	out := io.MultiWriter(w, sum)
	ents := make([]indexEntry, 0, src.Rows)
	var n int64
	var buf []byte
	err = s.SnapshotHashes(ctx, src.ID, func(key string, h uint64, st schema.Status) {
		buf = binary.AppendUvarint(buf[:0], uint64(len(key)))
		off := n + int64(len(buf))
		buf = append(buf, key...)
		out.Write(buf)
		n += int64(len(buf))
		ents = append(ents, indexEntry{kh: keyHash(ix.seed, key), hash: h, off: uint32(off), klen: uint16(len(key)), st: st})
	})
	if err != nil {
		return nil, err
	}
	if n > 1<<32-1 {
		return nil, errors.New("snapshot index: keys too long")
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("snapshot index: %w", err)
	}
	ix.keys, ix.keysLen, ix.keysSum, ix.file = f, n, sum.Sum32(), f
	sortEntries(ents)
	for !uniqueHashes(ents) {
		// Two keys share a hash: another seed, every key hashed again.
		ix.seed = rand.Uint64()
		slices.SortFunc(ents, func(a, b indexEntry) int { return cmp.Compare(a.off, b.off) })
		for i := range ents {
			if buf, err = ix.keyAt(&ents[i], buf); err != nil {
				return nil, err
			}
			ents[i].kh = keyHash(ix.seed, string(buf))
		}
		sortEntries(ents)
	}
	ix.layout(ents)
	built = true
	return ix, nil
}

func sortEntries(ents []indexEntry) {
	slices.SortFunc(ents, func(a, b indexEntry) int { return cmp.Compare(a.kh, b.kh) })
}

func uniqueHashes(ents []indexEntry) bool {
	for i := 1; i < len(ents); i++ {
		if ents[i].kh == ents[i-1].kh {
			return false
		}
	}
	return true
}

// keyHash is a seeded 64-bit hash of a key (wyhash's mixing).
func keyHash(seed uint64, s string) uint64 {
	const p0, p1, p2 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db, 0x8ebc6af09c88c6e3
	h := seed ^ p0
	n := uint64(len(s))
	for len(s) > 16 {
		h = mum(le64(s)^p1, le64(s[8:])^h)
		s = s[16:]
	}
	var a, b uint64
	switch {
	case len(s) > 8:
		a, b = le64(s), tail64(s[8:])
	default:
		a = tail64(s)
	}
	return mum(p1^n, mum(a^p1, b^h)^p2)
}

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func le64(s string) uint64 {
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func tail64(s string) uint64 {
	var v uint64
	for i := len(s) - 1; i >= 0; i-- {
		v = v<<8 | uint64(s[i])
	}
	return v
}

// SnapshotIndexWriter writes the index of a source's snapshot as an apply
// leaves it: its base index with the apply's changes. The new file starts
// with the base's keys as they are (a removed key's bytes stay, unused),
// then the added keys; entries are the base's, updated, less the removed,
// merged with the added ones. So writing costs a copy of the keys and a
// pass over the entries, not a lookup per key. When unused key bytes
// outweigh the used ones no file is written: the next diff builds a compact
// index from the store, whose apply writes it.
//
// Any failure only means there will be no file (the next diff builds the
// index from the store): callers abort and carry on.
type SnapshotIndexWriter struct {
	s       *Store
	base    *SnapshotIndex
	f       *os.File
	w       *bufio.Writer
	keysLen int64
	keysSum uint32
	live    int64        // key bytes of the entries kept
	gone    []bool       // removed base entries
	added   []indexEntry // by key hash once finished
	buf     []byte
}

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
	w := &SnapshotIndexWriter{s: s, base: base, f: f, gone: make([]bool, len(base.slots)), keysLen: base.keysLen,
		keysSum: base.keysSum}
	for i := range base.slots {
		if k := base.slots[i].klen; k != 0 {
			w.live += int64(k) + int64(uvarintLen(uint64(k)))
		}
	}
	if err := w.copyKeys(); err != nil {
		w.Abort()
		return nil, err
	}
	w.w = bufio.NewWriterSize(f, 1<<20)
	return w, nil
}

// copyKeys writes the header's room and the base's keys section.
func (w *SnapshotIndexWriter) copyKeys() error {
	if _, err := w.f.Write(make([]byte, indexHeaderSize)); err != nil {
		return fmt.Errorf("snapshot index: %w", err)
	}
	var src io.Reader = io.NewSectionReader(w.base.keys, w.base.keysOff, w.base.keysLen)
	if bf := w.base.file; bf != nil {
		// From file to file: the kernel copies (copy_file_range).
		if _, err := bf.Seek(w.base.keysOff, io.SeekStart); err != nil {
			return fmt.Errorf("snapshot index: %w", err)
		}
		src = io.LimitReader(bf, w.base.keysLen)
	}
	if n, err := w.f.ReadFrom(src); err != nil || n != w.base.keysLen {
		return fmt.Errorf("snapshot index: copy keys: %d bytes, %v", n, err)
	}
	return nil
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// Add records one change of the apply. A removal of a key the snapshot
// does not hold changes nothing, as in the store.
func (w *SnapshotIndexWriter) Add(op ChangeOp, key string, hash uint64, st schema.Status) error {
	kh := keyHash(w.base.seed, key)
	if i := w.base.Find(kh); i >= 0 {
		k, err := w.base.Key(i, w.buf)
		if err != nil {
			return err
		}
		w.buf = k
		if string(k) != key {
			return errors.New("snapshot index: two keys share a hash")
		}
		if w.gone[i] {
			return errors.New("snapshot index: a key changed twice")
		}
		e := &w.base.slots[i]
		switch op {
		case OpRemove:
			w.gone[i] = true
			w.live -= int64(e.klen) + int64(uvarintLen(uint64(e.klen)))
		default:
			e.hash, e.st = hash, st
		}
		return nil
	}
	if op == OpRemove {
		return nil
	}
	if len(key) > 1<<16-1 || w.keysLen+int64(len(key))+binary.MaxVarintLen64 > 1<<32-1 {
		return errors.New("snapshot index: too large")
	}
	w.buf = binary.AppendUvarint(w.buf[:0], uint64(len(key)))
	off := w.keysLen + int64(len(w.buf))
	w.buf = append(w.buf, key...)
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("snapshot index: %w", err)
	}
	w.keysSum = crc32.Update(w.keysSum, castagnoli, w.buf)
	w.keysLen += int64(len(w.buf))
	w.live += int64(len(w.buf))
	w.added = append(w.added, indexEntry{kh: kh, hash: hash, off: uint32(off), klen: uint16(len(key)), st: st})
	return nil
}

// Commit finishes the file and puts it in place as the index of the
// snapshot whose token (to be committed by the caller's transaction) is
// token.
func (w *SnapshotIndexWriter) Commit(token int64) error {
	err := w.finish(token)
	if err != nil {
		w.Abort()
	}
	return err
}

func (w *SnapshotIndexWriter) finish(token int64) error {
	if w.keysLen > 2*w.live && w.keysLen > 1<<20 {
		return errors.New("snapshot index: mostly unused keys; the next diff rebuilds it")
	}
	sortEntries(w.added)
	if !uniqueHashes(w.added) {
		return errors.New("snapshot index: two keys share a hash")
	}
	// The base entries (by key hash, less the removed) merged with the
	// added ones.
	entSum := crc32.New(castagnoli)
	out := io.MultiWriter(w.w, entSum)
	var b [indexEntrySize]byte
	n := 0
	put := func(e *indexEntry) {
		le := binary.LittleEndian
		le.PutUint64(b[0:], e.kh)
		le.PutUint64(b[8:], e.hash)
		le.PutUint32(b[16:], e.off)
		le.PutUint16(b[20:], e.klen)
		b[22], b[23] = byte(e.st), 0
		out.Write(b[:])
		n++
	}
	ents, j := w.base.slots, 0
	for i := range ents {
		if w.gone[i] || ents[i].klen == 0 {
			continue
		}
		for ; j < len(w.added) && w.added[j].kh < ents[i].kh; j++ {
			put(&w.added[j])
		}
		if j < len(w.added) && w.added[j].kh == ents[i].kh {
			return errors.New("snapshot index: two keys share a hash")
		}
		put(&ents[i])
	}
	for ; j < len(w.added); j++ {
		put(&w.added[j])
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("snapshot index: %w", err)
	}
	var h [indexHeaderSize]byte
	le := binary.LittleEndian
	copy(h[:], indexMagic)
	le.PutUint64(h[8:], uint64(w.base.SourceID))
	le.PutUint64(h[16:], uint64(token))
	le.PutUint64(h[24:], w.base.seed)
	le.PutUint64(h[32:], uint64(n))
	le.PutUint64(h[40:], uint64(w.keysLen))
	le.PutUint32(h[48:], w.keysSum)
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
	return nil
}

// Abort drops the file being written.
func (w *SnapshotIndexWriter) Abort() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
}
