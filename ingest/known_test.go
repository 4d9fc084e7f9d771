package ingest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"muster/samples/gen"
	"muster/schema"
)

// readAll hides a decoder's SetKnown: every row is read whole.
type readAll struct{ d *schema.Decoder }

func (r readAll) Next() (schema.Record, error)     { return r.d.Next() }
func (r readAll) DefersDuplicates() bool           { return r.d.DefersDuplicates() }
func (r readAll) DuplicateAt(x *schema.Record) int { return r.d.DuplicateAt(x) }
func (r readAll) DuplicateProblem(x *schema.Record, first int) schema.Problem {
	return r.d.DuplicateProblem(x, first)
}

// Rows the snapshot holds exactly as a file says them are not read (their
// digests are known): whatever the files, the audience, every report and
// the snapshot index after each drop are what reading every row gives.
// Random histories of generated exports: next days, the same day with
// other line ends, another header, rows broken or repeated, people who
// come back, an allowlist that widens; with spills in memory and on disk.
func TestKnownRowsChangeNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for round := range 4 {
		fast, slow := MustIngester(t), MustIngester(t)
		if round%2 == 1 {
			fast.spillLimit, slow.spillLimit = 8<<10, 8<<10
		}
		cfg := SourceConfig{Name: "hr", MaxRemovePercent: -1, MaxRemoveCount: -1, MaxInvalidPercent: -1}
		knownSeen := 0
		for step := range 8 {
			o := gen.Options{Rows: 400 + rng.IntN(400), Seed: 1 + rng.IntN(2), Day: rng.IntN(2), Churn: float64(rng.IntN(20)),
				CRLF: rng.IntN(3) == 0}
			var b bytes.Buffer
			if err := gen.Write(&b, o); err != nil {
				t.Fatal(err)
			}
			file := b.String()
			switch rng.IntN(6) {
			case 0: // another header: other digests
				file = strings.Replace(file, "Worker_Type", "Employee_Type", 1)
			case 1: // a broken row and a repeated one
				lines := strings.SplitAfter(file, "\n")
				i, j := 1+rng.IntN(len(lines)-2), 1+rng.IntN(len(lines)-2)
				lines[i] = strings.Replace(lines[i], "Active", "Nope", 1)
				file = strings.Join(lines, "") + lines[j]
			}
			if step == 5 {
				cfg.Attrs = schema.AttrSet(0).With(schema.AttrCity) // a wider allowlist: all read again
			}
			name := fmt.Sprintf("step%d.csv", step)
			var reps [2]*Report
			for k, in := range []*Ingester{fast, slow} {
				d, err := FileDrop(strings.NewReader(file), name, fmt.Sprintf("sha256:%d-%d", round, step), schema.DecodeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if k == 1 {
					d.Records = readAll{d.Records.(*schema.Decoder)}
				}
				d.Source = cfg
				if reps[k], err = in.Ingest(context.Background(), d, Options{}); err != nil {
					t.Fatal(err)
				}
			}
			f, s := reps[0], reps[1]
			if f.Decision != s.Decision || f.Counts != s.Counts || fmt.Sprint(f.Problems) != fmt.Sprint(s.Problems) ||
				string(f.File) != string(s.File) {
				t.Fatalf("round %d step %d: reading known rows or not differs:\n%s %+v %s\n%s %+v %s", round, step,
					f.Decision, f.Counts, f.File, s.Decision, s.Counts, s.File)
			}
			for _, in := range []*Ingester{fast, slow} {
				if _, err := in.Store.Digest(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			df, _ := fast.Store.Digest(context.Background())
			ds, _ := slow.Store.Digest(context.Background())
			if df != ds {
				t.Fatalf("round %d step %d: the stores differ", round, step)
			}
		}
		if knownSeen = int(fast.knownRows.Load()); knownSeen == 0 || slow.knownRows.Load() != 0 {
			t.Fatalf("round %d: %d rows known (and %d reading all): the fast path was not taken", round, knownSeen,
				slow.knownRows.Load())
		}
	}
}

// A first ingest reads every row but keeps their digests: the next file
// that says the same rows (here in other bytes: CR LF line ends) is known
// by them, row for row, without reading any.
func TestFirstIngestKeepsDigests(t *testing.T) {
	in := MustIngester(t)
	cfg := SourceConfig{Name: "hr", MaxRemovePercent: -1, MaxRemoveCount: -1, MaxInvalidPercent: -1}
	for step, crlf := range []bool{false, true} {
		var b bytes.Buffer
		if err := gen.Write(&b, gen.Options{Rows: 700, Seed: 3, CRLF: crlf}); err != nil {
			t.Fatal(err)
		}
		d, err := FileDrop(&b, fmt.Sprintf("day%d.csv", step), fmt.Sprintf("sha256:%d", step), schema.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Source = cfg
		rep, err := in.Ingest(context.Background(), d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Decision != Applied {
			t.Fatalf("step %d: %s", step, rep.Decision)
		}
		known := in.knownRows.Load()
		if step == 0 && (rep.Counts.Added != 700 || known != 0) {
			t.Fatalf("first ingest: %+v, %d rows known", rep.Counts, known)
		}
		if step == 1 && (rep.Counts.Unchanged != 700 || known != 700) {
			t.Fatalf("the same rows again: %+v, %d of 700 rows known by their digest", rep.Counts, known)
		}
	}
}
