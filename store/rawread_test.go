package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func openSQLiteOnly(t *testing.T) *Store {
	t.Helper()
	if testBackend != "sqlite" {
		t.Skip("SQLite's C API")
	}
	return openTarget(t, testTarget(t))
}

// readRaw reads go-sqlite3's statements through SQLite's C API: every
// type of value, rows larger than its buffer and many buffers' worth, the
// same as the driver reads them.
func TestReadRawAsTheDriver(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteOnly(t)
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE raw(k INTEGER PRIMARY KEY, v)`); err != nil {
		t.Fatal(err)
	}
	vals := []any{int64(-1), int64(1) << 62, "", "plain", "\x00nul\xfe\xff", nil, strings.Repeat("x", 3*rawBufSize+17), 2.5, []byte("blob")}
	for i := range 3000 {
		v := vals[i%len(vals)]
		if i%len(vals) == 6 && i > 100 {
			v = fmt.Sprintf("row %d %s", i, strings.Repeat("y", i%300))
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO raw(k, v) VALUES(?, ?)`, i, v); err != nil {
			t.Fatal(err)
		}
	}
	q := `SELECT k, v, typeof(v) FROM raw WHERE k >= ? ORDER BY k`
	var want []string
	err := s.rawConn(ctx, func(qc driver.QueryerContext) error {
		return s.eachRow(ctx, qc, q, []any{int64(0)}, func(v []driver.Value) error {
			switch x := v[1].(type) {
			case string, int64:
				want = append(want, fmt.Sprintf("%d %v", v[0], x))
			case nil:
				want = append(want, fmt.Sprintf("%d null", v[0]))
			default:
				want = append(want, fmt.Sprintf("%d %s", v[0], v[2]))
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, odd := range []bool{false, true} {
		var got []string
		skipped := -1
		err = s.rawConn(ctx, func(qc driver.QueryerContext) error {
			ok, err := readRaw(ctx, qc, q, []driver.NamedValue{{Ordinal: 1, Value: int64(0)}}, 3, func(c []rawCol) error {
				if c[0].typ != rawInt || c[2].typ != rawText {
					return fmt.Errorf("row %d: types %d %d", len(got), c[0].typ, c[2].typ)
				}
				switch c[1].typ {
				case rawText:
					got = append(got, fmt.Sprintf("%d %s", c[0].i, c[1].text))
				case rawInt:
					got = append(got, fmt.Sprintf("%d %d", c[0].i, c[1].i))
				case rawNull:
					got = append(got, fmt.Sprintf("%d null", c[0].i))
				default:
					if odd {
						return errRawShape
					}
					got = append(got, fmt.Sprintf("%d %s", c[0].i, c[2].text))
				}
				return nil
			}, func(skip int) error {
				skipped = skip
				return nil
			})
			if !ok {
				return fmt.Errorf("go-sqlite3's statement has no handle readRaw knows")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if odd {
			if skipped != 7 || len(got) != 7 {
				t.Fatalf("a float at row 7: rest called with %d after %d rows, want 7", skipped, len(got))
			}
			want = want[:7]
		}
		if len(got) != len(want) {
			t.Fatalf("%d rows, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("row %d: %.60q, want %.60q", i, got[i], want[i])
			}
		}
	}
}

// A page holding a value of a type its columns never hold (a float
// sequence, a blob address) is read through the driver from that row on:
// the page is the one the driver reads (Recipients), with its error if it
// has one.
func TestPageOfOddValuesAsTheDriver(t *testing.T) {
	ctx := context.Background()
	s := openSQLiteOnly(t)
	org, err := s.EnsureOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for i, odd := range []struct {
		col string
		val any
	}{{"created_seq", 2.5}, {"email", []byte("b@example.com")}, {"attrs", []byte("x")}, {"status", []byte("active")}, {"first_name", []byte("F")},
		{"group_ids", []byte(",1,")}, {"updated_seq", "7"}, {"email", 4.5}} {
		at := []int{30, 0}[i%2] // the first row is read by the driver, the others by readRaw
		t.Run(fmt.Sprintf("%s at %d", odd.col, at), func(t *testing.T) {
			if _, err := s.db.ExecContext(ctx, `DELETE FROM recipients`); err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				key := fmt.Sprintf("p%03d@example.com", i)
				if _, err := s.db.ExecContext(ctx, `INSERT INTO recipients(org_id, key, email, first_name, last_name, status,
					group_ids, created_seq, updated_seq) VALUES(?,?,?,?,?,?,?,?,?)`, org.ID, key, key, "F", "L", "active", ",1,", i, i); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.db.ExecContext(ctx, `UPDATE recipients SET `+odd.col+`=? WHERE key=?`, odd.val, fmt.Sprintf("p%03d@example.com", at)); err != nil {
				t.Fatal(err)
			}
			status := StatusActive
			if odd.col == "status" {
				status = ""
			}
			var got []Recipient
			_, err := s.EachRecipientPage(ctx, org.ID, RecipientFilter{Status: status, Limit: 100}, func(r *Recipient) error {
				got = append(got, cloneRecipient(r))
				return nil
			})
			want, _, wantErr := s.Recipients(ctx, org.ID, RecipientFilter{Status: status, Limit: 100})
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("error %v, want %v", err, wantErr)
			}
			if err != nil {
				if len(got) != at || at > 0 && got[at-1].Key != fmt.Sprintf("p%03d@example.com", at-1) {
					t.Fatalf("%d recipients before the error, want the %d before it", len(got), at)
				}
				return
			}
			if len(got) != 50 || !reflect.DeepEqual(got, want) {
				t.Fatalf("%d recipients %+v, want %+v", len(got), got, want)
			}
		})
	}
}
