package schema

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/bits"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// record turns the current row into a Record with its problems. The values
// of the columns read are copied into one string per row, carved from a
// shared block (see keep).
func (d *Decoder) record(rec *Record, k *keyAt) {
	cr := d.cr
	rec.Line = cr.rowLine
	var digest uint64
	if d.lazy || d.digests {
		var left bool
		if digest, left = d.lazyRow(rec); left {
			return
		}
	}
	nf := cr.nfields()
	// A row with more values than the header is ragged even when the extra
	// ones are empty: that is what an unquoted comma in a name looks like
	// when the last columns are empty, and reading it would shift values.
	if nf != len(d.m.columns) {
		rec.Problems = append(rec.Problems, d.ragged(rec.Line, nf))
	} else if cr.quotedRow && cr.afterQuote > 0 {
		rec.Problems = append(rec.Problems, d.strayQuote(rec.Line))
	}
	var v values
	if !d.readSpan(rec, &v, nf) {
		d.readPacked(rec, &v, nf)
	}
	d.email(rec, k, &v)
	d.names(rec, &v)
	rec.Groups = d.groups(v.get(fGroups))
	rec.SourceID = v.get(fSourceID)
	if st, ok := parseStatus(v.get(fStatus), d.m.statusOf); ok {
		rec.Status = st
	} else {
		rec.Problems = append(rec.Problems, d.problem(rec.Line, fStatus, CodeUnknownStatus, SeverityError,
			fmt.Sprintf("%q is not a status muster knows (such as Active, Inactive, Terminated, Leave); the row is not used", v.get(fStatus))))
	}
	if d.m.col[fStatus2] >= 0 {
		// The first status column decides what an unknown value does to the
		// row; one the second column does not know only loses its say.
		if st, ok := parseStatus(v.get(fStatus2), d.m.statusOf2); !ok {
			rec.Problems = append(rec.Problems, d.problem(rec.Line, fStatus2, CodeUnknownStatus, SeverityWarning,
				fmt.Sprintf("%q is not a status muster knows (such as Active, Terminated, yes, no); the status is taken from %q alone",
					v.get(fStatus2), d.m.columns[d.m.col[fStatus]].Name)))
		} else if st == StatusInactive {
			rec.Status = StatusInactive
		}
	}
	if d.info.Delta {
		if a, ok := parseAction(v.get(fAction)); ok {
			rec.Action = a
		} else {
			rec.Problems = append(rec.Problems, d.problem(rec.Line, fAction, CodeUnknownAction, SeverityError,
				fmt.Sprintf("%q is not an action muster knows: use add or update to add or change someone, "+
					"remove or delete to take them off", v.get(fAction))))
		}
	}
	d.attrs(rec, &v)
	if digest != 0 && len(rec.Problems) == 0 {
		rec.Digest = digest
	}
}

// values holds a row's values: one string, and where each field's value
// is in it. Offsets rather than strings keep the per-field bookkeeping
// free of pointer writes.
type values struct {
	s  string
	at [numFields][2]int32
}

func (v *values) get(f field) string { return v.s[v.at[f][0]:v.at[f][1]] }

// set records the value of f as s[a:b], trimmed of spaces and tabs, and
// of Unicode spaces and invisible characters when it starts or ends with a
// byte above ASCII. (readSpan has the same test inline.)
func (v *values) set(f field, a, b int) {
	if a < b && (plain(v.s[a]) && plain(v.s[b-1])) {
		v.at[f] = [2]int32{int32(a), int32(b)}
		return
	}
	a, b = trimBounds(v.s, a, b)
	v.at[f] = [2]int32{int32(a), int32(b)}
}

// plain reports whether c is printable ASCII other than a space: a value
// starting and ending with such bytes needs no trimming.
func plain(c byte) bool { return c-0x21 < 0x5f }

func trimBounds(s string, a, b int) (int, int) {
	for a < b && (s[a] == ' ' || s[a] == '\t') {
		a++
	}
	for b > a && (s[b-1] == ' ' || s[b-1] == '\t') {
		b--
	}
	if a < b && (s[a] >= utf8.RuneSelf || s[b-1] >= utf8.RuneSelf) {
		t := trimSpace(s[a:b])
		if t == "" {
			return a, a
		}
		a += strings.Index(s[a:b], t)
		b = a + len(t)
	}
	return a, b
}

// readSpan is the fast path: the columns read, from the first to the last,
// become one string and each value a substring of it. It returns false,
// having done nothing, when a value must be converted (Windows-1252,
// invalid UTF-8) or is too long; readPacked then reads the row.
func (d *Decoder) readSpan(rec *Record, v *values, nf int) bool {
	cr := d.cr
	first, last := d.read[0].col, d.read[len(d.read)-1].col
	if last >= nf { // a short row: find the last column it has
		last = -1
		for _, rc := range d.read {
			if rc.col < nf {
				last = rc.col
			}
		}
		if last < 0 {
			return true
		}
	}
	lo, hi := cr.start(first), cr.bounds[last+1]
	raw := cr.row[lo:hi]
	if cr.high && (lo == 0 && hi == len(cr.row) || hasHighBit(raw)) {
		if d.mode == modeWin1252 || !utf8.Valid(raw) {
			return false
		}
		d.mode = modeUTF8
	}
	if hi-lo > MaxValueLen {
		for _, rc := range d.read {
			if rc.col < nf && rc.f != fEmail && len(cr.field(rc.col)) > MaxValueLen {
				return false
			}
		}
	}
	if cr.ctrl {
		for _, rc := range d.read {
			if rc.col < nf {
				d.checkControl(rec, rc.f, cr.field(rc.col))
			}
		}
	}
	v.s = d.keep(raw)
	bounds, at := cr.bounds[:nf+1], &v.at
	for _, rc := range d.read {
		col := rc.col
		if col >= nf {
			continue
		}
		a, b := bounds[col]+1-lo, bounds[col+1]-lo
		if a == b || !plain(raw[a]) || !plain(raw[b-1]) {
			a, b = trimBounds(v.s, a, b)
		}
		if rc.plain {
			rec.Attrs[rc.f-fAttr] = v.s[a:b]
		} else {
			at[rc.f] = [2]int32{int32(a), int32(b)}
		}
	}
	return true
}

// blockSize is the size of the blocks that rows' strings are carved from:
// one allocation serves some 70 rows of a typical export (each new block
// costs a microsecond or two: 8 KiB blocks were 4% of a decode), and a
// record kept alive keeps at most one block alive with it.
const blockSize = 16 << 10

// keep returns a copy of b as a string that shares a block of memory with
// the rows around it. A builder's bytes are never written again once
// written, so the strings cut from it stay as they are. For a caller that
// copies each record's values as it takes them (NextIntoBuf), the copy is
// in batchBytes instead, written over by the next batch: a 100k-row file's
// 25 MB of values were that much fresh memory, page faults and garbage.
func (d *Decoder) keep(b []byte) string {
	if d.rowBufs {
		if len(b) == 0 {
			return ""
		}
		if cap(d.batchBytes)-len(d.batchBytes) < len(b) {
			// Replaced, not grown: the values kept before stay where they are.
			d.batchBytes = make([]byte, 0, max(2*cap(d.batchBytes), 32<<10, len(b)))
		}
		start := len(d.batchBytes)
		d.batchBytes = append(d.batchBytes, b...)
		d.lastKept = unsafe.String(&d.batchBytes[start], len(b))
		return d.lastKept
	}
	if d.block.Cap()-d.block.Len() < len(b) {
		if len(b) > blockSize/4 {
			return string(b) // a long row has a block of its own
		}
		d.block = strings.Builder{}
		d.block.Grow(blockSize)
	}
	off := d.block.Len()
	d.block.Write(b)
	return d.block.String()[off:]
}

// readPacked copies each value read into one buffer, converting it to
// UTF-8 where needed, and makes one string of them.
func (d *Decoder) readPacked(rec *Record, v *values, nf int) {
	cr := d.cr
	var starts, ends [numFields]int
	d.pack = d.pack[:0]
	for _, rc := range d.read {
		start := len(d.pack)
		if rc.col < nf {
			f := cr.field(rc.col)
			switch {
			case len(f) > MaxValueLen && rc.f != fEmail:
				rec.Problems = append(rec.Problems, d.tooLong(rec.Line, rc.f, len(f)))
			case needsCare(f):
				d.pack = d.appendCareful(d.pack, f, rc.f, rec)
				// Read as Windows-1252, a value can grow up to three times.
				if n := len(d.pack) - start; n > MaxValueLen && rc.f != fEmail {
					d.pack = d.pack[:start]
					rec.Problems = append(rec.Problems, d.tooLong(rec.Line, rc.f, n))
				}
			default:
				d.pack = append(d.pack, f...)
			}
		}
		starts[rc.f], ends[rc.f] = start, len(d.pack)
	}
	v.s = d.keep(d.pack)
	for _, rc := range d.read {
		v.set(rc.f, starts[rc.f], ends[rc.f])
		if rc.plain {
			rec.Attrs[rc.f-fAttr] = v.get(rc.f)
		}
	}
}

// groups splits the groups cell on ";" and "|" into a slice carved from a
// shared block, saving an allocation per row; names are trimmed and
// repeats (ignoring case) dropped. The separators are found 8 bytes at a
// time.
func (d *Decoder) groups(s string) []string {
	if s == "" {
		return nil
	}
	if cap(d.slab)-len(d.slab) < 64 {
		d.slab = make([]string, 0, 1024)
	}
	l := len(d.slab)
	out := d.slab[l:l]
	ok := true
	start, n := 0, len(s)
	for i := 0; i < n; i += 8 {
		var seps uint64
		switch {
		case i+8 <= n:
			x := load64(s[i : i+8])
			seps = zeroBytes(x^lsb*';') | zeroBytes(x^lsb*'|')
		case n >= 8:
			// The last 8 bytes, without those already read.
			x := load64(s[n-8:])
			seps = (zeroBytes(x^lsb*';') | zeroBytes(x^lsb*'|')) >> (8 * (i + 8 - n))
		default:
			for j := i; j < n; j++ {
				if s[j] == ';' || s[j] == '|' {
					seps |= 0x80 << (8 * (j - i))
				}
			}
		}
		for ; seps != 0; seps &= seps - 1 {
			end := i + bits.TrailingZeros64(seps)>>3
			if out, ok = addGroup(out, s[start:end]); !ok {
				return splitGroups(s) // more than 64 groups: not worth the block
			}
			start = end + 1
		}
	}
	if out, ok = addGroup(out, s[start:]); !ok {
		return splitGroups(s)
	}
	if len(out) == 0 {
		return nil
	}
	d.slab = d.slab[:l+len(out)]
	return out[:len(out):len(out)]
}

// addGroup appends the group g, trimmed, to out unless it is empty or
// already there (ignoring case); ok is false when out is full.
func addGroup(out []string, g string) (_ []string, ok bool) {
	if g = trimValue(g); g == "" {
		return out, true
	}
	for _, x := range out {
		if len(x) == len(g) && (x == g || strings.EqualFold(x, g)) {
			return out, true
		}
	}
	if len(out) == cap(out) {
		return out, false
	}
	return append(out, g), true
}

// email reads and normalises the address, and notes its hash for the
// duplicate check of the batch.
func (d *Decoder) email(rec *Record, k *keyAt, v *values) {
	raw := v.get(fEmail)
	if raw == "" {
		rec.Problems = append(rec.Problems, d.problem(rec.Line, fEmail, CodeMissingEmail, SeverityError,
			"the email address is empty; the row is not used"))
		return
	}
	email, key, err := d.normalizeEmail(raw)
	if err != nil {
		rec.Problems = append(rec.Problems, d.problem(rec.Line, fEmail, CodeInvalidEmail, SeverityError,
			ErrorMessageOf(err)+"; the row is not used"))
		return
	}
	rec.Email, rec.Key = email, key
	*k = keyAt{h: maphash.String(d.seed, key), at: len(rec.Problems), ok: true}
}

func (d *Decoder) names(rec *Record, v *values) {
	rec.FirstName, rec.LastName = v.get(fFirstName), v.get(fLastName)
	if full := v.get(fFullName); full != "" && d.m.col[fFullName] >= 0 {
		if d.m.lastFirst {
			rec.FirstName, rec.LastName = splitLastFirst(full)
		} else {
			rec.FirstName, rec.LastName = splitFullName(full)
		}
	}
}

// normalizeEmail is NormalizeEmail with a cache of the last domain found
// valid: the addresses of a file share a few domains, and checking one is
// most of the work. The cache holds a copy of the domain: the address may
// be a view of memory read into again (a lazy row still in the reader's
// buffer), and a cached domain whose bytes changed would let an address
// with those bytes as its domain through unchecked.
func (d *Decoder) normalizeEmail(s string) (email, key string, err error) {
	if key, domain, ok := fastEmail(s, d.domain); ok {
		if domain != d.domain {
			d.domainBuf = append(d.domainBuf[:0], domain...)
			d.domain = unsafe.String(unsafe.SliceData(d.domainBuf), len(d.domainBuf))
		}
		return s, key, nil
	}
	return NormalizeEmail(s)
}

// attrs reads the optional attributes that are more than trimmed text
// (the others are stored as the row is read): dates are normalised and a
// manager's address reduced to the address. A value that cannot be read
// is dropped with a warning: it never costs the person their row.
func (d *Decoder) attrs(rec *Record, vals *values) {
	for _, a := range d.attrsRead {
		v := vals.get(fAttr + field(a))
		if v == "" {
			continue
		}
		switch a {
		case AttrEmploymentStartDate:
			date, why := parseDate(v, d.opts.DayFirst)
			if why != "" {
				rec.Problems = append(rec.Problems, d.problem(rec.Line, fAttr+field(a), CodeInvalidDate, SeverityWarning,
					fmt.Sprintf("%q is not a date muster can read: %s; the date is left empty", v, why)))
			}
			v = date
		case AttrManagerEmail:
			email, _, err := d.normalizeEmail(v)
			if err != nil {
				rec.Problems = append(rec.Problems, d.problem(rec.Line, fAttr+field(a), CodeInvalidManagerEmail, SeverityWarning,
					ErrorMessageOf(err)+"; the manager's email is left empty"))
			}
			v = email
		}
		rec.Attrs[a] = v
	}
}

func (d *Decoder) problem(line int, f field, code ProblemCode, sev Severity, msg string) Problem {
	col := ""
	if i := d.m.col[f]; i >= 0 {
		col = d.m.columns[i].Name
	}
	return Problem{Line: line, Column: col, Code: code, Severity: sev, Message: msg}
}

func (d *Decoder) ragged(line, n int) Problem {
	cols := len(d.m.columns)
	why := "a value may hold an unquoted " + DelimiterName(d.info.Delimiter)
	cr := d.cr
	switch {
	case cr.quotedRow && cr.afterQuote > 0 && cr.afterQuote <= cols:
		why = fmt.Sprintf("in column %q text follows a closing quote: a quote escaped with a backslash (\\\") "+
			"ends the value early; write quotes inside a value doubled (\"\")", d.m.columns[cr.afterQuote-1].Name)
	case cr.quotedRow && cr.innerQuote > 0 && cr.innerQuote <= cols:
		why = fmt.Sprintf("in column %q a quote does not open the value: a space before an opening quote "+
			"leaves the %s inside it unquoted", d.m.columns[cr.innerQuote-1].Name, DelimiterName(d.info.Delimiter))
	case n < cols:
		why = "the row may be cut short"
	}
	return Problem{Line: line, Code: CodeRaggedRow, Severity: SeverityError,
		Message: fmt.Sprintf("the row has %d values but the header has %d columns (%s); the row is not used", n, cols, why)}
}

func (d *Decoder) tooLong(line int, f field, n int) Problem {
	return d.problem(line, f, CodeValueTooLong, SeverityError,
		fmt.Sprintf("the value is %d characters long, more than the %d muster accepts; the row is not used", n, MaxValueLen))
}

// strayQuote is the warning for a value with text after its closing quote,
// kept as Excel reads it ("O\"Brien" becomes O\Brien").
func (d *Decoder) strayQuote(line int) Problem {
	c := d.m.columns[d.cr.afterQuote-1]
	return Problem{Line: line, Column: c.Name, Code: CodeStrayQuote, Severity: SeverityWarning,
		Message: fmt.Sprintf("text follows a closing quote in column %q, so the value is read as Excel reads it; "+
			"if the file escapes quotes with a backslash (\\\"), write them doubled (\"\") instead", c.Name)}
}

// scanBytes reports whether b holds bytes above ASCII (high) or control
// characters (ctrl: below 0x20), 8 bytes at a time.
func scanBytes(b []byte) (high, ctrl bool) {
	var h, c uint64
	for len(b) >= 16 {
		x, y := binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:16])
		h |= x | y
		c |= (x-lsb*0x20)&^x | (y-lsb*0x20)&^y
		b = b[16:]
	}
	for _, x := range b {
		h |= uint64(x)
		if x < 0x20 {
			c = hi80
		}
	}
	return h&hi80 != 0, c&hi80 != 0
}

// needsCare reports whether b holds bytes above ASCII or control characters.
func needsCare(b []byte) bool {
	high, ctrl := scanBytes(b)
	return high || ctrl
}

// appendCareful appends a value holding non-ASCII or control bytes: it
// settles the encoding on the first non-ASCII value of an ASCII-so-far
// file, converts Windows-1252, and reports bytes that are not text.
func (d *Decoder) appendCareful(dst, b []byte, f field, rec *Record) []byte {
	start := len(dst)
	switch {
	case !hasHighBit(b):
		dst = append(dst, b...)
	default:
		if d.mode == modeASCII {
			if utf8.Valid(b) {
				d.mode = modeUTF8
			} else {
				d.mode = modeWin1252
				assumeCP1252(&d.info, rec.Line)
			}
		}
		switch {
		case d.mode == modeWin1252:
			dst = appendCP1252(dst, b)
		case !utf8.Valid(b):
			rec.Problems = append(rec.Problems, d.problem(rec.Line, f, CodeInvalidText, SeverityError,
				"the value holds bytes that are not UTF-8 text, although the rest of the file is; the row is not used"))
			dst = append(dst, strings.ToValidUTF8(string(b), "\uFFFD")...)
		default:
			dst = append(dst, b...)
		}
	}
	d.checkControl(rec, f, dst[start:])
	return dst
}

// checkControl reports a control character other than tab and line feed.
func (d *Decoder) checkControl(rec *Record, f field, b []byte) {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' {
			rec.Problems = append(rec.Problems, d.problem(rec.Line, f, CodeInvalidText, SeverityError,
				fmt.Sprintf("the value holds a control character (%U); the row is not used", rune(c))))
			return
		}
	}
}
