package store

import (
	"context"
	"slices"
	"strings"
)

// Versions returns every version of what the organisation's sources have
// asserted about key, current and replaced, oldest first: the history of
// every change to that person, each with the drop that made it.
func (s *Store) Versions(ctx context.Context, orgID int64, key string) ([]Assertion, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+assertionColsOf("a.")+`, 0 FROM snapshot a JOIN sources s ON s.id=a.source_id
		WHERE s.org_id=?1 AND a.key=?2
		UNION ALL
		SELECT `+assertionColsOf("h.")+`, h.until_seq FROM snapshot_history h JOIN sources s ON s.id=h.source_id
		WHERE s.org_id=?1 AND h.key=?2
		ORDER BY 3, 1`, orgID, key)
	if err != nil {
		return nil, wrapErr(err, "versions of %q", key)
	}
	defer rows.Close()
	var out []Assertion
	for rows.Next() {
		var until int64
		a, err := scanAssertion(rows, &until)
		if err != nil {
			return nil, wrapErr(err, "versions of %q", key)
		}
		a.UntilSeq = until
		out = append(out, a)
	}
	return out, wrapErr(rows.Err(), "versions of %q", key)
}

// DropChanges lists what an applied drop changed in its source's snapshot,
// in key order after the key cursor after, at most limit: versions it
// asserted (added or updated) and versions it ended with no successor
// (removed). next is the cursor of the following page ("" at the end).
//
// The three kinds are read apart, each an ordered range of an index
// (snapshot_seq, snapshot_history_start, snapshot_history_seq: migration
// 0009) of at most limit+1 rows, and merged: a page costs the same for a
// drop of three changes as for one of 100,000, however many people the
// source lists. The versions the drop ended are its removals and the
// versions its updates replaced, told apart only by looking for a
// successor: once the asserted ones fill a page, its last key bounds the
// ended ones read, so an update-only drop's page does not read every
// version the drop replaced looking for a removal (at most the page's
// updates and limit+1 removals are read).
func (s *Store) DropChanges(ctx context.Context, d Drop, after string, limit int) (out []Change, next string, err error) {
	if d.Seq == 0 {
		return nil, "", nil
	}
	limit = pageLimit(limit)
	// A version the drop asserted replaced one it ended (an update), or
	// none (an add).
	replaced := `(SELECT count(*) FROM snapshot_history p WHERE p.source_id=?1 AND p.key=c.key AND p.until_seq=?2)`
	// A large first drop's rows are mostly not in snapshot_seq: see
	// dropRows (firstdrop.go).
	current, err := s.dropRows(ctx, d)
	if err != nil {
		return nil, "", err
	}
	for _, q := range []string{
		`SELECT ` + assertionCols + `, ` + replaced + ` FROM snapshot c` + current + ` AND key>?3 ORDER BY key LIMIT ?4`,
		`SELECT ` + assertionCols + `, ` + replaced + ` FROM snapshot_history c` + s.d.indexedBy("snapshot_history_start") + `
		WHERE source_id=?1 AND seq=?2 AND key>?3 ORDER BY key LIMIT ?4`,
	} {
		if out, err = s.appendChanges(ctx, out, q, d, after, limit+1, ""); err != nil {
			return nil, "", wrapErr(err, "changes of drop %d", d.ID)
		}
	}
	// A key is in one of the three at most (a drop asserts a key once).
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Key, b.Key) })
	bound := ""
	if len(out) > limit {
		out = out[:limit+1]
		bound = out[limit].Key
	}
	removed := `SELECT ` + assertionCols + `, -1 FROM snapshot_history h` + s.d.indexedBy("snapshot_history_seq") + `
		WHERE source_id=?1 AND until_seq=?2 AND key>?3`
	if bound != "" {
		removed += ` AND key<=?5`
	}
	removed += `
		AND NOT EXISTS (SELECT 1 FROM snapshot n WHERE n.source_id=?1 AND n.key=h.key AND n.seq=?2)
		AND NOT EXISTS (SELECT 1 FROM snapshot_history n WHERE n.source_id=?1 AND n.key=h.key AND n.seq=?2)
		ORDER BY key LIMIT ?4`
	if out, err = s.appendChanges(ctx, out, removed, d, after, limit+1, bound); err != nil {
		return nil, "", wrapErr(err, "changes of drop %d", d.ID)
	}
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Key, b.Key) })
	out, next = cutPage(out, limit, changeKey)
	return out, next, nil
}

// appendChanges appends the changes q reads (assertion columns, then -1
// for a removal, 0 for an add, more for an update); bound, if not "", is
// q's ?5.
func (s *Store) appendChanges(ctx context.Context, out []Change, q string, d Drop, after string, n int, bound string) ([]Change, error) {
	args := []any{d.SourceID, d.Seq, after, n}
	if bound != "" {
		args = append(args, bound)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var prev int64
		a, err := scanAssertion(rows, &prev)
		if err != nil {
			return out, err
		}
		c := Change{Op: OpAdd, Assertion: a}
		switch {
		case prev < 0:
			c.Op = OpRemove
		case prev > 0:
			c.Op = OpUpdate
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
