package store

import "context"

// A source's large first drop (PostgreSQL's migration 0011_first_drop,
// SQLite's 0013_first_drop_sqlite): the snapshot rows it adds after its
// first firstDropIndexed carry first_drop, which leaves them out of the
// snapshot_seq index, and the drop is listed in first_drops, so that
// DropChanges reads its rows through the primary key (they were every row
// its source had after it). A row with any other seq is in the index:
// first_drop is set only by the insert (PostgreSQL's COPY, SQLite's
// multi-row INSERT) of a drop listed in first_drops,
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
// out of snapshot_seq (first_drop), as indexedOf. Called before the row is
// encoded: listing the drop runs a statement, which first copies every
// complete row waiting.
func (t *Tx) leaveOut(st *firstDropState, dropID int64) (bool, error) {
	k, err := t.indexedOf(st, dropID, 1)
	return k == 0, err
}

// indexedOf counts n more rows of the drop and returns how many of them,
// the first ones, go into snapshot_seq; the others are left out
// (first_drop), the drop listed in first_drops before its first such row.
func (t *Tx) indexedOf(st *firstDropState, dropID int64, n int) (int, error) {
	if !st.first {
		return n, nil
	}
	k := max(0, min(n, firstDropIndexed-st.rows))
	st.rows += n
	if k < n && !st.listed {
		if _, err := t.exec("add snapshot rows", `INSERT INTO first_drops(drop_id) VALUES(?)`, dropID); err != nil {
			return 0, err
		}
		st.listed = true
	}
	return k, nil
}

// dropRows is how DropChanges reads the snapshot rows with a drop's seq
// (?1 its source, ?2 its seq): for a drop not in first_drops, through
// snapshot_seq, with "AND NOT first_drop", which is true of all its rows
// and which a partial index needs the query to imply before it is used
// (SQLite's INDEXED BY fails without it); for a listed drop through the
// primary key, since most of its rows are not in the index.
func (s *Store) dropRows(ctx context.Context, d Drop) (string, error) {
	var listed bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM first_drops WHERE drop_id=?)`, d.ID).Scan(&listed); err != nil {
		return "", wrapErr(err, "changes of drop %d", d.ID)
	}
	if listed {
		return ` WHERE source_id=?1 AND seq=?2`, nil
	}
	return s.d.indexedBy("snapshot_seq") + ` WHERE source_id=?1 AND seq=?2 AND NOT first_drop`, nil
}
