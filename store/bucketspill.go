package store

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/bits"
	"os"
	"slices"
)

// bucketSpill collects an index's entries in 64 buckets by the top bits of
// their key hash, in memory up to a bound and in a scratch file beyond it,
// and gives each bucket back sorted by key hash: how an index is built
// from the store, or grown by an apply, without holding it in memory.
type bucketSpill struct {
	dir    string
	mem    [spillBuckets][]byte
	chunks [spillBuckets][]spillChunk
	f      *os.File
	size   int64
	n      int
	buf    []byte
	recs   []spillRec // bucket's result, reused
	sorted []spillRec // sortByKeyHash's, reused
	counts []int32
}

type spillChunk struct{ off, n int64 }

// spillRec is an entry in a bucket: key hash, value, digest, key (for an
// entry that adds one) and whether it updates an entry of the base.
type spillRec struct {
	kh, v, raw uint64
	key        []byte
	update     bool
}

const (
	spillBucketBits = 6
	spillBuckets    = 1 << spillBucketBits
	// spillMem bytes of a bucket wait in memory before they go to the
	// scratch file: at most 4 MB in all.
	spillMem = 64 << 10
)

func spillBucket(kh uint64) int { return int(kh >> (64 - spillBucketBits)) }

// add adds r, with key as its key.
func (s *bucketSpill) add(r spillRec, key string) error {
	b := spillBucket(r.kh)
	m := s.mem[b]
	m = binary.LittleEndian.AppendUint64(m, r.kh)
	m = binary.LittleEndian.AppendUint64(m, r.v)
	m = binary.LittleEndian.AppendUint64(m, r.raw)
	flag := byte(0)
	if r.update {
		flag = 1
	}
	m = append(m, flag)
	m = binary.AppendUvarint(m, uint64(len(key)))
	m = append(m, key...)
	s.mem[b] = m
	s.n++
	if len(m) < spillMem {
		return nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "muster-index-*.tmp")
		if err != nil {
			return fmt.Errorf("snapshot index: %w", err)
		}
		os.Remove(f.Name()) // scratch: gone with the process
		s.f = f
	}
	if _, err := s.f.WriteAt(m, s.size); err != nil {
		return fmt.Errorf("snapshot index: %w", err)
	}
	s.chunks[b] = append(s.chunks[b], spillChunk{s.size, int64(len(m))})
	s.size += int64(len(m))
	s.mem[b] = m[:0]
	return nil
}

// bucket returns the entries of bucket b sorted by key hash; the slice and
// the keys in it are the caller's until the next call.
func (s *bucketSpill) bucket(b int) ([]spillRec, error) {
	data := s.buf[:0]
	for _, c := range s.chunks[b] {
		data = slices.Grow(data, int(c.n))
		if _, err := s.f.ReadAt(data[len(data):len(data)+int(c.n)], c.off); err != nil {
			return nil, fmt.Errorf("snapshot index: %w", err)
		}
		data = data[:len(data)+int(c.n)]
	}
	data = append(data, s.mem[b]...)
	s.mem[b] = nil
	s.buf = data
	out := s.recs[:0]
	le := binary.LittleEndian
	for p := 0; p < len(data); {
		if len(data)-p < 25 {
			return nil, errCorruptScratch
		}
		r := spillRec{kh: le.Uint64(data[p:]), v: le.Uint64(data[p+8:]), raw: le.Uint64(data[p+16:]), update: data[p+24] == 1}
		p += 25
		l, n := binary.Uvarint(data[p:])
		if n <= 0 || uint64(len(data)-p-n) < l {
			return nil, errCorruptScratch
		}
		p += n
		r.key = data[p : p+int(l)]
		p += int(l)
		out = append(out, r)
	}
	s.recs = out
	return s.sortByKeyHash(out), nil
}

// sortByKeyHash returns recs (entries of one bucket) sorted by key hash,
// in s.sorted. Key hashes are uniform (a seeded hash of the key), so one
// counting pass on the bits below the bucket's spreads n entries over
// about n slots, nearly one a slot; the few sharing a slot are then
// sorted by insertion, or by a comparison sort when unusually many do.
// A comparison sort of the whole bucket moved its 56-byte entries some
// log2(n) times each: a twentieth of a 100k first ingest's CPU.
func (s *bucketSpill) sortByKeyHash(recs []spillRec) []spillRec {
	n := len(recs)
	if n < 64 {
		slices.SortFunc(recs, cmpKeyHash)
		return recs
	}
	bits := min(bits.Len(uint(n)), 16)
	shift := 64 - spillBucketBits - bits
	mask := uint64(1)<<bits - 1
	counts := slices.Grow(s.counts[:0], 1<<bits+1)[:1<<bits+1]
	clear(counts)
	for i := range recs {
		counts[recs[i].kh>>shift&mask+1]++
	}
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	out := slices.Grow(s.sorted[:0], n)[:n]
	next := counts[:1<<bits] // the next place of each slot
	for i := range recs {
		slot := recs[i].kh >> shift & mask
		out[next[slot]] = recs[i]
		next[slot]++
	}
	// next[slot] is now where the slot ends: the next slot's start.
	start := int32(0)
	for _, end := range next {
		switch part := out[start:end]; {
		case len(part) > 32:
			slices.SortFunc(part, cmpKeyHash)
		case len(part) > 1:
			for i := 1; i < len(part); i++ {
				for j := i; j > 0 && part[j].kh < part[j-1].kh; j-- {
					part[j], part[j-1] = part[j-1], part[j]
				}
			}
		}
		start = end
	}
	s.sorted, s.counts = out, counts
	return out
}

func cmpKeyHash(a, b spillRec) int { return cmp.Compare(a.kh, b.kh) }

var errCorruptScratch = fmt.Errorf("snapshot index: corrupt scratch")

func (s *bucketSpill) close() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}
