package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"muster/schema"
)

// SnapshotIndexWriter writes the index of a source's snapshot as an apply
// leaves it: its base index with the apply's changes, in any order. Added
// and updated rows wait in a bucket spill by key hash (bounded memory,
// scratch file beyond); removed rows are marked in a bitmap. Commit merges
// them with the base's rows, streaming the base's keys and values from its
// file (or scratch files) in key hash order, a bucket at a time: a first
// ingest of millions of rows writes its index without holding it.
//
// Any failure only means there will be no file (the next diff builds the
// index from the store): callers abort and carry on.
type SnapshotIndexWriter struct {
	s       *Store
	base    *SnapshotIndex
	salt    uint64
	changes bucketSpill
	removed []uint64 // bitmaps of base positions: removed, and changed at all
	touched []uint64
	gone    int
	keysLen int64
	added   int
	// noDigests: the changes carry none (their rows get none).
	noDigests bool
	err       error
	// done is closed when the body written by Start is (body, bodyErr).
	done    chan struct{}
	body    *indexBody
	bodyErr error
}

// indexBody is a file written but for its header, which holds the
// snapshot token and the checksums.
type indexBody struct {
	f              *os.File
	n              int
	entSum, blkSum uint32
}

// NewSnapshotIndexWriter starts the index file of base's source after an
// apply; the writer takes base over. salt is the salt of the digests the
// apply's changes carry: the base's own (a diff loaded it with that salt),
// or 0 when they carry none (a rollback, an approval: the rows they leave
// as they were keep their digests).
func (s *Store) NewSnapshotIndexWriter(base *SnapshotIndex, salt uint64) (*SnapshotIndexWriter, error) {
	if salt != 0 && base.salt != 0 && salt != base.salt {
		return nil, errors.New("snapshot index: the changes' digests are of another reading than the base's")
	}
	if err := os.MkdirAll(s.IndexDir(), 0o750); err != nil {
		return nil, fmt.Errorf("snapshot index: %w", err)
	}
	w := &SnapshotIndexWriter{s: s, base: base, salt: salt, changes: bucketSpill{dir: s.IndexDir()},
		removed: make([]uint64, (base.n+63)/64), touched: make([]uint64, (base.n+63)/64), keysLen: base.keysLen}
	if salt == 0 {
		w.salt, w.noDigests = base.salt, true
	}
	return w, nil
}

// Add records one change of the apply, each key once: digest is the
// digest of the file row it came from (0: none). A removal of a key the
// snapshot does not hold changes nothing, as in the store.
func (w *SnapshotIndexWriter) Add(op ChangeOp, key string, hash uint64, st schema.Status, digest uint64) error {
	if w.done != nil && w.err == nil {
		w.err = errors.New("snapshot index: a change added after Start")
	}
	if w.err == nil {
		w.err = w.add(op, key, hash, st, digest)
	}
	return w.err
}

func (w *SnapshotIndexWriter) add(op ChangeOp, key string, hash uint64, st schema.Status, digest uint64) error {
	if len(key) == 0 || len(key) > 1<<16-1 {
		return errors.New("snapshot index: bad key")
	}
	if w.noDigests {
		digest = 0
	}
	kh := keyHash(w.base.seed, key)
	i := w.base.Find(kh)
	if i >= 0 {
		k, err := w.base.key(i)
		if err != nil {
			return err
		}
		if string(k) != key {
			return errSharedHash
		}
		if w.touched[i/64]&(1<<(i%64)) != 0 {
			return errors.New("snapshot index: a key changed twice")
		}
		w.touched[i/64] |= 1 << (i % 64)
		if op == OpRemove {
			w.removed[i/64] |= 1 << (i % 64)
			w.gone++
			w.keysLen -= int64(uvarintLen(uint64(len(key))) + len(key))
			return nil
		}
		return w.changes.add(spillRec{kh: kh, v: packValue(hash, st), raw: digest, update: true}, "")
	}
	if op == OpRemove {
		return nil
	}
	w.added++
	w.keysLen += int64(uvarintLen(uint64(len(key))) + len(key))
	return w.changes.add(spillRec{kh: kh, v: packValue(hash, st), raw: digest}, key)
}

// Needed says the apply changes what the base's file says: rows changed,
// digests noted, or the base was built from the store (a file saves the
// next diff the building). When it does not, the caller may leave the file
// as it is (and draw no new snapshot token).
func (w *SnapshotIndexWriter) Needed() bool {
	return w.added > 0 || w.gone > 0 || w.changes.n > 0 || w.base.dirty || !w.base.FromFile
}

// Start writes the file but for its header on a goroutine of its own, once
// every change is added: an apply's SQLite work goes on beside it (on a
// second core), and Commit then only waits for it and writes the header.
// Without Start, Commit writes the whole file. A writer whose file is not
// Needed writes nothing (the caller leaves the file as it is).
func (w *SnapshotIndexWriter) Start() {
	if w.done != nil || w.err != nil || !w.Needed() {
		return
	}
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		w.body, w.bodyErr = w.writeBody()
	}()
}

// wait waits for the body Start writes, if it was started.
func (w *SnapshotIndexWriter) wait() {
	if w.done != nil {
		<-w.done
		if w.err == nil {
			w.err = w.bodyErr
		}
	}
}

// Commit finishes the file and puts it in place as the index of the
// snapshot whose token (to be committed by the caller's transaction) is
// token.
func (w *SnapshotIndexWriter) Commit(token int64) error {
	w.wait()
	err := w.err
	body := w.body
	if err == nil && body == nil {
		body, err = w.writeBody()
	}
	w.body = nil
	var tmp string
	if body != nil {
		tmp = body.f.Name()
		if err == nil {
			err = w.writeHeader(body, token)
		} else {
			body.f.Close()
		}
	}
	if err == nil {
		err = os.Rename(tmp, w.s.indexPath(w.base.SourceID))
	}
	if err != nil && tmp != "" {
		os.Remove(tmp)
	}
	w.Abort()
	return err
}

// Abort drops what the writer holds (after the body Start writes, which it
// removes).
func (w *SnapshotIndexWriter) Abort() {
	w.wait()
	if w.body != nil {
		w.body.f.Close()
		os.Remove(w.body.f.Name())
		w.body = nil
	}
	w.changes.close()
}

// writeBody writes the new file under a temporary name, all but its
// header.
func (w *SnapshotIndexWriter) writeBody() (body *indexBody, err error) {
	base := w.base
	n := base.n - w.gone + w.added
	nb := (n + keyBlock - 1) / keyBlock
	if n > 1<<32-1 || w.keysLen > 1<<32-1 {
		return nil, errors.New("snapshot index: too large")
	}
	prefix := "source-" + strconv.FormatInt(base.SourceID, 10) + "-"
	if old, _ := filepath.Glob(filepath.Join(w.s.IndexDir(), prefix+"*.tmp")); len(old) > 0 {
		for _, p := range old {
			os.Remove(p) // left by a process that died writing
		}
	}
	f, err := os.CreateTemp(w.s.IndexDir(), prefix+"*.tmp")
	if err != nil {
		return nil, fmt.Errorf("snapshot index: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	blocksOff := int64(indexHeaderSize) + int64(n)*indexEntrySize
	keysOff := blocksOff + int64(nb)*8
	entSum := crc32.New(castagnoli)
	ents := bufio.NewWriterSize(io.MultiWriter(io.NewOffsetWriter(f, indexHeaderSize), entSum), 256<<10)
	keys := bufio.NewWriterSize(io.NewOffsetWriter(f, keysOff), 256<<10)
	// The base's keys and values, read in position order.
	bkeys := bufio.NewReaderSize(io.NewSectionReader(base.keys, base.keysOff, base.keysLen), 256<<10)
	bvals := bufio.NewReaderSize(io.NewSectionReader(base.vals, base.valsOff, int64(base.n)*base.valsStride), 256<<10)
	var kbuf []byte
	var vbuf [indexEntrySize]byte
	var blk blockWriter
	var e [indexEntrySize]byte
	put := func(kh, v, raw uint64, key []byte) {
		le := binary.LittleEndian
		le.PutUint64(e[0:], kh)
		le.PutUint64(e[8:], v)
		le.PutUint64(e[16:], raw)
		ents.Write(e[:])
		blk.addTo(keys, key)
	}
	pos := 0 // next base position
	nextBase := func() (key []byte, v uint64, err error) {
		l, err := binary.ReadUvarint(bkeys)
		if err == nil {
			kbuf = slices.Grow(kbuf[:0], int(l))[:l]
			_, err = io.ReadFull(bkeys, kbuf)
		}
		if err == nil {
			_, err = io.ReadFull(bvals, vbuf[:base.valsStride])
		}
		if err != nil {
			return nil, 0, fmt.Errorf("snapshot index: read base: %w", err)
		}
		return kbuf, binary.LittleEndian.Uint64(vbuf[:8]), nil
	}
	written := 0
	for b := range spillBuckets {
		recs, err := w.changes.bucket(b)
		if err != nil {
			return nil, err
		}
		k := 0
		for ; pos < base.n && spillBucket(base.ents[pos].kh) == b; pos++ {
			kh := base.ents[pos].kh
			key, v, err := nextBase()
			if err != nil {
				return nil, err
			}
			for ; k < len(recs) && recs[k].kh < kh; k++ {
				if recs[k].update {
					return nil, errors.New("snapshot index: an update of no row")
				}
				put(recs[k].kh, recs[k].v, recs[k].raw, recs[k].key)
				written++
			}
			if w.removed[pos/64]&(1<<(pos%64)) != 0 {
				if k < len(recs) && recs[k].kh == kh {
					return nil, errors.New("snapshot index: a removed row changed")
				}
				continue
			}
			raw := uint64(0)
			if x := base.ents[pos].x; x&digestFlag != 0 {
				raw = x &^ digestFlag
			} else {
				v = x // what the diff noted, or the value itself
			}
			if k < len(recs) && recs[k].kh == kh {
				if !recs[k].update {
					return nil, errSharedHash
				}
				v, raw = recs[k].v, recs[k].raw
				k++
			}
			put(kh, v, raw, key)
			written++
		}
		for ; k < len(recs); k++ {
			if recs[k].update || k > 0 && recs[k].kh == recs[k-1].kh {
				return nil, errSharedHash
			}
			put(recs[k].kh, recs[k].v, recs[k].raw, recs[k].key)
			written++
		}
	}
	if written != n || blk.off != w.keysLen {
		return nil, fmt.Errorf("snapshot index: wrote %d rows and %d key bytes, want %d and %d", written, blk.off, n, w.keysLen)
	}
	for _, bw := range []*bufio.Writer{ents, keys} {
		if err := bw.Flush(); err != nil {
			return nil, fmt.Errorf("snapshot index: %w", err)
		}
	}
	blocks := blk.finish()
	bb := make([]byte, 0, 8*len(blocks))
	for _, kb := range blocks {
		bb = binary.LittleEndian.AppendUint32(bb, kb.off)
		bb = binary.LittleEndian.AppendUint32(bb, kb.sum)
	}
	if _, err := f.WriteAt(bb, blocksOff); err != nil {
		return nil, fmt.Errorf("snapshot index: %w", err)
	}
	return &indexBody{f: f, n: n, entSum: entSum.Sum32(), blkSum: crc32.Checksum(bb, castagnoli)}, nil
}

// writeHeader writes the header of body, naming token, and closes it.
func (w *SnapshotIndexWriter) writeHeader(body *indexBody, token int64) error {
	var h [indexHeaderSize]byte
	le := binary.LittleEndian
	copy(h[:], indexMagic)
	le.PutUint64(h[8:], uint64(w.base.SourceID))
	le.PutUint64(h[16:], uint64(token))
	le.PutUint64(h[24:], w.base.seed)
	le.PutUint64(h[32:], uint64(body.n))
	le.PutUint64(h[40:], uint64(w.keysLen))
	le.PutUint64(h[48:], w.salt)
	le.PutUint32(h[56:], body.entSum)
	le.PutUint32(h[60:], body.blkSum)
	le.PutUint32(h[76:], crc32.Checksum(h[:76], castagnoli))
	if _, err := body.f.WriteAt(h[:], 0); err != nil {
		body.f.Close()
		return fmt.Errorf("snapshot index: %w", err)
	}
	if err := body.f.Close(); err != nil {
		return fmt.Errorf("snapshot index: %w", err)
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
