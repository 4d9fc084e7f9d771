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
type spill struct {
	dir   string
	f     *os.File
	runs  []run // sorted runs in f
	size  int64 // bytes written to f
	chunk []byte
	index []chunkRec
	body  []byte
	limit int // chunk size in bytes
	n     int
	final bool
}

type run struct{ off, n int64 }

// chunkRec locates one encoded change in the chunk, with the first bytes of
// its key as an integer so most comparisons while sorting are one compare.
type chunkRec struct {
	prefix   uint64
	off, len uint32
	keyStart uint32
	keyLen   uint32
}

// chunkBytes bounds the in-memory chunk.
const chunkBytes = 16 << 20

func newSpill(dir string) (*spill, error) {
	return &spill{dir: dir, limit: chunkBytes}, nil
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

// Len returns the number of changes.
func (s *spill) Len() int { return s.n }

func (s *spill) add(c *store.Change) error {
	if s.final {
		return errors.New("spill: add after read")
	}
	start := len(s.chunk)
	s.body = encodeChange(s.body[:0], c)
	b := binary.AppendUvarint(s.chunk, uint64(len(s.body)))
	keyStart := len(b) + keyOffset(s.body)
	s.chunk = append(b, s.body...)
	s.index = append(s.index, chunkRec{prefix: keyPrefix(c.Key), off: uint32(start), len: uint32(len(s.chunk) - start),
		keyStart: uint32(keyStart), keyLen: uint32(len(c.Key))})
	s.n++
	if len(s.chunk) >= s.limit {
		return s.flushChunk()
	}
	return nil
}

func keyPrefix(k string) uint64 {
	var p [8]byte
	copy(p[:], k)
	return binary.BigEndian.Uint64(p[:])
}

func (s *spill) key(r chunkRec) []byte { return s.chunk[r.keyStart : r.keyStart+r.keyLen] }

func (s *spill) sortChunk() {
	slices.SortFunc(s.index, func(a, b chunkRec) int {
		switch {
		case a.prefix < b.prefix:
			return -1
		case a.prefix > b.prefix:
			return 1
		}
		return bytes.Compare(s.key(a), s.key(b))
	})
}

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
	s.chunk, s.index = s.chunk[:0], s.index[:0]
	return nil
}

// each calls fn with every change in key order. It may be called again.
func (s *spill) each(fn func(store.Change) error) error {
	if !s.final {
		s.final = true
		if len(s.runs) > 0 {
			if err := s.flushChunk(); err != nil {
				return err
			}
			s.chunk, s.index = nil, nil
		} else {
			s.sortChunk()
		}
	}
	if len(s.runs) == 0 {
		for _, rec := range s.index {
			c, err := decodeFramed(s.chunk[rec.off : rec.off+rec.len])
			if err != nil {
				return err
			}
			if err := fn(c); err != nil {
				return err
			}
		}
		return nil
	}
	return s.merge(fn)
}

// cursor reads one run.
type cursor struct {
	r   *bufio.Reader
	buf []byte
	key []byte
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
	ko := keyOffset(c.buf)
	c.key = c.buf[ko : ko+keyLen(c.buf)]
	return true, nil
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int           { return len(h) }
func (h cursorHeap) Less(i, j int) bool { return bytes.Compare(h[i].key, h[j].key) < 0 }
func (h cursorHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)        { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

func (s *spill) merge(fn func(store.Change) error) error {
	h := make(cursorHeap, 0, len(s.runs))
	for _, r := range s.runs {
		c := &cursor{r: bufio.NewReaderSize(io.NewSectionReader(s.f, r.off, r.n), 256<<10)}
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
		ch, err := decodeChange(c.buf)
		if err != nil {
			return err
		}
		if err := fn(ch); err != nil {
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

// encodeChange appends a change's encoding: op, status, line, hash, then
// the key first among the strings so sorting finds it without decoding.
func encodeChange(b []byte, c *store.Change) []byte {
	b = append(b, byte(c.Op), byte(c.Status))
	b = binary.AppendUvarint(b, uint64(c.Line))
	b = binary.LittleEndian.AppendUint64(b, c.Hash)
	for _, v := range []string{c.Key, c.Email, c.FirstName, c.LastName, c.UID, strings.Join(c.Groups, "\x1f")} {
		b = appendString(b, v)
	}
	for _, v := range c.Attrs {
		b = appendString(b, v)
	}
	return b
}

// keyOffset returns where the key's bytes start in an encoded change, and
// keyLen its length: op, status, line, hash, then the key.
func keyOffset(b []byte) int {
	_, n := binary.Uvarint(b[2:])
	p := 2 + n + 8
	_, m := binary.Uvarint(b[p:])
	return p + m
}

func keyLen(b []byte) int {
	_, n := binary.Uvarint(b[2:])
	l, _ := binary.Uvarint(b[2+n+8:])
	return int(l)
}

func appendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func decodeFramed(b []byte) (store.Change, error) {
	_, n := binary.Uvarint(b)
	if n <= 0 {
		return store.Change{}, fmt.Errorf("spill: corrupt record")
	}
	return decodeChange(b[n:])
}

func decodeChange(b []byte) (store.Change, error) {
	var c store.Change
	bad := fmt.Errorf("spill: corrupt record")
	if len(b) < 2 {
		return c, bad
	}
	c.Op, c.Status = store.ChangeOp(b[0]), schema.Status(b[1])
	b = b[2:]
	line, n := binary.Uvarint(b)
	if n <= 0 || len(b) < n+8 {
		return c, bad
	}
	c.Line = int(line)
	b = b[n:]
	c.Hash = binary.LittleEndian.Uint64(b)
	b = b[8:]
	var groups string
	for _, p := range []*string{&c.Key, &c.Email, &c.FirstName, &c.LastName, &c.UID, &groups} {
		if b = readString(b, p); b == nil {
			return c, bad
		}
	}
	if groups != "" {
		c.Groups = strings.Split(groups, "\x1f")
	}
	for i := range c.Attrs {
		if b = readString(b, &c.Attrs[i]); b == nil {
			return c, bad
		}
	}
	return c, nil
}

// readString reads one string and returns the rest (nil when malformed; an
// empty rest is a non-nil empty slice).
func readString(b []byte, dst *string) []byte {
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return nil
	}
	*dst = string(b[n : n+int(l)])
	return b[n+int(l):]
}
