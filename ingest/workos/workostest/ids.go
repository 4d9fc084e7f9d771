package workostest

import (
	"math/rand/v2"
	"time"
)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idGen makes "<prefix>_<ULID>" ids that sort in creation order, as WorkOS's
// do (§10.2): a 48-bit millisecond time and 80 random bits, the random part
// incremented rather than redrawn when the clock has not moved, so ids are
// strictly increasing even within one millisecond.
type idGen struct {
	rng    *rand.Rand
	lastMS uint64
	hi     uint16 // top 16 random bits
	lo     uint64 // low 64 random bits
}

func newIDGen(seed uint64) *idGen {
	return &idGen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (g *idGen) next(prefix string, now time.Time) string {
	ms := uint64(now.UnixMilli())
	if ms > g.lastMS {
		g.lastMS = ms
		g.hi, g.lo = uint16(g.rng.Uint32()), g.rng.Uint64()>>1 // room to increment
	} else {
		g.lo++
		if g.lo == 0 {
			g.hi++
		}
	}
	return prefix + "_" + encodeULID(g.lastMS, g.hi, g.lo)
}

// encodeULID writes 128 bits (48 time, 80 random) as 26 Crockford base32
// characters, most significant first.
func encodeULID(ms uint64, hi uint16, lo uint64) string {
	var b [26]byte
	// The value as two words: top = ms<<16 | hi (64 bits), bottom = lo.
	top := ms<<16 | uint64(hi)
	for i := 25; i >= 0; i-- {
		b[i] = crockford[lo&31]
		lo = lo>>5 | top<<59
		top >>= 5
	}
	return string(b[:])
}
