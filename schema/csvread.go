package schema

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/bits"
)

// MaxRowBytes is the largest row muster reads. A larger one is almost
// always a quote that was never closed swallowing the rest of the file; it
// refuses the file instead of filling memory.
const MaxRowBytes = 1 << 20

const (
	readSize  = 256 << 10 // how much is asked of the source at a time
	sniffSize = 64 << 10  // how much is looked at to detect encoding and dialect
)

// csvReader splits a byte stream into rows of fields. It is the decoder's
// hot path: a row without quotes is split in place with bytes.IndexByte and
// no copy; only rows holding a quote go through the byte-by-byte state
// machine. It accepts LF, CRLF and lone-CR line ends, quoted fields holding
// delimiters, doubled quotes and line breaks (CRLF and CR inside quotes
// become LF), skips blank lines and accepts a last row without a line end.
// Quotes are read leniently, as Excel does: a quote inside an unquoted
// value is kept, and text after a closing quote is appended to the value.
type csvReader struct {
	src   io.Reader
	buf   []byte
	r, w  int  // unread bytes are buf[r:w]
	eof   bool // src has returned io.EOF
	err   error
	delim byte
	line  int // line number of buf[r], 1-based

	// The last row read: field i is row[bounds[i]+1 : bounds[i+1]], the
	// bounds being the delimiters' positions with -1 before the first field
	// and the row's length after the last. row points
	// into buf (a row without quotes) or scratch (a row with quotes, values
	// unescaped, each followed by a delimiter byte), and is valid until the
	// next call to next.
	rowLine   int
	row       []byte
	bounds    []int
	quotedRow bool
	scratch   []byte
	// noFill makes next stop with errStarved, having consumed nothing,
	// rather than wait for the source.
	noFill bool
	// high and ctrl say whether the row holds bytes above ASCII or control
	// characters (a tab delimiter counts), so clean rows skip those checks.
	high, ctrl bool
	// In a quoted row, the 1-based field where text first follows a
	// closing quote ("O\"Brien": a quote escaped with a backslash), and
	// where a quote first stands inside an unquoted value (` "Doe, Jane"`,
	// a space before the opening quote); 0 for none. They explain values
	// read otherwise than their writer meant.
	afterQuote, innerQuote int
}

// rowError is a problem that stops the reading of the file: a quote never
// closed, or a row larger than MaxRowBytes.
type rowError struct {
	line int
	code ProblemCode
}

func (e *rowError) Error() string { return string(e.code) }

// errStarved is what next returns under noFill when the next row is not
// all in the buffer yet.
var errStarved = errors.New("schema: the next row is not read yet")

func newCSVReader(src io.Reader) *csvReader {
	return &csvReader{src: src, buf: make([]byte, readSize), line: 1}
}

// fill reads more of the source after the unread bytes, moving them to the
// front or growing the buffer when needed. It returns false when nothing
// more can come (EOF or an error).
func (c *csvReader) fill() bool {
	if c.eof || c.err != nil || c.noFill {
		return false
	}
	if c.r > 0 && (c.w == len(c.buf) || c.w-c.r < len(c.buf)/2) {
		n := copy(c.buf, c.buf[c.r:c.w])
		c.r, c.w = 0, n
	}
	if c.w == len(c.buf) {
		nb := make([]byte, 2*len(c.buf))
		copy(nb, c.buf[:c.w])
		c.buf = nb
	}
	for i := 0; i < 100; i++ {
		n, err := c.src.Read(c.buf[c.w:])
		c.w += n
		if err != nil {
			if errors.Is(err, io.EOF) {
				c.eof = true
			} else {
				c.err = err
			}
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	c.err = io.ErrNoProgress
	return false
}

// fillTo reads until n bytes are unread or the source ends.
func (c *csvReader) fillTo(n int) {
	for c.w-c.r < n && c.fill() {
	}
}

// skip consumes n unread bytes without reading them as rows (a BOM, a
// sep= line).
func (c *csvReader) skip(n, lines int) {
	c.r += n
	c.line += lines
}

// next reads the next non-blank row into c.row. It returns io.EOF after
// the last row, a *rowError for a broken file, or the source's error.
func (c *csvReader) next() error {
	for {
		if c.err != nil {
			return c.err
		}
		if c.r == c.w && !c.fill() {
			if c.noFill && !c.eof && c.err == nil {
				return errStarved
			}
			if c.err != nil {
				return c.err
			}
			return io.EOF
		}
		win := c.buf[c.r:c.w]
		nl := bytes.IndexByte(win, '\n')
		limit := nl
		if nl < 0 {
			limit = len(win)
		}
		if nl >= 0 {
			// The common case: a whole line without quotes or lone CRs.
			content := win[:nl]
			if n := len(content); n > 0 && content[n-1] == '\r' {
				content = content[:n-1]
			}
			if len(content) == 0 {
				c.r += nl + 1
				c.line++
				continue
			}
			if len(content) <= MaxRowBytes && c.split(content) {
				c.rowLine = c.line
				c.r += nl + 1
				c.line++
				return nil
			}
		}
		var content []byte
		consumed := 0
		if cr := bytes.IndexByte(win[:limit], '\r'); cr >= 0 {
			if cr == len(win)-1 && !c.eof {
				if !c.more() {
					return c.tooLong()
				}
				continue // need the byte after the CR
			}
			content, consumed = win[:cr], cr+1
			if cr+1 < len(win) && win[cr+1] == '\n' {
				consumed++
			}
		} else if nl >= 0 {
			content, consumed = win[:nl], nl+1
		} else if c.eof {
			content, consumed = win, len(win)
		} else {
			if !c.more() {
				return c.tooLong()
			}
			continue
		}
		if len(content) == 0 {
			c.r += consumed
			c.line++
			continue
		}
		if len(content) > MaxRowBytes {
			return &rowError{line: c.line, code: CodeRowTooLong}
		}
		if !c.split(content) {
			return c.quoted()
		}
		c.rowLine = c.line
		c.r += consumed
		c.line++
		return nil
	}
}

const lsb = 0x0101010101010101

// split splits a line at the delimiter, noting on the way whether the line
// holds bytes above ASCII or control characters. It returns false, doing
// nothing, when the line holds a quote or a CR, which the byte-by-byte
// reader handles.
func (c *csvReader) split(line []byte) bool {
	if cap(c.bounds) < len(line)+2 { // a field per byte at most
		c.bounds = make([]int, 0, max(2*len(line), 64))
	}
	bounds := c.bounds[:len(line)+2]
	bounds[0] = -1
	var n int
	var quote bool
	if useSIMD && len(line) >= 32 {
		var q, ctrl, high uint32
		n, q, ctrl, high = splitSSE2(line, c.delim, bounds[1:])
		quote, c.ctrl, c.high = q != 0, ctrl != 0, high != 0
	} else {
		n, quote = c.splitWords(line, bounds[1:])
	}
	if quote || c.ctrl && bytes.IndexByte(line, '\r') >= 0 {
		return false
	}
	bounds[n+1] = len(line)
	c.bounds = bounds[:n+2]
	c.row, c.quotedRow = line, false
	return true
}

// splitWords is split 8 bytes at a time, in portable Go: it writes the
// delimiters' positions to ends, sets c.high and c.ctrl, and says whether
// the line holds a quote.
func (c *csvReader) splitWords(line []byte, ends []int) (n int, quote bool) {
	dl := lsb * uint64(c.delim)
	// odd collects, as a yes or no in its high bits, any byte above ASCII,
	// below 0x20 or a quote; a row without one (most rows) is done here.
	// x-0x20 and q-1 set a byte's high bit when it is below 0x20 or a quote
	// (or above ASCII, which x alone shows); a borrow into the next byte
	// only comes from such a byte, so the yes or no is exact.
	var odd uint64
	i := 0
	for ; i+8 <= len(line); i += 8 {
		x := binary.LittleEndian.Uint64(line[i:])
		odd |= x | (x - lsb*0x20) | ((x ^ lsb*'"') - lsb)
		for m := zeroBytes(x ^ dl); m != 0; m &= m - 1 {
			ends[n] = i + bits.TrailingZeros64(m)>>3
			n++
		}
	}
	if i < len(line) {
		if len(line) >= 8 {
			// The last 8 bytes, without those already read.
			x := binary.LittleEndian.Uint64(line[len(line)-8:])
			keep := ^uint64(0) << (8 * (i + 8 - len(line)))
			odd |= (x | (x - lsb*0x20) | ((x ^ lsb*'"') - lsb)) & keep
			for m := zeroBytes(x^dl) & keep; m != 0; m &= m - 1 {
				ends[n] = len(line) - 8 + bits.TrailingZeros64(m)>>3
				n++
			}
		} else {
			for ; i < len(line); i++ {
				b := line[i]
				if b == c.delim {
					ends[n] = i
					n++
				}
				if b >= 0x80 || b < 0x20 || b == '"' {
					odd = hi80
				}
			}
		}
	}
	c.high, c.ctrl = false, false
	if odd&hi80 != 0 {
		if bytes.IndexByte(line, '"') >= 0 {
			return n, true
		}
		c.high, c.ctrl = scanBytes(line)
	}
	return n, false
}

// zeroBytes has the high bit set in each byte of v that is zero, and only
// there.
func zeroBytes(v uint64) uint64 { return ^(((v & m7f) + m7f) | v | m7f) }

const m7f = 0x7f7f7f7f7f7f7f7f

// nfields is the number of fields of the last row.
func (c *csvReader) nfields() int { return len(c.bounds) - 1 }

// start is where field i of the last row starts.
func (c *csvReader) start(i int) int { return c.bounds[i] + 1 }

// field is field i of the last row.
func (c *csvReader) field(i int) []byte { return c.row[c.bounds[i]+1 : c.bounds[i+1]] }

const hi80 = 0x8080808080808080

// fields returns a copy of the last row's fields, for the header and
// detection (not the hot path).
func (c *csvReader) fields() [][]byte {
	out := make([][]byte, c.nfields())
	for i := range out {
		out[i] = c.field(i)
	}
	return out
}

// blank reports whether every field of the last row is empty or spaces:
// Excel writes ",,,," for an empty row.
func (c *csvReader) blank() bool {
	for i := 0; i < c.nfields(); i++ {
		for _, b := range c.field(i) {
			if b != ' ' && b != '\t' {
				return false
			}
		}
	}
	return true
}

// more reads more unless the unread row is already too long.
func (c *csvReader) more() bool {
	if c.w-c.r > MaxRowBytes {
		return false
	}
	return c.fill() || c.eof || c.err != nil
}

func (c *csvReader) tooLong() error {
	if c.noFill && !c.eof && c.err == nil {
		return errStarved
	}
	if c.err != nil {
		return c.err
	}
	return &rowError{line: c.line, code: CodeRowTooLong}
}

// at returns the unread byte p bytes ahead, reading more when needed; ok is
// false at the end of the source.
func (c *csvReader) at(p int) (b byte, ok bool, err error) {
	for c.r+p >= c.w {
		if p > MaxRowBytes {
			return 0, false, &rowError{line: c.rowLine, code: CodeRowTooLong}
		}
		if !c.fill() {
			if c.err != nil {
				return 0, false, c.err
			}
			if c.noFill && !c.eof {
				return 0, false, errStarved
			}
			return 0, false, nil
		}
	}
	return c.buf[c.r+p], true, nil
}

// quoted reads a row holding quotes, byte by byte, into scratch.
func (c *csvReader) quoted() error {
	const (
		fieldStart = iota
		unquoted
		inQuotes
	)
	c.rowLine = c.line
	c.scratch = c.scratch[:0]
	c.bounds = append(c.bounds[:0], -1)
	c.afterQuote, c.innerQuote = 0, 0
	state := fieldStart
	closed := false // the unquoted text follows a closing quote
	p, lines, quoteLine := 0, 0, 0
	endRow := func() {
		c.bounds = append(c.bounds, len(c.scratch))
		c.row, c.quotedRow = c.scratch, true
		c.high, c.ctrl = scanBytes(c.scratch)
		c.r += p
		c.line += lines + 1
	}
	for {
		if state == inQuotes {
			// Copy up to the next quote in one go.
			if c.r+p < c.w {
				chunk := c.buf[c.r+p : c.w]
				if q := bytes.IndexByte(chunk, '"'); q != 0 {
					if q < 0 {
						q = len(chunk)
					}
					chunk = chunk[:q]
					// A CR at the end may be half of a CRLF: leave it to the byte loop.
					if n := len(chunk); chunk[n-1] == '\r' {
						chunk, q = chunk[:n-1], q-1
					}
					if q > 0 {
						if len(c.scratch)+len(chunk) > MaxRowBytes {
							return &rowError{line: c.rowLine, code: CodeRowTooLong}
						}
						lines += c.appendText(chunk)
						p += q
						continue
					}
				}
			}
		}
		b, ok, err := c.at(p)
		if err != nil {
			return err
		}
		if !ok { // end of the source
			if state == inQuotes {
				return &rowError{line: quoteLine, code: CodeUnterminatedQuote}
			}
			endRow()
			return nil
		}
		if len(c.scratch) > MaxRowBytes {
			return &rowError{line: c.rowLine, code: CodeRowTooLong}
		}
		switch state {
		case fieldStart, unquoted:
			switch {
			case b == '"' && state == fieldStart:
				state, quoteLine = inQuotes, c.line+lines
			case b == c.delim:
				c.bounds = append(c.bounds, len(c.scratch))
				c.scratch = append(c.scratch, c.delim)
				state, closed = fieldStart, false
			case b == '\n':
				p++
				endRow()
				return nil
			case b == '\r':
				if nb, ok, err := c.at(p + 1); err != nil {
					return err
				} else if ok && nb == '\n' {
					p++
				}
				p++
				endRow()
				return nil
			default:
				if closed && b != ' ' && b != '\t' && c.afterQuote == 0 {
					c.afterQuote = len(c.bounds)
				} else if b == '"' && !closed && c.innerQuote == 0 {
					c.innerQuote = len(c.bounds)
				}
				c.scratch = append(c.scratch, b)
				state = unquoted
			}
			p++
		case inQuotes:
			switch b {
			case '"':
				nb, ok, err := c.at(p + 1)
				if err != nil {
					return err
				}
				if ok && nb == '"' {
					c.scratch = append(c.scratch, '"')
					p += 2
					continue
				}
				state, closed = unquoted, true // text after the closing quote is kept, as Excel does
			case '\r':
				c.scratch = append(c.scratch, '\n')
				lines++
				if nb, ok, err := c.at(p + 1); err != nil {
					return err
				} else if ok && nb == '\n' {
					p++
				}
			default:
				c.scratch = append(c.scratch, b)
				if b == '\n' {
					lines++
				}
			}
			p++
		}
	}
}

// appendText appends quoted text to scratch with CRLF and CR turned into
// LF, and returns the number of line breaks in it.
func (c *csvReader) appendText(b []byte) int {
	if bytes.IndexByte(b, '\r') < 0 {
		c.scratch = append(c.scratch, b...)
		return bytes.Count(b, []byte{'\n'})
	}
	lines := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\r':
			lines++
			c.scratch = append(c.scratch, '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			lines++
			c.scratch = append(c.scratch, '\n')
		default:
			c.scratch = append(c.scratch, b[i])
		}
	}
	return lines
}
