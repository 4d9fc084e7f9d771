package schema

import (
	"encoding/binary"
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"
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
const digestVersion = 3

// SetLazy makes the decoder leave unread the values of the rows that read
// cleanly so far (not ragged, no control characters or stray quotes, the
// encoding settled): such a record comes back with only Line, Email, Key,
// Digest and Lazy set. The caller may know it by its digest; when it
// needs the values it reads them with a RowReader, on any goroutine (the
// pipeline reads a file on one core and decides, and reads what changed,
// on the other). Other rows come back whole, with Digest set when they
// have no problem. Call it before the first Next; it is meant for a caller
// that also sets DeferDuplicates. The file's Invalid count (Info) does not
// count lazy rows the caller finds invalid.
func (d *Decoder) SetLazy() { d.lazy = true }

// SetDigests makes the decoder give every row it reads whole without a
// problem the digest a lazy decoder gives it, while leaving no row unread:
// for a caller that reads every row anyway but keeps their digests for the
// next file (a first ingest). Call it before the first Next.
func (d *Decoder) SetDigests() { d.digests = true }

// RowSalt returns the salt of the file's digests.
func (d *Decoder) RowSalt() uint64 { return d.salt }

// RawRow is a row a lazy decoder left unread: a copy of its bytes, never
// written again (the record's Email and Key are views of it), and, for a
// row that had quotes, its fields' bounds (an unquoted row is split again).
type RawRow struct {
	row    []byte
	bounds []int32
	high   bool
	quoted bool
	mode   textMode // the encoding it was left under
}

// RowReader reads lazy rows of one decoder. Each goroutine needs its own.
type RowReader struct {
	d      *Decoder
	bounds []int
}

// RowReader returns a reader of the decoder's lazy rows.
func (d *Decoder) RowReader() *RowReader {
	c := &Decoder{cr: &csvReader{delim: d.cr.delim}, opts: d.opts, m: d.m, mode: d.mode, read: d.read,
		attrsRead: d.attrsRead, seed: d.seed, salt: d.salt}
	c.info.Delimiter, c.info.Delta = d.info.Delimiter, d.info.Delta
	return &RowReader{d: c}
}

// Read fills rec, a lazy record, with what its row says: exactly the record
// the decoder makes of the row when not lazy.
func (rr *RowReader) Read(rec *Record) {
	raw := rec.Lazy
	if raw == nil {
		return
	}
	cr := rr.d.cr
	if raw.quoted {
		rr.bounds = rr.bounds[:0]
		for _, b := range raw.bounds {
			rr.bounds = append(rr.bounds, int(b))
		}
		cr.row, cr.bounds, cr.high, cr.ctrl, cr.quotedRow = raw.row, rr.bounds, raw.high, false, true
	} else if !cr.split(raw.row) {
		panic("schema: a lazy row no longer splits") // it did when it was read
	}
	cr.rowLine, cr.afterQuote, cr.innerQuote = rec.Line, 0, 0
	rr.d.mode = raw.mode
	digest := rec.Digest
	*rec = Record{}
	rr.d.record(rec, &keyAt{})
	if len(rec.Problems) == 0 {
		rec.Digest = digest
	}
}

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

// lazyRow leaves the current row unread when it may be (see SetLazy): rec
// gets its line, address, key, digest and a copy of the row. It returns
// the row's digest (0 when the row must be read now) and whether it did.
// A decoder that is not lazy (SetDigests) only gets the digest.
func (d *Decoder) lazyRow(rec *Record) (uint64, bool) {
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
	digest := rowDigest(seed, cr.row, cr.bounds, cr.quotedRow)
	if !d.lazy {
		return digest, false
	}
	var lazy *RawRow
	if d.rowBufs {
		lazy = d.pendRaw(cr)
	} else {
		lazy = d.keepRaw(cr)
	}
	// The address is a view of the row's copy: no string of its own.
	col := d.m.col[fEmail]
	lo, hi := cr.bounds[col]+1, cr.bounds[col+1]
	view := ""
	if hi > lo {
		view = unsafe.String(&lazy.row[lo], hi-lo)
	}
	a, b := trimBounds(view, 0, len(view))
	email, key, err := d.normalizeEmail(view[a:b])
	if err != nil {
		d.dropRaw()
		return digest, false
	}
	rec.Email, rec.Key, rec.Digest, rec.Lazy = email, key, digest, lazy
	return digest, true
}

// keepRaw copies the current row, carved from shared slabs.
func (d *Decoder) keepRaw(cr *csvReader) *RawRow {
	if len(d.raws) == cap(d.raws) {
		d.raws = make([]RawRow, 0, 256)
	}
	n := len(cr.row)
	if cap(d.rawBytes)-len(d.rawBytes) < n {
		d.rawBytes = make([]byte, 0, max(64<<10, n))
	}
	row := append(d.rawBytes[len(d.rawBytes):len(d.rawBytes)], cr.row...)
	d.rawBytes = d.rawBytes[:len(d.rawBytes)+n]
	r := RawRow{row: row[:n:n], high: cr.high, quoted: cr.quotedRow, mode: d.mode}
	if cr.quotedRow {
		r.bounds = carveBounds(&d.rawBounds, cr.bounds, 4096)
	}
	d.raws = append(d.raws, r)
	return &d.raws[len(d.raws)-1]
}

// carveBounds copies bounds into the slab, replaced by a new one of at
// least size entries when full (the bounds carved before stay where they
// are), and returns the copy.
func carveBounds(slab *[]int32, bounds []int, size int) []int32 {
	if cap(*slab)-len(*slab) < len(bounds) {
		*slab = make([]int32, 0, max(size, len(bounds)))
	}
	s, start := *slab, len(*slab)
	for _, b := range bounds {
		s = append(s, int32(b))
	}
	*slab = s
	return s[start:len(s):len(s)]
}

// dropRaw forgets the copy keepRaw (or pendRaw) made last (the row is read
// at once).
func (d *Decoder) dropRaw() {
	if d.rowBufs {
		r := d.pend[len(d.pend)-1]
		d.pend = d.pend[:len(d.pend)-1]
		if r.quoted {
			d.pendBytes = d.pendBytes[:len(d.pendBytes)-len(r.row)]
			d.pendBounds = d.pendBounds[:len(d.pendBounds)-len(r.bounds)]
		}
		return
	}
	r := d.raws[len(d.raws)-1]
	d.raws = d.raws[:len(d.raws)-1]
	d.rawBytes = d.rawBytes[:len(d.rawBytes)-len(r.row)]
	d.rawBounds = d.rawBounds[:len(d.rawBounds)-len(r.bounds)]
}

// rowDigest hashes a row's bytes (wyhash's mixing) and, for a row read
// with quotes (values unescaped, which may hold the delimiter), its fields'
// bounds: an unquoted row's bounds are where its delimiters are, which its
// bytes say already. Never 0.
func rowDigest(seed uint64, row []byte, bounds []int, quoted bool) uint64 {
	if quoted {
		seed = mix64(seed^0x71756f746564, 0x9E3779B97F4A7C15)
	}
	h := digestBytes(seed, row)
	if quoted {
		for _, b := range bounds {
			h = mix64(h^uint64(int64(b)), 0x9E3779B97F4A7C15)
		}
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
	if len(b) > 32 {
		// Two lanes, so that the multiplications of one do not wait for
		// the other's.
		h2 := h
		for len(b) > 32 {
			h = mix64(le.Uint64(b)^p1, le.Uint64(b[8:])^h)
			h2 = mix64(le.Uint64(b[16:])^p2, le.Uint64(b[24:])^h2)
			b = b[32:]
		}
		h ^= h2
	}
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
