package store

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"muster/schema"
)

// Migration 0007 turns the suppressions of a store made before offboarding
// was derived into what the new rules derive the same from: an offboarding
// by a source that no longer lists the person becomes its tombstone; one by
// a source that lists them inactive needs nothing; one lifted by an admin
// becomes a lift of every authoritative source that lists them inactive;
// one lifted because a source listed them again needs nothing. Every
// organisation is marked for a rebuild.
func TestMigration7CarriesSuppressionsOver(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := OpenWith(ctx, path, Options{upTo: 6})
	if err != nil {
		t.Fatal(err)
	}
	org, err := s.EnsureOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	dir, _, err := s.EnsureSource(ctx, org.ID, SourceConfig{Name: "okta", Kind: KindWorkOS, Authoritative: true})
	if err != nil {
		t.Fatal(err)
	}
	hr, _, err := s.EnsureSource(ctx, org.ID, SourceConfig{Name: "hr", Kind: KindSFTP, Authoritative: true})
	if err != nil {
		t.Fatal(err)
	}
	gone, _, err := s.EnsureSource(ctx, org.ID, SourceConfig{Name: "old", Kind: KindWorkOS, Authoritative: true})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.Begin(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	d := Drop{SourceID: dir.ID, Kind: DropKindStream, Name: "workos pull"}
	if err := tx.CreateDrop(&d); err != nil {
		t.Fatal(err)
	}
	d.Status, d.Seq = DropApplied, 1
	if err := tx.FinishDrop(d); err != nil {
		t.Fatal(err)
	}
	assert := func(src int64, key string, st schema.Status, hash uint64) {
		a := Assertion{SourceID: src, Key: key, Email: key, Status: st, Seq: 1, DropID: d.ID, Hash: hash}
		if err := tx.Assert(a, nil); err != nil {
			t.Fatal(err)
		}
	}
	assert(dir.ID, "inactive@x.org", schema.StatusInactive, 11)
	assert(dir.ID, "lifted@x.org", schema.StatusInactive, 12)
	assert(hr.ID, "lifted@x.org", schema.StatusInactive, 13)
	assert(dir.ID, "back@x.org", schema.StatusActive, 14)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`UPDATE sources SET removed_at='2026-01-01T00:00:00Z' WHERE id=?`, gone.ID); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		key      string
		src      int64
		liftedBy string
	}{
		{key: "deleted@x.org", src: dir.ID},
		{key: "inactive@x.org", src: dir.ID},
		{key: "lifted@x.org", src: dir.ID, liftedBy: "alice"},
		{key: "back@x.org", src: dir.ID, liftedBy: "source okta"},
		{key: "removed-source@x.org", src: gone.ID},
	} {
		lifted := any(nil)
		if q.liftedBy != "" {
			lifted = "2026-01-02T00:00:00Z"
		}
		if _, err := s.db.Exec(`INSERT INTO suppressions(org_id, key, reason, source_id, drop_id, created_at, lifted_at, lifted_by, lift_reason)
			VALUES(?,?,?,?,?,?,?,?,?)`, org.ID, q.key, "offboarded", q.src, d.ID, "2026-01-01T00:00:00Z", lifted, q.liftedBy, "contractor"); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var tombs []string
	rows, err := s.db.Query(`SELECT key, source_id, seq FROM tombstones ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var src, seq int64
		rows.Scan(&k, &src, &seq)
		if src != dir.ID || seq != 1 {
			t.Errorf("tombstone of %s: source %d seq %d, want %d and 1", k, src, seq, dir.ID)
		}
		tombs = append(tombs, k)
	}
	rows.Close()
	if !slices.Equal(tombs, []string{"deleted@x.org"}) {
		t.Fatalf("tombstones = %v, want the deleted person only", tombs)
	}
	ls, err := s.Lifts(ctx, org.ID, "lifted@x.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].SourceID != dir.ID || ls[0].Say != 12 || ls[1].SourceID != hr.ID || ls[1].Say != 13 ||
		ls[0].By != "alice" || ls[0].Reason != "contractor" {
		t.Fatalf("lifts = %+v, want one per authoritative source listing them inactive, with its say", ls)
	}
	for _, k := range []string{"back@x.org", "inactive@x.org"} {
		if ls, _ := s.Lifts(ctx, org.ID, k); len(ls) != 0 {
			t.Fatalf("lifts of %s = %+v, want none", k, ls)
		}
	}
	pending, err := s.PendingRebuilds(ctx)
	if err != nil || !slices.Equal(pending, []int64{org.ID}) {
		t.Fatalf("pending rebuilds = %v, %v", pending, err)
	}
}
