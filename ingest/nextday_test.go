package ingest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"muster/samples/gen"
	"muster/schema"
	"muster/store"
)

// A next day's snapshot index file goes in place before the commit (the
// base's file it replaces is let go of beside the commit). A commit that
// then does not happen (here the apply stops at the commit's hook) leaves
// the store as it was and a file the next diff must not use: the drop run
// again, and the day after, give what a run that never stopped gives.
func TestNextDayIndexInPlaceBeforeCommit(t *testing.T) {
	ctx := context.Background()
	ref, in := MustIngester(t), MustIngester(t)
	cfg := SourceConfig{Name: "hr", MaxRemovePercent: -1, MaxRemoveCount: -1, MaxInvalidPercent: -1}
	days := []gen.Options{{Rows: 600, Seed: 5}, {Rows: 600, Seed: 5, Day: 1, Churn: 10},
		{Rows: 600, Seed: 5, Day: 1, Churn: 30}, {Rows: 600, Seed: 5, Day: 1, Churn: 4}}
	ingest := func(in *Ingester, step int) *Report {
		t.Helper()
		var b bytes.Buffer
		if err := gen.Write(&b, days[step]); err != nil {
			t.Fatal(err)
		}
		d, err := FileDrop(&b, fmt.Sprintf("day%d.csv", step), fmt.Sprintf("sha256:%d", step), schema.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Source = cfg
		rep, err := in.Ingest(ctx, d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		mustDecision(t, rep, Applied)
		return rep
	}
	indexFile := func() os.FileInfo {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(in.Store.IndexDir(), "*.idx"))
		if len(m) != 1 {
			t.Fatalf("index files %v, want one", m)
		}
		fi, err := os.Stat(m[0])
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	// The audience, without seqs and group ids: on PostgreSQL a rolled
	// back transaction still uses up sequence values.
	audience := func(in *Ingester) string {
		t.Helper()
		o, err := in.Store.LookupOrg(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		err = in.Store.EachRecipient(ctx, o.ID, store.RecipientFilter{}, 0, func(r store.Recipient) error {
			fmt.Fprintf(&b, "%s %s %s %s %s %d\n", r.Key, r.Email, r.FirstName, r.LastName, r.Status, len(r.GroupIDs))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	same := func(step int, a, b *Report) {
		t.Helper()
		if a.Counts != b.Counts || audience(ref) != audience(in) {
			t.Fatalf("step %d: %+v and %+v, audiences equal %v", step, a.Counts, b.Counts, audience(ref) == audience(in))
		}
		// On SQLite a rolled back transaction leaves no trace at all.
		da, _ := ref.Store.Digest(ctx)
		db, _ := in.Store.Digest(ctx)
		if !store.IsURL(in.Store.Target()) && da != db {
			t.Fatalf("step %d: the stores differ", step)
		}
	}
	same(0, ingest(ref, 0), ingest(in, 0))

	before, replaced := indexFile(), false
	in.Hook = func(point string) {
		if point == "apply-commit" {
			replaced = !os.SameFile(before, indexFile())
		}
	}
	same(1, ingest(ref, 1), ingest(in, 1))
	if !replaced {
		t.Fatal("at the commit of a next day the index file was still the one before")
	}

	// Stopped at the commit: nothing of the drop is in the store.
	want, _ := in.Store.Digest(ctx)
	in.Hook = func(point string) {
		if point == "apply-commit" {
			panic("stop at the commit")
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the apply did not reach its commit")
			}
		}()
		ingest(in, 2)
	}()
	in.Hook = nil
	if got, _ := in.Store.Digest(ctx); got != want {
		t.Fatal("an apply stopped before its commit changed the store")
	}
	same(2, ingest(ref, 2), ingest(in, 2))
	same(3, ingest(ref, 3), ingest(in, 3))
}
