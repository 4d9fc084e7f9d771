package store

import (
	"context"
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
func (s *Store) DropChanges(ctx context.Context, d Drop, after string, limit int) (out []Change, next string, err error) {
	if d.Seq == 0 {
		return nil, "", nil
	}
	limit = pageLimit(limit)
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+assertionCols+`, (SELECT count(*) FROM snapshot_history p WHERE p.source_id=?1 AND p.key=c.key AND p.until_seq=?2)
		FROM (SELECT * FROM snapshot WHERE source_id=?1 AND seq=?2 AND key>?3
		      UNION ALL SELECT source_id, key, seq, drop_id, line, hash, status, data
		      FROM snapshot_history WHERE source_id=?1 AND seq=?2 AND key>?3) c
		UNION ALL
		SELECT `+assertionCols+`, -1 FROM snapshot_history h WHERE source_id=?1 AND until_seq=?2 AND key>?3
		AND NOT EXISTS (SELECT 1 FROM snapshot n WHERE n.source_id=?1 AND n.key=h.key AND n.seq=?2)
		AND NOT EXISTS (SELECT 1 FROM snapshot_history n WHERE n.source_id=?1 AND n.key=h.key AND n.seq=?2)
		ORDER BY 2 LIMIT ?4`, d.SourceID, d.Seq, after, limit+1)
	if err != nil {
		return nil, "", wrapErr(err, "changes of drop %d", d.ID)
	}
	defer rows.Close()
	for rows.Next() {
		var prev int64
		a, err := scanAssertion(rows, &prev)
		if err != nil {
			return nil, "", wrapErr(err, "changes of drop %d", d.ID)
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
	out, next = cutPage(out, limit, changeKey)
	return out, next, wrapErr(rows.Err(), "changes of drop %d", d.ID)
}
