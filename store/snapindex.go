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
// a few milliseconds.
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
// Memory: an open index holds 24 bytes a row (key hash, content hash and
// status, the key's rank, and a line for the diff's bookkeeping), outside
// the Go heap (offheap.go), plus about 1.1 bytes a row of directory and
// key offsets: 25 MB for a million rows, 75 MB for three million. Keys stay
// in the file and are read when asked for (Key), which a diff does only
// for the rows that changed or left.
//
// File layout (little endian): a 64-byte header; the keys, each as a
// uvarint length and its bytes, in key order (a key's rank is its place
// there); then one 20-byte entry a key, in key hash order (the key hash is
// seeded per index, so nobody can choose keys that collide): key hash,
// content hash with the status in its top three bits, rank.

const (
	indexMagic      = "MUSTSIX2"
	indexHeaderSize = 64
	indexEntrySize  = 20
	// keyBlock is how many keys lie between two key offsets held in
	// memory: reading one key reads at most a block.
	keyBlock = 32
	// valueHashBits are the bits of an entry's value that hold the content
	// hash (content hashes have 61 bits); the status is above them.
	valueHashBits = 61
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type indexEntry struct {
	kh   uint64
	v    uint64 // content hash, status in the top three bits
	rank uint32 // the key's place in key order
	// line is bookkeeping: during a diff, 1 + the line of the drop's row
	// that listed the row (0: not listed yet); during an apply's index
	// write, 1 + the row's new rank (0: removed).
	line uint32
}

func packValue(hash uint64, st schema.Status) uint64 {
	return hash&(1<<valueHashBits-1) | uint64(st)<<valueHashBits
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
	// ents holds the rows in key hash order, outside the Go heap; dir[b]
	// is the first entry whose key hash's top bits (kh>>shift) are b.
	ents     []indexEntry
	freeEnts func()
	n        int
	dir      []uint32 // off the heap too
	freeDir  func()
	shift    uint
	// The keys section: at keysOff in keys, keysLen bytes; koff[b] is the
	// offset in it of key rank b*keyBlock (and koff[last] is keysLen).
	keys    io.ReaderAt
	keysOff int64
	keysLen int64
	keysSum uint32
	koff    []uint32
	file    *os.File
	// The keys block last read, split: blkKeys[j] is rank blkNo*keyBlock+j.
	blkNo   int
	blk     []byte
	blkKeys [][]byte
}

// Len returns the number of rows (also once closed).
func (ix *SnapshotIndex) Len() int { return ix.n }

// Positions returns the bound of the positions of rows (Find, Locate):
// every position below it holds a row.
func (ix *SnapshotIndex) Positions() int { return len(ix.ents) }

// KeyHash returns the index's hash of a key.
func (ix *SnapshotIndex) KeyHash(key string) uint64 { return keyHash(ix.seed, key) }

// Find returns the position of the row whose key has hash kh, or -1. The
// row's key is the one asked for unless two keys share a 64-bit hash: a
// caller that must be sure compares Key.
func (ix *SnapshotIndex) Find(kh uint64) int {
	if len(ix.ents) == 0 {
		return -1
	}
	b := kh >> ix.shift
	for i := ix.dir[b]; i < ix.dir[b+1]; i++ {
		switch e := ix.ents[i].kh; {
		case e == kh:
			return int(i)
		case e > kh:
			return -1
		}
	}
	return -1
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
	k, err := ix.key(ix.ents[i].rank)
	if err != nil {
		return 0, err
	}
	if string(k) != key {
		return -1, nil
	}
	return i, nil
}

// Entry returns the content hash and status of the row at position i.
func (ix *SnapshotIndex) Entry(i int) (hash uint64, st schema.Status) {
	v := ix.ents[i].v
	return v & (1<<valueHashBits - 1), schema.Status(v >> valueHashBits)
}

// Key appends the key of the row at position i to buf[:0].
func (ix *SnapshotIndex) Key(i int, buf []byte) ([]byte, error) {
	k, err := ix.key(ix.ents[i].rank)
	return append(buf[:0], k...), err
}

// List records that the drop being diffed lists the row at position i on
// line (0 for a row from no file). It returns false, with the line of the
// first row that listed it, when one did already.
func (ix *SnapshotIndex) List(i, line int) (first int, ok bool) {
	e := &ix.ents[i]
	if e.line != 0 {
		return int(e.line) - 1, false
	}
	e.line = uint32(line) + 1
	return 0, true
}

// Listed says whether List marked the row at position i.
func (ix *SnapshotIndex) Listed(i int) bool { return ix.ents[i].line != 0 }

// Unlisted calls fn, in key order, with the key of every row that List did
// not mark (the key is valid only during the call).
func (ix *SnapshotIndex) Unlisted(fn func(key []byte) error) error {
	var ranks []uint32
	for i := range ix.ents {
		if ix.ents[i].line == 0 {
			ranks = append(ranks, ix.ents[i].rank)
		}
	}
	slices.Sort(ranks)
	for _, r := range ranks {
		k, err := ix.key(r)
		if err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

// key returns the key of rank r, from the block of keys that holds it
// (read once for consecutive ranks).
func (ix *SnapshotIndex) key(r uint32) ([]byte, error) {
	b := int(r / keyBlock)
	if b != ix.blkNo || ix.blk == nil {
		lo, hi := int64(ix.koff[b]), int64(ix.koff[b+1])
		ix.blk = slices.Grow(ix.blk[:0], int(hi-lo))[:hi-lo]
		if _, err := ix.keys.ReadAt(ix.blk, ix.keysOff+lo); err != nil {
			return nil, fmt.Errorf("snapshot index: read keys: %w", err)
		}
		ix.blkKeys = ix.blkKeys[:0]
		for rest := ix.blk; len(rest) > 0; {
			l, n := binary.Uvarint(rest)
			if n <= 0 || uint64(len(rest)-n) < l {
				ix.blkNo = -1
				return nil, errors.New("snapshot index: corrupt keys")
			}
			ix.blkKeys = append(ix.blkKeys, rest[n:n+int(l)])
			rest = rest[n+int(l):]
		}
		ix.blkNo = b
	}
	j := int(r % keyBlock)
	if j >= len(ix.blkKeys) {
		return nil, errors.New("snapshot index: corrupt keys")
	}
	return ix.blkKeys[j], nil
}

// Close releases the index's memory and file.
func (ix *SnapshotIndex) Close() error {
	if ix == nil {
		return nil
	}
	if ix.freeEnts != nil {
		ix.freeEnts()
		ix.freeEnts, ix.ents = nil, nil
	}
	if ix.freeDir != nil {
		ix.freeDir()
		ix.freeDir, ix.dir = nil, nil
	}
	if ix.file == nil {
		return nil
	}
	err := ix.file.Close()
	ix.file = nil
	return err
}

// layout builds the directory of ix.ents, which are in key hash order:
// about four entries a bucket.
func (ix *SnapshotIndex) layout() {
	ix.n = len(ix.ents)
	b := 0
	if n := len(ix.ents) / 4; n > 0 {
		b = bits.Len(uint(n))
	}
	ix.shift = uint(64 - b)
	if ix.freeDir != nil {
		ix.freeDir()
	}
	ix.dir, ix.freeDir = offheapSlice[uint32](1<<b + 1)
	next := 0
	for i := range ix.ents {
		for h := int(ix.ents[i].kh >> ix.shift); next <= h; next++ {
			ix.dir[next] = uint32(i)
		}
	}
	for ; next < len(ix.dir); next++ {
		ix.dir[next] = uint32(len(ix.ents))
	}
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
	var err error
	for range 3 {
		var ix *SnapshotIndex
		if ix, err = s.buildIndex(ctx, src); !errors.Is(err, errSharedHash) {
			return ix, err
		}
		// Two keys share a hash under this seed: another seed.
	}
	return nil, err
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
	ix := &SnapshotIndex{SourceID: src.ID, Token: src.SnapshotToken, seed: rand.Uint64(), keys: bytes.NewReader(nil),
		koff: []uint32{0}, blkNo: -1}
	ix.layout()
	return ix
}

// newIndex returns an index of n entries (off the heap) with a fresh seed.
func newIndex(src Source, n int) *SnapshotIndex {
	ix := &SnapshotIndex{SourceID: src.ID, Token: src.SnapshotToken, seed: rand.Uint64(), blkNo: -1}
	ix.ents, ix.freeEnts = offheapSlice[indexEntry](n)
	return ix
}

// grow makes ix.ents n entries long, keeping those it has.
func (ix *SnapshotIndex) grow(n int) {
	ents, free := offheapSlice[indexEntry](n)
	copy(ents, ix.ents)
	if ix.freeEnts != nil {
		ix.freeEnts()
	}
	ix.ents, ix.freeEnts = ents, free
}

// readIndex reads and checks src's index file.
func (s *Store) readIndex(src Source) (ix *SnapshotIndex, err error) {
	f, err := os.Open(s.indexPath(src.ID))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if ix != nil {
				ix.file = nil
				ix.Close()
			}
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
	case int64(le.Uint64(h[32:])) != src.Rows || src.Rows > 1<<32-1:
		return nil, errors.New("snapshot index: wrong row count")
	}
	n := int(src.Rows)
	keysLen := int64(le.Uint64(h[40:]))
	if st, err := f.Stat(); err != nil || keysLen > 1<<32-1 || st.Size() != indexHeaderSize+keysLen+int64(n)*indexEntrySize {
		return nil, errors.New("snapshot index: wrong size")
	}
	ix = newIndex(src, n)
	ix.FromFile, ix.seed = true, le.Uint64(h[24:])
	ix.keys, ix.keysOff, ix.keysLen, ix.file = f, indexHeaderSize, keysLen, f
	r := bufio.NewReaderSize(f, 1<<20)
	if err := ix.readKeys(io.LimitReader(r, keysLen), n); err != nil {
		return nil, err
	}
	if ix.keysSum != le.Uint32(h[48:]) {
		return nil, errors.New("snapshot index: keys checksum")
	}
	sum := crc32.New(castagnoli)
	var b [indexEntrySize]byte
	for i := range n {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, err
		}
		sum.Write(b[:])
		e := indexEntry{kh: le.Uint64(b[0:]), v: le.Uint64(b[8:]), rank: le.Uint32(b[16:])}
		if (i > 0 && e.kh <= ix.ents[i-1].kh) || int(e.rank) >= n {
			return nil, errors.New("snapshot index: bad entry")
		}
		ix.ents[i] = e
	}
	if sum.Sum32() != le.Uint32(h[52:]) {
		return nil, errors.New("snapshot index: entries checksum")
	}
	ix.layout()
	return ix, nil
}

// readKeys reads the keys section of n keys from r: its checksum and the
// offsets of the key blocks.
func (ix *SnapshotIndex) readKeys(r io.Reader, n int) error {
	sum := crc32.New(castagnoli)
	br := bufio.NewReaderSize(io.TeeReader(r, sum), 64<<10)
	ix.koff = make([]uint32, 0, n/keyBlock+2)
	var off int64
	for i := range n {
		if i%keyBlock == 0 {
			ix.koff = append(ix.koff, uint32(off))
		}
		l, err := binary.ReadUvarint(br)
		if err != nil || l == 0 || l > 1<<16-1 {
			return errors.New("snapshot index: corrupt keys")
		}
		if _, err := br.Discard(int(l)); err != nil {
			return errors.New("snapshot index: corrupt keys")
		}
		off += int64(uvarintLen(l)) + int64(l)
	}
	if off != ix.keysLen {
		return errors.New("snapshot index: corrupt keys")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return errors.New("snapshot index: corrupt keys")
	}
	ix.koff = append(ix.koff, uint32(off))
	ix.keysSum = sum.Sum32()
	return nil
}

// errSharedHash is two keys of an index sharing a key hash.
var errSharedHash = errors.New("snapshot index: two keys share a hash")

// buildIndex reads src's snapshot from the store into an index.
func (s *Store) buildIndex(ctx context.Context, src Source) (*SnapshotIndex, error) {
	ix := newIndex(src, int(src.Rows))
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
		ix.Close()
		return nil, fmt.Errorf("snapshot index: %w", err)
	}
	os.Remove(f.Name())
	ix.file, ix.keys = f, f
	built := false
	defer func() {
		if !built {
			ix.Close()
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	sum := crc32.New(castagnoli)
	out := io.MultiWriter(w, sum)
	ix.koff = make([]uint32, 0, len(ix.ents)/keyBlock+2)
	var off int64
	var buf []byte
	n := 0
	err = s.SnapshotHashes(ctx, src.ID, func(key string, h uint64, st schema.Status) {
		if n == len(ix.ents) {
			ix.grow(2*n + 1024)
		}
		if n%keyBlock == 0 {
			ix.koff = append(ix.koff, uint32(off))
		}
		buf = binary.AppendUvarint(buf[:0], uint64(len(key)))
		buf = append(buf, key...)
		out.Write(buf)
		off += int64(len(buf))
		ix.ents[n] = indexEntry{kh: keyHash(ix.seed, key), v: packValue(h, st), rank: uint32(n)}
		n++
	})
	switch {
	case err != nil:
		return nil, err
	case off > 1<<32-1:
		return nil, errors.New("snapshot index: keys too long")
	}
	ix.ents = ix.ents[:n]
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("snapshot index: %w", err)
	}
	ix.koff = append(ix.koff, uint32(off))
	ix.keysLen, ix.keysSum = off, sum.Sum32()
	slices.SortFunc(ix.ents, func(a, b indexEntry) int { return cmp.Compare(a.kh, b.kh) })
	for i := 1; i < len(ix.ents); i++ {
		if ix.ents[i].kh == ix.ents[i-1].kh {
			return nil, errSharedHash
		}
	}
	ix.layout()
	built = true
	return ix, nil
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

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}
