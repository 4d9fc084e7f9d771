// Package pg is PostgreSQL for the audience store: the only package that
// imports the pgx driver. It knows nothing of muster's tables: it opens a
// database/sql pool over pgx, reads PostgreSQL's errors, runs COPY on the
// connection of a transaction, and makes throw-away schemas for tests.
// The store (package store) writes its logic once and names the few places
// where PostgreSQL's SQL differs from SQLite's.
package pg

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// IsURL reports whether s names a PostgreSQL database (a postgres:// or
// postgresql:// URL) rather than a SQLite file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Redact returns the URL without its password, for messages and logs.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Open returns a pool of connections to the database at rawURL. It checks
// that the server can be reached and that the database is UTF-8 (muster
// folds and normalises Unicode in SQL).
func Open(ctx context.Context, rawURL string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("postgres URL %s: %w", Redact(rawURL), err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "muster"
	}
	db := stdlib.OpenDB(*cfg)
	// A write transaction holds one connection for its whole apply and a
	// claimed drop one more (see Claim); reads go beside them.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	var enc string
	if err := db.QueryRowContext(ctx, `SHOW server_encoding`).Scan(&enc); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", Redact(rawURL), err)
	}
	if enc != "UTF8" {
		db.Close()
		return nil, fmt.Errorf("database %s is encoded %s: muster needs a UTF8 database (CREATE DATABASE ... ENCODING 'UTF8')", Redact(rawURL), enc)
	}
	return db, nil
}

// Error classes and codes muster reacts to (PostgreSQL's Appendix A).
const (
	classIntegrity   = "23"    // integrity constraint violation
	serialization    = "40001" // serialization_failure
	deadlock         = "40P01" // deadlock_detected
	lockNotAvailable = "55P03" // lock_not_available
	tooManyConns     = "53300" // too_many_connections
	adminShutdown    = "57P01" // admin_shutdown
	cannotConnectNow = "57P03" // cannot_connect_now
)

func code(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// IsConstraint reports whether err is a violated constraint (unique,
// foreign key, not null, check).
func IsConstraint(err error) bool { return strings.HasPrefix(code(err), classIntegrity) }

// IsBusy reports whether err says the database could not do it now but
// may later: a conflict with another transaction, a lock not granted, no
// connection slot, a server restarting.
func IsBusy(err error) bool {
	switch code(err) {
	case serialization, deadlock, lockNotAvailable, tooManyConns, adminShutdown, cannotConnectNow:
		return true
	}
	return false
}

// CopyFrom writes rows into table's columns with COPY, on the connection
// of c (inside whatever transaction c is in). rows(i) returns the values
// of row i of n.
func CopyFrom(ctx context.Context, c *sql.Conn, table string, cols []string, n int, row func(i int) ([]any, error)) error {
	return c.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("copy into %s: not a pgx connection", table)
		}
		_, err := pc.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(n, row))
		return err
	})
}

// CopyRows writes rows into table's columns with COPY, on the connection
// of c, as CopyFrom does, for rows whose values are all int64 (bigint
// columns), string (text), []byte (bytea) or nil (NULL): see CopyBuffer.
func CopyRows(ctx context.Context, c *sql.Conn, table string, cols []string, rows [][]any) error {
	var b CopyBuffer
	for _, row := range rows {
		if len(row) != len(cols) {
			return fmt.Errorf("copy into %s: a row of %d values for %d columns", table, len(row), len(cols))
		}
		if err := b.Add(row, nil); err != nil {
			return fmt.Errorf("copy into %s: %w", table, err)
		}
	}
	return b.Copy(ctx, c, table, cols)
}

// A CopyBuffer holds rows for one COPY, encoded in COPY's binary format as
// they are added: the store's bulk rows (new snapshot rows and
// recipients), whose values are all int64 (bigint columns), string (text),
// []byte (bytea), bool (boolean) or nil (NULL). The store encodes them itself, where pgx's
// CopyFrom would look up each column's type first (a round trip) and plan
// each value's encoding on its own, and keeps no value of a row once it is
// added (a row costs its bytes, not a slice of interfaces). A value of
// another type is refused when its row is added, before anything is sent;
// a column of another type is refused by the server. The zero value is
// empty and ready to use.
type CopyBuffer struct {
	b    []byte
	rows int
}

// copyHeader opens COPY's binary format: a signature, flags, and the
// length of a header extension (none).
const copyHeader = "PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00"

// Add appends one row whose values are those of head then those of tail.
// A refused value leaves the buffer as it was.
func (c *CopyBuffer) Add(head, tail []any) error {
	if len(c.b) == 0 {
		c.b = append(c.b, copyHeader...)
	}
	start := len(c.b)
	n := len(head) + len(tail)
	c.b = binary.BigEndian.AppendUint16(c.b, uint16(n))
	for i := range n {
		v := any(nil)
		if i < len(head) {
			v = head[i]
		} else {
			v = tail[i-len(head)]
		}
		switch v := v.(type) {
		case nil:
			c.Null()
		case int64:
			c.Int64(v)
		case string:
			c.Text(v)
		case bool:
			c.Bool(v)
		case []byte:
			c.Bytes(v) // nil: NULL, as pgx sends a nil slice
		default:
			c.b = c.b[:start]
			return fmt.Errorf("value %d is a %T (int64, string, []byte, bool or nil only)", i+1, v)
		}
	}
	c.rows++
	return nil
}

// Row starts a row of n values, each then appended by Int64, Text,
// Bytes, Bool or Null, in the columns' order: the store's rows encoded
// without a value boxed in an interface each (Add's []any). The caller
// appends exactly n values.
func (c *CopyBuffer) Row(n int) {
	if len(c.b) == 0 {
		c.b = append(c.b, copyHeader...)
	}
	c.b = binary.BigEndian.AppendUint16(c.b, uint16(n))
	c.rows++
}

// Int64 appends a bigint.
func (c *CopyBuffer) Int64(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

// Text appends a text value.
func (c *CopyBuffer) Text(v string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(v)))
	c.b = append(c.b, v...)
}

// Bytes appends a bytea value (NULL if v is nil, as Add).
func (c *CopyBuffer) Bytes(v []byte) {
	if v == nil {
		c.Null()
		return
	}
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(v)))
	c.b = append(c.b, v...)
}

// Bool appends a boolean.
func (c *CopyBuffer) Bool(v bool) {
	c.b = binary.BigEndian.AppendUint32(c.b, 1)
	if v {
		c.b = append(c.b, 1)
	} else {
		c.b = append(c.b, 0)
	}
}

// Null appends NULL.
func (c *CopyBuffer) Null() { c.b = binary.BigEndian.AppendUint32(c.b, 0xffffffff) }

// Rows returns how many rows the buffer holds.
func (c *CopyBuffer) Rows() int { return c.rows }

// Reset empties the buffer, keeping its memory.
func (c *CopyBuffer) Reset() { c.b, c.rows = c.b[:0], 0 }

// Copy writes the buffer's rows into table's columns with one COPY, on
// the connection of conn (inside whatever transaction it is in). Each row
// must have a value for each column (the server refuses the COPY
// otherwise). The buffer is left as it was.
func (c *CopyBuffer) Copy(ctx context.Context, conn *sql.Conn, table string, cols []string) error {
	if c.rows == 0 {
		return nil
	}
	quoted := make([]string, len(cols))
	for i, col := range cols {
		quoted[i] = Quote(col)
	}
	q := "COPY " + Quote(table) + " (" + strings.Join(quoted, ", ") + ") FROM STDIN (FORMAT binary)"
	data := binary.BigEndian.AppendUint16(c.b, 0xffff) // trailer
	err := conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("not a pgx connection")
		}
		_, err := pc.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data), q)
		return err
	})
	if err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	return nil
}

// Quote returns name as an identifier.
func Quote(name string) string { return pgx.Identifier{name}.Sanitize() }

// NewSchema creates a schema of its own in the database at rawURL and
// returns a URL whose connections use it (their search_path), and a
// function that drops it with everything in it: tests get a database of
// their own without the cost of CREATE DATABASE.
func NewSchema(ctx context.Context, rawURL, prefix string) (string, func() error, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	db, err := Open(ctx, rawURL)
	if err != nil {
		return "", nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+Quote(name)); err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", name, err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", name)
	// Its connections are named after it, so dropping it can end those a
	// failed test left in a transaction (they would hold its locks).
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	drop := func() error {
		ctx := context.Background()
		db, err := Open(ctx, rawURL)
		if err != nil {
			return err
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = $1 AND pid <> pg_backend_pid()`, name); err != nil {
			return err
		}
		_, err = db.ExecContext(ctx, `DROP SCHEMA `+Quote(name)+` CASCADE`)
		return err
	}
	return u.String(), drop, nil
}
