package store

import (
	"bufio"
	"bytes"
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
// reads of a source's snapshot: every row's key, content hash, and the
// digest of the file row it came from. Reading a million rows out of SQLite
// takes over a second; reading the file takes a few milliseconds.
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
// Row digests. A row of a file that reads without any problem has a digest
// of its values (schema.Decoder.SetKnown); the index keeps, for each row of
// the snapshot, the digest of the row it came from, and the salt of the
// file's reading (its header, the decode settings, the source's
// allowlist). A later file read under the same salt whose row has the same
// digest says exactly what the snapshot holds: the diff skips reading its
// values at all.
//
// Memory: an open index holds 20 bytes a row outside the Go heap
// (offheap.go): the key hash, the digest (or, when there is none, the
// content hash and status), and a line for the diff's bookkeeping; plus a
// directory of about a byte a row and 8 bytes per 32 keys. 20 MB for a
// million rows, 63 MB for three million. Keys and content hashes stay in
// the file (or, for an index built from the store, in scratch files) and
// are read when asked for: a diff asks only for the rows that changed.
//
// File layout (little endian): an 80-byte header; one 24-byte entry a row
// in key hash order (the key hash is seeded per index, so nobody can choose
// keys that collide): key hash, content hash with the status above its 61
// bits, digest (0: none); then for every 32 keys the offset of the first
// in the keys section and the CRC-32C of the 32; then the keys, each as a
// uvarint length and its bytes, in the entries' order.

const (
	indexMagic      = "MUSTSIX3"
	indexHeaderSize = 80
	indexEntrySize  = 24
	// keyBlock is how many keys a block holds: reading one key reads at
	// most a block.
	keyBlock = 32
	// valueHashBits are the bits of a value that hold the content hash
	// (content hashes have 61 bits); the status is above them.
	valueHashBits = 61
	// digestFlag marks an x holding a row digest (its other 63 bits).
	digestFlag = 1 << 63
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func packValue(hash uint64, st schema.Status) uint64 {
	return hash&(1<<valueHashBits-1) | uint64(st&3)<<valueHashBits
}

func unpackValue(v uint64) (uint64, schema.Status) {
	return v & (1<<valueHashBits - 1), schema.Status(v >> valueHashBits & 3)
}

type keyBlockInfo struct{ off, sum uint32 }

type indexEntry struct{ kh, x uint64 }

// SnapshotIndex holds a source's snapshot keys, looked up by key hash, with
// each row's digest or content hash. Keys and content hashes of rows with
// a digest are read from disk when asked for.
type SnapshotIndex struct {
	SourceID int64
	// Token is the snapshot token of the state the index describes.
	Token int64
	// FromFile says the index was read from its file, not built from SQLite.
	FromFile bool
	seed     uint64
	// salt is the salt of the digests the index holds or is given (0: none).
	salt uint64
	// dirty says Note changed what a row holds.
	dirty bool
	n     int
	// Per row, in key hash order, outside the Go heap: key hash and digest
	// (digestFlag set) or value, side by side so a lookup reads one place;
	// the diff's line (1 + the line that listed the row; 0: not listed).
	ents  []indexEntry
	lines []uint32
	frees []func()
	// dir[b] is the first row whose key hash's top bits (kh>>shift) are b.
	dir   []uint32
	shift uint
	// Keys: block b's keys are at keysOff+blocks[b].off in keys.
	blocks  []keyBlockInfo
	keys    io.ReaderAt
	keysOff int64
	keysLen int64
	// Values (content hash and status) of row i: 8 bytes at
	// valsOff+i*valsStride in vals.
	vals       io.ReaderAt
	valsOff    int64
	valsStride int64
	files      []*os.File
	// The keys block last read, split.
	blkNo   int
	blk     []byte
	blkKeys [][]byte
}

// Len returns the number of rows (also once closed).
func (ix *SnapshotIndex) Len() int { return ix.n }

// Positions returns the bound of the positions of rows: every position
// below it holds a row.
func (ix *SnapshotIndex) Positions() int { return ix.n }

// KeyHash returns the index's hash of a key.
func (ix *SnapshotIndex) KeyHash(key string) uint64 { return keyHash(ix.seed, key) }

// Salt returns the salt of the digests the index holds (0: none).
func (ix *SnapshotIndex) Salt() uint64 { return ix.salt }

// Find returns the position of the row whose key has hash kh, or -1. The
// row's key is the one asked for unless two keys share a 64-bit hash: a
// caller that must be sure compares Key.
func (ix *SnapshotIndex) Find(kh uint64) int {
	if ix.n == 0 {
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

// FindAll sets pos[i] to Find(khs[i]) for every i (pos as long as khs).
// The directory is read for every hash
// first, then the rows: each read is a cache miss, and the processor
// overlaps the misses of independent reads, not those of a read that
// waits for the one before.
func (ix *SnapshotIndex) FindAll(khs []uint64, pos []int32) {
	if ix.n == 0 {
		for i := range pos {
			pos[i] = -1
		}
		return
	}
	for i, kh := range khs {
		pos[i] = int32(ix.dir[kh>>ix.shift])
	}
	for i, kh := range khs {
		p, end := int32(-1), ix.dir[kh>>ix.shift+1]
		for j := uint32(pos[i]); j < end; j++ {
			if e := ix.ents[j].kh; e >= kh {
				if e == kh {
					p = int32(j)
				}
				break
			}
		}
		pos[i] = p
	}
}

// Known says the row at position i came from a file row with this digest
// (made under the index's salt): a row with the same digest says exactly
// what the snapshot holds.
func (ix *SnapshotIndex) Known(i int, digest uint64) bool {
	return digest != 0 && ix.ents[i].x == digest|digestFlag
}

// Note records what the drop being diffed says of the row at position i,
// which it leaves as it is: the digest of the drop's row (0: it had a
// problem, or none was made), and the row's content hash and status. The
// index written after the apply keeps it.
func (ix *SnapshotIndex) Note(i int, digest, hash uint64, st schema.Status) {
	x := packValue(hash, st)
	if digest != 0 {
		x = digest | digestFlag
	}
	if ix.ents[i].x != x {
		ix.ents[i].x, ix.dirty = x, true
	}
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
	k, err := ix.key(i)
	if err != nil {
		return 0, err
	}
	if string(k) != key {
		return -1, nil
	}
	return i, nil
}

// Entry returns the content hash and status of the row at position i.
func (ix *SnapshotIndex) Entry(i int) (hash uint64, st schema.Status, err error) {
	x := ix.ents[i].x
	if x&digestFlag != 0 {
		var b [8]byte
		if _, err := ix.vals.ReadAt(b[:], ix.valsOff+int64(i)*ix.valsStride); err != nil {
			return 0, 0, fmt.Errorf("snapshot index: read value: %w", err)
		}
		x = binary.LittleEndian.Uint64(b[:])
	}
	hash, st = unpackValue(x)
	return hash, st, nil
}

// Key appends the key of the row at position i to buf[:0].
func (ix *SnapshotIndex) Key(i int, buf []byte) ([]byte, error) {
	k, err := ix.key(i)
	return append(buf[:0], k...), err
}

// List records that the drop being diffed lists the row at position i on
// line (0 for a row from no file). It returns false, with the line of the
// first row that listed it, when one did already.
func (ix *SnapshotIndex) List(i, line int) (first int, ok bool) {
	if l := ix.lines[i]; l != 0 {
		return int(l) - 1, false
	}
	ix.lines[i] = uint32(line) + 1
	return 0, true
}

// Listed says whether List marked the row at position i.
func (ix *SnapshotIndex) Listed(i int) bool { return ix.lines[i] != 0 }

// Unlisted calls fn with the key of every row that List did not mark (the
// key is valid only during the call), in the index's order.
func (ix *SnapshotIndex) Unlisted(fn func(key []byte) error) error {
	for i := range ix.n {
		if ix.lines[i] != 0 {
			continue
		}
		k, err := ix.key(i)
		if err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

// key returns the key of the row at position i, from its block of keys
// (read once for consecutive positions; its checksum checked).
func (ix *SnapshotIndex) key(i int) ([]byte, error) {
	b := i / keyBlock
	if b != ix.blkNo {
		lo, hi := int64(ix.blocks[b].off), ix.keysLen
		if b+1 < len(ix.blocks) {
			hi = int64(ix.blocks[b+1].off)
		}
		ix.blkNo = -1
		if hi < lo || hi > ix.keysLen {
			return nil, errors.New("snapshot index: corrupt keys")
		}
		if int64(cap(ix.blk)) < hi-lo {
			ix.blk = make([]byte, hi-lo)
		}
		ix.blk = ix.blk[:hi-lo]
		if _, err := ix.keys.ReadAt(ix.blk, ix.keysOff+lo); err != nil {
			return nil, fmt.Errorf("snapshot index: read keys: %w", err)
		}
		if crc32.Checksum(ix.blk, castagnoli) != ix.blocks[b].sum {
			return nil, errors.New("snapshot index: keys checksum")
		}
		ix.blkKeys = ix.blkKeys[:0]
		for rest := ix.blk; len(rest) > 0; {
			l, n := binary.Uvarint(rest)
			if n <= 0 || uint64(len(rest)-n) < l {
				return nil, errors.New("snapshot index: corrupt keys")
			}
			ix.blkKeys = append(ix.blkKeys, rest[n:n+int(l)])
			rest = rest[n+int(l):]
		}
		ix.blkNo = b
	}
	j := i % keyBlock
	if j >= len(ix.blkKeys) {
		return nil, errors.New("snapshot index: corrupt keys")
	}
	return ix.blkKeys[j], nil
}

// Close releases the index's memory and files.
func (ix *SnapshotIndex) Close() error {
	if ix == nil {
		return nil
	}
	for _, free := range ix.frees {
		free()
	}
	ix.frees, ix.ents, ix.lines, ix.dir = nil, nil, nil, nil
	var err error
	for _, f := range ix.files {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	ix.files = nil
	return err
}

// alloc gives the index room for n rows.
func (ix *SnapshotIndex) alloc(n int) {
	var free func()
	ix.n = n
	ix.ents, free = offheapSlice[indexEntry](n)
	ix.frees = append(ix.frees, free)
	ix.lines, free = offheapSlice[uint32](n)
	ix.frees = append(ix.frees, free)
}

// layout builds the directory of ix.ents, which are in order: about four
// rows a bucket.
func (ix *SnapshotIndex) layout() {
	b := 0
	if n := ix.n / 4; n > 0 {
		b = bits.Len(uint(n))
	}
	ix.shift = uint(64 - b)
	var free func()
	ix.dir, free = offheapSlice[uint32](1<<b + 1)
	ix.frees = append(ix.frees, free)
	next := 0
	for i := range ix.n {
		for h := int(ix.ents[i].kh >> ix.shift); next <= h; next++ {
			ix.dir[next] = uint32(i)
		}
	}
	for ; next < len(ix.dir); next++ {
		ix.dir[next] = uint32(ix.n)
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
// based on it must find the source's token unchanged. salt is the salt of
// the rows the caller will look up by digest (0: none): the digests the
// file holds are used only when they were made under it.
func (s *Store) LoadSnapshotIndex(ctx context.Context, sourceID int64, salt uint64) (*SnapshotIndex, error) {
	src := Source{ID: sourceID}
	if sourceID != 0 {
		err := s.db.QueryRowContext(ctx, `SELECT rows, snapshot_token FROM sources WHERE id=?`, sourceID).
			Scan(&src.Rows, &src.SnapshotToken)
		if err != nil {
			return nil, wrapErr(err, "source %d", sourceID)
		}
	}
	if src.ID == 0 || src.Rows == 0 {
		return emptyIndex(src, salt), nil
	}
	if src.SnapshotToken != 0 {
		ix, err := s.readIndex(src, salt)
		if err == nil {
			return ix, nil
		}
	}
	var err error
	for range 3 {
		var ix *SnapshotIndex
		if ix, err = s.buildIndex(ctx, src, salt); !errors.Is(err, errSharedHash) {
			return ix, err
		}
		// Two keys share a hash under this seed: another seed.
	}
	return nil, err
}

// OpenSnapshotIndex returns src's index from its file, or an ENotFound
// error when there is no file describing src's current snapshot. The
// digests it holds are kept (its salt is the file's).
func (s *Store) OpenSnapshotIndex(src Source) (*SnapshotIndex, error) {
	if src.ID != 0 && src.Rows == 0 {
		return emptyIndex(src, 0), nil
	}
	if src.ID == 0 || src.SnapshotToken == 0 {
		return nil, schema.Errorf(schema.ENotFound, "source %d has no snapshot index", src.ID)
	}
	ix, err := s.readIndex(src, keepSalt)
	if err != nil {
		return nil, schema.WrapError(schema.ENotFound, err, "source %d has no usable snapshot index", src.ID)
	}
	return ix, nil
}

// keepSalt asks readIndex for the digests whatever their salt.
const keepSalt = ^uint64(0)

func emptyIndex(src Source, salt uint64) *SnapshotIndex {
	ix := &SnapshotIndex{SourceID: src.ID, Token: src.SnapshotToken, seed: rand.Uint64(), salt: salt,
		keys: bytes.NewReader(nil), vals: bytes.NewReader(nil), blkNo: -1}
	ix.layout()
	return ix
}

// readIndex reads and checks src's index file, keeping its digests when
// they were made under salt.
func (s *Store) readIndex(src Source, salt uint64) (ix *SnapshotIndex, err error) {
	f, err := os.Open(s.indexPath(src.ID))
	if err != nil {
		return nil, err
	}
	ix = &SnapshotIndex{SourceID: src.ID, Token: src.SnapshotToken, FromFile: true, blkNo: -1, files: []*os.File{f}}
	defer func() {
		if err != nil {
			ix.Close()
		}
	}()
	var h [indexHeaderSize]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch {
	case string(h[:8]) != indexMagic || crc32.Checksum(h[:76], castagnoli) != le.Uint32(h[76:]):
		return nil, errors.New("snapshot index: bad header")
	case int64(le.Uint64(h[8:])) != src.ID || int64(le.Uint64(h[16:])) != src.SnapshotToken:
		return nil, errors.New("snapshot index: stale")
	case int64(le.Uint64(h[32:])) != src.Rows || src.Rows > 1<<32-1:
		return nil, errors.New("snapshot index: wrong row count")
	}
	n := int(src.Rows)
	ix.seed, ix.keysLen = le.Uint64(h[24:]), int64(le.Uint64(h[40:]))
	fileSalt := le.Uint64(h[48:])
	nb := (n + keyBlock - 1) / keyBlock
	blocksOff := int64(indexHeaderSize) + int64(n)*indexEntrySize
	ix.keysOff = blocksOff + int64(nb)*8
	if st, err := f.Stat(); err != nil || ix.keysLen > 1<<32-1 || st.Size() != ix.keysOff+ix.keysLen {
		return nil, errors.New("snapshot index: wrong size")
	}
	// The digests are used when made under the caller's salt; the index's
	// salt is the caller's all the same: the digests the diff notes are.
	useDigests := fileSalt != 0 && (salt == keepSalt || fileSalt == salt)
	if ix.salt = salt; salt == keepSalt {
		ix.salt = fileSalt
	}
	ix.alloc(n)
	ix.keys, ix.vals, ix.valsOff, ix.valsStride = f, f, indexHeaderSize+8, indexEntrySize
	r := bufio.NewReaderSize(f, 1<<20)
	sum := crc32.New(castagnoli)
	// Entries are read and summed some thousands at a time: a call or two
	// per entry cost more than the entries' checks.
	chunk := make([]byte, 2730*indexEntrySize)
	for i := 0; i < n; {
		m := min(n-i, len(chunk)/indexEntrySize)
		c := chunk[:m*indexEntrySize]
		if _, err := io.ReadFull(r, c); err != nil {
			return nil, err
		}
		sum.Write(c)
		for ; len(c) > 0; c, i = c[indexEntrySize:], i+1 {
			kh, v, raw := le.Uint64(c[0:]), le.Uint64(c[8:]), le.Uint64(c[16:])
			if (i > 0 && kh <= ix.ents[i-1].kh) || v&digestFlag != 0 {
				return nil, errors.New("snapshot index: bad entry")
			}
			ix.ents[i].kh = kh
			if ix.ents[i].x = v; useDigests && raw != 0 {
				ix.ents[i].x = raw | digestFlag
			}
		}
	}
	var b [8]byte
	if sum.Sum32() != le.Uint32(h[56:]) {
		return nil, errors.New("snapshot index: entries checksum")
	}
	sum.Reset()
	ix.blocks = make([]keyBlockInfo, nb)
	for j := range nb {
		if _, err := io.ReadFull(r, b[:8]); err != nil {
			return nil, err
		}
		sum.Write(b[:8])
		ix.blocks[j] = keyBlockInfo{off: le.Uint32(b[0:]), sum: le.Uint32(b[4:])}
		if j > 0 && ix.blocks[j].off < ix.blocks[j-1].off || int64(ix.blocks[j].off) > ix.keysLen {
			return nil, errors.New("snapshot index: bad key block")
		}
	}
	if sum.Sum32() != le.Uint32(h[60:]) {
		return nil, errors.New("snapshot index: blocks checksum")
	}
	// The keys are checked now, block by block, so that a damaged file is
	// not used rather than failing a diff half-way.
	var blk []byte
	for j := range nb {
		hi := ix.keysLen
		if j+1 < nb {
			hi = int64(ix.blocks[j+1].off)
		}
		size := int(hi - int64(ix.blocks[j].off))
		blk = slices.Grow(blk[:0], size)[:size]
		if _, err := io.ReadFull(r, blk); err != nil {
			return nil, err
		}
		if crc32.Checksum(blk, castagnoli) != ix.blocks[j].sum {
			return nil, errors.New("snapshot index: keys checksum")
		}
	}
	ix.layout()
	return ix, nil
}

// errSharedHash is two keys of an index sharing a key hash.
var errSharedHash = errors.New("snapshot index: two keys share a hash")

// buildIndex reads src's snapshot from the store into an index: the rows
// go through a bucket spill into key hash order; keys and values go to
// scratch files beside the store, unlinked at once (gone with the process),
// not to memory.
func (s *Store) buildIndex(ctx context.Context, src Source, salt uint64) (*SnapshotIndex, error) {
	ix := &SnapshotIndex{SourceID: src.ID, Token: src.SnapshotToken, seed: rand.Uint64(), salt: salt, blkNo: -1}
	// Scratch files go beside the store, or (PostgreSQL: no file) with the
	// index files.
	dir := filepath.Dir(s.path)
	if s.d.postgres {
		dir = s.IndexDir()
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("snapshot index: %w", err)
		}
	}
	sp := &bucketSpill{dir: dir}
	defer sp.close()
	var spillErr error
	err := s.SnapshotHashes(ctx, src.ID, func(key string, h uint64, st schema.Status) {
		if spillErr == nil {
			spillErr = sp.add(spillRec{kh: keyHash(ix.seed, key), v: packValue(h, st)}, key)
		}
	})
	if err == nil {
		err = spillErr
	}
	if err != nil {
		return nil, err
	}
	built := false
	defer func() {
		if !built {
			ix.Close()
		}
	}()
	ix.alloc(sp.n)
	var kw, vw *scratchWriter
	for _, w := range []**scratchWriter{&kw, &vw} {
		f, err := os.CreateTemp(dir, "muster-index-*.tmp")
		if err != nil {
			return nil, fmt.Errorf("snapshot index: %w", err)
		}
		os.Remove(f.Name())
		ix.files = append(ix.files, f)
		*w = &scratchWriter{f: f, w: bufio.NewWriterSize(f, 1<<20)}
	}
	ix.keys, ix.vals, ix.valsStride = kw.f, vw.f, 8
	var blk blockWriter
	pos := 0
	for b := range spillBuckets {
		recs, err := sp.bucket(b)
		if err != nil {
			return nil, err
		}
		for i := range recs {
			r := &recs[i]
			if pos > 0 && r.kh == ix.ents[pos-1].kh {
				return nil, errSharedHash
			}
			ix.ents[pos].kh, ix.ents[pos].x = r.kh, r.v
			blk.add(kw, r.key)
			var v [8]byte
			binary.LittleEndian.PutUint64(v[:], r.v)
			vw.w.Write(v[:])
			pos++
		}
	}
	ix.blocks = blk.finish()
	ix.keysLen = blk.off
	for _, w := range []*scratchWriter{kw, vw} {
		if err := w.w.Flush(); err != nil {
			return nil, fmt.Errorf("snapshot index: %w", err)
		}
	}
	if ix.keysLen > 1<<32-1 {
		return nil, errors.New("snapshot index: keys too long")
	}
	ix.layout()
	built = true
	return ix, nil
}

type scratchWriter struct {
	f *os.File
	w *bufio.Writer
}

// blockWriter writes keys in blocks of keyBlock, keeping each block's
// offset and checksum.
type blockWriter struct {
	blocks []keyBlockInfo
	off    int64
	n      int
	sum    uint32
	buf    []byte
}

func (b *blockWriter) add(w *scratchWriter, key []byte) { b.addTo(w.w, key) }

func (b *blockWriter) addTo(w io.Writer, key []byte) {
	if b.n%keyBlock == 0 {
		if b.n > 0 {
			b.blocks[len(b.blocks)-1].sum = b.sum
		}
		b.blocks = append(b.blocks, keyBlockInfo{off: uint32(b.off)})
		b.sum = 0
	}
	b.buf = binary.AppendUvarint(b.buf[:0], uint64(len(key)))
	b.buf = append(b.buf, key...)
	w.Write(b.buf)
	b.sum = crc32.Update(b.sum, castagnoli, b.buf)
	b.off += int64(len(b.buf))
	b.n++
}

func (b *blockWriter) finish() []keyBlockInfo {
	if b.n > 0 {
		b.blocks[len(b.blocks)-1].sum = b.sum
	}
	return b.blocks
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
