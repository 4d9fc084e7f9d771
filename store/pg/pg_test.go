package pg

import (
	"bytes"
	"context"
	"database/sql"
	"math"
	"os"
	"strings"
	"testing"
)

// TestCopyRows: rows encoded by CopyRows read back as written from a real
// server (MUSTER_TEST_POSTGRES), NULLs, empty values, extreme integers
// and text beyond ASCII included, and the same rows written by pgx's own
// CopyFrom read back the same.
func TestCopyRows(t *testing.T) {
	rows := [][]any{
		{int64(1), "a@example.com", []byte{0, 1, 2, 0xff}, "x", true},
		{int64(-1), "", []byte{}, nil, false},
		{int64(math.MaxInt64), "Zoë Ångström 東京", []byte(nil), "tab\tand\nnewline, \"quoted\"", true},
		{int64(math.MinInt64), strings.Repeat("long ", 4000), bytes.Repeat([]byte{7}, 70000), "", false},
	}
	var b CopyBuffer
	if err := b.Add([]any{1}, []any{"x", nil, nil, true}); err == nil || !strings.Contains(err.Error(), "value 1 is a int") {
		t.Fatalf("an int (not int64): %v, want refused before anything is sent", err)
	}
	if err := CopyRows(context.Background(), nil, "a", []string{"n", "s", "b", "t", "f"}, [][]any{{int64(1)}}); err == nil {
		t.Fatal("a row of 1 value for 5 columns accepted")
	}
	u := os.Getenv("MUSTER_TEST_POSTGRES")
	if u == "" {
		t.Skip("MUSTER_TEST_POSTGRES is not set: the encoding was checked, not a server's reading of it")
	}
	ctx := context.Background()
	su, drop, err := NewSchema(ctx, u, "pgtest")
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	db, err := Open(ctx, su)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE a (n bigint, s text, b bytea, t text, f boolean);
		CREATE TABLE b (n bigint, s text, b bytea, t text, f boolean)`); err != nil {
		t.Fatal(err)
	}
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cols := []string{"n", "s", "b", "t", "f"}
	if err := CopyRows(ctx, c, "a", cols, rows); err != nil {
		t.Fatal(err)
	}
	if err := CopyFrom(ctx, c, "b", cols, len(rows), func(i int) ([]any, error) { return rows[i], nil }); err != nil {
		t.Fatal(err)
	}
	if err := CopyRows(ctx, c, "a", []string{"n"}, [][]any{{"not a number"}}); err == nil {
		t.Fatal("text into a bigint column accepted")
	}
	read := func(table string) [][]any {
		r, err := db.QueryContext(ctx, `SELECT n, s, b, t, f FROM `+table+` ORDER BY n`)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out [][]any
		for r.Next() {
			var n int64
			var s string
			var b []byte
			var tx sql.NullString
			var f bool
			if err := r.Scan(&n, &s, &b, &tx, &f); err != nil {
				t.Fatal(err)
			}
			var tv any
			if tx.Valid {
				tv = tx.String
			}
			out = append(out, []any{n, s, b, tv, f})
		}
		return out
	}
	got, viaPgx := read("a"), read("b")
	if len(got) != len(rows) || len(viaPgx) != len(rows) {
		t.Fatalf("%d rows read back (pgx's: %d), want %d", len(got), len(viaPgx), len(rows))
	}
	want := map[int64][]any{}
	for _, r := range rows {
		want[r[0].(int64)] = r
	}
	for i, g := range got {
		w := want[g[0].(int64)]
		for j := range g {
			if !same(g[j], w[j]) || !same(g[j], viaPgx[i][j]) {
				t.Fatalf("row %d column %s: read %#.40v, wrote %#.40v, pgx's copy reads %#.40v", i, cols[j], g[j], w[j], viaPgx[i][j])
			}
		}
	}
}

// same compares a value read back with the one written: a nil []byte is
// NULL, an empty one an empty bytea.
func same(a, b any) bool {
	ab, aok := a.([]byte)
	bb, bok := b.([]byte)
	if aok || bok {
		return aok && bok && (ab == nil) == (bb == nil) && bytes.Equal(ab, bb)
	}
	return a == b
}

// TestCopyBufferRefusesARowWhole: a row with a value COPY's encoder does
// not know is refused whole, and the rows before it are kept as they
// were.
func TestCopyBufferRefusesARowWhole(t *testing.T) {
	var a, b CopyBuffer
	for _, r := range [][]any{{int64(1), "a@example.com", []byte{0, 1}, nil}, {int64(-5), "", []byte(nil), "Zoë"}} {
		if err := a.Add(r[:1], r[1:]); err != nil {
			t.Fatal(err)
		}
		if err := b.Add(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add([]any{int64(3), "x"}, []any{[]byte{1}, 3.5}); err == nil || !strings.Contains(err.Error(), "value 4 is a float64") {
		t.Fatalf("a float64: %v, want refused", err)
	}
	if a.Rows() != 2 || b.Rows() != 2 || !bytes.Equal(a.b, b.b) {
		t.Fatalf("after a refused row: %d rows, %d bytes; want 2 rows, %d bytes as before", b.Rows(), len(b.b), len(a.b))
	}
	if !bytes.HasPrefix(a.b, []byte("PGCOPY\n\xff\r\n\x00")) || len(copyHeader) != 19 {
		t.Fatalf("header %q (%d bytes of it), want COPY's binary signature, flags and extension (19 bytes)", a.b[:min(19, len(a.b))], len(copyHeader))
	}
	a.Reset()
	if a.Rows() != 0 || len(a.b) != 0 {
		t.Fatal("Reset left rows")
	}
}
