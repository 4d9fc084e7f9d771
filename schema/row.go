package schema

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"strings"
	"unicode/utf8"
)

// record turns the current row into a Record with its problems. The values
// of the columns read are copied into one string per row, so a record
// keeps no more memory alive than its row.
func (d *Decoder) record() Record {
	cr := d.cr
	rec := Record{Line: cr.rowLine}
	nf := len(cr.starts)
	if n := len(d.m.columns); nf != n {
		if nf > n && cr.blankFrom(n) {
			nf = n // trailing empty cells, as Excel writes them
		} else {
			rec.Problems = append(rec.Problems, d.ragged(rec.Line, nf))
		}
	}
	var v values // on the stack: no write barriers for the values
	if !d.readSpan(&rec, &v, nf) {
		d.readPacked(&rec, &v, nf)
	}
	d.email(&rec, &v)
	d.names(&rec, &v)
	rec.Groups = d.groups(v[fGroups])
	rec.SourceID = v[fSourceID]
	if st, ok := parseStatus(v[fStatus], d.m.statusOf); ok {
		rec.Status = st
	} else {
		rec.Problems = append(rec.Problems, d.problem(rec.Line, fStatus, CodeUnknownStatus, SeverityError,
			fmt.Sprintf("%q is not a status muster knows (such as Active, Inactive, Terminated, Leave); the row is not used", v[fStatus])))
	}
	if d.info.Delta {
		if a, ok := parseAction(v[fAction]); ok {
			rec.Action = a
		} else {
			rec.Problems = append(rec.Problems, d.problem(rec.Line, fAction, CodeUnknownAction, SeverityError,
				fmt.Sprintf("%q is not an action muster knows: use add or update to add or change someone, "+
					"remove or delete to take them off", v[fAction])))
		}
	}
	d.attrs(&rec, &v)
	return rec
}

// readSpan is the fast path: the columns read, from the first to the last,
// become one string and each value a substring of it. It returns false,
// having done nothing, when a value must be converted (Windows-1252,
// invalid UTF-8) or is too long; readPacked then reads the row.
func (d *Decoder) readSpan(rec *Record, v *values, nf int) bool {
	cr := d.cr
	first, last := -1, -1
	for _, rc := range d.read {
		if rc.col < nf {
			if first < 0 {
				first = rc.col
			}
			last = rc.col
		}
	}
	if first < 0 {
		return true
	}
	lo, hi := cr.starts[first], cr.ends[last]
	raw := cr.row[lo:hi]
	high, ctrl := scanBytes(raw)
	if high {
		if d.mode == modeWin1252 || !utf8.Valid(raw) {
			return false
		}
		d.mode = modeUTF8
	}
	if hi-lo > MaxValueLen {
		for _, rc := range d.read {
			if rc.col < nf && rc.f != fEmail && cr.ends[rc.col]-cr.starts[rc.col] > MaxValueLen {
				return false
			}
		}
	}
	if ctrl {
		for _, rc := range d.read {
			if rc.col < nf {
				d.checkControl(rec, rc.f, cr.row[cr.starts[rc.col]:cr.ends[rc.col]])
			}
		}
	}
	s := string(raw)
	for _, rc := range d.read {
		if rc.col < nf {
			v[rc.f] = trimValue(s[cr.starts[rc.col]-lo : cr.ends[rc.col]-lo])
		}
	}
	return true
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
			f := trimASCII(cr.row[cr.starts[rc.col]:cr.ends[rc.col]])
			switch {
			case len(f) > MaxValueLen && rc.f != fEmail:
				rec.Problems = append(rec.Problems, d.problem(rec.Line, rc.f, CodeValueTooLong, SeverityError,
					fmt.Sprintf("the value is %d characters long, more than the %d muster accepts; the row is not used", len(f), MaxValueLen)))
			case needsCare(f):
				d.pack = d.appendCareful(d.pack, f, rc.f, rec)
			default:
				d.pack = append(d.pack, f...)
			}
		}
		starts[rc.f], ends[rc.f] = start, len(d.pack)
	}
	s := string(d.pack)
	for _, rc := range d.read {
		v[rc.f] = trimValue(s[starts[rc.f]:ends[rc.f]])
	}
}

// groups splits the groups cell into a slice carved from a shared block,
// saving an allocation per row.
func (d *Decoder) groups(s string) []string {
	if s == "" {
		return nil
	}
	n := 1
	for i := 0; i < len(s); i++ {
		if s[i] == ';' || s[i] == '|' {
			n++
		}
	}
	if cap(d.slab)-len(d.slab) < n {
		d.slab = make([]string, 0, max(n, 256))
	}
	l := len(d.slab)
	out := appendGroups(d.slab[l:l:l+n], s)
	d.slab = d.slab[:l+len(out)]
	if len(out) == 0 {
		return nil
	}
	return out[:len(out):len(out)]
}

// email reads and normalises the address and checks it is the first row
// for it.
func (d *Decoder) email(rec *Record, v *values) {
	raw := v[fEmail]
	if raw == "" {
		rec.Problems = append(rec.Problems, d.problem(rec.Line, fEmail, CodeMissingEmail, SeverityError,
			"the email address is empty; the row is not used"))
		return
	}
	email, key, err := NormalizeEmail(raw)
	if err != nil {
		rec.Problems = append(rec.Problems, d.problem(rec.Line, fEmail, CodeInvalidEmail, SeverityError,
			ErrorMessageOf(err)+"; the row is not used"))
		return
	}
	rec.Email, rec.Key = email, key
	if first, dup := d.seen.firstOrAdd(maphash.String(d.seed, key), rec.Line); dup {
		rec.Problems = append(rec.Problems, d.problem(rec.Line, fEmail, CodeDuplicateEmail, SeverityError,
			fmt.Sprintf("%s is already on line %d; only the first row for an address is used", email, first)))
	}
}

func (d *Decoder) names(rec *Record, v *values) {
	rec.FirstName, rec.LastName = v[fFirstName], v[fLastName]
	if d.m.col[fFullName] >= 0 && v[fFullName] != "" {
		rec.FirstName, rec.LastName = splitFullName(v[fFullName])
	}
}

// attrs reads the optional attributes; dates are normalised and a
// manager's address reduced to the address. A value that cannot be read
// is dropped with a warning: it never costs the person their row.
func (d *Decoder) attrs(rec *Record, vals *values) {
	for a := Attr(0); a < NumAttrs; a++ {
		v := vals[fAttr+field(a)]
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
			email, _, err := NormalizeEmail(v)
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
	if n < cols {
		why = "the row may be cut short"
	}
	return Problem{Line: line, Code: CodeRaggedRow, Severity: SeverityError,
		Message: fmt.Sprintf("the row has %d values but the header has %d columns (%s); the row is not used", n, cols, why)}
}

// values holds a row's values by field.
type values [numFields]string

// scanBytes reports whether b holds bytes above ASCII (high) or below
// 0x20 or DEL (ctrl), 8 bytes at a time.
func scanBytes(b []byte) (high, ctrl bool) {
	const hi = 0x8080808080808080
	var h, c uint64
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		del := x ^ (lsb * 0x7f)
		h |= x
		c |= (x-lsb*0x20)&^x | (del-lsb)&^del
		b = b[8:]
	}
	for _, x := range b {
		h |= uint64(x)
		if x < 0x20 || x == 0x7f {
			c |= hi
		}
	}
	return h&hi != 0, c&hi != 0
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
		if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
			rec.Problems = append(rec.Problems, d.problem(rec.Line, f, CodeInvalidText, SeverityError,
				fmt.Sprintf("the value holds a control character (%U); the row is not used", rune(c))))
			return
		}
	}
}

// trimASCII trims spaces and tabs.
func trimASCII(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
