package ingest

import (
	"bytes"
	"context"
	"database/sql"
	"testing"

	"muster/samples/gen"
	"muster/schema"
	"muster/store/pg"
	"muster/store/storetest"
)

// A drop whose new rows go by COPYs streamed beside the apply (PostgreSQL)
// fails whole when one of those COPYs fails, whichever batch reports it,
// and leaves the audience as it was: a row the server refuses in the
// middle of a 20,000-person first ingest, the apply's context cancelled
// half way, its connection killed half way. The same file then applies,
// and gives the audience a fresh store gets from it.
func TestStreamedCopyFailureFailsTheDrop(t *testing.T) {
	if !storetest.Postgres() {
		t.Skip("PostgreSQL only: SQLite writes with INSERTs, not streamed COPYs (store's TestStreamedCopyFailure... covers both)")
	}
	ctx := context.Background()
	var file bytes.Buffer
	if err := gen.Write(&file, gen.Options{Rows: 20000, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	cfg := SourceConfig{Name: "hr", MaxRemovePercent: -1, MaxRemoveCount: -1, MaxInvalidPercent: -1}
	ingest := func(in *Ingester, c context.Context) (*Report, error) {
		d, err := FileDrop(bytes.NewReader(file.Bytes()), "day0.csv", "sha256:day0", schema.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Source = cfg
		return in.Ingest(c, d, Options{})
	}
	open := func() (*Ingester, *sql.DB) {
		target := storetest.Target(t)
		in := New(storetest.OpenAt(t, target))
		in.TempDir = t.TempDir()
		db, err := pg.Open(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return in, db
	}
	fresh, freshDB := open()
	if _, err := ingest(fresh, ctx); err != nil {
		t.Fatal(err)
	}
	// The audience without its seqs and ids (sequences do not roll back:
	// the failed attempts used some).
	audience := func(db *sql.DB) string {
		t.Helper()
		var r, s, g string
		if err := db.QueryRowContext(ctx, `SELECT
			(SELECT md5(string_agg(concat_ws(',', key, email, first_name, last_name, attrs, status), ';' ORDER BY key)) FROM recipients),
			(SELECT md5(string_agg(concat_ws(',', key, line, hash, status, encode(data, 'hex')), ';' ORDER BY key)) FROM snapshot),
			(SELECT string_agg(name, ',' ORDER BY name) FROM groups)`).Scan(&r, &s, &g); err != nil {
			t.Fatal(err)
		}
		return r + " " + s + " " + g
	}
	want := audience(freshDB)

	in, db := open()
	// A person in the middle of the file (in key order: the order of the
	// apply), refused by the server.
	var middle string
	if err := freshDB.QueryRowContext(ctx, `SELECT key FROM recipients ORDER BY key OFFSET 10000 LIMIT 1`).Scan(&middle); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ALTER TABLE recipients ADD CONSTRAINT refuse_one CHECK (key <> '`+middle+`')`); err != nil {
		t.Fatal(err)
	}
	empty, err := in.Store.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	failed := func(what string, rep *Report, err error) {
		t.Helper()
		if err == nil && rep.Decision == Applied {
			t.Fatalf("%s: applied, want the drop failed", what)
		}
		got, derr := in.Store.Digest(ctx)
		if derr != nil {
			t.Fatal(derr)
		}
		if got != empty {
			t.Fatalf("%s: the audience changed (%v)", what, err)
		}
		t.Logf("%s: %v", what, err)
	}
	rep, err := ingest(in, ctx)
	failed("a row refused by the server", rep, err)
	if _, err := db.ExecContext(ctx, `ALTER TABLE recipients DROP CONSTRAINT refuse_one`); err != nil {
		t.Fatal(err)
	}

	cctx, cancel := context.WithCancel(ctx)
	in.Hook = func(point string) {
		if point == "apply-half" {
			cancel()
		}
	}
	rep, err = ingest(in, cctx)
	failed("the context cancelled half way", rep, err)

	in.Hook = func(point string) {
		if point == "apply-half" {
			// Every connection of this test's schema but ours: the apply's.
			if _, err := db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE application_name = current_setting('application_name') AND pid <> pg_backend_pid()`); err != nil {
				t.Error(err)
			}
		}
	}
	rep, err = ingest(in, ctx)
	failed("the connection killed half way", rep, err)

	in.Hook = nil
	if rep, err = ingest(in, ctx); err != nil || rep.Decision != Applied {
		t.Fatalf("the same file after the failures: %v %v", rep, err)
	}
	if got := audience(db); got != want {
		t.Fatalf("after the failures the file gives another audience than on a fresh store (%.80s, want %.80s)", got, want)
	}
}
