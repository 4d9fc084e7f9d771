package schema

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encodings a file can be read in, as FileInfo.Encoding names them.
const (
	EncodingUTF8        = "utf-8"
	EncodingUTF16LE     = "utf-16le"
	EncodingUTF16BE     = "utf-16be"
	EncodingWindows1252 = "windows-1252"
)

// Delimiter sources, as FileInfo.DelimiterFrom names them.
const (
	DelimiterDetected = "detected"
	DelimiterSepLine  = "sep line"      // an Excel "sep=;" first line
	DelimiterSetting  = "setting"       // DecodeOptions.Delimiter
	DelimiterSingle   = "single column" // the header has no delimiter at all
)

// candidates are the delimiters detection chooses among, in the order
// they are named in messages.
var candidates = [...]byte{',', ';', '\t', '|'}

// DelimiterName names a delimiter for people: "comma", "tab"...
func DelimiterName(d rune) string {
	switch d {
	case ',':
		return "comma"
	case ';':
		return "semicolon"
	case '\t':
		return "tab"
	case '|':
		return "pipe"
	}
	return fmt.Sprintf("%q", d)
}

// textMode says how the bytes of a file are turned into text.
type textMode uint8

const (
	modeASCII   textMode = iota // only ASCII so far: UTF-8 and Windows-1252 agree
	modeUTF8                    // UTF-8 (or UTF-16 already turned into UTF-8)
	modeWin1252                 // not valid UTF-8: read as Windows-1252
)

// cp1252 maps the bytes 0x80-0xFF of Windows-1252 to runes.
var cp1252 = func() (t [128]rune) {
	for i := range t {
		t[i] = charmap.Windows1252.DecodeByte(byte(0x80 + i))
	}
	return t
}()

// appendCP1252 appends b, read as Windows-1252, to dst as UTF-8.
func appendCP1252(dst, b []byte) []byte {
	for _, c := range b {
		if c < utf8.RuneSelf {
			dst = append(dst, c)
		} else {
			dst = utf8.AppendRune(dst, cp1252[c-0x80])
		}
	}
	return dst
}

// sniffEncoding looks at the start of the file: a BOM, a known binary
// signature, NUL and control bytes, UTF-8 validity. It returns the reader
// to decode from (UTF-16 is turned into UTF-8 on the way) or a not_text
// problem.
func sniffEncoding(c *csvReader, src io.Reader, info *FileInfo) (*csvReader, textMode, *Problem) {
	c.fillTo(sniffSize)
	head := c.buf[c.r:c.w]
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE, 0, 0}), bytes.HasPrefix(head, []byte{0, 0, 0xFE, 0xFF}):
		return c, 0, notText("it is UTF-32 text, which muster does not read; save it as \"CSV UTF-8\" or \"Unicode Text\"")
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		end := unicode.LittleEndian
		info.Encoding = EncodingUTF16LE
		if head[0] == 0xFE {
			end, info.Encoding = unicode.BigEndian, EncodingUTF16BE
		}
		info.BOM = true
		rest := io.MultiReader(bytes.NewReader(bytes.Clone(head)), src)
		dec := unicode.UTF16(end, unicode.ExpectBOM).NewDecoder()
		c = newCSVReader(transform.NewReader(rest, dec))
		c.fillTo(sniffSize)
		if p := sniffBinary(c.buf[c.r:c.w]); p != nil {
			return c, 0, p
		}
		return c, modeUTF8, nil
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		info.BOM = true
		c.skip(3, 0)
		head = head[3:]
	}
	info.Encoding = EncodingUTF8
	more := !c.eof
	if len(head) > sniffSize {
		head, more = head[:sniffSize], true
	}
	if p := sniffBinary(head); p != nil {
		return c, 0, p
	}
	if !hasHighBit(head) {
		return c, modeASCII, nil
	}
	if info.BOM || looksUTF8(head, more) { // a UTF-8 BOM says it plainly
		return c, modeUTF8, nil
	}
	assumeCP1252(info, 0)
	return c, modeWin1252, nil
}

// looksUTF8 reports whether b reads as UTF-8: it is valid, or it holds at
// least as many valid multi-byte characters as invalid bytes (a UTF-8 file
// with a few bad rows; Windows-1252 text almost never forms valid UTF-8
// sequences). A character cut off at the end does not count when more follows.
func looksUTF8(b []byte, more bool) bool {
	if validUTF8Prefix(b, more) {
		return true
	}
	good, bad := 0, 0
	for len(b) > 0 {
		if b[0] < utf8.RuneSelf {
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			bad++
		} else {
			good++
		}
		b = b[n:]
	}
	return good >= bad
}

// assumeCP1252 records that the file is read as Windows-1252.
func assumeCP1252(info *FileInfo, line int) {
	info.Encoding = EncodingWindows1252
	info.EncodingAssumed = true
	where := "the file"
	if line > 0 {
		where = fmt.Sprintf("the file (first seen on line %d)", line)
	}
	info.Problems = append(info.Problems, Problem{Line: line, Code: CodeEncodingAssumed, Severity: SeverityWarning,
		Message: where + " is not valid UTF-8, so it was read as Windows-1252 (Excel's \"CSV\" on Western " +
			"Windows); check that accented names look right, or save it as \"CSV UTF-8\""})
}

// validUTF8Prefix reports whether b is valid UTF-8, allowing a rune cut
// off at the end when more follows.
func validUTF8Prefix(b []byte, more bool) bool {
	if more {
		for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
			if utf8.Valid(b) {
				return true
			}
			b = b[:len(b)-1]
		}
	}
	return utf8.Valid(b)
}

var signatures = []struct {
	magic, what string
}{
	{"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one), not a CSV file; save it as CSV first"},
	{"PK\x05\x06", "an empty ZIP archive, not a CSV file"},
	{"\x1f\x8b", "a gzip-compressed file, not a CSV file; uncompress it first"},
	{"%PDF-", "a PDF document, not a CSV file"},
	{"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel .xls workbook (or another Office file), not a CSV file; save it as CSV first"},
	{"-----BEGIN PGP", "an encrypted PGP file, which muster cannot decrypt; send the CSV file itself"},
	{"7z\xbc\xaf\x27\x1c", "a 7-Zip archive, not a CSV file"},
	{"Rar!", "a RAR archive, not a CSV file"},
	{"\x89PNG", "a PNG image, not a CSV file"},
	{"\xff\xd8\xff", "a JPEG image, not a CSV file"},
}

// sniffBinary refuses what is not text: known file signatures, NUL bytes,
// and more than a few control characters.
func sniffBinary(head []byte) *Problem {
	for _, s := range signatures {
		if bytes.HasPrefix(head, []byte(s.magic)) {
			return notText("it is " + s.what)
		}
	}
	if i := bytes.IndexByte(head, 0); i >= 0 {
		if looksUTF16(head) {
			return notText("it looks like UTF-16 text without a byte order mark; save it again as \"Unicode Text\" or \"CSV UTF-8\"")
		}
		return notText("it contains NUL bytes, so it is a binary file, not text")
	}
	controls := 0
	for _, b := range head {
		if b < 0x20 && b != '\t' && b != '\n' && b != '\r' && b != '\f' && b != '\v' && b != 0x1a || b == 0x7f {
			controls++
		}
	}
	if controls > 0 && controls*100 > len(head) {
		return notText("it is full of control characters, so it is a binary file, not text")
	}
	return nil
}

// looksUTF16 reports whether every other byte of the start is NUL.
func looksUTF16(b []byte) bool {
	if len(b) > 512 {
		b = b[:512]
	}
	even, odd := 0, 0
	for i, c := range b {
		if c == 0 {
			if i%2 == 0 {
				even++
			} else {
				odd++
			}
		}
	}
	half := len(b) / 2
	return half > 0 && (even*10 >= half*9 || odd*10 >= half*9)
}

func notText(why string) *Problem {
	return &Problem{Code: CodeNotText, Severity: SeverityError, Message: "the file is not a text file: " + why}
}

// hasHighBit reports whether any byte of b is 0x80 or above, 8 bytes at a time.
func hasHighBit(b []byte) bool {
	for len(b) >= 8 {
		x := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		if x&0x8080808080808080 != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// sepLine reads an Excel "sep=X" first line: the delimiter and the length
// of the line with its line end. A sheet saved again by a spreadsheet keeps
// the line as a cell, quoted and padded with delimiters to the sheet's
// width ("sep=;";; or sep=;;;), which is read the same.
func sepLine(head []byte) (byte, int) {
	n := 0
	quoted := len(head) > 0 && head[0] == '"'
	if quoted {
		n++
	}
	if len(head) < n+5 || !strings.EqualFold(string(head[n:n+4]), "sep=") {
		return 0, 0
	}
	d := head[n+4]
	n += 5
	if d == '"' || d == '\r' || d == '\n' || d >= utf8.RuneSelf {
		return 0, 0
	}
	if quoted {
		if n == len(head) || head[n] != '"' {
			return 0, 0
		}
		n++
	}
	for n < len(head) && head[n] == d {
		n++
	}
	switch {
	case n == len(head):
	case head[n] == '\n':
		n++
	case head[n] == '\r':
		n++
		if n < len(head) && head[n] == '\n' {
			n++
		}
	default:
		return 0, 0
	}
	return d, n
}

// detectDelimiter chooses the delimiter from the first rows: the only
// candidate in the header; else the only one that splits every row like
// the header; else the one under which more header names are known
// columns. Otherwise it is ambiguous and the candidates are returned.
func detectDelimiter(head []byte, complete bool) (d byte, from string, ambiguous []byte) {
	type score struct {
		d           byte
		cols        int
		consistent  bool
		knownFields int
	}
	var inHeader []score
	for _, cand := range candidates {
		c := newCSVReader(bytes.NewReader(head))
		c.delim = cand
		if c.next() != nil {
			continue
		}
		if c.nfields() < 2 {
			continue
		}
		s := score{d: cand, cols: c.nfields(), consistent: true}
		for _, f := range c.fields() {
			if _, ok := aliases[headerKey(string(f))]; ok {
				s.knownFields++
			}
		}
		var counts []int
		for {
			if err := c.next(); err != nil {
				break
			}
			counts = append(counts, c.nfields())
		}
		if !complete && len(counts) > 0 {
			counts = counts[:len(counts)-1] // the last row may be cut by the sniff window
		}
		for _, n := range counts {
			if n != s.cols {
				s.consistent = false
			}
		}
		inHeader = append(inHeader, s)
	}
	switch len(inHeader) {
	case 0:
		return ',', DelimiterSingle, nil
	case 1:
		return inHeader[0].d, DelimiterDetected, nil
	}
	var consistent []score
	for _, s := range inHeader {
		if s.consistent {
			consistent = append(consistent, s)
		}
	}
	if len(consistent) == 1 {
		return consistent[0].d, DelimiterDetected, nil
	}
	pool := consistent
	if len(pool) == 0 {
		pool = inHeader
	}
	best, tie := pool[0], false
	for _, s := range pool[1:] {
		switch {
		case s.knownFields > best.knownFields:
			best, tie = s, false
		case s.knownFields == best.knownFields:
			tie = true
		}
	}
	if !tie && best.knownFields > 0 {
		return best.d, DelimiterDetected, nil
	}
	for _, s := range pool {
		ambiguous = append(ambiguous, s.d)
	}
	return 0, "", ambiguous
}

func ambiguousProblem(cands []byte) Problem {
	names := make([]string, len(cands))
	for i, d := range cands {
		names[i] = fmt.Sprintf("%s (%q)", DelimiterName(rune(d)), d)
	}
	return Problem{Line: 1, Code: CodeAmbiguousDelimiter, Severity: SeverityError,
		Message: "muster cannot tell which delimiter separates the columns: " + strings.Join(names, " and ") +
			" both fit the first rows. Set the delimiter in the source's settings (or add a first line such as \"sep=;\")"}
}
