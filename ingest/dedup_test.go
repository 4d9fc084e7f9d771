package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"muster/schema"
)

// The pipeline finds a file's repeated addresses itself (the decoder leaves
// them to it): against the snapshot for addresses it holds, by sorting for
// the others. Whichever way, a report says what the decoder checking them
// would have said: the same problems in the same places, the same counts,
// the same invalid count in the file's description. Random files with
// repeats near and far, valid and invalid, with other problems on the same
// rows, a first drop and a next one, with spills in memory and on disk.
func TestDuplicatesFoundByThePipelineAsByTheDecoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 6 {
		in := MustIngester(t)
		if round%2 == 1 {
			in.spillLimit = 4 << 10 // many runs
		}
		cfg := SourceConfig{Name: "hr", MaxRemovePercent: -1, MaxRemoveCount: -1, MaxInvalidPercent: -1}
		if round >= 3 {
			cfg.Attrs = schema.AttrSet(0).With(schema.AttrEmploymentStartDate) // its warnings are reported too
		}
		for day := range 3 {
			file := dupFile(rng, 300+rng.IntN(300), day)
			d, err := FileDrop(strings.NewReader(file), fmt.Sprintf("day%d.csv", day), "", schema.DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			d.Source = cfg
			rep, err := in.Ingest(context.Background(), d, Options{})
			if err != nil {
				t.Fatal(err)
			}
			// What the decoder says checking repeats itself.
			dec, err := schema.NewDecoder(strings.NewReader(file), schema.DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var want []schema.Problem
			invalid := 0
			for {
				r, err := dec.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range r.Problems {
					if !aboutDisabledAttr(p, cfg.WithDefaults().Attrs) {
						want = append(want, p)
					}
				}
				if !r.Valid() {
					invalid++
				}
			}
			want = append(want, dec.Info().Problems...)
			for i := range max(len(rep.Problems), len(want)) {
				var g, w schema.Problem
				if i < len(rep.Problems) {
					g = rep.Problems[i]
				}
				if i < len(want) {
					w = want[i]
				}
				if g != w {
					t.Fatalf("round %d day %d: problem %d of %d (want %d):\n got %v\nwant %v", round, day, i, len(rep.Problems), len(want), g, w)
				}
			}
			if rep.Counts.Invalid != int64(invalid) || !bytes.Contains(rep.File, []byte(fmt.Sprintf(`"invalid":%d`, invalid))) {
				t.Fatalf("round %d day %d: invalid %d, file %s; want %d", round, day, rep.Counts.Invalid, rep.File, invalid)
			}
			if rep.Decision != Applied {
				t.Fatalf("round %d day %d: %s (%s)", round, day, rep.Decision, rep.Reason)
			}
		}
	}
}

// dupFile writes a file whose addresses repeat: some people of every day,
// some new each day, rows broken in several ways.
func dupFile(rng *rand.Rand, rows, day int) string {
	var b strings.Builder
	b.WriteString("Email,First Name,Status,Hire Date,Employee ID\n")
	for range rows {
		u := rng.IntN(rows / 3)
		email := fmt.Sprintf("p%04d@x.org", u)
		if rng.IntN(3) == 0 {
			email = fmt.Sprintf("d%dn%04d@x.org", day, u) // new today
		}
		if rng.IntN(5) == 0 {
			email = strings.ToUpper(email[:1]) + email[1:]
		}
		name, status, date := "Ann", "Active", "2020-01-02"
		switch rng.IntN(8) {
		case 0:
			status = "Nope"
		case 1:
			date = "13/13/2020"
		case 2:
			name = "A\x01n"
		case 3:
			name = "\"An\"n"
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,E%d\n", email, name, status, date, u)
	}
	return b.String()
}

// TestFarRowsRememberedPastTheirBatch: a record's strings live in its
// pipeline batch (schema.NextIntoBuf), reused once the batch is diffed;
// what the diff remembers of a row for later rows (a delta's addresses
// seen, an invalid row's id that protects its person) must be its own
// copy. Rows thousands of lines apart, many batches in between.
func TestFarRowsRememberedPastTheirBatch(t *testing.T) {
	const n = 8000
	in := MustIngester(t)
	// A delta: the last row repeats the first one's address.
	var b strings.Builder
	b.WriteString("Email,First Name,Action\n")
	for i := range n {
		fmt.Fprintf(&b, "a%05d@x.org,Ann,add\n", i)
	}
	b.WriteString("a00000@x.org,Ann,add\n")
	d, err := FileDrop(strings.NewReader(b.String()), "delta.csv", "", schema.DecodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Source = SourceConfig{Name: "delta", MaxInvalidPercent: -1}
	rep, err := in.Ingest(context.Background(), d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts.Added != n || rep.Counts.Invalid != 1 || len(rep.Problems) != 1 || rep.Problems[0].Line != n+2 {
		t.Fatalf("delta: %+v, problems %v; want %d added and line %d a repeat", rep.Counts, rep.Problems, n, n+2)
	}
	// A full snapshot, then the next one without p00000 but with an
	// invalid row carrying their id first: they are kept.
	full := func(name string, skip bool) *Report {
		var b strings.Builder
		b.WriteString("Email,First Name,Employee ID\n")
		if skip {
			b.WriteString("not an address,Ann,E00000\n")
		}
		for i := range n {
			if i > 0 || !skip {
				fmt.Fprintf(&b, "p%05d@x.org,Ann,E%05d\n", i, i)
			}
		}
		d, err := FileDrop(strings.NewReader(b.String()), name, "sha256:"+name, schema.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Source = SourceConfig{Name: "hr", MaxRemovePercent: -1, MaxRemoveCount: -1, MaxInvalidPercent: -1}
		rep, err := in.Ingest(context.Background(), d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	full("day0.csv", false)
	if rep := full("day1.csv", true); rep.Decision != Applied || rep.Counts.Removed != 0 || rep.Counts.Invalid != 1 {
		t.Fatalf("day 1: %s, %+v: the invalid row's id no longer protects p00000", rep.Decision, rep.Counts)
	}
}
