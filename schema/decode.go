package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"slices"
	"strings"
	"unicode/utf8"
)

// DecodeOptions are per-source settings for reading a file.
type DecodeOptions struct {
	// Delimiter separates the columns; 0 detects it among , ; tab and |.
	Delimiter rune
	// Columns maps a column as written in the header to a field name
	// (see FieldNames; "ignore" ignores it). It wins over the alias dictionary.
	Columns map[string]string
	// DayFirst reads dates such as 03/04/2024 as 3 April, not March 4.
	DayFirst bool
	// DeferDuplicates leaves rows repeating an earlier row's address as
	// they are: the caller finds them (the pipeline does, against the
	// source's snapshot, in memory that does not grow with the file) and
	// asks DuplicateProblem for the problem each gets. It changes no
	// record otherwise.
	DeferDuplicates bool
}

// FileInfo is what the decoder understood of a file. Rows, Invalid and
// Problems grow while the file is read; after io.EOF they are final.
type FileInfo struct {
	// Encoding is EncodingUTF8, EncodingUTF16LE, EncodingUTF16BE or
	// EncodingWindows1252.
	Encoding string `json:"encoding"`
	// EncodingAssumed is true when the bytes were not valid UTF-8 and were
	// read as Windows-1252. A file that is ASCII so far reads as UTF-8.
	EncodingAssumed bool `json:"encoding_assumed"`
	// BOM is true when the file starts with a byte order mark.
	BOM bool `json:"bom"`
	// Delimiter separates the columns (JSON: the character itself).
	Delimiter rune `json:"-"`
	// DelimiterFrom says how the delimiter was chosen: DelimiterDetected,
	// DelimiterSepLine, DelimiterSetting or DelimiterSingle.
	DelimiterFrom string `json:"delimiter_from,omitempty"`
	// HeaderLine is the line of the header row.
	HeaderLine int `json:"header_line,omitempty"`
	// Columns is every column of the header and what it is read as.
	Columns []Column `json:"columns"`
	// Ignored lists the columns that are not read, as written.
	Ignored []string `json:"ignored"`
	// Delta is true when the file has an action column: its rows are
	// explicit upserts and removals, not a full snapshot.
	Delta bool `json:"delta"`
	// Rows counts the data rows read so far (blank lines are not rows).
	Rows int `json:"rows"`
	// Invalid counts the rows read so far that have an error problem.
	Invalid int `json:"invalid"`
	// Problems are about the file as a whole (or its header): warnings,
	// and when the file is refused, the reasons.
	Problems []Problem `json:"problems"`
	// ColumnsOmitted, IgnoredOmitted and ProblemsOmitted count what Capped
	// left out of Columns, Ignored and Problems.
	ColumnsOmitted  int `json:"columns_omitted,omitempty"`
	IgnoredOmitted  int `json:"ignored_omitted,omitempty"`
	ProblemsOmitted int `json:"problems_omitted,omitempty"`
}

// Capped returns the info with at most n columns, ignored columns and
// problems listed, the rest counted: what a stored report keeps of a file
// whose header is a hostile 100,000 columns.
func (i FileInfo) Capped(n int) FileInfo {
	if len(i.Columns) > n {
		i.ColumnsOmitted += len(i.Columns) - n
		i.Columns = i.Columns[:n:n]
	}
	if len(i.Ignored) > n {
		i.IgnoredOmitted += len(i.Ignored) - n
		i.Ignored = i.Ignored[:n:n]
	}
	if len(i.Problems) > n {
		i.ProblemsOmitted += len(i.Problems) - n
		i.Problems = i.Problems[:n:n]
	}
	return i
}

// MarshalJSON writes the delimiter as a one-character string.
func (i FileInfo) MarshalJSON() ([]byte, error) {
	type plain FileInfo
	d := ""
	if i.Delimiter != 0 {
		d = string(i.Delimiter)
	}
	// Lists are written as [] rather than null, so scripts need no guard.
	if i.Columns == nil {
		i.Columns = []Column{}
	}
	if i.Ignored == nil {
		i.Ignored = []string{}
	}
	if i.Problems == nil {
		i.Problems = []Problem{}
	}
	return json.Marshal(struct {
		plain
		Delimiter string `json:"delimiter"`
	}{plain(i), d})
}

// Mapping returns the header mapping: each read column, as written, to its field.
func (i FileInfo) Mapping() map[string]string {
	m := map[string]string{}
	for _, c := range i.Columns {
		if c.Field != "" {
			m[c.Name] = c.Field
		}
	}
	return m
}

// Refused reports whether a file-level problem refuses the file.
func (i FileInfo) Refused() bool {
	for _, p := range i.Problems {
		if p.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Decoder reads an HR export as a Stream of Records. It detects the
// encoding and the delimiter, maps the header, and checks every row; it
// holds a batch of at most 64 rows already read from the source, plus a
// 64-bit hash and a line number per address to find duplicates. Each
// record's strings share a 16 KiB block with those of its neighbours.
type Decoder struct {
	cr    *csvReader
	opts  DecodeOptions
	info  FileInfo
	m     *mapping
	mode  textMode
	fatal error
	done  bool

	// read lists the columns that are read, in column order; attrsRead
	// the attributes among them that need more than trimming (a date, an
	// address).
	read      []readCol
	attrsRead []Attr
	pack      []byte
	slab      []string        // groups of successive records are carved from it
	block     strings.Builder // row strings of successive records are carved from it
	domain    string          // the last email domain found valid (lower case), in domainBuf
	domainBuf []byte

	seed maphash.Seed
	seen lineSet
	// lazy, salt and the slabs lazy rows are copied into: see SetLazy;
	// digests: see SetDigests.
	lazy      bool
	digests   bool
	salt      uint64
	raws      []RawRow
	rawBytes  []byte
	rawBounds []int32
	// rowBufs: the caller copies lazy rows as it takes them (NextIntoBuf);
	// until then they are in pend (rowbuf.go), reset for each batch. It
	// copies the values of the records read whole too: until then they are
	// in batchBytes and their groups in slab, both reset for each batch.
	// kept holds each record of the batch's values (keep), "" for none.
	rowBufs    bool
	pend       []RawRow
	pendBytes  []byte
	pendBounds []int32
	batchBytes []byte
	kept       []string
	lastKept   string
	sink       uint64 // keeps the duplicate table's early reads from being dropped

	// The batch of records read ahead of Next (see readBatch).
	batch   []Record
	keys    []keyAt
	next    int   // batch[next] is the next record Next returns
	held    bool  // the reader's current row is yet to be decoded
	pending error // the reading error met after the batch
}

type readCol struct {
	col int
	f   field
	// plain is true for an attribute kept as written (trimmed), which the
	// row's reading stores in the record at once.
	plain bool
}

// NewDecoder starts reading a file: it detects the encoding and the
// delimiter and reads the header. A file that cannot be read at all (not
// text, empty, no email column, ambiguous delimiter...) returns a
// *FileError listing the problems.
func NewDecoder(r io.Reader, opts DecodeOptions) (*Decoder, error) {
	d := &Decoder{opts: opts, seed: maphash.MakeSeed()}
	cr, mode, p := sniffEncoding(newCSVReader(r), r, &d.info)
	if cr.err != nil {
		return nil, fmt.Errorf("read file: %w", cr.err)
	}
	d.cr, d.mode = cr, mode
	if p != nil {
		return nil, d.refuse(*p)
	}
	if cr.r == cr.w {
		return nil, d.refuse(Problem{Code: CodeEmptyFile, Severity: SeverityError, Message: "the file is empty"})
	}
	if !opts.DeferDuplicates {
		d.seen.sizeFor(min(rowsHint(r, cr.buf[cr.r:cr.w]), 8<<20))
	}
	if err := d.chooseDelimiter(); err != nil {
		return nil, err
	}
	if err := cr.next(); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, d.refuse(Problem{Code: CodeEmptyFile, Severity: SeverityError,
				Message: "the file holds only blank lines: there is no header row"})
		}
		return nil, d.fail(err)
	}
	d.info.HeaderLine = cr.rowLine
	fields := cr.fields()
	header := make([]string, len(fields))
	for i, f := range fields {
		if d.mode == modeWin1252 {
			header[i] = string(appendCP1252(nil, f))
		} else {
			header[i] = strings.ToValidUTF8(string(f), "\uFFFD")
		}
		header[i] = trimSpace(header[i])
	}
	m, err := mapHeader(header, opts.Columns, cr.rowLine)
	if err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			d.info.Problems = append(d.info.Problems, fe.Problems...)
			return nil, d.fileError()
		}
		return nil, err
	}
	d.m = m
	d.makeSalt(fields)
	d.info.Columns = m.columns
	d.info.Ignored = []string{}
	for i, c := range m.columns {
		if m.fieldOf[i] == fNone {
			d.info.Ignored = append(d.info.Ignored, c.Name)
		} else {
			rc := readCol{col: i, f: m.fieldOf[i]}
			if a, ok := rc.f.attr(); ok {
				if a == AttrEmploymentStartDate || a == AttrManagerEmail {
					d.attrsRead = append(d.attrsRead, a)
				} else {
					rc.plain = true
				}
			}
			d.read = append(d.read, rc)
		}
	}
	d.info.Delta = m.col[fAction] >= 0
	d.info.Problems = append(d.info.Problems, m.problems...)
	if d.info.Refused() {
		return nil, d.fileError()
	}
	return d, nil
}

// rowsHint guesses how many rows the file has from its size, when the
// reader knows it, and the length of the first lines, so the duplicate
// table is made the right size at once instead of growing.
func rowsHint(r io.Reader, head []byte) int {
	var size int64
	switch f := r.(type) {
	case interface{ Size() int64 }:
		size = f.Size()
	case interface{ Stat() (fs.FileInfo, error) }:
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
	}
	lines := bytes.Count(head, []byte{'\n'})
	if lines == 0 {
		lines = bytes.Count(head, []byte{'\r'})
	}
	if size <= 0 || lines < 2 {
		return 0
	}
	return int(size / int64(len(head)/lines+1))
}

// chooseDelimiter honours the setting, then an Excel sep= line, then detects.
func (d *Decoder) chooseDelimiter() error {
	cr := d.cr
	head := cr.buf[cr.r:cr.w]
	complete := cr.eof
	if len(head) > sniffSize {
		head, complete = head[:sniffSize], false
	}
	sep, n := sepLine(head)
	if n > 0 {
		cr.skip(n, 1)
		head = head[n:]
	}
	switch {
	case d.opts.Delimiter != 0:
		dl := d.opts.Delimiter
		if dl >= utf8.RuneSelf || dl == '"' || dl == '\n' || dl == '\r' {
			return d.refuse(Problem{Code: CodeAmbiguousDelimiter, Severity: SeverityError,
				Message: fmt.Sprintf("the delimiter set for this source (%q) cannot be used: it must be one ASCII character other than a quote or a line end", dl)})
		}
		cr.delim, d.info.DelimiterFrom = byte(dl), DelimiterSetting
	case sep != 0:
		cr.delim, d.info.DelimiterFrom = sep, DelimiterSepLine
	default:
		delim, from, amb := detectDelimiter(head, complete)
		if amb != nil {
			p := ambiguousProblem(amb)
			p.Line = cr.line
			return d.refuse(p)
		}
		cr.delim, d.info.DelimiterFrom = delim, from
	}
	d.info.Delimiter = rune(cr.delim)
	return nil
}

// refuse records a fatal file problem and returns it as a *FileError.
func (d *Decoder) refuse(p Problem) error {
	d.info.Problems = append(d.info.Problems, p)
	d.fatal = d.fileError()
	return d.fatal
}

func (d *Decoder) fileError() *FileError {
	return &FileError{Problems: d.info.Problems, Info: d.info}
}

// fail turns a reading error into the decoder's fatal error.
func (d *Decoder) fail(err error) error {
	var re *rowError
	if !errors.As(err, &re) {
		d.fatal = fmt.Errorf("read file: %w", err)
		return d.fatal
	}
	p := Problem{Line: re.line, Code: re.code, Severity: SeverityError}
	switch re.code {
	case CodeNotText:
		p.Message = fmt.Sprintf("the file is not a text file: from line %d on it holds NUL bytes (the padding of a file "+
			"written in advance, or cut off?); nothing from this file is used", re.line)
	case CodeUnterminatedQuote:
		p.Message = fmt.Sprintf("a quoted value that starts on line %d is never closed, so the rest of the file "+
			"cannot be split into rows (was the file cut short?); nothing from this file is used", re.line)
	default:
		p.Message = fmt.Sprintf("the row on line %d is longer than %d MiB, which no real row is "+
			"(a quote that is never closed?); nothing from this file is used", re.line, MaxRowBytes>>20)
	}
	return d.refuse(p)
}

// Info returns what the decoder understood of the file so far. The slices
// are shared with the decoder: do not modify them.
func (d *Decoder) Info() FileInfo { return d.info }

// Next returns the next record, io.EOF after the last one, or a fatal
// error (a *FileError when the file turns out broken part-way, such as a
// quote never closed). Each record carries its own problems; check
// Record.Valid.
func (d *Decoder) Next() (Record, error) {
	var rec Record
	err := d.NextInto(&rec)
	return rec, err
}

// NextInto is Next into rec, which it overwrites: a record is copied once
// (a reader of millions of rows into a slice of its own saves a copy).
func (d *Decoder) NextInto(rec *Record) error {
	for {
		if d.next < len(d.batch) {
			r := &d.batch[d.next]
			d.next++
			d.info.Rows++
			if !r.Valid() {
				d.info.Invalid++
			}
			*rec = *r
			return nil
		}
		if d.fatal != nil {
			return d.fatal
		}
		if d.done {
			return io.EOF
		}
		err := d.readBatch()
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			d.finish()
			return io.EOF
		}
		return d.fail(err)
	}
}

// batchSize is how many rows the decoder reads ahead of Next. Checking a
// batch's addresses against the duplicate table together lets the memory
// reads of the table overlap, instead of each row waiting for its own.
const batchSize = 64

// keyAt is what the duplicate check of a batch needs of a record: the hash
// of its key (ok is false without a valid key) and where in its problems
// a duplicate problem goes.
type keyAt struct {
	h  uint64
	at int
	ok bool
}

// readBatch decodes the next rows into d.batch, up to batchSize. Only the
// first row may wait for the source: the others are those already read,
// so Next blocks no longer than it would row by row. A row that could
// change what Info says (the first one above ASCII, which settles the
// encoding) ends the batch, so Info never runs ahead of the records
// returned. A reading error after some rows is kept for after them; with
// no row it is returned.
func (d *Decoder) readBatch() error {
	d.batch, d.keys, d.next, d.kept = d.batch[:0], d.keys[:0], 0, d.kept[:0]
	// Every record of the last batch has been taken: its rows were copied.
	d.pend, d.pendBytes, d.pendBounds = d.pend[:0], d.pendBytes[:0], d.pendBounds[:0]
	if d.rowBufs {
		// And so were the values and groups of those read whole.
		d.batchBytes, d.slab = d.batchBytes[:0], d.slab[:0]
	}
	if d.pending != nil {
		err := d.pending
		d.pending = nil
		return err
	}
	for len(d.batch) < batchSize {
		if d.held {
			d.held = false
		} else {
			d.cr.noFill = len(d.batch) > 0
			err := d.cr.next()
			d.cr.noFill = false
			if err != nil {
				if errors.Is(err, errStarved) {
					break
				}
				if len(d.batch) == 0 {
					return err
				}
				d.pending = err
				break
			}
			if d.cr.ctrl && bytes.IndexByte(d.cr.row, 0) >= 0 {
				// NUL bytes after text rows: the zeros a pre-allocated
				// or cut-off file is padded with. Not text: the whole
				// file is refused rather than its rows up to there used.
				err := &rowError{line: d.cr.rowLine, code: CodeNotText}
				if len(d.batch) == 0 {
					return err
				}
				d.pending = err
				break
			}
			if d.cr.blank() {
				continue
			}
			if len(d.batch) > 0 && d.mode == modeASCII && d.cr.high {
				d.held = true
				break
			}
		}
		d.batch = append(d.batch, Record{})
		d.keys = append(d.keys, keyAt{})
		d.lastKept = ""
		d.record(&d.batch[len(d.batch)-1], &d.keys[len(d.keys)-1])
		d.kept = append(d.kept, d.lastKept)
	}
	if !d.opts.DeferDuplicates {
		d.checkDuplicates()
	}
	return nil
}

// DefersDuplicates says the decoder leaves repeated addresses to its
// caller (DeferDuplicates).
func (d *Decoder) DefersDuplicates() bool { return d.opts.DeferDuplicates }

// DuplicateProblem returns the problem of a record (its line and address
// are used) repeating the address of the row on line first: what the
// decoder inserts itself unless DeferDuplicates is set, at DuplicateAt.
func (d *Decoder) DuplicateProblem(rec *Record, first int) Problem {
	return d.duplicateProblem(rec, first)
}

// DuplicateAt returns where among a record's problems the problem of a
// repeated address goes.
func (d *Decoder) DuplicateAt(rec *Record) int { return duplicateAt(rec.Problems) }

func (d *Decoder) duplicateProblem(rec *Record, first int) Problem {
	return d.problem(rec.Line, fEmail, CodeDuplicateEmail, SeverityError,
		fmt.Sprintf("%s is already on line %d; only the first row for an address is used", rec.Email, first))
}

// duplicateAt is where a duplicate problem goes among a row's problems:
// after those found reading the row, before those of the values read
// after the address (status, action, attributes).
func duplicateAt(ps []Problem) int {
	at := 0
	for at < len(ps) {
		switch ps[at].Code {
		case CodeRaggedRow, CodeStrayQuote, CodeInvalidText, CodeValueTooLong:
			at++
			continue
		}
		break
	}
	return at
}

// checkDuplicates looks up the batch's addresses in the duplicate table,
// in file order: the first row of an address wins and each later one gets
// a problem naming it. The table's slots are read once for the whole batch
// first, so that their cache misses overlap.
func (d *Decoder) checkDuplicates() {
	var sink uint64
	for i := range d.keys {
		if k := &d.keys[i]; k.ok {
			sink += uint64(d.seen.touch(k.h))
		}
	}
	d.sink = sink
	for i := range d.keys {
		k := &d.keys[i]
		if !k.ok {
			continue
		}
		rec := &d.batch[i]
		if first, dup := d.seen.firstOrAdd(k.h, rec.Line); dup {
			rec.Problems = slices.Insert(rec.Problems, k.at, d.duplicateProblem(rec, first))
		}
	}
}

func (d *Decoder) finish() {
	d.done = true
	if d.info.Rows == 0 {
		d.info.Problems = append(d.info.Problems, Problem{Code: CodeNoRows, Severity: SeverityWarning,
			Message: "the file has a header but no rows; as a full snapshot it would remove everyone, " +
				"so such a file is held for an admin"})
	}
}
