package store

import (
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

// FlushNew inserts the rows AddNew queued.
func (t *Tx) FlushNew() error {
	n := len(t.newAsserts)
	if n == 0 {
		return nil
	}
	args := t.bulkArgs[:0]
	for i := range t.newAsserts {
		args = append(args, assertionArgs(&t.newAsserts[i])...)
	}
	if _, err := t.exec("add snapshot rows", bulkInsert(`INSERT INTO snapshot(source_id, key, seq, drop_id, line, hash,
		email, first_name, last_name, status, uid, groups, attrs) VALUES`, 13, n), args...); err != nil {
		return err
	}
	args = args[:0]
	for i := range t.newRecips {
		args = append(args, recipientArgs(t.org, &t.newRecips[i])...)
	}
	if _, err := t.exec("add recipients", bulkInsert(`INSERT INTO recipients(org_id, key, email, first_name, last_name,
		attrs, status, group_ids, created_seq, updated_seq) VALUES`, 10, n), args...); err != nil {
		return err
	}
	t.bulkArgs = args[:0]
	t.newAsserts, t.newRecips = t.newAsserts[:0], t.newRecips[:0]
	return nil
}

// bulkInsert returns an INSERT of n rows of cols placeholders each.
func bulkInsert(head string, cols, n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	return head + strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}
