package schema

// lineSet remembers the line of the first row of every address, by a
// 64-bit hash of its key, in an open-addressing table: 12 bytes a slot,
// kept at most half full, so a million addresses take 24 MiB and a lookup
// is usually one cache miss. Holding hashes rather than keys keeps memory
// small and flat per row; the price is that two different addresses could
// share a hash (about 3e-8 for a million rows), which would report a false
// duplicate naming the other line, never hide a real one.
type lineSet struct {
	hashes []uint64 // 0 marks an empty slot
	lines  []int32
	n      int
}

// firstOrAdd returns the line recorded for h, or records line for it.
func (s *lineSet) firstOrAdd(h uint64, line int) (first int, dup bool) {
	if h == 0 {
		h = 1
	}
	if 2*(s.n+1) > len(s.hashes) {
		s.grow()
	}
	mask := uint64(len(s.hashes) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.hashes[i] {
		case h:
			return int(s.lines[i]), true
		case 0:
			s.hashes[i], s.lines[i] = h, int32(line)
			s.n++
			return line, false
		}
	}
}

func (s *lineSet) grow() {
	size := 2 * len(s.hashes)
	if size == 0 {
		size = 1 << 12
	}
	old, oldLines := s.hashes, s.lines
	s.hashes, s.lines = make([]uint64, size), make([]int32, size)
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
