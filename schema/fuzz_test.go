package schema

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode feeds the decoder arbitrary files, seeded with every sample
// of samples/. It must never panic or hang, and what it returns must hold
// together: lines increase, keys are normalised, counts add up, text is
// UTF-8.
//
//	go test ./schema -run '^$' -fuzz FuzzDecode -fuzztime 3m
func FuzzDecode(f *testing.F) {
	for _, path := range sampleFiles(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, byte(0), false)
	}
	f.Add([]byte("Email;Name\r\na@x.org;\"Doe; \"\"J\"\"\"\r\n"), byte(';'), true)
	f.Add([]byte("sep=|\nEmail|Terminated\na@x.org|yes\n"), byte(0), false)
	f.Fuzz(func(t *testing.T, in []byte, delim byte, dayFirst bool) {
		opts := DecodeOptions{DayFirst: dayFirst}
		switch delim % 5 {
		case 1:
			opts.Delimiter = ','
		case 2:
			opts.Delimiter = ';'
		case 3:
			opts.Delimiter = '\t'
		case 4:
			opts.Delimiter = '|'
		}
		d, err := NewDecoder(bytes.NewReader(in), opts)
		if err != nil {
			checkFileError(t, err)
			return
		}
		info := d.Info()
		last, n, invalid := info.HeaderLine, 0, 0
		for {
			r, err := d.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				checkFileError(t, err)
				return
			}
			n++
			if !r.Valid() {
				invalid++
			}
			if r.Line <= last {
				t.Fatalf("record on line %d after line %d", r.Line, last)
			}
			last = r.Line
			checkRecord(t, r)
		}
		info = d.Info()
		if info.Rows != n || info.Invalid != invalid {
			t.Fatalf("info says %d rows, %d invalid; got %d, %d", info.Rows, info.Invalid, n, invalid)
		}
	})
}

func checkFileError(t *testing.T, err error) {
	t.Helper()
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error is not a FileError: %v", err)
	}
	if ErrorCodeOf(err) != EInvalid || len(fe.Problems) == 0 {
		t.Fatalf("bad FileError: %v", err)
	}
	for _, p := range fe.Problems {
		if p.Code == "" || p.Message == "" || !utf8.ValidString(p.Message) {
			t.Fatalf("bad problem %+v", p)
		}
	}
}

func checkRecord(t *testing.T, r Record) {
	t.Helper()
	if r.Key != "" {
		email, key, err := NormalizeEmail(r.Email)
		if err != nil || email != r.Email || key != r.Key {
			t.Fatalf("line %d: %q normalises to %q, %q, %v; record has key %q", r.Line, r.Email, email, key, err, r.Key)
		}
	} else if r.Valid() {
		t.Fatalf("line %d: valid record without a key", r.Line)
	}
	strs := []string{r.Email, r.Key, r.FirstName, r.LastName, r.SourceID}
	strs = append(strs, r.Groups...)
	strs = append(strs, r.Attrs[:]...)
	for _, s := range strs {
		if !utf8.ValidString(s) || len(s) > MaxValueLen && s != r.Email {
			t.Fatalf("line %d: bad value %q", r.Line, s)
		}
	}
	for _, p := range r.Problems {
		if p.Line != r.Line || p.Code == "" || p.Message == "" {
			t.Fatalf("line %d: bad problem %+v", r.Line, p)
		}
	}
	if d := r.Attrs[AttrEmploymentStartDate]; d != "" && (len(d) != 10 || d[4] != '-' || d[7] != '-') {
		t.Fatalf("line %d: date %q", r.Line, d)
	}
}

// FuzzNormalizeEmail checks that a key is stable: normalising an accepted
// address's key gives the key back, and keys are short and lower-case.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"jane@example.org", "Jane Doe <Jane@Example.ORG>", "jürgen@bücher.example",
		"\u200bx@y.org", "mailto:a@b.co", "a@b", "\"a b\"@c.org", "a@xn--bcher-kva.example", "A@B.C.D.E"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		email, key, err := NormalizeEmail(s)
		if err != nil {
			if ErrorCodeOf(err) != EInvalid {
				t.Fatalf("%q: error code %q", s, ErrorCodeOf(err))
			}
			return
		}
		if email == "" || key == "" || len(key) > maxEmailLen || !utf8.ValidString(key) {
			t.Fatalf("%q -> %q, %q", s, email, key)
		}
		at := strings.LastIndexByte(key, '@')
		if domain := key[at+1:]; domain != strings.ToLower(domain) || !isASCII(domain) {
			t.Fatalf("%q: domain of key %q", s, key)
		}
		_, key2, err := NormalizeEmail(key)
		if err != nil || key2 != key {
			t.Fatalf("%q: key %q normalises to %q, %v", s, key, key2, err)
		}
		if _, key3, err := NormalizeEmail(email); err != nil || key3 != key {
			t.Fatalf("%q: email %q normalises to %q, %v", s, email, key3, err)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// FuzzCSVReader checks the hand-written reader against encoding/csv on
// every input both should read alike: strict RFC 4180 quoting, without
// lone CRs (which we read as line ends and encoding/csv keeps).
func FuzzCSVReader(f *testing.F) {
	f.Add("a,b\n\"c\nd\",e\r\n\"\"\"\",\n")
	f.Add("x\n\n,,\n\"a,b\"")
	f.Fuzz(func(t *testing.T, in string) {
		if strings.Contains(strings.ReplaceAll(in, "\r\n", ""), "\r") {
			return
		}
		cr := csv.NewReader(strings.NewReader(in))
		cr.FieldsPerRecord = -1
		want, err := cr.ReadAll()
		if err != nil {
			return
		}
		c := newCSVReader(strings.NewReader(in))
		c.delim = ','
		var got [][]string
		for {
			if err := c.next(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("%q: %v (encoding/csv reads %q)", in, err, want)
				}
				break
			}
			var row []string
			for _, f := range c.fields() {
				row = append(row, string(f))
			}
			got = append(got, row)
		}
		if len(want) == 0 {
			want = nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %q\nwant %q", in, got, want)
		}
	})
}
