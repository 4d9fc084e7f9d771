package gen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"muster/schema"
)

// decodeAll decodes a generated file and returns its records by key.
func decodeAll(t *testing.T, b []byte) (map[string]schema.Record, []string) {
	t.Helper()
	d, err := schema.NewDecoder(bytes.NewReader(b), schema.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info := d.Info(); len(info.Ignored) != 0 || len(info.Problems) != 0 {
		t.Fatalf("ignored %v, problems %v", info.Ignored, info.Problems)
	}
	recs := map[string]schema.Record{}
	var order []string
	for {
		r, err := d.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Problems) != 0 {
			t.Fatalf("line %d: %v", r.Line, r.Problems)
		}
		recs[r.Key] = r
		order = append(order, r.Key)
	}
	return recs, order
}

func write(t *testing.T, o Options) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, o); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Day 1 changes exactly 1% of the people, removes 0.5% and adds 0.5%, and
// every row of both days decodes without a single problem.
func TestDays(t *testing.T) {
	const rows = 20_000
	day0, order0 := decodeAll(t, write(t, Options{Rows: rows, Seed: 7}))
	day1, order1 := decodeAll(t, write(t, Options{Rows: rows, Seed: 7, Day: 1}))
	if len(day0) != rows || len(order0) != rows || len(day1) != rows || len(order1) != rows {
		t.Fatalf("day 0: %d people, day 1: %d", len(day0), len(day1))
	}
	var changed, removed, added int
	for k, r0 := range day0 {
		r1, ok := day1[k]
		switch {
		case !ok:
			removed++
		case r1.Attrs != r0.Attrs || !equal(r1.Groups, r0.Groups) || r1.FirstName != r0.FirstName ||
			r1.LastName != r0.LastName || r1.Status != r0.Status || r1.SourceID != r0.SourceID:
			changed++
		}
	}
	for k := range day1 {
		if _, ok := day0[k]; !ok {
			added++
		}
	}
	want := ChangesFor(rows)
	if changed != want.Changed || removed != want.Removed || added != want.Added ||
		want != (Changes{Changed: 200, Removed: 100, Added: 100}) {
		t.Fatalf("changed %d removed %d added %d, want %+v", changed, removed, added, want)
	}
	// People reports the same people as the file, in file order.
	i := 0
	err := People(Options{Rows: rows, Seed: 7, Day: 1}, func(p Person) {
		if i < len(order1) && p.Email != order1[i] {
			t.Fatalf("person %d: %s, file has %s", i, p.Email, order1[i])
		}
		i++
	})
	if err != nil || i != rows {
		t.Fatalf("People: %d people, %v", i, err)
	}
}

// Churn sets the share Day 1 touches, split as for the default 2%; CRLF
// writes the same records in other bytes.
func TestChurnAndCRLF(t *testing.T) {
	const rows = 8000
	day0, _ := decodeAll(t, write(t, Options{Rows: rows, Seed: 3}))
	o := Options{Rows: rows, Seed: 3, Day: 1, Churn: 10}
	lf := write(t, o)
	day1, _ := decodeAll(t, lf)
	var changed, removed, added int
	for k, r0 := range day0 {
		switch r1, ok := day1[k]; {
		case !ok:
			removed++
		case r1.Attrs != r0.Attrs || !equal(r1.Groups, r0.Groups):
			changed++
		}
	}
	for k := range day1 {
		if _, ok := day0[k]; !ok {
			added++
		}
	}
	want := ChangesOf(o)
	if changed != want.Changed || removed != want.Removed || added != want.Added ||
		want != (Changes{Changed: 400, Removed: 200, Added: 200}) {
		t.Fatalf("changed %d removed %d added %d, want %+v", changed, removed, added, want)
	}
	for _, n := range []int{0, 1, 150, 199, 201, 999, rows} {
		if ChangesOf(Options{Rows: n}) != ChangesFor(n) || ChangesOf(Options{Rows: n, Churn: 2}) != ChangesFor(n) {
			t.Fatalf("%d rows: churn 0 or 2 is not the default 2%%", n)
		}
	}
	o.CRLF = true
	crlf := write(t, o)
	if bytes.Equal(crlf, lf) || !bytes.Equal(bytes.ReplaceAll(crlf, []byte("\r\n"), []byte("\n")), lf) {
		t.Fatal("CRLF is not the same file with CR LF line ends")
	}
	again, _ := decodeAll(t, crlf)
	for k, r := range day1 {
		r2 := again[k]
		if r2.Email != r.Email || r2.Attrs != r.Attrs || !equal(r2.Groups, r.Groups) || r2.Line != r.Line {
			t.Fatalf("%s: CRLF record differs", k)
		}
	}
	if err := Write(io.Discard, Options{Rows: 10, Day: 1, Churn: 101}); err == nil {
		t.Error("churn over 100% accepted")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The output depends on the options only: pinned hashes catch any change
// of the generator that would silently change benchmark files.
func TestStable(t *testing.T) {
	for _, tt := range []struct {
		o    Options
		hash string
	}{
		{Options{Rows: 1000, Seed: 1}, "9cbc7d5b6ba34def"},
		{Options{Rows: 1000, Seed: 1, Day: 1}, "34001131d7794962"},
		{Options{Rows: 1000, Seed: 2}, "8c53c526b116038c"},
	} {
		a, b := write(t, tt.o), write(t, tt.o)
		if !bytes.Equal(a, b) {
			t.Fatalf("%+v: two runs differ", tt.o)
		}
		sum := sha256.Sum256(a)
		if got := hex.EncodeToString(sum[:8]); got != tt.hash {
			t.Errorf("%+v: hash %s, want %s", tt.o, got, tt.hash)
		}
	}
}

// The rows look like the 16-column, ~250-byte rows of a real export.
func TestShape(t *testing.T) {
	b := write(t, Options{Rows: 10_000, Seed: 1})
	lines := bytes.Count(b, []byte{'\n'})
	per := (len(b) - len(bytes.SplitN(b, []byte{'\n'}, 2)[0])) / (lines - 1)
	if len(Header) != 16 || lines != 10_001 || per < 235 || per > 265 {
		t.Fatalf("%d columns, %d lines, %d bytes a row", len(Header), lines, per)
	}
}

func TestOptionsErrors(t *testing.T) {
	if err := Write(io.Discard, Options{Rows: 10, Day: 2}); err == nil {
		t.Error("day 2 accepted")
	}
	if err := Write(io.Discard, Options{Rows: -1}); err == nil {
		t.Error("negative rows accepted")
	}
	if b := write(t, Options{Rows: 0}); bytes.Count(b, []byte{'\n'}) != 1 {
		t.Errorf("0 rows: %q", b)
	}
	if b := write(t, Options{Rows: 1, Day: 1}); bytes.Count(b, []byte{'\n'}) != 2 {
		t.Errorf("1 row, day 1: %q", b)
	}
}
