package ingest

import (
	"context"
	"io"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
	"muster/schema"
	"muster/store"
)

// fetchDirectory pulls a directory of n users in groups groups from the
// in-process fake into memory, so a benchmark times only the pipeline.
func fetchDirectory(b *testing.B, n, groups int) ([]schema.Record, workos.PullStats) {
	b.Helper()
	srv := workostest.Start(b, workostest.Options{})
	seed := srv.MustSeed(b, workostest.SeedSpec{Users: n, Groups: groups, Inactive: n / 100})
	c, err := workos.New(workos.Config{BaseURL: srv.URL, APIKey: workos.Secret(srv.APIKey()), DirectoryUsersInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	s, err := c.Pull(context.Background(), seed.Directory.ID, workos.PullOptions{Attrs: benchAttrs})
	if err != nil {
		b.Fatal(err)
	}
	var recs []schema.Record
	for {
		r, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs, s.Stats()
}

var benchAttrs = schema.AttrSet(0).With(schema.AttrJobTitle).With(schema.AttrDepartmentName)

// cpu returns the process's user and system CPU time so far: the machine is
// shared, so CPU time says more than wall time alone.
func cpu() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// BenchmarkApplyDirectory100k times the pipeline applying a WorkOS directory
// of 100,000 users (200 groups, 1% inactive, two attributes kept) once it
// is fetched: first into an empty store, then a later pull with 1% of the
// people changed (renamed, made inactive, moved between groups), then a
// batch of 100 events as one delta. Each iteration gets a fresh store
// (prepared outside the timer). Run with -benchtime 1x -count 5 and take
// the median; user-ms/op is the CPU the apply used.
//
//	go test -run X -bench ApplyDirectory100k -benchtime 1x -count 5 ./ingest/
func BenchmarkApplyDirectory100k(b *testing.B) {
	recs, stats := fetchDirectory(b, 100_000, 200)
	b.Logf("fetched %d records in %d requests (%d membership pages)", len(recs), stats.Requests, stats.MembershipPages)
	dir := SourceConfig{Name: "okta", Kind: store.KindWorkOS, Authoritative: true, Attrs: benchAttrs}
	changed := make([]schema.Record, len(recs))
	copy(changed, recs)
	for i := 0; i < len(changed); i += 100 {
		r := &changed[i]
		switch (i / 100) % 3 {
		case 0:
			r.FirstName += " Jr"
		case 1:
			r.Status = schema.StatusInactive
		default:
			r.Groups = []string{workostest.GroupName(199)}
		}
	}
	fresh := func(b *testing.B) *Ingester {
		st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), store.FileName))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		in := New(st)
		in.TempDir = b.TempDir()
		return in
	}
	apply := func(b *testing.B, in *Ingester, rs []schema.Record, want Decision) {
		rep, err := in.Ingest(context.Background(), Drop{Source: dir, Name: "workos pull", Kind: store.DropKindStream,
			Records: &schema.SliceStream{Records: rs}}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Decision != want {
			b.Fatalf("decision %s (%s)", rep.Decision, rep.Reason)
		}
	}
	timed := func(b *testing.B, prepare func(b *testing.B) *Ingester, run func(b *testing.B, in *Ingester)) {
		var user, sys time.Duration
		for b.Loop() {
			b.StopTimer()
			in := prepare(b)
			u0, s0 := cpu()
			b.StartTimer()
			run(b, in)
			b.StopTimer()
			u1, s1 := cpu()
			user, sys = user+u1-u0, sys+s1-s0
			b.StartTimer()
		}
		b.ReportMetric(float64(user.Milliseconds())/float64(b.N), "user-ms/op")
		b.ReportMetric(float64(sys.Milliseconds())/float64(b.N), "sys-ms/op")
	}
	loaded := func(b *testing.B) *Ingester {
		in := fresh(b)
		apply(b, in, recs, Applied)
		return in
	}
	b.Run("first-pull", func(b *testing.B) {
		timed(b, fresh, func(b *testing.B, in *Ingester) { apply(b, in, recs, Applied) })
	})
	b.Run("next-pull-1pct-changed", func(b *testing.B) {
		timed(b, loaded, func(b *testing.B, in *Ingester) { apply(b, in, changed, Applied) })
	})
	b.Run("100-events", func(b *testing.B) {
		edits := make([]Edit, 100)
		for i := range edits {
			r := recs[i*997]
			r.Groups = nil
			r.FirstName += " (renamed)"
			edits[i] = Edit{Kind: EditUpsert, Record: r}
		}
		timed(b, loaded, func(b *testing.B, in *Ingester) {
			rep, err := in.ApplyEdits(context.Background(), Edits{Source: dir, Name: "events", Edits: edits}, Options{})
			if err != nil || rep.Counts.Updated != 100 {
				b.Fatalf("%v %+v", err, rep)
			}
		})
	})
}
