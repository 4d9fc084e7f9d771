package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
)

// readRows runs a read-only query straight on the SQLite driver's
// connection and calls fn with each row's values (the slice is reused;
// the strings in it may be kept). Bulk reads (an export, a page of
// recipients) take this path because database/sql's bookkeeping of every
// row (locks, conversions into the scan destinations) costs a third more
// than reading the row: with it, an export of a million recipients reads
// them at nearly the speed of the sqlite3 tool. It is the one place the
// store's reads depend on go-sqlite3's driver types; a query is one
// statement, hence one consistent snapshot. ctx is checked every 1024
// rows. An error of fn is returned as it is; others are wrapped with what.
func (s *Store) readRows(ctx context.Context, what, q string, args []any, fn func(vals []driver.Value) error) error {
	var fnErr error
	err := s.rawConn(ctx, func(qc driver.QueryerContext) error {
		return s.eachRow(ctx, qc, q, args, func(v []driver.Value) error {
			fnErr = fn(v)
			return fnErr
		})
	})
	if err != nil && err == fnErr {
		return err
	}
	return wrapErr(err, "%s", what)
}

// rawConn calls fn with a pooled connection's driver.
func (s *Store) rawConn(ctx context.Context, fn func(qc driver.QueryerContext) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		qc, ok := dc.(driver.QueryerContext)
		if !ok {
			return errors.New("the SQLite driver cannot run queries on a connection")
		}
		return fn(qc)
	})
}

// eachRow runs q on qc and calls fn with each row.
func (s *Store) eachRow(ctx context.Context, qc driver.QueryerContext, q string, args []any, fn func(vals []driver.Value) error) error {
	// pgx's database/sql driver reads rows the same way (strings, int64,
	// []byte, nil), with PostgreSQL's placeholders.
	q = s.d.rebind(q)
	named, err := namedValues(args)
	if err != nil {
		return err
	}
	// Without a context the driver steps without watching one (a
	// goroutine hand-off per step otherwise); the loop checks ctx.
	rows, err := qc.QueryContext(context.Background(), q, named)
	if err != nil {
		return err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := rows.Next(dest); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := fn(dest); err != nil {
			return err
		}
	}
}

// namedValues are args as a driver takes them.
func namedValues(args []any) ([]driver.NamedValue, error) {
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return nil, err
		}
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return named, nil
}

// joinSep joins text columns into one (joinedQuery): the byte 0xFE, which
// UTF-8 text never holds.
const joinSep = 0xFE

// joinCols is SQLite's expression joining the text columns cols by joinSep.
func joinCols(cols ...string) string {
	return strings.Join(cols, ` || CAST(x'FE' AS TEXT) || `)
}

// joinedQuery is a bulk read whose rows hold n text values, then others.
// On SQLite the n come joined into one column (joinCols): a column costs a
// crossing into SQLite, a Go string and an interface, and one column for
// three to four values reads a page of recipients a sixth faster, an
// export a fifth. query(joined) gives the query with the n values joined
// or as columns of their own, the same rows in the same order.
type joinedQuery struct {
	what  string
	n     int
	query func(joined bool) (string, []any)
}

// readJoined reads jq and calls fn with each row's n text values and its
// other values (both slices reused). When a row's joined text does not
// split into n values (one held the separator byte: not UTF-8), the rows
// from it on are read from the query with columns of their own, started
// while the first is still open so that both read one snapshot and the
// same rows in the same order. On PostgreSQL the values come in columns
// of their own.
func (s *Store) readJoined(ctx context.Context, jq joinedQuery, fn func(texts []string, rest []driver.Value) error) error {
	var fnErr error
	call := func(t []string, rest []driver.Value) error {
		fnErr = fn(t, rest)
		return fnErr
	}
	err := s.rawConn(ctx, func(qc driver.QueryerContext) error {
		return s.readJoinedFrom(ctx, qc, jq, 0, call)
	})
	if err != nil && err == fnErr {
		return err
	}
	return wrapErr(err, "%s", jq.what)
}

// readJoinedFrom is readJoined on qc from row skip on.
func (s *Store) readJoinedFrom(ctx context.Context, qc driver.QueryerContext, jq joinedQuery, skip int, fn func(texts []string, rest []driver.Value) error) error {
	if s.d.postgres {
		return s.readPlain(ctx, qc, jq, skip, fn)
	}
	texts := make([]string, jq.n)
	q, args := jq.query(true)
	read := 0
	err := s.eachRow(ctx, qc, q, args, func(v []driver.Value) error {
		if read < skip {
			read++
			return nil
		}
		joined, ok := v[0].(string)
		if !ok || !splitJoined(joined, texts) {
			if err := s.readPlain(ctx, qc, jq, read, fn); err != nil {
				return err
			}
			return errReadOn
		}
		read++
		return fn(texts, v[1:])
	})
	if err == errReadOn {
		return nil
	}
	return err
}

// readPlain reads jq's rows with its text values in columns of their own,
// from row skip on, and calls fn with each row's n text values and its
// other values.
func (s *Store) readPlain(ctx context.Context, qc driver.QueryerContext, jq joinedQuery, skip int, fn func(texts []string, rest []driver.Value) error) error {
	texts := make([]string, jq.n)
	q, args := jq.query(false)
	return s.eachRow(ctx, qc, q, args, func(v []driver.Value) error {
		if skip > 0 {
			skip--
			return nil
		}
		for i := range texts {
			t, ok := v[i].(string)
			if !ok {
				return fmt.Errorf("column %d is %T, not text", i, v[i])
			}
			texts[i] = t
		}
		return fn(texts, v[jq.n:])
	})
}

// errReadOn ends a joined read that the plain query finished.
var errReadOn = errors.New("read on by the plain query")

// splitJoined splits a joined text into out's len(out) values; false when
// it does not hold exactly len(out)-1 separators.
func splitJoined(s string, out []string) bool {
	for i := range len(out) - 1 {
		j := strings.IndexByte(s, joinSep)
		if j < 0 {
			return false
		}
		out[i], s = s[:j], s[j+1:]
	}
	if strings.IndexByte(s, joinSep) >= 0 {
		return false
	}
	out[len(out)-1] = s
	return true
}
