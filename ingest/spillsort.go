package ingest

import (
	"bytes"
	"cmp"
	"slices"
)

// sortChunk sorts the chunk by key, rows of the same key in the order they
// came: by the bytes of the records' prefixes first (radixSort), then by
// comparing. Sorting a 100k-row first ingest's keys by comparing only took
// some 25 ms, most of it calls of the comparison; by prefix bytes 6 ms.
// It notes whether two keys compared equal (equalKeys): records with the
// same key share their prefix, so they end in the same pile, and a sort by
// comparing compares every two records that end up next to each other
// (were two neighbours never compared, their order could not be known);
// so when no two keys were found equal, no key is there twice.
func (s *spill) sortChunk() {
	s.equalKeys = false
	if cap(s.tmp) < len(s.index) {
		s.tmp = make([]chunkRec, len(s.index))
	}
	s.radixSort(s.index, s.tmp[:len(s.index)], 0)
	s.sorted = len(s.index)
}

// cmpRecs orders records by key, then by where they are in the chunk (the
// order they came).
func (s *spill) cmpRecs(a, b *chunkRec) int {
	switch {
	case a.prefix[0] != b.prefix[0]:
		return cmp.Compare(a.prefix[0], b.prefix[0])
	case a.prefix[1] != b.prefix[1]:
		return cmp.Compare(a.prefix[1], b.prefix[1])
	}
	if c := bytes.Compare(s.key(*a), s.key(*b)); c != 0 {
		return c
	}
	s.equalKeys = true
	return int(a.off) - int(b.off)
}

// radixSort sorts recs by the byte at depth of their prefixes and deeper:
// records are dealt into 256 piles by that byte (through tmp, as long as
// recs), each pile sorted by the next byte; a small pile, or one whose
// prefixes are all the same, is sorted by comparing (cmpRecs).
func (s *spill) radixSort(recs, tmp []chunkRec, depth int) {
	for {
		if len(recs) <= radixMin || depth == 16 {
			s.compareSort(recs)
			return
		}
		var count [256]int
		shift := uint(56 - 8*(depth%8))
		for i := range recs {
			count[byte(recs[i].prefix[depth/8]>>shift)]++
		}
		if count[byte(recs[0].prefix[depth/8]>>shift)] == len(recs) {
			depth++ // one pile: the next byte
			continue
		}
		var at [256]int
		n := 0
		for b, c := range count {
			at[b] = n
			n += c
		}
		for i := range recs {
			b := byte(recs[i].prefix[depth/8] >> shift)
			tmp[at[b]] = recs[i]
			at[b]++
		}
		copy(recs, tmp[:len(recs)])
		start := 0
		for _, c := range count {
			if c > 1 {
				s.radixSort(recs[start:start+c], tmp, depth+1)
			}
			start += c
		}
		return
	}
}

// radixMin is the size of a pile sorted by comparing (96 sorted a 100k
// first ingest's keys fastest).
const radixMin = 96

// compareSort sorts a pile by comparing its records.
func (s *spill) compareSort(recs []chunkRec) {
	slices.SortFunc(recs, func(a, b chunkRec) int { return s.cmpRecs(&a, &b) })
}
