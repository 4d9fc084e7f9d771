package store

import "fmt"

// scrubPage is how many rows a rewrite reads before writing them back, so
// no cursor is open on a table while it is updated.
const scrubPage = 5000

// RewriteAssertions passes every stored version of the source's assertions
// (current and replaced) and its held drops' changes to fn, and writes back
// those fn changed: values and content hash. It is for scrubbing the
// values of attributes that a narrowed allowlist no longer allows (merge
// rule 6): they must not stay stored. Versions keep their drop and seq.
func (t *Tx) RewriteAssertions(sourceID int64, fn func(*Assertion) bool) error {
	if _, err := t.Source(sourceID); err != nil {
		return err
	}
	type table struct {
		name, sel, upd string
		byKey          bool
		where          func(pos any) []any
	}
	for _, tb := range []table{
		{"snapshot", `SELECT ` + assertionCols + `, key FROM snapshot WHERE source_id=? AND key>? ORDER BY key LIMIT ?`,
			`UPDATE snapshot SET hash=?, data=? WHERE source_id=? AND key=?`, true,
			func(pos any) []any { return []any{sourceID, pos} }},
		{"snapshot_history", `SELECT ` + assertionCols + `, id FROM snapshot_history WHERE source_id=? AND id>? ORDER BY id LIMIT ?`,
			`UPDATE snapshot_history SET hash=?, data=? WHERE source_id=? AND id=?`, false,
			func(pos any) []any { return []any{sourceID, pos} }},
		// held changes: the position is drop_id<<32 | n
		{"drop_changes", `SELECT d.source_id, c.key, 0, c.drop_id, c.line, c.hash, c.status, c.data, (c.drop_id << 32) | c.n
			FROM drop_changes c JOIN drops d ON d.id=c.drop_id WHERE d.source_id=? AND ((c.drop_id << 32) | c.n) > ?
			ORDER BY c.drop_id, c.n LIMIT ?`,
			`UPDATE drop_changes SET hash=?, data=? WHERE drop_id=? AND n=?`, false,
			func(pos any) []any { p := pos.(int64); return []any{p >> 32, p & (1<<32 - 1)} }},
	} {
		if err := t.rewrite(sourceID, tb.name, tb.sel, tb.upd, tb.byKey, tb.where, fn); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) rewrite(sourceID int64, name, sel, upd string, byKey bool, where func(any) []any, fn func(*Assertion) bool) error {
	var afterKey string
	var afterID int64
	for {
		var after any = afterID
		if byKey {
			after = afterKey
		}
		rows, err := t.tx.QueryContext(t.ctx, sel, sourceID, after, scrubPage)
		if err != nil {
			return wrapErr(err, "rewrite %s", name)
		}
		type row struct {
			a   Assertion
			pos any
		}
		var page []row
		for rows.Next() {
			var r row
			var key string
			var id int64
			var err error
			if byKey {
				r.a, err = scanAssertion(rows, &key)
				r.pos = key
			} else {
				r.a, err = scanAssertion(rows, &id)
				r.pos = id
			}
			if err != nil {
				rows.Close()
				return wrapErr(err, "rewrite %s", name)
			}
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return wrapErr(err, "rewrite %s", name)
		}
		for i := range page {
			if fn(&page[i].a) {
				args := append([]any{int64(page[i].a.Hash), encodeData(&page[i].a)}, where(page[i].pos)...)
				if _, err := t.exec("rewrite "+name, upd, args...); err != nil {
					return err
				}
			}
		}
		if len(page) < scrubPage {
			return nil
		}
		last := page[len(page)-1].pos
		switch v := last.(type) {
		case string:
			afterKey = v
		case int64:
			afterID = v
		default:
			return fmt.Errorf("rewrite %s: bad position", name)
		}
	}
}
