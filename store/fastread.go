package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
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
	err := s.rawRows(ctx, q, args, func(v []driver.Value) error {
		fnErr = fn(v)
		return fnErr
	})
	if err != nil && err == fnErr {
		return err
	}
	return wrapErr(err, "%s", what)
}

func (s *Store) rawRows(ctx context.Context, q string, args []any, fn func(vals []driver.Value) error) error {
	// pgx's database/sql driver reads rows the same way (strings, int64,
	// []byte, nil), with PostgreSQL's placeholders.
	q = s.d.rebind(q)
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return err
		}
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
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
	})
}
