package schema

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll splits in into rows with the given delimiter, with each row's
// line, reading through r (which may return one byte at a time).
func readAll(t *testing.T, r io.Reader, delim byte) (rows [][]string, lines []int, err error) {
	t.Helper()
	c := newCSVReader(r)
	c.delim = delim
	for {
		if err := c.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return rows, lines, nil
			}
			return rows, lines, err
		}
		var row []string
		for _, f := range c.fields() {
			row = append(row, string(f))
		}
		rows = append(rows, row)
		lines = append(lines, c.rowLine)
	}
}

func TestCSVReader(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		rows  [][]string
		lines []int
	}{
		{"lf", "a,b\nc,d\n", [][]string{{"a", "b"}, {"c", "d"}}, []int{1, 2}},
		{"crlf", "a,b\r\nc,d\r\n", [][]string{{"a", "b"}, {"c", "d"}}, []int{1, 2}},
		{"lone cr", "a,b\rc,d\r", [][]string{{"a", "b"}, {"c", "d"}}, []int{1, 2}},
		{"mixed ends", "a\nb\r\nc\rd", [][]string{{"a"}, {"b"}, {"c"}, {"d"}}, []int{1, 2, 3, 4}},
		{"no final newline", "a,b\nc,d", [][]string{{"a", "b"}, {"c", "d"}}, []int{1, 2}},
		{"blank lines", "\n\na,b\n\r\n\rc,d\n\n", [][]string{{"a", "b"}, {"c", "d"}}, []int{3, 6}},
		{"empty fields", ",a,,\n", [][]string{{"", "a", "", ""}}, []int{1}},
		{"quoted delimiter", `"a,b",c` + "\n", [][]string{{"a,b", "c"}}, []int{1}},
		{"doubled quotes", `"say ""hi""",x` + "\n", [][]string{{`say "hi"`, "x"}}, []int{1}},
		{"quoted newline", "\"a\nb\",c\nd,e\n", [][]string{{"a\nb", "c"}, {"d", "e"}}, []int{1, 3}},
		{"quoted crlf becomes lf", "\"a\r\nb\",c\r\nd,e\r\n", [][]string{{"a\nb", "c"}, {"d", "e"}}, []int{1, 3}},
		{"quoted cr becomes lf", "\"a\rb\",c\rd,e\r", [][]string{{"a\nb", "c"}, {"d", "e"}}, []int{1, 3}},
		{"quoted empty", `"",a` + "\n", [][]string{{"", "a"}}, []int{1}},
		{"quote inside unquoted value", `Jane "JJ" Doe,x` + "\n", [][]string{{`Jane "JJ" Doe`, "x"}}, []int{1}},
		{"text after closing quote", `"Doe, Jane" <j@x.org>,y` + "\n", [][]string{{"Doe, Jane <j@x.org>", "y"}}, []int{1}},
		{"quoted last field no newline", `a,"b"`, [][]string{{"a", "b"}}, []int{1}},
		{"quoted field then crlf", "\"a\"\r\n\"b\"\r\n", [][]string{{"a"}, {"b"}}, []int{1, 2}},
		{"spaces kept", " a , b \n", [][]string{{" a ", " b "}}, []int{1}},
		{"long row", strings.Repeat("x", 300) + "," + strings.Repeat("y", 300) + "\n",
			[][]string{{strings.Repeat("x", 300), strings.Repeat("y", 300)}}, []int{1}},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tt.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			rows, lines, err := readAll(t, r, ',')
			if err != nil {
				t.Errorf("%s (one byte %v): %v", tt.name, oneByte, err)
				continue
			}
			if !reflect.DeepEqual(rows, tt.rows) || !reflect.DeepEqual(lines, tt.lines) {
				t.Errorf("%s (one byte %v):\n got %q at %v\nwant %q at %v", tt.name, oneByte, rows, lines, tt.rows, tt.lines)
			}
		}
	}
}

func TestCSVReaderBrokenFiles(t *testing.T) {
	tests := []struct {
		name string
		in   string
		code ProblemCode
		line int
	}{
		{"unterminated quote", "a,b\nc,\"d\ne,f\n", CodeUnterminatedQuote, 2},
		{"quote at the very end", "a,\"", CodeUnterminatedQuote, 1},
		{"row too long", "a\n" + strings.Repeat("x", MaxRowBytes+10) + "\n", CodeRowTooLong, 2},
		{"quoted row too long", "a\n\"" + strings.Repeat("x", MaxRowBytes+10) + "\"\n", CodeRowTooLong, 2},
		{"no newline too long", "a\n" + strings.Repeat("x", 3*MaxRowBytes), CodeRowTooLong, 2},
	}
	for _, tt := range tests {
		_, _, err := readAll(t, strings.NewReader(tt.in), ',')
		var re *rowError
		if !errors.As(err, &re) || re.code != tt.code || re.line != tt.line {
			t.Errorf("%s: err = %v, want %s on line %d", tt.name, err, tt.code, tt.line)
		}
	}
}

func TestCSVReaderSourceError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("a,b\nc,d\n"), iotest.ErrReader(boom))
	_, _, err := readAll(t, r, ',')
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the source's error", err)
	}
}

// TestCSVReaderMatchesEncodingCSV checks the hand-written reader against
// encoding/csv on files both must read alike: many rows crossing buffer
// boundaries, quotes, CRLF inside and outside quotes.
func TestCSVReaderMatchesEncodingCSV(t *testing.T) {
	var b bytes.Buffer
	for i := 0; b.Len() < 3*readSize; i++ {
		switch i % 5 {
		case 0:
			b.WriteString("plain,row,with,several,fields\n")
		case 1:
			b.WriteString("\"quoted, with comma\",\"and \"\"quotes\"\"\",x\r\n")
		case 2:
			b.WriteString("\"multi\r\nline\",y," + strings.Repeat("z", i%97) + "\n")
		case 3:
			b.WriteString(",,\r\n")
		default:
			b.WriteString(strings.Repeat("w", i%301) + ",\"\"\n")
		}
	}
	cr := csv.NewReader(bytes.NewReader(b.Bytes()))
	cr.FieldsPerRecord = -1
	want, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := readAll(t, bytes.NewReader(b.Bytes()), ',')
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, encoding/csv reads %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("row %d: %q, encoding/csv reads %q", i, got[i], want[i])
		}
	}
}

func TestBlankRows(t *testing.T) {
	for in, blank := range map[string]bool{
		",,,": true, " , \t,": true, `"",""`: true, `" ",`: true, `",",`: false, "a,,": false, `,"x"`: false,
	} {
		c := newCSVReader(strings.NewReader(in + "\n"))
		c.delim = ','
		if err := c.next(); err != nil {
			t.Fatal(err)
		}
		if c.blank() != blank {
			t.Errorf("%q: blank %v", in, c.blank())
		}
	}
}
