package store

import (
	"fmt"
	"strings"
)

// bulkRows is how many rows one multi-row INSERT carries: one statement per
// 64 people instead of 64 cuts the per-statement cost of a first ingest.
const bulkRows = 64

// AddNew queues a new snapshot row and the new recipient it makes, for an
// organisation that had no recipients before this transaction (the first
// ingest): nothing needs reading, so rows are inserted many at a time.
// FlushNew must be called before anything reads them.
func (t *Tx) AddNew(a Assertion, r Recipient) error {
	t.newAsserts = append(t.newAsserts, a)
	t.newRecips = append(t.newRecips, r)
	if len(t.newAsserts) >= bulkRows {
		return t.FlushNew()
	}
	return nil
}

// FlushNew inserts the rows AddNew queued. The source, seq and drop are
// the same for every row of a drop: they are written into the statement
// (integers from the store, so safe to format) instead of bound per row.
func (t *Tx) FlushNew() error {
	n := len(t.newAsserts)
	if n == 0 {
		return nil
	}
	first := &t.newAsserts[0]
	args := t.bulkArgs[:0]
	for i := range t.newAsserts {
		a := &t.newAsserts[i]
		if a.SourceID != first.SourceID || a.Seq != first.Seq || a.DropID != first.DropID {
			return fmt.Errorf("add snapshot rows: rows of different drops in one batch")
		}
		args = append(args, a.Key, a.Line, int64(a.Hash), a.Status, encodeData(a))
	}
	consts := fmt.Sprintf("%d,%d,%d,", first.SourceID, first.Seq, first.DropID)
	if _, err := t.exec("add snapshot rows", bulkInsert(`INSERT INTO snapshot(source_id, seq, drop_id, key, line, hash,
		status, data) VALUES`, consts, 5, n), args...); err != nil {
		return err
	}
	args = args[:0]
	r0 := &t.newRecips[0]
	for i := range t.newRecips {
		r := &t.newRecips[i]
		if r.CreatedSeq != r0.CreatedSeq || r.UpdatedSeq != r0.UpdatedSeq {
			return fmt.Errorf("add recipients: rows of different drops in one batch")
		}
		args = append(args, r.Key, r.Email, r.FirstName, r.LastName, encodeAttrs(&r.Attrs), r.Status, groupList(r.GroupIDs))
	}
	consts = fmt.Sprintf("%d,%d,%d,", t.org, r0.CreatedSeq, r0.UpdatedSeq)
	if _, err := t.exec("add recipients", bulkInsert(`INSERT INTO recipients(org_id, created_seq, updated_seq, key, email,
		first_name, last_name, attrs, status, group_ids) VALUES`, consts, 7, n), args...); err != nil {
		return err
	}
	t.bulkArgs = args[:0]
	t.newAsserts, t.newRecips = t.newAsserts[:0], t.newRecips[:0]
	return nil
}

// bulkInsert returns an INSERT of n rows, each the constants then cols
// placeholders.
func bulkInsert(head, consts string, cols, n int) string {
	row := "(" + consts + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return head + strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}
