package store

// A source's first drop on PostgreSQL (migration 0011): the snapshot rows
// it adds carry first_drop, which leaves them out of the snapshot_seq
// index, and DropChanges reads such a drop's rows through the primary key
// (they are every row its source had after it). A row with any other seq
// is in the index: first_drop is set only by the COPY of a drop applied on
// a source whose seq is 0 and whose diff was computed against seq 0
// (base_seq, checked against the source's seq under the write lock when
// the drop is applied), and every write that gives a row another seq
// clears it (Tx.Assert, ReplaceAssertions).

// firstDrop reports whether the snapshot rows the drop adds to the source
// are a first drop's: the source has no applied drop yet (seq 0) and the
// drop's base_seq is 0. Asked once per drop in a transaction. A drop with
// no row yet is not a first drop (its rows go into the index, which is
// always right).
func (t *Tx) firstDrop(sourceID, dropID int64) (bool, error) {
	if fd, ok := t.tx.firstDrops[dropID]; ok {
		return fd, nil
	}
	row, err := t.queryRow(`SELECT EXISTS(SELECT 1 FROM sources s JOIN drops d ON d.source_id=s.id
		WHERE s.id=?1 AND d.id=?2 AND s.seq=0 AND d.base_seq=0)`, sourceID, dropID)
	if err != nil {
		return false, err
	}
	var fd bool
	if err := row.Scan(&fd); err != nil {
		return false, wrapErr(err, "add snapshot rows")
	}
	if t.tx.firstDrops == nil {
		t.tx.firstDrops = map[int64]bool{}
	}
	t.tx.firstDrops[dropID] = fd
	return fd, nil
}

// notFirstDrop is what DropChanges adds to its read of the snapshot rows
// with a drop's seq: on PostgreSQL, for a drop that is not a source's first
// (base_seq not 0), "AND NOT first_drop", which is true of all its rows and
// lets the server read them from snapshot_seq (a partial index, used only
// when the query implies its condition); for a first drop nothing, so its
// rows, some or all not in the index, are read through the primary key.
func (d *dialect) notFirstDrop(drop Drop) string {
	if d.postgres && drop.BaseSeq != 0 {
		return ` AND NOT first_drop`
	}
	return ""
}
