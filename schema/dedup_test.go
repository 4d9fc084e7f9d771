package schema

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestLineSet(t *testing.T) {
	var s lineSet
	// Hashes that share their low bits probe the same slots; 0 is a valid hash.
	for i := 0; i < 20000; i++ {
		h := uint64(i) << 40
		if first, dup := s.firstOrAdd(h, i+2); dup || first != i+2 {
			t.Fatalf("hash %d: first %d dup %v", i, first, dup)
		}
	}
	for i := 0; i < 20000; i++ {
		if first, dup := s.firstOrAdd(uint64(i)<<40, 99); !dup || first != i+2 {
			t.Fatalf("hash %d again: first %d dup %v", i, first, dup)
		}
	}
	if s.n != 20000 || 3*s.len() < 4*s.n {
		t.Fatalf("n %d, %d slots", s.n, s.len())
	}
}

func TestLineSetSizeFor(t *testing.T) {
	var s lineSet
	s.firstOrAdd(42, 7)
	s.sizeFor(100_000)
	if s.len() != 1<<18 { // 100,000 is over 3/4 of 1<<17
		t.Fatalf("%d slots", s.len())
	}
	if first, dup := s.firstOrAdd(42, 9); !dup || first != 7 {
		t.Fatal("entry lost when resizing")
	}
}

// A caller that finds duplicates itself (DeferDuplicates) and inserts
// DuplicateProblem where it says gets exactly the records the decoder makes
// when it checks them: rows with problems found reading them (ragged, a
// stray quote, bytes that are not text, a value too long), problems after
// the address (status, dates), in any mix.
func TestDeferredDuplicatesMatch(t *testing.T) {
	var in strings.Builder
	in.WriteString("Email,First Name,Status,Hire Date\n")
	long := strings.Repeat("x", MaxValueLen+1)
	for i := 0; i < 400; i++ {
		u := (i * 7) % 53
		switch i % 9 {
		case 1:
			fmt.Fprintf(&in, "U%d@x.org,Ann,Nope,someday\n", u)
		case 2:
			fmt.Fprintf(&in, "u%d@x.org,Active\n", u) // ragged
		case 3:
			fmt.Fprintf(&in, "u%d@x.org,\"An\"n,Active,2020-01-02\n", u) // stray quote
		case 4:
			fmt.Fprintf(&in, "u%d@x.org,%s,Active,2020-01-02\n", u, long)
		case 5:
			fmt.Fprintf(&in, "u%d@x.org,A\x01n,Nope,2020-01-02\n", u) // control character, then a status problem
		case 6:
			fmt.Fprintf(&in, "u%d@x.org,\"O\"\"B, \"\"x\"\"\",Active,13/13/2020\n", u)
		default:
			fmt.Fprintf(&in, "u%d@x.org,Ann,Active,2020-01-02\n", u)
		}
	}
	decode := func(o DecodeOptions) (*Decoder, []Record) {
		d, err := NewDecoder(strings.NewReader(in.String()), o)
		if err != nil {
			t.Fatal(err)
		}
		var out []Record
		for {
			r, err := d.Next()
			if errors.Is(err, io.EOF) {
				return d, out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
	}
	_, want := decode(DecodeOptions{})
	d, got := decode(DecodeOptions{DeferDuplicates: true})
	first := map[string]int{}
	dups := 0
	for i := range got {
		r := &got[i]
		if r.Key == "" {
			continue
		}
		if line, ok := first[r.Key]; ok {
			r.Problems = slices.Insert(slices.Clone(r.Problems), d.DuplicateAt(r), d.DuplicateProblem(&Record{Line: r.Line, Email: r.Email}, line))
			dups++
			continue
		}
		first[r.Key] = r.Line
	}
	if dups < 300 || len(got) != len(want) {
		t.Fatalf("%d duplicates in %d rows (want %d rows)", dups, len(got), len(want))
	}
	// The duplicate problem met every kind of problem before and after it.
	seen := map[string]bool{}
	for _, r := range want {
		codes := codesOf(r)
		if strings.Contains(codes, "duplicate_email") {
			for _, c := range strings.Split(codes, ",") {
				seen[c] = true
			}
		}
	}
	for _, c := range []string{"ragged_row", "stray_quote", "value_too_long", "invalid_text", "unknown_status", "invalid_date"} {
		if !seen[c] {
			t.Errorf("no duplicate row has a %s problem too: %v", c, seen)
		}
	}
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Fatalf("line %d:\n got %+v\nwant %+v", want[i].Line, got[i].Problems, want[i].Problems)
		}
	}
}
