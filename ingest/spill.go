package ingest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"muster/schema"
	"muster/store"
)

// spill holds a drop's computed diff on disk while the guards decide, so a
// million-row first ingest is never held in memory: only each change's key
// and place in the file are. Changes are read back in key order, which turns
// the store's index inserts into appends.
type spill struct {
	f    *os.File
	w    *bufio.Writer
	off  int64
	refs []spillRef
	keys keyArena
	buf  []byte
}

// spillRef is where one change is; no pointers, so a million of them cost
// the garbage collector nothing.
type spillRef struct {
	off          int64
	n            uint32
	keyOff, keyN uint32
}

func newSpill(dir string) (*spill, error) {
	f, err := os.CreateTemp(dir, "muster-drop-*.spill")
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	// Unlinked at once: it is scratch, gone with the process if it dies.
	os.Remove(f.Name())
	return &spill{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (s *spill) Close() error {
	if s == nil || s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

func (s *spill) Len() int { return len(s.refs) }

func (s *spill) add(c *store.Change) error {
	b := s.buf[:0]
	b = append(b, byte(c.Op), byte(c.Status))
	b = binary.AppendUvarint(b, uint64(c.Line))
	b = binary.LittleEndian.AppendUint64(b, c.Hash)
	for _, v := range []string{c.Key, c.Email, c.FirstName, c.LastName, c.UID, strings.Join(c.Groups, "\x1f")} {
		b = appendString(b, v)
	}
	for _, v := range c.Attrs {
		b = appendString(b, v)
	}
	s.buf = b
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	ko, kn := s.keys.add(c.Key)
	s.refs = append(s.refs, spillRef{off: s.off, n: uint32(len(b)), keyOff: ko, keyN: kn})
	s.off += int64(len(b))
	return nil
}

func appendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// each calls fn with every change in key order.
func (s *spill) each(fn func(store.Change) error) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	slices.SortFunc(s.refs, func(a, b spillRef) int { return s.keys.cmp(a.keyOff, a.keyN, b.keyOff, b.keyN) })
	for _, r := range s.refs {
		if cap(s.buf) < int(r.n) {
			s.buf = make([]byte, r.n)
		}
		b := s.buf[:r.n]
		if _, err := s.f.ReadAt(b, r.off); err != nil && err != io.EOF {
			return fmt.Errorf("spill: %w", err)
		}
		c, err := decodeChange(b)
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
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
