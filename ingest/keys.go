package ingest

import (
	"bytes"
	"hash/maphash"
)

// keyTable maps keys to a uint64 without a single pointer per entry: keys
// live in one byte arena and slots are plain integers, so a table of a
// million keys costs the garbage collector nothing to scan (a Go map of
// strings made a first ingest spend a third of its time in GC).
type keyTable struct {
	seed  maphash.Seed
	arena []byte
	slots []keySlot // a power of two, at most 3/4 full
	n     int
}

type keySlot struct {
	off uint32
	len uint16 // 0: empty (keys are never empty; emails are at most 254 bytes)
	tag uint16 // more bits of the hash, so most probes skip comparing keys
	val uint64
}

func newKeyTable(hint int) *keyTable {
	size := 1024
	for size*3/4 < hint {
		size *= 2
	}
	return &keyTable{seed: maphash.MakeSeed(), slots: make([]keySlot, size), arena: make([]byte, 0, hint*24)}
}

func (t *keyTable) key(s *keySlot) []byte { return t.arena[s.off : s.off+uint32(s.len)] }

// find returns the slot of key, or the empty slot where it would go.
func (t *keyTable) find(key string) (*keySlot, bool) {
	mask := uint64(len(t.slots) - 1)
	h := maphash.String(t.seed, key)
	tag := uint16(h >> 48)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.len == 0 {
			s.tag = tag
			return s, false
		}
		if s.tag == tag && int(s.len) == len(key) && string(t.key(s)) == key {
			return s, true
		}
	}
}

// upsert returns the slot of key, adding it (with value 0) if missing, in
// one probe; existed says whether it was there.
func (t *keyTable) upsert(key string) (s *keySlot, existed bool) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	s, ok := t.find(key)
	if !ok {
		*s = keySlot{off: uint32(len(t.arena)), len: uint16(len(key)), tag: s.tag}
		t.arena = append(t.arena, key...)
		t.n++
	}
	return s, ok
}

// get returns the value of key.
func (t *keyTable) get(key string) (uint64, bool) {
	s, ok := t.find(key)
	return s.val, ok
}

// put sets the value of key, adding it if needed.
func (t *keyTable) put(key string, val uint64) {
	s, ok := t.find(key)
	if ok {
		s.val = val
		return
	}
	if (t.n+1)*4 > len(t.slots)*3 {
		s.tag = 0
		t.grow()
		s, _ = t.find(key)
	}
	*s = keySlot{off: uint32(len(t.arena)), len: uint16(len(key)), tag: s.tag, val: val}
	t.arena = append(t.arena, key...)
	t.n++
}

func (t *keyTable) grow() {
	old := t.slots
	t.slots = make([]keySlot, len(old)*2)
	mask := uint64(len(t.slots) - 1)
	for _, s := range old {
		if s.len == 0 {
			continue
		}
		i := maphash.Bytes(t.seed, t.key(&s)) & mask
		for t.slots[i].len != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// each calls fn with every key (a view valid during the call) and value.
func (t *keyTable) each(fn func(key []byte, val uint64)) {
	for i := range t.slots {
		if s := &t.slots[i]; s.len != 0 {
			fn(t.key(s), s.val)
		}
	}
}

// keyArena stores many short keys in one allocation; a key is its offset
// and length.
type keyArena struct{ b []byte }

func (a *keyArena) add(key string) (off, n uint32) {
	off = uint32(len(a.b))
	a.b = append(a.b, key...)
	return off, uint32(len(key))
}

func (a *keyArena) cmp(o1, n1, o2, n2 uint32) int {
	return bytes.Compare(a.b[o1:o1+n1], a.b[o2:o2+n2])
}
