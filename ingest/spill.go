package ingest

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unsafe"

	"muster/schema"
	"muster/store"
)

// spill holds a drop's computed diff while the guards decide, and gives it
// back in key order, which turns the store's index inserts into appends.
// It is an external merge sort: changes collect in a chunk of bounded size;
// a full chunk is sorted and written to a temporary file as a run; reading
// merges the runs. A diff that fits one chunk (a next-day drop) never
// touches the disk, and a million-row first ingest holds one chunk in
// memory, not the drop.
//
// It also finds the rows of a full snapshot that repeat an address the
// snapshot does not hold (dedup): they sort next to each other. Such rows
// come in as fresh changes, or as markers for the invalid ones (which are
// never applied but may come first).
type spill struct {
	dir   string
	f     *os.File
	runs  []run // sorted runs in f
	size  int64 // bytes written to f
	chunk []byte
	index []chunkRec
	limit int // chunk size in bytes
	n     int // changes to apply
	final bool
	// skips holds, per run, the ordinals of the records dedup found
	// repeating an earlier one, ascending.
	skips [][]int
	// sorted is how many records of the in-memory index are in key order
	// (the last sortChunk's), markers how many of the chunk's are markers,
	// and equalKeys says the last sortChunk compared two equal keys.
	sorted, markers int
	equalKeys       bool
	tmp             []chunkRec // radixSort's
}

type run struct{ off, n int64 }

// walkAhead is how many records ahead of the one it reads a sorted walk
// of the in-memory chunk asks for (cacheAhead): 16 read a 100k-row first
// ingest's dedup and each some 20 ms faster than none, 8 or 32 less.
const walkAhead = 16

// chunkRec locates one encoded change in the chunk, with the first 16 bytes
// of its key as integers so most comparisons while sorting read no key (8
// were not enough: addresses such as first.last@ share them by thousands).
// A record dedup drops has len 0.
type chunkRec struct {
	prefix   [2]uint64
	off, len uint32
	keyStart uint32
	keyLen   uint32
}

// chunkBytes bounds the in-memory chunk: a next-day diff of some 40,000
// changes stays in memory, a first ingest writes runs of this size (the
// chunk grows only as needed). It is live on the Go heap, which the
// collector lets grow to twice what is live: 32 MiB measured 150 to 180 MB
// of peak memory for a million-row first ingest, 8 MiB 66 MB.
const chunkBytes = 8 << 20

// opMarker is the op of a marker: an invalid row naming an address the
// snapshot does not hold, spilled only for dedup.
const opMarker store.ChangeOp = 0xff

// smallDrop bounds the drops (a file's bytes) whose diff is sorted in
// memory in one chunk, however many changes it holds: at 100,000 rows (a
// 25 MB file, 20 MB of changes) writing runs of chunkBytes and merging
// them back was a tenth of a first ingest's CPU. Larger drops (a million
// rows is 250 MB) keep chunks of chunkBytes: memory stays bounded.
const smallDrop = 32 << 20

func newSpill(dir string) (*spill, error) {
	return &spill{dir: dir, limit: chunkBytes}, nil
}

// sizeFor bounds the chunk for a drop of size bytes (0: not known): a small
// drop's whole diff (encoded changes take less than their rows) stays in
// memory. allNew says every row will be a change (an empty snapshot): the
// chunk is made its size at once rather than grown by copies.
func (s *spill) sizeFor(size int64, allNew bool) {
	if size <= 0 || size > smallDrop {
		return
	}
	s.limit = max(chunkBytes, 2*int(size))
	if allNew {
		s.chunk = make([]byte, 0, int(size))
	}
}

// Close removes the temporary file.
func (s *spill) Close() error {
	if s == nil || s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// Len returns the number of changes to apply.
func (s *spill) Len() int { return s.n }

func (s *spill) add(c *store.Change) error { return s.put(c, 0) }

// addFresh adds a row naming an address the snapshot does not hold: an
// addition, or a marker (c.Op opMarker) for an invalid row. rat is where a
// problem saying the row repeats an earlier one would go among the row's
// reported problems.
func (s *spill) addFresh(c *store.Change, rat int) error { return s.put(c, rat) }

func (s *spill) put(c *store.Change, rat int) error {
	if s.final {
		return errors.New("spill: add after read")
	}
	if c.Op != opMarker {
		s.n++
	} else {
		s.markers++
	}
	start := len(s.chunk)
	// Written in place: its length first, known before (changeSize).
	size := changeSize(c, rat)
	b := binary.AppendUvarint(s.chunk, uint64(size))
	ko := keyOffset(c, rat)
	keyStart := len(b) + ko
	s.chunk = encodeChange(b, c, rat)
	if n := len(s.chunk) - len(b); n != size {
		// changeSize and encodeChange disagree: the chunk could not be
		// read back. Never the case (TestChangeSizeAsEncoded); an error,
		// not a corrupt drop, if a change to one misses the other.
		return fmt.Errorf("spill: a change encoded in %d bytes where its length says %d", n, size)
	}
	s.index = append(s.index, chunkRec{prefix: keyPrefix(c.Key), off: uint32(start), len: uint32(len(s.chunk) - start),
		keyStart: uint32(keyStart), keyLen: uint32(len(c.Key))})
	if len(s.chunk) >= s.limit {
		return s.flushChunk()
	}
	return nil
}

func keyPrefix(k string) [2]uint64 {
	var p [16]byte
	copy(p[:], k)
	return [2]uint64{binary.BigEndian.Uint64(p[:8]), binary.BigEndian.Uint64(p[8:])}
}

func (s *spill) key(r chunkRec) []byte { return s.chunk[r.keyStart : r.keyStart+r.keyLen] }

// flushChunk writes the chunk as a sorted run.
func (s *spill) flushChunk() error {
	if len(s.index) == 0 {
		return nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "muster-drop-*.spill")
		if err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		// Unlinked at once: scratch, gone with the process if it dies.
		os.Remove(f.Name())
		s.f = f
	}
	s.sortChunk()
	w := bufio.NewWriterSize(io.NewOffsetWriter(s.f, s.size), 1<<20)
	r := run{off: s.size}
	for _, rec := range s.index {
		n, err := w.Write(s.chunk[rec.off : rec.off+rec.len])
		if err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		r.n += int64(n)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	s.size += r.n
	s.runs = append(s.runs, r)
	s.chunk, s.index, s.sorted, s.markers = s.chunk[:0], s.index[:0], 0, 0
	return nil
}

// finish ends the adding: the chunk is sorted in memory, or written as the
// last run when there are runs.
func (s *spill) finish() error {
	if s.final {
		return nil
	}
	s.final = true
	if len(s.runs) == 0 {
		if s.sorted != len(s.index) {
			// Records came after dedup's sort (removals): a first
			// ingest's chunk is in order already, and sorting it again
			// was a second walk over its keys.
			s.sortChunk()
		}
		s.tmp = nil
		return nil
	}
	if err := s.flushChunk(); err != nil {
		return err
	}
	s.chunk, s.index, s.tmp = nil, nil, nil
	return nil
}

// spillDup is a record dedup reports: a marker first of its key (whose
// row's id protects its owner), or a row repeating the key of an earlier
// one (first is that row's line).
type spillDup struct {
	c       store.Change
	rat     int
	first   int
	repeats bool
}

// dedup finds, among the fresh rows, those repeating the key of an earlier
// one: each is dropped from the changes and reported, and so is every
// marker first of its key. Call it once, when every fresh row is in; rows
// added after it (removals, of keys the snapshot holds) are not looked at.
func (s *spill) dedup(fn func(d spillDup) error) error {
	if s.final {
		return errors.New("spill: dedup after read")
	}
	if len(s.runs) == 0 {
		s.sortChunk()
		// The sort's scratch is not kept through the apply (the heap's
		// goal grows with what is live).
		s.tmp = nil
		if !s.equalKeys && s.markers == 0 {
			// No key twice and no marker: nothing to report, and the walk
			// over the records (a cache miss each) is not needed.
			return nil
		}
	} else if err := s.flushChunk(); err != nil {
		return err
	}
	report := func(body []byte, first int, repeats bool) error {
		c, rat, err := decodeChange(body)
		if err != nil {
			return err
		}
		if repeats && c.Op != opMarker {
			s.n--
		}
		return fn(spillDup{c: c, rat: rat, first: first, repeats: repeats})
	}
	if len(s.runs) == 0 {
		var prev []byte
		firstLine := 0
		for i := range s.index {
			if j := i + walkAhead; j < len(s.index) {
				cacheAhead(&s.chunk[s.index[j].keyStart])
			}
			rec := &s.index[i]
			body := s.chunk[rec.off : rec.off+rec.len]
			_, n := binary.Uvarint(body)
			body = body[n:]
			k := s.key(*rec)
			switch {
			case prev != nil && bytes.Equal(k, prev):
				if err := report(body, firstLine, true); err != nil {
					return err
				}
				rec.len = 0
			default:
				prev, firstLine = k, lineOf(body)
				if store.ChangeOp(body[0]) == opMarker {
					if err := report(body, 0, false); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	s.skips = make([][]int, len(s.runs))
	var prev []byte
	firstLine := 0
	return s.merge(func(c *cursor) error {
		switch {
		case prev != nil && bytes.Equal(c.key, prev):
			s.skips[c.run] = append(s.skips[c.run], c.ordinal)
			return report(c.buf, firstLine, true)
		default:
			prev, firstLine = append(prev[:0], c.key...), lineOf(c.buf)
			if store.ChangeOp(c.buf[0]) == opMarker {
				return report(c.buf, 0, false)
			}
		}
		return nil
	})
}

// each calls fn with every change in key order (no marker, nothing dedup
// dropped). It may be called again.
func (s *spill) each(fn func(store.Change) error) error {
	if err := s.finish(); err != nil {
		return err
	}
	if len(s.runs) == 0 {
		var groups []string // the changes' group lists, carved from it
		for i, rec := range s.index {
			if j := i + walkAhead; j < len(s.index) {
				// The whole record: decoding reads all its lines.
				cacheSpan(&s.chunk[s.index[j].off], uintptr(s.index[j].len))
			}
			if rec.len == 0 {
				continue
			}
			body := s.chunk[rec.off : rec.off+rec.len]
			_, n := binary.Uvarint(body)
			if store.ChangeOp(body[n]) == opMarker {
				continue
			}
			// The chunk is not written again once read (final, no
			// runs): the change's strings are views of it.
			c, _, err := decodeChangeIn(body[n:], true, &groups)
			if err != nil {
				return err
			}
			if err := fn(c); err != nil {
				return err
			}
		}
		return nil
	}
	next := make([]int, len(s.runs)) // the next skip of each run
	return s.merge(func(cur *cursor) error {
		if sk := s.skips; cur.run < len(sk) && next[cur.run] < len(sk[cur.run]) && sk[cur.run][next[cur.run]] == cur.ordinal {
			next[cur.run]++
			return nil
		}
		if store.ChangeOp(cur.buf[0]) == opMarker {
			return nil
		}
		c, _, err := decodeChange(cur.buf)
		if err != nil {
			return err
		}
		return fn(c)
	})
}

// cursor reads one run.
type cursor struct {
	r       *bufio.Reader
	run     int
	ordinal int // of the record in buf, within its run
	buf     []byte
	key     []byte
}

func (c *cursor) next() (bool, error) {
	l, err := binary.ReadUvarint(c.r)
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("spill: %w", err)
	}
	c.buf = slices.Grow(c.buf[:0], int(l))[:l]
	if _, err := io.ReadFull(c.r, c.buf); err != nil {
		return false, fmt.Errorf("spill: %w", err)
	}
	ko, kl := keySpan(c.buf)
	c.key = c.buf[ko : ko+kl]
	c.ordinal++
	return true, nil
}

// cursorHeap orders cursors by key, then run (earlier rows first).
type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	if c := bytes.Compare(h[i].key, h[j].key); c != 0 {
		return c < 0
	}
	return h[i].run < h[j].run
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// merge calls fn with the cursor of every record of the runs, in key order.
func (s *spill) merge(fn func(*cursor) error) error {
	h := make(cursorHeap, 0, len(s.runs))
	for i, r := range s.runs {
		c := &cursor{r: bufio.NewReaderSize(io.NewSectionReader(s.f, r.off, r.n), 256<<10), run: i, ordinal: -1}
		ok, err := c.next()
		if err != nil {
			return err
		}
		if ok {
			h = append(h, c)
		}
	}
	heap.Init(&h)
	for h.Len() > 0 {
		c := h[0]
		if err := fn(c); err != nil {
			return err
		}
		ok, err := c.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return nil
}

// encodeChange appends a change's encoding: op, status, rat, line, hash,
// digest, then the key first among the strings so sorting finds it
// without decoding.
func encodeChange(b []byte, c *store.Change, rat int) []byte {
	b = append(b, byte(c.Op), byte(c.Status))
	b = binary.AppendUvarint(b, uint64(rat))
	b = binary.AppendUvarint(b, uint64(c.Line))
	b = binary.LittleEndian.AppendUint64(b, c.Hash)
	b = binary.LittleEndian.AppendUint64(b, c.Digest)
	b = appendString(b, c.Key)
	// The address, as most are, the key: one byte (0) instead of its copy;
	// another is written with its length plus one.
	if c.Email == c.Key {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(c.Email))+1)
		b = append(b, c.Email...)
	}
	for _, v := range [...]string{c.FirstName, c.LastName, c.UID} {
		b = appendString(b, v)
	}
	n := 0
	for _, g := range c.Groups {
		n += len(g) + 1
	}
	b = binary.AppendUvarint(b, uint64(max(n-1, 0)))
	for i, g := range c.Groups {
		if i > 0 {
			b = append(b, 0x1f)
		}
		b = append(b, g...)
	}
	for _, v := range c.Attrs {
		b = appendString(b, v)
	}
	return b
}

// uvarintLen is the length of v as a uvarint.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// keyOffset is where the key's bytes start in c's encoding (keySpan).
func keyOffset(c *store.Change, rat int) int {
	return 2 + uvarintLen(uint64(rat)) + uvarintLen(uint64(c.Line)) + 16 + uvarintLen(uint64(len(c.Key)))
}

// changeSize is the length of c's encoding (encodeChange).
func changeSize(c *store.Change, rat int) int {
	n := keyOffset(c, rat) + len(c.Key) + 1
	if c.Email != c.Key {
		n += uvarintLen(uint64(len(c.Email))+1) - 1 + len(c.Email)
	}
	for _, v := range [...]string{c.FirstName, c.LastName, c.UID} {
		n += uvarintLen(uint64(len(v))) + len(v)
	}
	g := 0
	for _, v := range c.Groups {
		g += len(v) + 1
	}
	g = max(g-1, 0)
	n += uvarintLen(uint64(g)) + g
	for _, v := range c.Attrs {
		n += uvarintLen(uint64(len(v))) + len(v)
	}
	return n
}

// keySpan returns where the key's bytes start in an encoded change, and
// its length: op, status, rat, line, hash, digest, then the key.
func keySpan(b []byte) (int, int) {
	p := 2
	_, n := binary.Uvarint(b[p:])
	p += n
	_, n = binary.Uvarint(b[p:])
	p += n + 16
	l, m := binary.Uvarint(b[p:])
	return p + m, int(l)
}

// lineOf reads the line of an encoded change.
func lineOf(b []byte) int {
	_, n := binary.Uvarint(b[2:])
	l, _ := binary.Uvarint(b[2+n:])
	return int(l)
}

func appendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

var errCorrupt = errors.New("spill: corrupt record")

func decodeChange(b []byte) (store.Change, int, error) { return decodeChangeIn(b, false, nil) }

// decodeChangeIn decodes a change whose strings are views of b when view
// is set (b must then never be written again), else copies. Its group
// list is carved from *groups when not nil (splitInto), else a slice of
// its own.
func decodeChangeIn(b []byte, view bool, groups *[]string) (store.Change, int, error) {
	var c store.Change
	bad := errCorrupt
	if len(b) < 2 {
		return c, 0, bad
	}
	c.Op, c.Status = store.ChangeOp(b[0]), schema.Status(b[1])
	rat, n := binary.Uvarint(b[2:])
	if n <= 0 {
		return c, 0, bad
	}
	b = b[2+n:]
	line, n := binary.Uvarint(b)
	if n <= 0 || len(b) < n+16 {
		return c, 0, bad
	}
	c.Line = int(line)
	b = b[n:]
	c.Hash = binary.LittleEndian.Uint64(b)
	c.Digest = binary.LittleEndian.Uint64(b[8:])
	b = b[16:]
	// One string holds every value; each field is a slice of it.
	var all string
	if view && len(b) > 0 {
		all = unsafe.String(&b[0], len(b))
	} else {
		all = string(b)
	}
	p := 0
	var gs string
	if p = readString(all, p, &c.Key); p < 0 {
		return c, 0, bad
	}
	// The address: 0 for the key, else its length plus one (encodeChange).
	if p >= len(all) {
		return c, 0, bad
	}
	if all[p] == 0 {
		c.Email = c.Key
		p++
	} else {
		l, n := binary.Uvarint([]byte(all[p:min(len(all), p+binary.MaxVarintLen64)]))
		if n <= 0 || uint64(len(all)-p-n) < l-1 {
			return c, 0, bad
		}
		p += n
		c.Email = all[p : p+int(l-1)]
		p += int(l - 1)
	}
	for _, dst := range [...]*string{&c.FirstName, &c.LastName, &c.UID, &gs} {
		if p = readString(all, p, dst); p < 0 {
			return c, 0, bad
		}
	}
	switch {
	case gs == "":
	case groups != nil:
		c.Groups = splitInto(groups, gs)
	default:
		c.Groups = strings.Split(gs, "\x1f")
	}
	for i := range c.Attrs {
		if p = readString(all, p, &c.Attrs[i]); p < 0 {
			return c, 0, bad
		}
	}
	return c, int(rat), nil
}

// readString reads the string at p of s into dst and returns where the
// next one starts (-1 when malformed).
func readString(s string, p int, dst *string) int {
	var l uint64
	var shift uint
	for i := 0; ; i++ {
		if p >= len(s) || i == binary.MaxVarintLen64 {
			return -1
		}
		c := s[p]
		p++
		l |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
		shift += 7
	}
	if uint64(len(s)-p) < l {
		return -1
	}
	*dst = s[p : p+int(l)]
	return p + int(l)
}

// splitInto splits s at each 0x1f into strings carved from *arena: a new
// one when it is full (the slices carved before stay as they are), one
// allocation for thousands of changes instead of one a change.
func splitInto(arena *[]string, s string) []string {
	n := strings.Count(s, "\x1f") + 1
	if cap(*arena)-len(*arena) < n {
		*arena = make([]string, 0, max(4096, n))
	}
	a := *arena
	start := len(a)
	for {
		i := strings.IndexByte(s, 0x1f)
		if i < 0 {
			a = append(a, s)
			break
		}
		a, s = append(a, s[:i]), s[i+1:]
	}
	*arena = a
	return a[start:len(a):len(a)]
}
