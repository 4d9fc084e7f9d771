package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"

	"muster/schema"
)

// An apply works on batches of people: each of the methods below reads or
// writes many rows in one statement, so a drop costs a few statements per
// few hundred people instead of several per person (each statement is a
// round trip through database/sql and cgo that costs more than SQLite's
// own work on a row).

// bulkRows is how many rows one multi-row INSERT carries at most; fewer
// rows go in statements of a power of two rows, so a transaction prepares
// at most a handful of variants of each.
const bulkRows = 64

// keyListMax bounds how many keys one IN list binds.
const keyListMax = 512

// InsertAssertions adds new snapshot rows, which must all be of one source
// and one drop (an apply's): a row that exists already is a conflict.
func (t *Tx) InsertAssertions(as []Assertion) error {
	return t.putAssertions(as, false)
}

// ReplaceAssertions overwrites the snapshot rows with the keys of as (or
// adds them), all of one source and one drop. Callers keep the replaced
// versions first (ArchiveAssertions).
func (t *Tx) ReplaceAssertions(as []Assertion) error {
	return t.putAssertions(as, true)
}

func (t *Tx) putAssertions(as []Assertion, replace bool) error {
	if len(as) == 0 {
		return nil
	}
	first := &as[0]
	t.touch(first.SourceID)
	for i := range as {
		a := &as[i]
		if a.SourceID != first.SourceID || a.Seq != first.Seq || a.DropID != first.DropID {
			return fmt.Errorf("add snapshot rows: rows of different drops in one batch")
		}
	}
	if !replace && t.s.d.postgres {
		return t.copyAssertions(as)
	}
	args := t.bulkArgs[:0]
	vals := &t.bulk.vals
	vals.reset(len(as), 1, 2, 1, len(as)*96)
	for i := range as {
		args = vals.assertion(args, &as[i])
	}
	t.bulkArgs = args[:0]
	// The source, seq and drop are the same for every row of a drop: they
	// are written into the statement (integers from the store, so safe to
	// format) instead of bound per row.
	consts := fmt.Sprintf("%d,%d,%d,", first.SourceID, first.Seq, first.DropID)
	if replace {
		// Another seq: in snapshot_seq (firstdrop.go).
		return t.bulkExec("add snapshot rows", `INSERT INTO snapshot(source_id, seq, drop_id, key, line, hash, status, data) VALUES`,
			consts, ` ON CONFLICT(source_id, key) DO UPDATE SET seq=excluded.seq, drop_id=excluded.drop_id,
			line=excluded.line, hash=excluded.hash, status=excluded.status, data=excluded.data, first_drop=false`, 5, args)
	}
	// A large first drop's rows after its first firstDropIndexed are left
	// out of snapshot_seq (firstdrop.go): the first k rows of these go in,
	// the others carry first_drop, written into the statement as the drop
	// is.
	st, err := t.firstDrop(first.SourceID, first.DropID)
	if err != nil {
		return err
	}
	k, err := t.indexedOf(st, first.DropID, len(as))
	if err != nil {
		return err
	}
	const head = `INSERT INTO snapshot(source_id, seq, drop_id, first_drop, key, line, hash, status, data) VALUES`
	if err := t.bulkExec("add snapshot rows", head, consts+"0,", "", 5, args[:k*5]); err != nil {
		return err
	}
	return t.bulkExec("add snapshot rows", head, consts+"1,", "", 5, args[k*5:])
}

// ArchiveAssertions keeps the source's current rows for keys as versions
// replaced by the drop with seq until, and returns the status of each row
// there was (a key without a row is absent from the map). The rows stay
// current until replaced or deleted.
func (t *Tx) ArchiveAssertions(sourceID int64, keys []string, until int64) (map[string]schema.Status, error) {
	out := make(map[string]schema.Status, len(keys))
	err := t.eachKeyList(keys, func(in string, args []any) error {
		st, err := t.stmt(`INSERT INTO snapshot_history(source_id, key, seq, drop_id, line, hash, status, data, until_seq)
			SELECT source_id, key, seq, drop_id, line, hash, status, data, ?2 FROM snapshot
			WHERE source_id=?1 AND key IN (` + in + `) RETURNING key, status`)
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(t.ctx, append([]any{sourceID, until}, args...)...)
		if err != nil {
			return wrapErr(err, "keep snapshot versions")
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var s schema.Status
			if err := rows.Scan(&k, &s); err != nil {
				return wrapErr(err, "keep snapshot versions")
			}
			out[k] = s
		}
		return wrapErr(rows.Err(), "keep snapshot versions")
	})
	return out, err
}

// DeleteAssertions removes the source's rows for keys (ArchiveAssertions
// keeps them first).
func (t *Tx) DeleteAssertions(sourceID int64, keys []string) error {
	if len(keys) > 0 {
		t.touch(sourceID)
	}
	return t.eachKeyList(keys, func(in string, args []any) error {
		_, err := t.exec("remove snapshot rows", `DELETE FROM snapshot WHERE source_id=?1 AND key IN (`+in+`)`,
			append([]any{sourceID}, args...)...)
		return err
	})
}

// AssertionsOf returns the current assertions about keys by the given
// sources (which the caller took from this organisation), by key.
func (t *Tx) AssertionsOf(keys []string, sourceIDs []int64) (map[string][]Assertion, error) {
	out := map[string][]Assertion{}
	if len(sourceIDs) == 0 {
		return out, nil
	}
	err := t.eachKeyList(keys, func(in string, args []any) error {
		st, err := t.stmt(`SELECT ` + assertionCols + ` FROM snapshot WHERE source_id IN (` + formatIDs(sourceIDs) +
			`) AND key IN (` + in + `)`)
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(t.ctx, args...)
		if err != nil {
			return wrapErr(err, "assertions")
		}
		return eachAssertion(rows, func(a Assertion) error { out[a.Key] = append(out[a.Key], a); return nil })
	})
	return out, err
}

// RecipientsOf returns the organisation's recipients with those keys, by key.
func (t *Tx) RecipientsOf(keys []string) (map[string]Recipient, error) {
	return queryByKey(t, keys, "recipients", `SELECT `+recipientCols+` FROM recipients WHERE org_id=?1 AND key IN (%s)`,
		func(sc scanner) (Recipient, string, error) { r, err := scanRecipient(sc); return r, r.Key, err })
}

// queryByKey runs q (whose ?1 is the organisation and %s the IN list) for
// keys and returns the rows scan reads, by key.
func queryByKey[T any](t *Tx, keys []string, what, q string, scan func(scanner) (T, string, error)) (map[string]T, error) {
	out := make(map[string]T, len(keys))
	err := t.eachKeyList(keys, func(in string, args []any) error {
		st, err := t.stmt(fmt.Sprintf(q, in))
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(t.ctx, append([]any{t.org}, args...)...)
		if err != nil {
			return wrapErr(err, "%s", what)
		}
		defer rows.Close()
		for rows.Next() {
			v, k, err := scan(rows)
			if err != nil {
				return wrapErr(err, "%s", what)
			}
			out[k] = v
		}
		return wrapErr(rows.Err(), "%s", what)
	})
	return out, err
}

// InsertRecipients adds new recipients, all made by one drop (same created
// and updated seq): a recipient that exists already is a conflict.
func (t *Tx) InsertRecipients(rs []Recipient) error {
	return t.putRecipients(rs, "")
}

// UpdateRecipients overwrites existing recipients (keeping when each was
// created), all updated by one drop.
func (t *Tx) UpdateRecipients(rs []Recipient) error {
	return t.putRecipients(rs, ` ON CONFLICT(org_id, key) DO UPDATE SET email=excluded.email,
		first_name=excluded.first_name, last_name=excluded.last_name, attrs=excluded.attrs, status=excluded.status,
		group_ids=excluded.group_ids, updated_seq=excluded.updated_seq, search=excluded.search`)
}

func (t *Tx) putRecipients(rs []Recipient, tail string) error {
	if len(rs) == 0 {
		return nil
	}
	r0 := &rs[0]
	args := t.bulkArgs[:0]
	for i := range rs {
		r := &rs[i]
		r.OrgID = t.org
		if r.UpdatedSeq != r0.UpdatedSeq || (tail == "" && r.CreatedSeq != r0.CreatedSeq) {
			return fmt.Errorf("save recipients: rows of different drops in one batch")
		}
	}
	if tail == "" && t.s.d.postgres {
		return t.copyRecipients(rs)
	}
	vals := &t.bulk.vals
	vals.reset(len(rs), 8, 0, 0, len(rs)*128)
	for i := range rs {
		args = vals.recipient(args, &rs[i])
	}
	t.bulkArgs = args[:0]
	// created_seq of an update is not written (ON CONFLICT leaves it).
	consts := fmt.Sprintf("%d,%d,%d,", t.org, r0.CreatedSeq, r0.UpdatedSeq)
	return t.bulkExec("save recipients", `INSERT INTO recipients(org_id, created_seq, updated_seq, key, email,
		first_name, last_name, attrs, status, group_ids, search) VALUES`, consts, tail, 8, args)
}

// bulkExec runs head VALUES rows (each the constants then cols
// placeholders) then tail, for the rows whose values are args (driver
// values: strings, int64, []byte, nil), in statements of bulkRows rows and
// then of powers of two, through the transaction's bulk writer.
func (t *Tx) bulkExec(what, head, consts, tail string, cols int, args []any) error {
	if t.s.d.postgres && len(args) >= cols {
		if done, err := t.unnestExec(what, head, consts, tail, cols, args); done || err != nil {
			return err
		}
	}
	for n := len(args) / cols; n > 0; {
		k := bulkRows
		for k > n {
			k /= 2
		}
		if err := t.ctx.Err(); err != nil {
			return err
		}
		key := bulkKey{head: head, consts: consts, tail: tail, cols: cols, rows: k}
		if t.s.d.postgres {
			// PostgreSQL's upserts of a batch go as any statement (its
			// new rows go by COPY, copystream.go).
			if _, err := t.exec(what, key.query(), args[:k*cols]...); err != nil {
				return err
			}
		} else if err := t.bulk.exec(t.tx.conn, key, args[:k*cols]); err != nil {
			return wrapErr(err, "%s", what)
		}
		args, n = args[k*cols:], n-k
	}
	return nil
}

// bulkWriter runs a transaction's multi-row writes straight on the SQLite
// driver's connection (the transaction's own): its statements bind all of
// a statement's values and step in one call into C, where database/sql
// would convert every value and the driver bind each with a call of its
// own (a third of a first ingest's time went there). It is the store's one
// SQLite-specific write path, behind bulkExec: another database puts its
// own bulk load there (PostgreSQL's COPY).
type bulkWriter struct {
	stmts map[bulkKey]driver.Stmt
	named []driver.NamedValue
	// vals makes the values of each batch, reusing its arrays from batch
	// to batch (a batch's values are read only while its statements run).
	vals bulkVals
}

// bulkKey names a statement of bulkExec: head, then rows rows of the
// constants and cols placeholders, then tail. A transaction's statements
// are found by it without writing their text again (a few KB each).
type bulkKey struct {
	head, consts, tail string
	cols, rows         int
}

func (k bulkKey) query() string {
	return bulkInsert(k.head, k.consts, k.cols, k.rows) + k.tail
}

func (b *bulkWriter) exec(conn *sql.Conn, key bulkKey, args []any) error {
	return conn.Raw(func(dc any) error {
		st, ok := b.stmts[key]
		if !ok {
			pc, ok := dc.(driver.ConnPrepareContext)
			if !ok {
				return errors.New("the SQLite driver cannot prepare on a connection")
			}
			var err error
			if st, err = pc.PrepareContext(context.Background(), key.query()); err != nil {
				return err
			}
			if b.stmts == nil {
				b.stmts = map[bulkKey]driver.Stmt{}
			}
			b.stmts[key] = st
		}
		sq, ok := st.(driver.StmtQueryContext)
		if !ok {
			return errors.New("the SQLite driver cannot query a statement")
		}
		b.named = b.named[:0]
		for i, a := range args {
			b.named = append(b.named, driver.NamedValue{Ordinal: i + 1, Value: a})
		}
		// A query, not an exec: the driver binds and steps in one call.
		// Without a context it watches none (bulkExec checks between
		// statements).
		rows, err := sq.QueryContext(context.Background(), b.named)
		clear(b.named)
		if err != nil {
			return err
		}
		return rows.Close()
	})
}

// close finalises the statements, on the connection they belong to.
func (b *bulkWriter) close(conn *sql.Conn) {
	b.vals = bulkVals{} // what the last batch points at may go
	if len(b.stmts) == 0 {
		return
	}
	_ = conn.Raw(func(any) error {
		for q, st := range b.stmts {
			st.Close()
			delete(b.stmts, q)
		}
		return nil
	})
}

// bulkInsert returns an INSERT of n rows, each the constants then cols
// placeholders.
func bulkInsert(head, consts string, cols, n int) string {
	row := "(" + consts + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return head + strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

// eachKeyList calls fn with an IN list of placeholders and the keys bound
// to them, at most keyListMax keys a call. The list is padded to a power of
// two by repeating the last key (an IN list is a set), so a transaction
// prepares only a few variants of each statement.
func (t *Tx) eachKeyList(keys []string, fn func(in string, args []any) error) error {
	for len(keys) > 0 {
		n := min(len(keys), keyListMax)
		size := 8
		for size < n {
			size *= 2
		}
		args := make([]any, size)
		for i := range args {
			args[i] = keys[min(i, n-1)]
		}
		// Plain placeholders: SQLite numbers them after the statement's own
		// ?1, ?2 written before the list, which callers bind first.
		in := strings.TrimSuffix(strings.Repeat("?,", size), ",")
		if err := fn(in, args); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}
