package store

import (
	"slices"
	"unsafe"
)

// bulkVals makes the driver values of one batch's bulk write (bulkExec's
// args) without a heap allocation per value. Putting a string, a []byte or
// an int64 over 255 into an interface copies it to a new heap object: at
// some ten values a person (and the search text, group list, attributes
// and data blob made for each) that was most of a 100k first ingest's
// 1.6 M allocations. Here each value is appended to a slice of the batch
// and the interface value points at that element: the two words the
// runtime's own conversion makes, pointing at the batch's copy instead of
// a new one. The text a batch makes goes into one byte arena, read as
// strings and blobs in place.
//
// What keeps it sound: an element is never written again while a value
// points at it that may still be read (the slices only grow within a
// batch, and a slice that grows leaves the values made so far pointing at
// its old array, which the collector keeps while they do), and the driver
// only reads the values, during the statement's call (it copies them into
// SQLite's buffer when it binds; pgx encodes them before the call
// returns). A transaction's next batch reuses the slices (reset) once its
// bulk write returned: nothing reads the values of the batch before.
type bulkVals struct {
	strs  []string
	ints  []int64
	blobs [][]byte
	text  []byte
}

// newBulkVals returns the values of a batch of rows rows: strs strings,
// ints integers and blobs blobs a row, and about textLen bytes of text.
func newBulkVals(rows, strs, ints, blobs, textLen int) *bulkVals {
	b := &bulkVals{}
	b.reset(rows, strs, ints, blobs, textLen)
	return b
}

// reset empties b for a new batch (newBulkVals' sizes), keeping its
// arrays: only call it once the values made before are read no more.
func (b *bulkVals) reset(rows, strs, ints, blobs, textLen int) {
	b.strs = slices.Grow(b.strs[:0], rows*strs)
	b.ints = slices.Grow(b.ints[:0], rows*ints)
	b.blobs = slices.Grow(b.blobs[:0], rows*blobs)
	b.text = slices.Grow(b.text[:0], textLen)
}

// eface is the layout of an empty interface value: its type, and a
// pointer to its value (for a string, int64 or slice, always a pointer).
type eface struct {
	typ, data unsafe.Pointer
}

// at returns v, an interface value of the type wanted (made without an
// allocation: the zero values below), changed to point at p.
func at(v any, p unsafe.Pointer) any {
	(*eface)(unsafe.Pointer(&v)).data = p
	return v
}

// str returns s as a driver value.
func (b *bulkVals) str(s string) any {
	if s == "" {
		return ""
	}
	b.strs = append(b.strs, s)
	return at("", unsafe.Pointer(&b.strs[len(b.strs)-1]))
}

// integer returns n as a driver value.
func (b *bulkVals) integer(n int64) any {
	if n >= 0 && n < 256 {
		return n // the runtime's static small integers: no allocation
	}
	b.ints = append(b.ints, n)
	return at(int64(0), unsafe.Pointer(&b.ints[len(b.ints)-1]))
}

// blob returns the bytes appended to the arena since start as a driver
// value ([]byte).
func (b *bulkVals) blob(start int) any {
	b.blobs = append(b.blobs, b.text[start:len(b.text):len(b.text)])
	return at([]byte(nil), unsafe.Pointer(&b.blobs[len(b.blobs)-1]))
}

// textFrom returns the bytes appended to the arena since start as a
// driver value (string).
func (b *bulkVals) textFrom(start int) any {
	if len(b.text) == start {
		return ""
	}
	return b.str(unsafe.String(&b.text[start], len(b.text)-start))
}

// recipient appends the driver values of r's columns key, email (storedEmail),
// first_name, last_name, attrs, status, group_ids and search to args.
func (b *bulkVals) recipient(args []any, r *Recipient) []any {
	args = append(args, b.str(r.Key), b.str(storedEmail(r)), b.str(r.FirstName), b.str(r.LastName))
	if attrsEmpty(&r.Attrs) {
		args = append(args, nil)
	} else {
		start := len(b.text)
		for i, v := range r.Attrs {
			if i > 0 {
				b.text = append(b.text, sep...)
			}
			b.text = append(b.text, v...)
		}
		args = append(args, b.textFrom(start))
	}
	args = append(args, b.str(string(r.Status)))
	start := len(b.text)
	b.text = appendGroupList(b.text, r.GroupIDs)
	args = append(args, b.textFrom(start))
	start = len(b.text)
	b.text = appendSearchText(b.text, r)
	return append(args, b.textFrom(start))
}

// assertion appends the driver values of a's columns key, line, hash,
// status and data to args.
func (b *bulkVals) assertion(args []any, a *Assertion) []any {
	start := len(b.text)
	b.text = appendData(b.text, a)
	return append(args, b.str(a.Key), b.integer(int64(a.Line)), b.integer(int64(a.Hash)), b.integer(int64(a.Status)), b.blob(start))
}
