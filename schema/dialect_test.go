package schema

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf16"
)

// decodeAll decodes in and returns its records and final info, or the
// error of NewDecoder or Next.
func decodeAll(t testing.TB, in []byte, opts DecodeOptions) ([]Record, FileInfo, error) {
	t.Helper()
	d, err := NewDecoder(bytes.NewReader(in), opts)
	if err != nil {
		return nil, FileInfo{}, err
	}
	var recs []Record
	for {
		r, err := d.Next()
		if errors.Is(err, io.EOF) {
			return recs, d.Info(), nil
		}
		if err != nil {
			return recs, d.Info(), err
		}
		recs = append(recs, r)
	}
}

// problemCodes lists the codes of a FileError's problems.
func problemCodes(err error) []ProblemCode {
	var fe *FileError
	if !errors.As(err, &fe) {
		return nil
	}
	var out []ProblemCode
	for _, p := range fe.Problems {
		out = append(out, p.Code)
	}
	return out
}

func utf16Bytes(s string, bigEndian, bom bool) []byte {
	var b []byte
	units := utf16.Encode([]rune(s))
	if bom {
		units = append([]uint16{0xFEFF}, units...)
	}
	for _, u := range units {
		if bigEndian {
			b = append(b, byte(u>>8), byte(u))
		} else {
			b = append(b, byte(u), byte(u>>8))
		}
	}
	return b
}

func TestEncodings(t *testing.T) {
	const text = "Email\tFirst Name\r\nzoe@example.org\tZoë\r\n"
	tests := []struct {
		name     string
		in       []byte
		encoding string
		bom      bool
		assumed  bool
	}{
		{"utf-8", []byte(text), EncodingUTF8, false, false},
		{"utf-8 with bom", append([]byte("\xef\xbb\xbf"), text...), EncodingUTF8, true, false},
		{"utf-16le with bom", utf16Bytes(text, false, true), EncodingUTF16LE, true, false},
		{"utf-16be with bom", utf16Bytes(text, true, true), EncodingUTF16BE, true, false},
		{"windows-1252", []byte("Email\tFirst Name\r\nzoe@example.org\tZo\xeb\r\n"), EncodingWindows1252, false, true},
	}
	for _, tt := range tests {
		recs, info, err := decodeAll(t, tt.in, DecodeOptions{})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if info.Encoding != tt.encoding || info.BOM != tt.bom || info.EncodingAssumed != tt.assumed {
			t.Errorf("%s: encoding %s bom %v assumed %v", tt.name, info.Encoding, info.BOM, info.EncodingAssumed)
		}
		if len(recs) != 1 || recs[0].FirstName != "Zoë" || recs[0].Key != "zoe@example.org" || recs[0].Line != 2 {
			t.Errorf("%s: records %+v", tt.name, recs)
		}
		if info.Columns[0].Field != FieldEmail {
			t.Errorf("%s: first column %q read as %q (a BOM left on the header?)", tt.name, info.Columns[0].Name, info.Columns[0].Field)
		}
		hasWarning := len(info.Problems) == 1 && info.Problems[0].Code == CodeEncodingAssumed
		if hasWarning != tt.assumed {
			t.Errorf("%s: problems %v", tt.name, info.Problems)
		}
	}
}

// A file that is ASCII for longer than the sniff window and then has a
// Windows-1252 byte is read as Windows-1252 from there on, with a warning
// naming the line; earlier rows, being ASCII, read the same either way.
func TestEncodingDecidedLate(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Email,Last Name\n")
	n := 0
	for b.Len() < 2*readSize {
		n++
		b.WriteString("p" + itoaTest(n) + "@example.org,Smith\n")
	}
	b.WriteString("late@example.org,M\xfcller\n")
	recs, info, err := decodeAll(t, b.Bytes(), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if last.LastName != "Müller" || !info.EncodingAssumed || info.Encoding != EncodingWindows1252 {
		t.Fatalf("last name %q, encoding %s assumed %v", last.LastName, info.Encoding, info.EncodingAssumed)
	}
	if p := info.Problems[len(info.Problems)-1]; p.Code != CodeEncodingAssumed || p.Line != last.Line {
		t.Fatalf("problem %v, want encoding_assumed on line %d", p, last.Line)
	}
}

// Once a file is known to be UTF-8, a row with bytes that are not UTF-8 is
// invalid rather than silently re-read in another encoding.
func TestInvalidUTF8InUTF8File(t *testing.T) {
	in := "Email,Last Name\nzoe@example.org,Zoë\nbad@example.org,M\xfcller\n"
	recs, info, err := decodeAll(t, []byte(in), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Encoding != EncodingUTF8 || info.EncodingAssumed {
		t.Fatalf("encoding %s assumed %v", info.Encoding, info.EncodingAssumed)
	}
	bad := recs[1]
	if bad.Valid() || bad.Problems[0].Code != CodeInvalidText || bad.Key != "bad@example.org" {
		t.Fatalf("record %+v", bad)
	}
}

func TestNotText(t *testing.T) {
	tests := []struct {
		name, in, says string
	}{
		{"zip", "PK\x03\x04\x14\x00\x00\x00", "ZIP archive"},
		{"gzip", "\x1f\x8b\x08\x00\x00\x00", "gzip"},
		{"pdf", "%PDF-1.7\n", "PDF"},
		{"xls", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", ".xls"},
		{"pgp armor", "-----BEGIN PGP MESSAGE-----\n\nhQEMA\n", "PGP"},
		{"nul bytes", "Email\x00,Name\nx@y.org,z\n", "NUL"},
		{"utf-16 without bom", string(utf16Bytes("Email,Name\r\nx@y.org,z\r\n", false, false)), "without a byte order mark"},
		{"utf-32", "\xff\xfe\x00\x00E\x00\x00\x00", "UTF-32"},
		{"control characters", strings.Repeat("\x01\x02\x03abc", 50), "control characters"},
	}
	for _, tt := range tests {
		_, _, err := decodeAll(t, []byte(tt.in), DecodeOptions{})
		codes := problemCodes(err)
		if len(codes) != 1 || codes[0] != CodeNotText || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: %v (%v), want not_text saying %q", tt.name, err, codes, tt.says)
		}
		if ErrorCodeOf(err) != EInvalid {
			t.Errorf("%s: ErrorCodeOf = %q, want invalid", tt.name, ErrorCodeOf(err))
		}
	}
}

func TestEmptyFiles(t *testing.T) {
	for _, in := range []string{"", "\xef\xbb\xbf", "\n\n\r\n", string(utf16Bytes("", false, true))} {
		_, _, err := decodeAll(t, []byte(in), DecodeOptions{})
		if codes := problemCodes(err); len(codes) != 1 || codes[0] != CodeEmptyFile {
			t.Errorf("%q: %v, want empty_file", in, err)
		}
	}
	// A header without rows is read, with a warning: the pipeline holds it.
	recs, info, err := decodeAll(t, []byte("Email,Name\n"), DecodeOptions{})
	if err != nil || len(recs) != 0 || len(info.Problems) != 1 || info.Problems[0].Code != CodeNoRows {
		t.Fatalf("header only: %v, %v, %v", recs, info.Problems, err)
	}
}

func TestDelimiters(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		opts  DecodeOptions
		delim rune
		from  string
	}{
		{"comma", "Email,Name\na@x.org,A\n", DecodeOptions{}, ',', DelimiterDetected},
		{"semicolon", "Email;Name\na@x.org;A\n", DecodeOptions{}, ';', DelimiterDetected},
		{"tab", "Email\tName\na@x.org\tA\n", DecodeOptions{}, '\t', DelimiterDetected},
		{"pipe", "Email|Name\na@x.org|A\n", DecodeOptions{}, '|', DelimiterDetected},
		{"single column", "Email\na@x.org\n", DecodeOptions{}, ',', DelimiterSingle},
		{"comma inside values of a semicolon file", "Email;Name\na@x.org;\"Doe, A\"\nb@x.org;B, C\n", DecodeOptions{}, ';', DelimiterDetected},
		{"consistent rows decide", "Email\tName, Full\tTitle\na@x.org\tA\tB\n", DecodeOptions{}, '\t', DelimiterDetected},
		{"known headers decide", "Email;First Name,x\na@x.org;A,B\n", DecodeOptions{}, ';', DelimiterDetected},
		{"excel sep line", "sep=;\r\nEmail;Name,Title\r\na@x.org;A,B\r\n", DecodeOptions{}, ';', DelimiterSepLine},
		{"sep line after a BOM", "\ufeffsep=;\r\nEmail;Name,Title\r\na@x.org;A,B\r\n", DecodeOptions{}, ';', DelimiterSepLine},
		{"sep line saved again, padded", "sep=;;;\nEmail;Name,Title;X\na@x.org;A,B;\n", DecodeOptions{}, ';', DelimiterSepLine},
		{"sep line saved again, quoted", "\"sep=;\";;\r\nEmail;Name,Title;X\r\na@x.org;A,B;\r\n", DecodeOptions{}, ';', DelimiterSepLine},
		{"sep line of a tab file", "SEP=\t\nEmail\tName,Title\na@x.org\tA,B\n", DecodeOptions{}, '\t', DelimiterSepLine},
		{"setting", "Email;Name,Title\na@x.org;A,B\n", DecodeOptions{Delimiter: ';'}, ';', DelimiterSetting},
		{"setting wins over sep line", "sep=,\nEmail;Name\na@x.org;A\n", DecodeOptions{Delimiter: ';'}, ';', DelimiterSetting},
	}
	for _, tt := range tests {
		recs, info, err := decodeAll(t, []byte(tt.in), tt.opts)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if info.Delimiter != tt.delim || info.DelimiterFrom != tt.from {
			t.Errorf("%s: delimiter %q from %s, want %q from %s", tt.name, info.Delimiter, info.DelimiterFrom, tt.delim, tt.from)
		}
		if len(recs) == 0 || recs[0].Key != "a@x.org" {
			t.Errorf("%s: records %+v", tt.name, recs)
		}
	}
}

func TestAmbiguousDelimiter(t *testing.T) {
	_, _, err := decodeAll(t, []byte("Email;Name,Title\na@x.org;A,B\nb@x.org;C,D\n"), DecodeOptions{})
	var fe *FileError
	if !errors.As(err, &fe) || fe.Problems[0].Code != CodeAmbiguousDelimiter {
		t.Fatalf("err = %v, want ambiguous_delimiter", err)
	}
	msg := fe.Problems[0].Message
	for _, want := range []string{"comma", "semicolon", "sep=;"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not name %q", msg, want)
		}
	}
	// The same file reads once the source sets its delimiter.
	recs, _, err := decodeAll(t, []byte("Email;Name,Title\na@x.org;A,B\n"), DecodeOptions{Delimiter: ';'})
	if err != nil || recs[0].Key != "a@x.org" {
		t.Fatalf("with a delimiter setting: %v %v", recs, err)
	}
	if _, _, err := decodeAll(t, []byte("Email\n"), DecodeOptions{Delimiter: '"'}); ErrorCodeOf(err) != EInvalid {
		t.Fatalf("a quote as delimiter: %v", err)
	}
}

func itoaTest(n int) string {
	var b []byte
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
