package ingest

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"muster/samples/gen"
	"muster/schema"
)

// genDrop returns a drop of a generated export.
func genDrop(tb testing.TB, source string, o gen.Options) Drop {
	tb.Helper()
	var buf bytes.Buffer
	if err := gen.Write(&buf, o); err != nil {
		tb.Fatal(err)
	}
	d, err := FileDrop(bytes.NewReader(buf.Bytes()), fmt.Sprintf("%s-%d-%d.csv", source, o.Seed, o.Day), "", schema.DecodeOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	d.Source = SourceConfig{Name: source, MaxRemoveCount: -1, MaxRemovePercent: -1}
	return d
}

func mustApply(tb testing.TB, in *Ingester, d Drop) *Report {
	tb.Helper()
	rep, err := in.Ingest(context.Background(), d, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if rep.Decision != Applied {
		tb.Fatalf("%s: %s (%s)", d.Name, rep.Decision, rep.Reason)
	}
	return rep
}

// BenchmarkApplyNewPeople applies a drop of 10,000 people new to the
// organisation, from a new source, into an organisation that already holds
// 0 to 200,000 other people, from one source or from six: the cost of an
// apply must depend on the drop, not on the size of the organisation nor
// on how many sources it has. Each further iteration adds its 10,000 to
// the organisation; apply-ms/op is the apply's own time (the report's).
//
//	go test -run X -bench ApplyNewPeople -benchtime 3x ./ingest
func BenchmarkApplyNewPeople(b *testing.B) {
	for _, org := range []struct{ people, sources int }{{0, 0}, {10_000, 1}, {100_000, 1}, {200_000, 1}, {60_000, 6}} {
		b.Run(fmt.Sprintf("org=%d/sources=%d", org.people, org.sources), func(b *testing.B) {
			in := MustIngester(b)
			for s := range org.sources {
				mustApply(b, in, genDrop(b, fmt.Sprint("base", s), gen.Options{Rows: org.people / org.sources, Seed: 1 + s}))
			}
			drops := make([]Drop, b.N)
			for i := range drops {
				drops[i] = genDrop(b, fmt.Sprintf("new%d", i), gen.Options{Rows: 10_000, Seed: 1000 + i})
			}
			var applyMS int64
			b.ResetTimer()
			for i := range b.N {
				rep := mustApply(b, in, drops[i])
				applyMS += rep.Timings.ApplyMS
			}
			b.ReportMetric(float64(applyMS)/float64(b.N), "apply-ms/op")
		})
	}
}
