package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// The decoder reads rows a batch ahead of Next; what Next returns must not
// show it. Duplicates are found in file order within and across batches,
// with the duplicate problem in its place among the row's problems.
func TestDecodeDuplicatesAcrossBatches(t *testing.T) {
	var in strings.Builder
	in.WriteString("Email,Status,Hire Date\n")
	const rows = 5*batchSize + 7
	firstLine := map[int]int{}
	for i := 0; i < rows; i++ {
		u := (i * 7) % 41 // repeats at varying distances
		switch {
		case i%13 == 5 && i%17 != 3:
			fmt.Fprintf(&in, "U%d@x.org,Nope,someday\n", u) // problems after the duplicate one
		case i%17 == 3:
			fmt.Fprintf(&in, "u%d@x.org,Active\n", u) // ragged: a problem before it
		default:
			fmt.Fprintf(&in, "u%d@x.org,Active,2020-01-02\n", u)
		}
		if _, ok := firstLine[u]; !ok {
			firstLine[u] = i + 2
		}
	}
	for _, oneByte := range []bool{false, true} {
		var r io.Reader = strings.NewReader(in.String())
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		d, err := NewDecoder(r, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		invalid := 0
		for i := 0; i < rows; i++ {
			rec, err := d.Next()
			if err != nil {
				t.Fatalf("row %d: %v", i, err)
			}
			u, line := (i*7)%41, i+2
			var want []string
			if i%17 == 3 {
				want = append(want, "ragged_row")
			}
			if firstLine[u] != line {
				want = append(want, "duplicate_email")
			}
			if i%13 == 5 && i%17 != 3 {
				want = append(want, "unknown_status", "invalid_date")
			}
			if rec.Line != line || codesOf(rec) != strings.Join(want, ",") {
				t.Fatalf("one byte %v: line %d (want %d): codes %q, want %q", oneByte, rec.Line, line, codesOf(rec), want)
			}
			for _, p := range rec.Problems {
				if p.Code == CodeDuplicateEmail && !strings.Contains(p.Message, fmt.Sprintf("already on line %d", firstLine[u])) {
					t.Fatalf("line %d: %v", line, p)
				}
			}
			if !rec.Valid() {
				invalid++
			}
			if info := d.Info(); info.Rows != i+1 || info.Invalid != invalid {
				t.Fatalf("after line %d: info says %d rows, %d invalid; want %d, %d", line, info.Rows, info.Invalid, i+1, invalid)
			}
		}
		if _, err := d.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last row: %v", err)
		}
	}
}

// chunkReader returns one chunk per Read and notes, for each Read, how
// many records the test had received when it was made.
type chunkReader struct {
	chunks [][]byte
	got    *int
	reads  []int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	c.reads = append(c.reads, *c.got)
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// Next reads ahead only what the source has already given: it never waits
// for more input while it holds rows it could return.
func TestDecodeReadsNoFurtherThanNeeded(t *testing.T) {
	head := "Email,Note\n" + strings.Repeat("filler@x.org,"+strings.Repeat("x", 80)+"\n", 800) // past the sniff
	var chunks [][]byte
	chunks = append(chunks, []byte(head))
	// Each later chunk ends inside a row, a quoted row with a line break among them.
	rest := "a@x.org,1\nb@x.org,\"two\nlines\"\nc@x.org,3\nd@x.org,4\ne@x.org,5\nf@x"
	for len(rest) > 0 {
		n := min(len(rest), 13)
		chunks, rest = append(chunks, []byte(rest[:n])), rest[n:]
	}
	chunks = append(chunks, []byte(".org,6\n"))
	// ends[i] is the offset just past record i's row, counted from the start.
	all := bytes.Join(chunks, nil)
	var ends []int
	for off := len("Email,Note\n"); off < len(all); {
		for quoted := false; ; off++ {
			if all[off] == '"' {
				quoted = !quoted
			}
			if all[off] == '\n' && !quoted {
				off++
				break
			}
		}
		ends = append(ends, off)
	}
	got := 0
	src := &chunkReader{chunks: append([][]byte(nil), chunks...), got: &got}
	d, err := NewDecoder(src, DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	readsBefore := len(src.reads)
	for {
		_, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got++
	}
	if got != len(ends) {
		t.Fatalf("%d records, want %d", got, len(ends))
	}
	// When read k happens, every record whose row was complete in the
	// chunks given before it must already have been returned.
	given := 0
	for i := 0; i < readsBefore; i++ {
		given += len(chunks[i])
	}
	for k := readsBefore; k < len(src.reads); k++ {
		complete := 0
		for _, e := range ends {
			if e <= given {
				complete++
			}
		}
		if src.reads[k] < complete {
			t.Fatalf("read %d made with %d records returned, but %d rows were already complete", k, src.reads[k], complete)
		}
		if k < len(chunks) {
			given += len(chunks[k])
		}
	}
}

// The first row above ASCII settles the encoding; Info says so only once
// the record of that row has been returned.
func TestDecodeInfoKeepsPaceWithNext(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("Email,Last Name\n")
	for i := 0; in.Len() < 2*sniffSize; i++ {
		fmt.Fprintf(&in, "p%d@x.org,Smith\n", i)
	}
	in.WriteString("zoe@x.org,M\xfcller\n") // Windows-1252
	for i := 0; i < 3*batchSize; i++ {
		fmt.Fprintf(&in, "q%d@x.org,Smith\n", i)
	}
	d, err := NewDecoder(bytes.NewReader(in.Bytes()), DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for {
		rec, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Key == "zoe@x.org" {
			seen = true
			if rec.LastName != "Müller" {
				t.Fatalf("last name %q", rec.LastName)
			}
		}
		info := d.Info()
		if assumed := info.Encoding == EncodingWindows1252 && len(info.Problems) == 1; assumed != seen {
			t.Fatalf("line %d: encoding %s, problems %v", rec.Line, info.Encoding, info.Problems)
		}
	}
	if !seen {
		t.Fatal("no record for zoe")
	}
}
