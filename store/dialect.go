package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strconv"
	"strings"
)

// The store's logic is written once, in SQL both SQLite and PostgreSQL
// run: ? placeholders (SQLite's ?N where one value is used twice), INSERT
// ... ON CONFLICT ... DO UPDATE, RETURNING. Where the two differ, the
// difference is named here and nowhere else:
//
//   - placeholders: PostgreSQL numbers them $N; rebind rewrites a query
//     once before it is prepared (db and txn below do it for every call);
//   - muster_fold(text): SQLite gets schema.Fold as a Go function
//     (store.go); PostgreSQL gets lower(normalize(x, NFC)) from its first
//     migration, and Open checks that the database folds beyond ASCII;
//   - instr(haystack, needle): SQLite's own; PostgreSQL's migration
//     defines it over strpos;
//   - the next drop seq (nextSeq), a JSON field of a report (jsonInt),
//     the database clock in milliseconds (nowMillis);
//   - locks: SQLite has one writer (BEGIN IMMEDIATE); PostgreSQL takes a
//     transaction-level advisory lock (lockOrg, lockGlobal);
//   - bulk writes: SQLite multi-row INSERTs, PostgreSQL COPY streamed
//     beside the apply (bulk.go, copystream.go);
//   - the foreign keys of the per-person tables (snapshot.source_id,
//     recipients.org_id): SQLite checks them per row; PostgreSQL's
//     per-row check (a query and a row lock each) is replaced by triggers
//     checking once per statement (migration 0010), same meaning;
//   - statistics: PostgreSQL analyses a table right after a transaction
//     copied many rows into it (analyze.go); SQLite needs none;
//   - reading a snapshot's (key, hash) pairs: SQLite joins them in one
//     text per page (fewer trips through cgo), PostgreSQL reads rows;
//   - index hints (indexedBy): SQLite, without statistics, prefers a
//     primary key that gives the order asked to an index that gives only
//     the rows asked (DropChanges); PostgreSQL plans from its statistics.
type dialect struct {
	name     string
	postgres bool
	// nextSeq returns the seq of the next applied drop.
	nextSeq string
	// nowMillis is the database's clock, in Unix milliseconds.
	nowMillis string
	// jsonInt(doc, field) reads an integer field of a JSON text.
	jsonInt func(doc, field string) string
}

// indexedBy makes a query read a table through the named index: what
// follows the table's name (and alias) in FROM.
func (d *dialect) indexedBy(index string) string {
	if d.postgres {
		return ""
	}
	return " INDEXED BY " + index
}

var sqliteDialect = &dialect{
	name: "sqlite",
	// Drops apply one at a time under the write lock: gap-free, ordered.
	nextSeq:   `SELECT coalesce(max(seq), 0)+1 FROM drops`,
	nowMillis: `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`,
	jsonInt: func(doc, field string) string {
		return `json_extract(` + doc + `, '$.` + field + `')`
	},
}

var postgresDialect = &dialect{
	name:     "postgres",
	postgres: true,
	// Organisations apply in parallel; within one, drops apply one at a
	// time under its lock, so seqs still increase in apply order there.
	nextSeq:   `SELECT nextval('drop_seq')`,
	nowMillis: `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`,
	jsonInt: func(doc, field string) string {
		return `((` + doc + `)::jsonb->>'` + field + `')::bigint`
	},
}

// Advisory lock namespaces (the first key of pg_advisory_xact_lock).
const (
	lockNSOrg    = 0x6d75_0001 // one organisation's writes
	lockNSGlobal = 0x6d75_0002 // migrations
	lockNSSource = 0x6d75_0003 // one source's files, from claim to filing
)

// rebind rewrites SQLite placeholders for PostgreSQL: ?N becomes $N, and a
// plain ? the number after the largest used so far (SQLite's rule), so
// `a=?1 AND b IN (?,?)` is `a=$1 AND b IN ($2,$3)`. Quoted text and
// comments are left alone.
func (d *dialect) rebind(q string) string {
	if !d.postgres || strings.IndexByte(q, '?') < 0 {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	top := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch c {
		case '\'', '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				j++
			}
			b.WriteString(q[i:min(j+1, len(q))])
			i = j
			continue
		case '-':
			if i+1 < len(q) && q[i+1] == '-' {
				j := strings.IndexByte(q[i:], '\n')
				if j < 0 {
					j = len(q) - i
				}
				b.WriteString(q[i : i+j])
				i += j - 1
				continue
			}
		case '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			n := top + 1
			if j > i+1 {
				n, _ = strconv.Atoi(q[i+1 : j])
			}
			top = max(top, n)
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// db is the store's pool with every query rebound for its dialect, so the
// store's code calls it as it would call *sql.DB.
type db struct {
	*sql.DB
	d *dialect
}

func (x db) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return x.DB.QueryContext(ctx, x.d.rebind(q), args...)
}

func (x db) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return x.DB.QueryRowContext(ctx, x.d.rebind(q), args...)
}

func (x db) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return x.DB.ExecContext(ctx, x.d.rebind(q), args...)
}

func (x db) QueryRow(q string, args ...any) *sql.Row {
	return x.QueryRowContext(context.Background(), q, args...)
}

func (x db) Exec(q string, args ...any) (sql.Result, error) {
	return x.ExecContext(context.Background(), q, args...)
}

// txn is a transaction with every query rebound for its dialect. On
// PostgreSQL it keeps its connection, for COPY, and new snapshot rows and
// recipients go by COPY, streamed beside the apply (copystream.go): every
// other statement first waits for them (flush), so it sees them.
type txn struct {
	*sql.Tx
	d    *dialect
	conn *sql.Conn
	pool *sql.DB // for work beside the transaction (analyze.go)
	ctx  context.Context
	// tempInMemory: the connection's temp_store is MEMORY until release
	// (beginWrite).
	tempInMemory bool
	// writeback of an organisation's write transaction on SQLite, stopped
	// at release (writeback.go).
	writeback *writeback
	copyStream
}

// BeginTx starts a transaction on a connection of its own, kept for the
// bulk writes that go straight to the driver (SQLite's multi-row INSERTs,
// PostgreSQL's COPY).
func (x db) BeginTx(ctx context.Context, opts *sql.TxOptions) (*txn, error) {
	return x.begin(ctx, opts, false)
}

// beginWrite is BeginTx for an organisation's write transaction (an apply,
// a rollback, a directory batch). On SQLite its connection keeps
// temporary files in memory (temp_store=MEMORY) for the transaction: the
// one such file these write is the statement journal, where every
// multi-row statement (an apply's INSERT of 64 rows, an upsert, a DELETE
// of a key list) copies each page it changes that an earlier statement of
// the transaction wrote, so that a constraint failure can undo the
// statement alone. On disk that was a scratch file in /var/tmp written
// page by page (strace: 111 MB for a first ingest of 100,000 rows, 195 MB
// for a next day of 20,000 changes at a million rows); in memory it holds
// one statement's pages at a time. SQLite reads the setting when the write
// transaction begins (the pager's sub-journal mode), so it is set before
// BEGIN and set back when the connection returns to the pool. It is not a
// setting of every connection because with temporary files in memory
// SQLite's sorter never spills (vdbesort.c: no PMA size limit when
// sqlite3TempInMemory): a GROUP BY or ORDER BY without an index, or an
// index built by a migration, would sort a whole table in memory.
func (x db) beginWrite(ctx context.Context) (*txn, error) {
	return x.begin(ctx, nil, !x.d.postgres)
}

func (x db) begin(ctx context.Context, opts *sql.TxOptions, tempInMemory bool) (*txn, error) {
	c, err := x.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if tempInMemory {
		if _, err := c.ExecContext(ctx, `PRAGMA temp_store=MEMORY`); err != nil {
			discardConn(c)
			return nil, err
		}
	}
	tx, err := c.BeginTx(ctx, opts)
	if err != nil {
		if tempInMemory {
			discardConn(c)
		} else {
			c.Close()
		}
		return nil, err
	}
	return &txn{Tx: tx, d: x.d, conn: c, pool: x.DB, ctx: ctx, tempInMemory: tempInMemory}, nil
}

// discardConn closes a connection and keeps it out of the pool (one whose
// settings could not be set back).
func discardConn(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	c.Close()
}

func (x *txn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if err := x.flush(); err != nil {
		return nil, err
	}
	return x.Tx.QueryContext(ctx, x.d.rebind(q), args...)
}

func (x *txn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	_ = x.flush() // a failed COPY fails the transaction's next statements and its commit
	return x.Tx.QueryRowContext(ctx, x.d.rebind(q), args...)
}

func (x *txn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if err := x.flush(); err != nil {
		return nil, err
	}
	return x.Tx.ExecContext(ctx, x.d.rebind(q), args...)
}

func (x *txn) QueryRow(q string, args ...any) *sql.Row {
	return x.QueryRowContext(context.Background(), q, args...)
}

func (x *txn) Exec(q string, args ...any) (sql.Result, error) {
	return x.ExecContext(context.Background(), q, args...)
}

func (x *txn) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	if err := x.flush(); err != nil {
		return nil, err
	}
	return x.Tx.PrepareContext(ctx, x.d.rebind(q))
}

// Commit copies what waits, commits and gives the connection back to
// the pool.
func (x *txn) Commit() error {
	if err := x.flush(); err != nil {
		x.Rollback()
		return err
	}
	err := x.Tx.Commit()
	if err == nil {
		x.analyzeCopied()
	}
	x.release()
	return err
}

// Rollback rolls back (safe after Commit) and gives the connection back,
// once the COPY in flight, if any, has ended (it uses the connection).
func (x *txn) Rollback() error {
	x.wait()
	err := x.Tx.Rollback()
	x.release()
	return err
}

func (x *txn) release() {
	x.writeback.close()
	x.releaseCopies()
	if x.conn == nil {
		return
	}
	if x.tempInMemory {
		// Set back before the connection serves anything else; one that
		// cannot be set back is not used again.
		if _, err := x.conn.ExecContext(context.Background(), `PRAGMA temp_store=DEFAULT`); err != nil {
			discardConn(x.conn)
			x.conn = nil
			return
		}
	}
	x.conn.Close()
	x.conn = nil
}

// lock takes a transaction-level advisory lock (PostgreSQL), released at
// commit or rollback; SQLite's write transaction already excludes every
// other writer.
func (x *txn) lock(ctx context.Context, ns, key int64) error {
	if !x.d.postgres {
		return nil
	}
	_, err := x.Tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1::int, $2::int)`, int32(ns), int32(key))
	return err
}
