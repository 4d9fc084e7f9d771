package schema

import (
	"encoding/binary"
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Row digests let a caller that kept what an earlier file said skip
// reading the rows of a new file that say the same (SetKnown): a digest is
// a 64-bit hash of a row's values (its bytes and where each field ends),
// under a salt made of everything else that decides what the row reads as
// (the header, the settings, the encoding of a row above ASCII). Two rows
// with the same digest under the same salt read as the same record.

// digestVersion is part of every salt: change it whenever what a row
// decodes to changes (normalisation, trimming, the alias dictionary...), so
// digests made by an older muster no longer match and every row is read
// again once. TestDigestsPinned fails when the records of its corpus
// change, to say so.
const digestVersion = 2

// SetKnown makes the decoder ask known, for every row that reads cleanly
// so far (not ragged, no control characters or stray quotes, its encoding
// settled), with its key and its digest: ok says the caller holds exactly
// what a row with that digest says, and the record comes back with Known
// set to 1+ref and only Line, Email, Key and Digest read. Other rows come
// back whole, with Digest set when they have no problem. Call it before
// the first Next; it is meant for a caller that also sets DeferDuplicates.
func (d *Decoder) SetKnown(known func(key string, digest uint64) (ref int, ok bool)) { d.known = known }

// RowSalt returns the salt of the file's digests.
func (d *Decoder) RowSalt() uint64 { return d.salt }

// makeSalt hashes what decides how rows read besides their own bytes.
func (d *Decoder) makeSalt(header [][]byte) {
	b := []byte("muster row digest " + strconv.Itoa(digestVersion))
	for _, h := range header {
		b = binary.AppendUvarint(b, uint64(len(h)))
		b = append(b, h...)
	}
	b = binary.AppendVarint(b, int64(d.info.Delimiter))
	b = binary.AppendVarint(b, int64(d.opts.Delimiter))
	if d.opts.DayFirst {
		b = append(b, 'D')
	}
	for _, k := range slices.Sorted(maps.Keys(d.opts.Columns)) {
		b = append(b, k...)
		b = append(b, 0)
		b = append(b, d.opts.Columns[k]...)
		b = append(b, 0)
	}
	d.salt = digestBytes(0x6d7573746572, b)
}

// knownRow offers the current row to the caller's known function when it
// may be read from its digest. It returns the row's digest (0 when the row
// may not) and whether the caller knows it, in which case rec is filled.
func (d *Decoder) knownRow(rec *Record) (uint64, bool) {
	cr := d.cr
	if cr.nfields() != len(d.m.columns) || cr.ctrl || cr.quotedRow && (cr.afterQuote > 0 || cr.innerQuote > 0) ||
		cr.high && d.mode == modeASCII { // such a row settles the encoding: it is read
		return 0, false
	}
	raw := cr.field(d.m.col[fEmail])
	if d.mode == modeWin1252 && hasHighBit(raw) || cr.high && !utf8.Valid(raw) {
		return 0, false
	}
	seed := d.salt
	if cr.high {
		seed ^= uint64(d.mode+1) * 0x9E3779B97F4A7C15
	}
	digest := rowDigest(seed, cr.row, cr.bounds)
	a, b := trimBounds(string(raw), 0, len(raw))
	email, key, err := d.normalizeEmail(string(raw[a:b]))
	if err != nil {
		return digest, false
	}
	ref, ok := d.known(key, digest)
	if !ok {
		return digest, false
	}
	rec.Email, rec.Key, rec.Known, rec.Digest = email, key, ref+1, digest
	return digest, true
}

// rowDigest hashes a row's bytes and its fields' bounds (wyhash's mixing);
// never 0.
func rowDigest(seed uint64, row []byte, bounds []int) uint64 {
	h := digestBytes(seed, row)
	for _, b := range bounds {
		h = mix64(h^uint64(int64(b)), 0x9E3779B97F4A7C15)
	}
	h &= 1<<63 - 1 // the caller may keep a flag in the top bit
	if h == 0 {
		h = 1
	}
	return h
}

func digestBytes(seed uint64, b []byte) uint64 {
	const p0, p1, p2 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db, 0x8ebc6af09c88c6e3
	le := binary.LittleEndian
	h := seed ^ p0
	n := uint64(len(b))
	for len(b) > 16 {
		h = mix64(le.Uint64(b)^p1, le.Uint64(b[8:])^h)
		b = b[16:]
	}
	var x, y uint64
	for i := len(b) - 1; i >= 0 && i >= 8; i-- {
		y = y<<8 | uint64(b[i])
	}
	for i := min(len(b), 8) - 1; i >= 0; i-- {
		x = x<<8 | uint64(b[i])
	}
	return mix64(p1^n, mix64(x^p1, y^h)^p2)
}

func mix64(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
