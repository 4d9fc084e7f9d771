package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"muster/schema"
	"muster/store/pg"
)

// Migration 0009 fills the search text of the recipients already stored
// as the store writes it for new ones (searchText), on both backends.
func TestMigration9FillsTheSearchText(t *testing.T) {
	ctx := context.Background()
	target, o := filepath.Join(t.TempDir(), FileName), Options{upTo: 8}
	if testBackend == "postgres" {
		u, drop, err := pg.NewSchema(ctx, os.Getenv(testEnv), "t")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { drop() })
		target, o = u, Options{upTo: 8, Migrate: true, IndexDir: t.TempDir()}
	}
	s, err := OpenWith(ctx, target, o)
	if err != nil {
		t.Fatal(err)
	}
	org, err := s.EnsureOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	people := []Recipient{
		{Key: "asa@example.com", Email: "Åsa@Example.com", FirstName: "Åsa", LastName: "Öberg"},
		{Key: "zoe@example.com", Email: "zoe@example.com", FirstName: "ZOË", LastName: "Rene\u0301e"},
		{Key: "j@xn--bcher-kva.example", Email: "J@Bücher.example", FirstName: "", LastName: "Straße"},
	}
	for _, r := range people {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO recipients(org_id, key, email, first_name, last_name, attrs, status,
			group_ids, created_seq, updated_seq) VALUES(?,?,?,?,?,NULL,'active','',1,1)`, org.ID, r.Key, r.Email, r.FirstName, r.LastName); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	o.upTo = 0
	if s, err = OpenWith(ctx, target, o); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, r := range people {
		var got string
		if err := s.db.QueryRowContext(ctx, `SELECT search FROM recipients WHERE org_id=? AND key=?`, org.ID, r.Key).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := searchText(&r); got != want {
			t.Errorf("%s: search %q, want %q", r.Key, got, want)
		}
	}
	if want := schema.Fold("Åsa@Example.com") + searchSep + "åsa öberg"; searchText(&people[0]) != want {
		t.Errorf("searchText: %q, want %q", searchText(&people[0]), want)
	}
}
