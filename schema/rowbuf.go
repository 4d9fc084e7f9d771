package schema

import "unsafe"

// RowBuf holds the copies of the rows a lazy decoder left unread, for a
// caller that handles records in batches and reuses each batch once done
// with it (NextIntoBuf): the copies of a batch's rows go into the batch's
// RowBuf, and Reset lets the next batch write over them, so a file of any
// size is read with the memory of the batches in flight instead of a copy
// of every row (a quarter of a gigabyte at a million rows, and the garbage
// collection it costs).
type RowBuf struct {
	bytes  []byte
	raws   []RawRow
	bounds []int32
	groups []string
}

// Reset forgets the rows buf holds: the records made with it (their
// strings, groups and Lazy) must no longer be used.
func (b *RowBuf) Reset() {
	b.bytes, b.raws, b.bounds = b.bytes[:0], b.raws[:0], b.bounds[:0]
	clear(b.groups)
	b.groups = b.groups[:0]
}

// NextIntoBuf is NextInto for a caller that handles records in batches and
// keeps what each record points to in its batch's buf: a lazy record's row
// (SetLazy), or the values and groups of a record read whole. Every string
// of the record, its Groups and its Lazy point into buf until buf.Reset:
// nothing may keep them past that without a copy. Until a record is
// returned its values stay where the decoder read them (no copy of their
// own). A caller that uses NextIntoBuf must use it for every record.
func (d *Decoder) NextIntoBuf(rec *Record, buf *RowBuf) error {
	d.rowBufs = true
	if err := d.NextInto(rec); err != nil {
		return err
	}
	switch {
	case rec.Lazy != nil:
		buf.keep(rec)
	case d.next <= len(d.kept):
		buf.keepValues(rec, d.kept[d.next-1])
	}
	return nil
}

// keepValues copies the values of a record read whole (kept: the string
// its values are views of) into b and points rec at the copy, its groups
// too. A slab that is full is replaced, not grown.
func (b *RowBuf) keepValues(rec *Record, kept string) {
	var from, to []byte
	if n := len(kept); n > 0 {
		if cap(b.bytes)-len(b.bytes) < n {
			b.bytes = make([]byte, 0, max(2*cap(b.bytes), 64<<10, n))
		}
		start := len(b.bytes)
		b.bytes = append(b.bytes, kept...)
		from, to = unsafe.Slice(unsafe.StringData(kept), n), b.bytes[start:len(b.bytes):len(b.bytes)]
		for _, p := range [...]*string{&rec.Email, &rec.Key, &rec.FirstName, &rec.LastName, &rec.SourceID} {
			*p = rebase(*p, from, to)
		}
		for i := range rec.Attrs {
			rec.Attrs[i] = rebase(rec.Attrs[i], from, to)
		}
	}
	if len(rec.Groups) > 0 {
		if cap(b.groups)-len(b.groups) < len(rec.Groups) {
			b.groups = make([]string, 0, max(2*cap(b.groups), 1024, len(rec.Groups)))
		}
		start := len(b.groups)
		for _, g := range rec.Groups {
			b.groups = append(b.groups, rebase(g, from, to))
		}
		rec.Groups = b.groups[start:len(b.groups):len(b.groups)]
	}
}

// keep copies rec's row into b and points rec at the copy. A slab that is
// full is replaced, not grown: the rows already in it stay where they are.
func (b *RowBuf) keep(rec *Record) {
	raw := rec.Lazy
	n := len(raw.row)
	if cap(b.bytes)-len(b.bytes) < n {
		b.bytes = make([]byte, 0, max(2*cap(b.bytes), 64<<10, n))
	}
	start := len(b.bytes)
	b.bytes = append(b.bytes, raw.row...)
	c := *raw
	c.row = b.bytes[start:len(b.bytes):len(b.bytes)]
	if raw.bounds != nil {
		if cap(b.bounds)-len(b.bounds) < len(raw.bounds) {
			b.bounds = make([]int32, 0, max(2*cap(b.bounds), 1024, len(raw.bounds)))
		}
		start := len(b.bounds)
		b.bounds = append(b.bounds, raw.bounds...)
		c.bounds = b.bounds[start:len(b.bounds):len(b.bounds)]
	}
	if len(b.raws) == cap(b.raws) {
		b.raws = make([]RawRow, 0, max(2*cap(b.raws), 64))
	}
	b.raws = append(b.raws, c)
	rec.Lazy = &b.raws[len(b.raws)-1]
	rec.Email = rebase(rec.Email, raw.row, c.row)
	rec.Key = rebase(rec.Key, raw.row, c.row)
}

// rebase returns s, when it is a view of from, as the same view of to (a
// copy of from); any other string as it is.
func rebase(s string, from, to []byte) string {
	if len(s) == 0 || len(from) == 0 {
		return s
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(&from[0]))
	if p < lo || p+uintptr(len(s)) > lo+uintptr(len(from)) {
		return s
	}
	return unsafe.String(&to[p-lo], len(s))
}

// pendRaw is keepRaw for a decoder whose caller copies rows when it takes
// them (NextIntoBuf): a row without quotes stays a view of the reader's
// buffer, which the rows of a batch all lie in until the next batch is
// read; a quoted row (read into the reader's scratch, reused for each) is
// copied into pendBytes. Both are reused for each batch.
func (d *Decoder) pendRaw(cr *csvReader) *RawRow {
	if len(d.pend) == cap(d.pend) {
		d.pend = make([]RawRow, 0, max(2*cap(d.pend), batchSize))
	}
	r := RawRow{row: cr.row[:len(cr.row):len(cr.row)], high: cr.high, quoted: cr.quotedRow, mode: d.mode}
	if cr.quotedRow {
		n := len(cr.row)
		if cap(d.pendBytes)-len(d.pendBytes) < n {
			d.pendBytes = make([]byte, 0, max(2*cap(d.pendBytes), 16<<10, n))
		}
		start := len(d.pendBytes)
		d.pendBytes = append(d.pendBytes, cr.row...)
		r.row = d.pendBytes[start:len(d.pendBytes):len(d.pendBytes)]
		r.bounds = carveBounds(&d.pendBounds, cr.bounds, max(2*cap(d.pendBounds), 1024))
	}
	d.pend = append(d.pend, r)
	return &d.pend[len(d.pend)-1]
}
