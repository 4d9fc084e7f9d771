package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"muster/schema"
)

// TestUpsertBatchesKeepEveryValue: recipients updated in batches of every
// size up to past SQLite's statement of 64 rows (on PostgreSQL one
// statement of arrays each, unnest.go) read back as written, a NULL
// (no attributes) and empty strings included, on both backends.
func TestUpsertBatchesKeepEveryValue(t *testing.T) {
	ctx := context.Background()
	s, org, _ := mustOrgSource(t)
	person := func(i, seq int) Recipient {
		k := fmt.Sprintf("p%04d@example.com", i)
		r := Recipient{Key: k, Email: k, FirstName: "P", LastName: fmt.Sprint("L", seq), Status: StatusActive,
			CreatedSeq: 1, UpdatedSeq: int64(seq)}
		switch i % 3 {
		case 0: // no attributes: NULL
		case 1:
			r.Attrs[0], r.Attrs[2] = fmt.Sprint("dept ", seq), "Zoë, \"quoted\""
			r.GroupIDs = []int64{int64(i), int64(i + 1)}
		case 2:
			r.Email, r.FirstName, r.LastName = "Upper."+k, "", ""
		}
		return r
	}
	const n = 200
	want := map[string]Recipient{}
	write := func(seq int, update bool, from, to int) {
		t.Helper()
		tx, err := s.Begin(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var rs []Recipient
		for i := from; i < to; i++ {
			rs = append(rs, person(i, seq))
		}
		if update {
			err = tx.UpdateRecipients(rs)
		} else {
			err = tx.InsertRecipients(rs)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			r.OrgID = org.ID
			want[r.Key] = r
		}
	}
	write(1, false, 0, n)
	from := 0
	for seq, size := range []int{1, 2, 3, 7, 64, 65, 58} { // 200 in all
		write(seq+2, true, from, from+size)
		from += size
	}
	if from != n {
		t.Fatalf("%d updated, want %d", from, n)
	}
	tx, err := s.Begin(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	got, err := tx.RecipientsOf(keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d recipients read, want %d", len(got), n)
	}
	for k, w := range want {
		g := got[k]
		if len(g.GroupIDs) == 0 {
			g.GroupIDs = nil // none, however read
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("%s read back as\n%+v\nwant\n%+v", k, g, w)
		}
	}
	// No attributes is NULL (what a Recipient cannot tell from "").
	var null int
	if err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM recipients WHERE attrs IS NULL`).Scan(&null); err != nil {
		t.Fatal(err)
	}
	withAttrs := 0
	for _, w := range want {
		if w.Attrs != (schema.Attrs{}) {
			withAttrs++
		}
	}
	if null != n-withAttrs || withAttrs == 0 {
		t.Fatalf("%d recipients with NULL attrs, want %d", null, n-withAttrs)
	}
}

// TestColumnArrayRefusesMixedTypes: a column whose values are not of one
// type unnestExec knows is left to the statement per 64 rows.
func TestColumnArrayRefusesMixedTypes(t *testing.T) {
	for _, args := range [][]any{
		{int64(1), "x"},
		{[]byte{1}, nil},
		{"x", int64(2)},
		{1.5, 2.5},
	} {
		if a, typ := columnArray(args, 0, 1, len(args)); a != nil {
			t.Errorf("%#v: %T %s, want refused", args, a, typ)
		}
	}
	a, typ := columnArray([]any{"a", nil, ""}, 0, 1, 3)
	s, ok := a.([]*string)
	if !ok || typ != "text[]" || len(s) != 3 || *s[0] != "a" || s[1] != nil || *s[2] != "" {
		t.Fatalf("strings and a nil: %#v %s", a, typ)
	}
}
