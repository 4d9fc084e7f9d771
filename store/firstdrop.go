package store

import "context"

// A source's large first drop on PostgreSQL (migrations/postgres/
// 0011_first_drop.sql): the snapshot rows it adds after its first
// firstDropIndexed carry first_drop, which leaves them out of the
// snapshot_seq index, and the drop is listed in first_drops, so that
// DropChanges reads its rows through the primary key (they were every row
// its source had after it). A row with any other seq is in the index:
// first_drop is set only by the COPY of a drop listed in first_drops,
// applied on a source whose seq is 0 and whose diff was computed against
// seq 0 (base_seq, checked against the source's seq under the write lock
// when the drop is applied), and every write that gives a row another seq
// clears it (Tx.Assert, ReplaceAssertions). A first drop of fewer rows is
// not listed and its rows are all in the index: read through the primary
// key, a source that grew since would be scanned whole to find them.

// firstDropIndexed is how many rows of a first drop go into snapshot_seq
// before the others are left out.
const firstDropIndexed = copyRowsMax

// firstDropState is what a transaction knows of a drop whose snapshot
// rows it copies.
type firstDropState struct {
	first  bool // a first drop: its rows after firstDropIndexed are left out
	rows   int  // rows copied so far
	listed bool // in first_drops
}

// firstDrop returns the state of the drop whose rows the transaction
// copies into the source's snapshot: a first drop if the source has no
// applied drop yet (seq 0) and the drop's base_seq is 0. Read once per
// drop in a transaction. A drop with no row yet is not a first drop (its
// rows go into the index, which is always right).
func (t *Tx) firstDrop(sourceID, dropID int64) (*firstDropState, error) {
	if st, ok := t.tx.firstDrops[dropID]; ok {
		return st, nil
	}
	row, err := t.queryRow(`SELECT EXISTS(SELECT 1 FROM sources s JOIN drops d ON d.source_id=s.id
		WHERE s.id=?1 AND d.id=?2 AND s.seq=0 AND d.base_seq=0)`, sourceID, dropID)
	if err != nil {
		return nil, err
	}
	st := &firstDropState{}
	if err := row.Scan(&st.first); err != nil {
		return nil, wrapErr(err, "add snapshot rows")
	}
	if t.tx.firstDrops == nil {
		t.tx.firstDrops = map[int64]*firstDropState{}
	}
	t.tx.firstDrops[dropID] = st
	return st, nil
}

// leaveOut counts one more row of the drop and reports whether it is left
// out of snapshot_seq (first_drop), listing the drop in first_drops before
// its first such row. Called before the row is encoded: listing it runs a
// statement, which first copies every complete row waiting.
func (t *Tx) leaveOut(st *firstDropState, dropID int64) (bool, error) {
	if !st.first {
		return false, nil
	}
	st.rows++
	if st.rows <= firstDropIndexed {
		return false, nil
	}
	if !st.listed {
		if _, err := t.exec("add snapshot rows", `INSERT INTO first_drops(drop_id) VALUES(?)`, dropID); err != nil {
			return false, err
		}
		st.listed = true
	}
	return true, nil
}

// notFirstDrop is what DropChanges adds to its read of the snapshot rows
// with a drop's seq: on PostgreSQL, for a drop not in first_drops, "AND NOT
// first_drop", which is true of all its rows and lets the server read them
// from snapshot_seq (a partial index, used only when the query implies its
// condition); for a listed drop nothing, so its rows, most of them not in
// the index, are read through the primary key.
func (s *Store) notFirstDrop(ctx context.Context, d Drop) (string, error) {
	if !s.d.postgres {
		return "", nil
	}
	var listed bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM first_drops WHERE drop_id=?)`, d.ID).Scan(&listed); err != nil {
		return "", wrapErr(err, "changes of drop %d", d.ID)
	}
	if listed {
		return "", nil
	}
	return ` AND NOT first_drop`, nil
}
