package schema

// lineSet remembers the line of the first row of every address, by a
// 64-bit hash of its key, in an open-addressing table at most 3/4 full.
// A slot is 12 bytes, the hash and the line side by side so a lookup
// touches one place in memory (one cache line, one page): a million
// addresses take 24 MiB (12 to 24 bytes an address, as the table doubles).
// Holding hashes rather than keys keeps memory small and independent of
// address length; the price is that two different addresses could share a
// hash (about 3e-8 for a million rows), which would report a false
// duplicate naming the other line, never hide a real one. On Linux a large
// table asks for huge pages (see adviseHuge).
type lineSet struct {
	// slots holds 3 words a slot: the hash's low and high halves, and the
	// line. A hash of 0 marks an empty slot.
	slots []uint32
	mask  uint64 // number of slots - 1
	n     int
}

// sizeFor makes room for about n addresses without growing.
func (s *lineSet) sizeFor(n int) {
	size := 1 << 12
	for 3*size < 4*n && size < 1<<26 {
		size *= 2
	}
	if size > s.len() {
		s.rehash(size)
	}
}

// len is the number of slots.
func (s *lineSet) len() int { return len(s.slots) / 3 }

// firstOrAdd returns the line recorded for h, or records line for it.
func (s *lineSet) firstOrAdd(h uint64, line int) (first int, dup bool) {
	if h == 0 {
		h = 1
	}
	if 4*(s.n+1) > 3*s.len() {
		s.rehash(max(2*s.len(), 1<<12))
	}
	lo, hi := uint32(h), uint32(h>>32)
	slots := s.slots
	for i := h & s.mask; ; i = (i + 1) & s.mask {
		// The high half first: it tells most slots apart in one read.
		j := 3 * i
		b := slots[j+1]
		if b == hi && slots[j] == lo {
			return int(slots[j+2]), true
		}
		if b == 0 && slots[j] == 0 {
			slots[j], slots[j+1], slots[j+2] = lo, hi, uint32(line)
			s.n++
			return line, false
		}
	}
}

// touch reads the slot where h's lookup starts, and the next one, so that
// their memory is in the cache when firstOrAdd comes to them.
func (s *lineSet) touch(h uint64) uint32 {
	if len(s.slots) == 0 {
		return 0
	}
	i := 3 * (h & s.mask)
	return s.slots[i] + s.slots[min(i+5, uint64(len(s.slots)-1))]
}

func (s *lineSet) rehash(size int) {
	old := s.slots
	s.slots, s.mask = make([]uint32, 3*size), uint64(size-1)
	adviseHuge(s.slots)
	for j := 0; j < len(old); j += 3 {
		lo, hi := old[j], old[j+1]
		if lo == 0 && hi == 0 {
			continue
		}
		i := (uint64(hi)<<32 | uint64(lo)) & s.mask
		for s.slots[3*i+1] != 0 || s.slots[3*i] != 0 {
			i = (i + 1) & s.mask
		}
		copy(s.slots[3*i:], old[j:j+3])
	}
}
