package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"muster/schema"
	"muster/store/pg"
)

// Moving a SQLite install to PostgreSQL (`muster store copy`): every table,
// every row, every id, in one transaction on the target, then the two
// stores compared table by table. Nothing is derived again: the history,
// the held drops' diffs, the events applied and the cursors come across
// as they are.

// TableCopy is one table of a copy or a comparison.
type TableCopy struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
	// Source and Target are digests of the table's rows (in key order,
	// values normalised) in each store; equal when the table came across
	// whole.
	Source string `json:"source_digest,omitempty"`
	Target string `json:"target_digest,omitempty"`
	Match  bool   `json:"match"`
}

// CopyTo copies every row of this SQLite store into to, a PostgreSQL store
// at the same schema version holding nothing yet, in one transaction,
// then compares the two. progress, if set, is told each table as it is
// done. The source is read in one transaction holding its write lock, so
// nothing changes it meanwhile (stop the daemon first: it would wait).
func (s *Store) CopyTo(ctx context.Context, to *Store, progress func(TableCopy)) ([]TableCopy, error) {
	if s.d.postgres || !to.d.postgres {
		return nil, schema.Errorf(schema.EInvalid, "copy goes from a SQLite store to a PostgreSQL one")
	}
	from, err := s.schemaVersion(ctx, s.db)
	if err != nil {
		return nil, err
	}
	target, err := to.schemaVersion(ctx, to.db)
	if err != nil {
		return nil, err
	}
	if from != target {
		return nil, schema.Errorf(schema.EInvalid, "the stores are at schema versions %d (from) and %d (to): bring both up to date first", from, target)
	}
	tables, err := s.copyOrder(ctx)
	if err != nil {
		return nil, err
	}
	src, err := s.db.BeginTx(ctx, nil) // SQLite: BEGIN IMMEDIATE, writers wait
	if err != nil {
		return nil, wrapErr(err, "copy: read %s", s)
	}
	defer src.Rollback()
	dst, err := to.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrapErr(err, "copy: write %s", to)
	}
	defer dst.Rollback()
	if err := dst.lock(ctx, lockNSGlobal, 0); err != nil {
		return nil, wrapErr(err, "copy: lock %s", to)
	}
	for _, t := range tables {
		var n int64
		if err := dst.QueryRowContext(ctx, `SELECT count(*) FROM `+pg.Quote(t)).Scan(&n); err != nil {
			return nil, wrapErr(err, "copy: table %s of the target (is its schema this muster's?)", t)
		}
		if n > 0 {
			return nil, schema.Errorf(schema.EConflict, "the target store is not empty (%s holds %d rows): copy only into a new database", t, n)
		}
	}
	for _, t := range tables {
		n, err := copyTable(ctx, src, dst, t)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(TableCopy{Table: t, Rows: n})
		}
	}
	if err := to.resetSequences(ctx, dst, tables); err != nil {
		return nil, err
	}
	if err := dst.Commit(); err != nil {
		return nil, wrapErr(err, "copy: commit")
	}
	src.Rollback()
	return s.Compare(ctx, to)
}

// copyOrder lists the store's tables (but the migrations' record) so that
// a table comes after those its foreign keys name.
func (s *Store) copyOrder(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type='table'
		AND name NOT LIKE 'sqlite_%' AND name <> 'migrations' ORDER BY name`)
	if err != nil {
		return nil, wrapErr(err, "copy: tables")
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, wrapErr(err, "copy: tables")
		}
		names = append(names, n)
	}
	rows.Close()
	deps := map[string][]string{}
	for _, n := range names {
		fk, err := s.db.QueryContext(ctx, `SELECT "table" FROM pragma_foreign_key_list(?)`, n)
		if err != nil {
			return nil, wrapErr(err, "copy: foreign keys of %s", n)
		}
		for fk.Next() {
			var ref string
			if err := fk.Scan(&ref); err == nil && ref != n {
				deps[n] = append(deps[n], ref)
			}
		}
		fk.Close()
	}
	var out []string
	done := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if done[n] {
			return
		}
		done[n] = true
		for _, d := range deps[n] {
			visit(d)
		}
		out = append(out, n)
	}
	for _, n := range names {
		visit(n)
	}
	return out, nil
}

type column struct {
	name, typ string // typ: PostgreSQL's data_type
	pk        int    // position in the primary key, 0 if not in it
}

// columns returns a table's columns as SQLite has them, with PostgreSQL's
// type of each (from the target), refusing tables whose columns differ.
func copyColumns(ctx context.Context, src, dst *txn, table string) ([]column, error) {
	rows, err := src.QueryContext(ctx, `SELECT name, pk FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, wrapErr(err, "copy: columns of %s", table)
	}
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.pk); err != nil {
			rows.Close()
			return nil, wrapErr(err, "copy: columns of %s", table)
		}
		cols = append(cols, c)
	}
	rows.Close()
	types := map[string]string{}
	trows, err := dst.QueryContext(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ?`, table)
	if err != nil {
		return nil, wrapErr(err, "copy: columns of %s", table)
	}
	for trows.Next() {
		var n, t string
		if err := trows.Scan(&n, &t); err != nil {
			trows.Close()
			return nil, wrapErr(err, "copy: columns of %s", table)
		}
		types[n] = t
	}
	trows.Close()
	if len(types) != len(cols) {
		return nil, schema.Errorf(schema.EInvalid, "copy: table %s has %d columns in SQLite and %d in PostgreSQL", table, len(cols), len(types))
	}
	for i := range cols {
		t, ok := types[cols[i].name]
		if !ok {
			return nil, schema.Errorf(schema.EInvalid, "copy: column %s.%s is not in the PostgreSQL schema", table, cols[i].name)
		}
		cols[i].typ = t
	}
	return cols, nil
}

// copyTable copies one table's rows with COPY, a page at a time.
func copyTable(ctx context.Context, src, dst *txn, table string) (int64, error) {
	cols, err := copyColumns(ctx, src, dst, table)
	if err != nil {
		return 0, err
	}
	names := make([]string, len(cols))
	quoted := make([]string, len(cols))
	for i, c := range cols {
		names[i], quoted[i] = c.name, `"`+c.name+`"`
	}
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(quoted, ", ")+` FROM "`+table+`"`)
	if err != nil {
		return 0, wrapErr(err, "copy: read %s", table)
	}
	defer rows.Close()
	const page = 5000
	var batch [][]any
	var total int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := pg.CopyFrom(ctx, dst.conn, table, names, len(batch), func(i int) ([]any, error) { return batch[i], nil })
		total += int64(len(batch))
		batch = batch[:0]
		return wrapErr(err, "copy: write %s", table)
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return total, wrapErr(err, "copy: read %s", table)
		}
		for i, c := range cols {
			v, err := convertFor(c.typ, vals[i])
			if err != nil {
				return total, schema.WrapError(schema.EInvalid, err, "copy: %s.%s", table, c.name)
			}
			vals[i] = v
		}
		batch = append(batch, vals)
		if len(batch) == page {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return total, wrapErr(err, "copy: read %s", table)
	}
	return total, flush()
}

// convertFor turns a value as SQLite gives it (int64, float64, string,
// []byte or nil: SQLite stores what it is given) into one for a
// PostgreSQL column of type typ.
func convertFor(typ string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "boolean":
		switch x := v.(type) {
		case int64:
			return x != 0, nil
		case bool:
			return x, nil
		}
	case "bigint", "integer", "smallint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) {
				return int64(x), nil
			}
		case string:
			return strconv.ParseInt(x, 10, 64)
		case []byte:
			return strconv.ParseInt(string(x), 10, 64)
		}
	case "double precision", "real", "numeric":
		switch x := v.(type) {
		case int64:
			return float64(x), nil
		case float64:
			return x, nil
		case string:
			return strconv.ParseFloat(x, 64)
		}
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case "text", "character varying":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		}
	}
	return nil, fmt.Errorf("cannot store %T %v in a %s column", v, v, typ)
}

// resetSequences moves each identity column's sequence, and the drops'
// seq, past the rows copied, so new rows get new ids.
func (s *Store) resetSequences(ctx context.Context, tx *txn, tables []string) error {
	rows, err := tx.QueryContext(ctx, `SELECT table_name, pg_get_serial_sequence(quote_ident(table_name), 'id')
		FROM information_schema.columns WHERE table_schema = current_schema() AND column_name = 'id'`)
	if err != nil {
		return wrapErr(err, "copy: sequences")
	}
	seqs := map[string]string{}
	for rows.Next() {
		var t string
		var seq sql.NullString
		if err := rows.Scan(&t, &seq); err != nil {
			rows.Close()
			return wrapErr(err, "copy: sequences")
		}
		if seq.Valid {
			seqs[t] = seq.String
		}
	}
	rows.Close()
	for _, t := range tables {
		seq, ok := seqs[t]
		if !ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, `SELECT setval(?::regclass, coalesce((SELECT max(id) FROM `+pg.Quote(t)+`), 0) + 1, false)`,
			seq); err != nil {
			return wrapErr(err, "copy: sequence of %s", t)
		}
	}
	_, err = tx.ExecContext(ctx, `SELECT setval('drop_seq', coalesce((SELECT max(seq) FROM drops), 0) + 1, false)`)
	return wrapErr(err, "copy: drop seq")
}

// Compare reads every table of this SQLite store and of other (a copy of
// it) in key order and compares them row by row, through digests of their
// values normalised (0/1 and false/true, text and bytes, alike).
func (s *Store) Compare(ctx context.Context, other *Store) ([]TableCopy, error) {
	tables, err := s.copyOrder(ctx)
	if err != nil {
		return nil, err
	}
	var out []TableCopy
	for _, t := range tables {
		cols, order, err := s.keyOrder(ctx, t)
		if err != nil {
			return nil, err
		}
		q := `SELECT ` + cols + ` FROM "` + t + `" ORDER BY ` + order
		n, a, err := tableDigest(ctx, s, q)
		if err != nil {
			return nil, err
		}
		m, b, err := tableDigest(ctx, other, q)
		if err != nil {
			return nil, err
		}
		out = append(out, TableCopy{Table: t, Rows: n, Source: a, Target: b, Match: n == m && a == b})
	}
	return out, nil
}

// keyOrder returns the table's columns and its primary key columns (all
// its columns when it has none), for ORDER BY.
func (s *Store) keyOrder(ctx context.Context, table string) (cols, order string, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, pk FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return "", "", wrapErr(err, "compare: columns of %s", table)
	}
	defer rows.Close()
	var all []string
	keys := map[int]string{}
	for rows.Next() {
		var n string
		var pk int
		if err := rows.Scan(&n, &pk); err != nil {
			return "", "", wrapErr(err, "compare: columns of %s", table)
		}
		all = append(all, `"`+n+`"`)
		if pk > 0 {
			keys[pk] = `"` + n + `"`
		}
	}
	cols = strings.Join(all, ", ")
	if len(keys) == 0 {
		return cols, cols, nil
	}
	var out []string
	for i := 1; i <= len(keys); i++ {
		out = append(out, keys[i])
	}
	return cols, strings.Join(out, ", "), nil
}

// tableDigest hashes the rows q returns, each value normalised.
func tableDigest(ctx context.Context, s *Store, q string) (int64, string, error) {
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return 0, "", wrapErr(err, "compare %s", s)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	h := sha256.New()
	var n int64
	var b []byte
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, "", wrapErr(err, "compare %s", s)
		}
		b = b[:0]
		for _, v := range vals {
			b = appendNormal(b, v)
			b = append(b, 0x1f)
		}
		h.Write(append(b, '\n'))
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, "", wrapErr(err, "compare %s", s)
	}
	return n, hex.EncodeToString(h.Sum(nil))[:16], nil
}

func appendNormal(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "NULL"...)
	case bool:
		if x {
			return append(b, "i1"...)
		}
		return append(b, "i0"...)
	case int64:
		return strconv.AppendInt(append(b, 'i'), x, 10)
	case int32:
		return strconv.AppendInt(append(b, 'i'), int64(x), 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.AppendInt(append(b, 'i'), int64(x), 10)
		}
		return strconv.AppendFloat(append(b, 'f'), x, 'g', -1, 64)
	case string:
		return append(append(b, 's'), x...)
	case []byte:
		return append(append(b, 's'), x...)
	}
	return fmt.Appendf(b, "?%v", v)
}

// CopyMismatches lists the tables of a comparison that differ.
func CopyMismatches(ts []TableCopy) []string {
	var out []string
	for _, t := range ts {
		if !t.Match {
			out = append(out, t.Table)
		}
	}
	return slices.Clip(out)
}
