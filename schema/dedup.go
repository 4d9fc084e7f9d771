package schema

// lineSet remembers the line of the first row of every address, by a
// 64-bit hash of its key, in an open-addressing table at most 3/4 full: 8
// bytes of hash and 4 of line a slot, so a million addresses take 24 MiB
// (16 to 32 bytes an address, as the table doubles). Holding hashes rather than keys keeps memory small and
// independent of address length; the price is that two different addresses
// could share a hash (about 3e-8 for a million rows), which would report a
// false duplicate naming the other line, never hide a real one.
//
// Hashes and lines are kept apart: a lookup reads only the hashes (one
// cache miss, the cost that remains per row on big files), and the line is
// written on insert and read only for a duplicate.
type lineSet struct {
	hashes []uint64 // 0 marks an empty slot
	lines  []uint32
	n      int
}

// sizeFor makes room for about n addresses without growing.
func (s *lineSet) sizeFor(n int) {
	size := 1 << 12
	for 3*size < 4*n && size < 1<<26 {
		size *= 2
	}
	if size > len(s.hashes) {
		s.rehash(size)
	}
}

// firstOrAdd returns the line recorded for h, or records line for it.
func (s *lineSet) firstOrAdd(h uint64, line int) (first int, dup bool) {
	if h == 0 {
		h = 1
	}
	if 4*(s.n+1) > 3*len(s.hashes) {
		s.rehash(max(2*len(s.hashes), 1<<12))
	}
	mask := uint64(len(s.hashes) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.hashes[i] {
		case h:
			return int(s.lines[i]), true
		case 0:
			s.hashes[i], s.lines[i] = h, uint32(line)
			s.n++
			return line, false
		}
	}
}

func (s *lineSet) rehash(size int) {
	old, oldLines := s.hashes, s.lines
	s.hashes, s.lines = make([]uint64, size), make([]uint32, size)
	mask := uint64(size - 1)
	for j, h := range old {
		if h == 0 {
			continue
		}
		i := h & mask
		for s.hashes[i] != 0 {
			i = (i + 1) & mask
		}
		s.hashes[i], s.lines[i] = h, oldLines[j]
	}
}
