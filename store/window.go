package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// windowKeep is how long removal rows are kept: the longest window any
// source uses is a day.
const windowKeep = 48 * time.Hour

// WindowRemovals returns how many people the source's batches removed in
// its current window (since its latest full snapshot or approved held
// drop, and at most since since), and how many of them left its snapshot
// (the others are listed inactive).
func (s *Store) WindowRemovals(ctx context.Context, sourceID int64, since time.Time) (removed, rows int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT CAST(coalesce(sum(removed), 0) AS BIGINT), CAST(coalesce(sum(rows_removed), 0) AS BIGINT) FROM removal_window
		WHERE source_id=?1 AND removed > 0 AND at_ns > ?2
		AND at_ns > (SELECT coalesce(max(at_ns), 0) FROM removal_window WHERE source_id=?1 AND removed < 0)`,
		sourceID, since.UnixNano()).Scan(&removed, &rows)
	return removed, rows, wrapErr(err, "removal window")
}

// RecordRemovals counts removed people removed by the source's batch
// dropID in its window, now, rows of them no longer in its snapshot.
func (t *Tx) RecordRemovals(sourceID, dropID, removed, rows int64) error {
	now := t.s.now()
	if _, err := t.exec("removal window", `INSERT INTO removal_window(source_id, at_ns, drop_id, removed, rows_removed) VALUES(?,?,?,?,?)`,
		sourceID, now.UnixNano(), dropID, removed, rows); err != nil {
		return err
	}
	_, err := t.exec("removal window", `DELETE FROM removal_window WHERE source_id=? AND removed >= 0 AND at_ns < ?`,
		sourceID, now.Add(-windowKeep).UnixNano())
	return err
}

// Markers of removal_window rows (removed < 0).
const (
	markFull    = -1 // a full snapshot applied or found unchanged
	markRestart = -2 // an admin approved a held drop
)

// RestartWindow records that a full snapshot of the source, read from at,
// was applied (or found unchanged) by dropID (full), or that an admin
// approved its held drop dropID at at: its removal window starts there.
func (t *Tx) RestartWindow(sourceID, dropID int64, at time.Time, full bool) error {
	return restartWindow(t.ctx, t.tx, sourceID, dropID, at, full)
}

// RestartWindow is Tx.RestartWindow in a transaction of its own.
func (s *Store) RestartWindow(ctx context.Context, sourceID, dropID int64, at time.Time, full bool) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "removal window")
	}
	defer tx.Rollback()
	if err := restartWindow(ctx, tx, sourceID, dropID, at, full); err != nil {
		return err
	}
	return wrapErr(tx.Commit(), "removal window")
}

func restartWindow(ctx context.Context, tx *txn, sourceID, dropID int64, at time.Time, full bool) error {
	mark := markRestart
	if full {
		mark = markFull
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM removal_window WHERE source_id=? AND (removed=? OR removed >= 0 AND at_ns < ?)`,
		sourceID, mark, at.UnixNano()); err != nil {
		return wrapErr(err, "removal window")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO removal_window(source_id, at_ns, drop_id, removed) VALUES(?,?,?,?)`,
		sourceID, at.UnixNano(), dropID, mark)
	return wrapErr(err, "removal window")
}

// LastFullSnapshot returns when the source's latest full snapshot that was
// applied (or found unchanged) was read from; found is false when none was.
func (s *Store) LastFullSnapshot(ctx context.Context, sourceID int64) (at time.Time, found bool, err error) {
	var ns int64
	err = s.db.QueryRowContext(ctx, `SELECT at_ns FROM removal_window WHERE source_id=? AND removed=?
		ORDER BY at_ns DESC LIMIT 1`, sourceID, markFull).Scan(&ns)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, wrapErr(err, "last full snapshot")
	}
	return time.Unix(0, ns).UTC(), true, nil
}

// HoldChanges holds the drop d, created in this transaction, with the
// changes each yields, for an admin to approve or reject.
func (t *Tx) HoldChanges(d *Drop, report []byte, each func(yield func(Change) error) error) error {
	n := 0
	err := each(func(c Change) error {
		n++
		_, err := t.exec("hold drop", `INSERT INTO drop_changes(drop_id, n, op, key, line, hash, status, data)
			VALUES(?,?,?,?,?,?,?,?)`, d.ID, n, c.Op, c.Key, c.Line, int64(c.Hash), c.Status, encodeData(&c.Assertion))
		return err
	})
	if err != nil {
		return err
	}
	d.Status, d.DecidedAt = DropHeld, t.Now()
	_, err = t.exec("hold drop", `UPDATE drops SET status='held', base_seq=?, report=?, decided_at=? WHERE id=? AND org_id=?`,
		d.BaseSeq, nullJSON(report), d.DecidedAt, d.ID, t.org)
	return err
}

// QueuedBatch is a batch of edits of a directory source waiting behind its
// held drop.
type QueuedBatch struct {
	ID       int64
	SourceID int64
	Name     string
	By       string
	// Edits is the batch, as JSON.
	Edits    []byte
	Received time.Time
}

// Enqueue records a batch to apply once the source's held drop is decided;
// b.ID is set.
func (t *Tx) Enqueue(b *QueuedBatch) error {
	b.Received = t.s.now()
	row, err := t.queryRow(`INSERT INTO directory_queue(source_id, name, by_whom, edits, received_ns) VALUES(?,?,?,?,?)
		RETURNING id`, b.SourceID, b.Name, b.By, string(b.Edits), b.Received.UnixNano())
	if err != nil {
		return err
	}
	return wrapErr(row.Scan(&b.ID), "queue a batch")
}

// Dequeue forgets a queued batch (applied, or held, in this transaction).
func (t *Tx) Dequeue(id int64) error {
	_, err := t.exec("dequeue a batch", `DELETE FROM directory_queue WHERE id=?`, id)
	return err
}

// Queued returns the source's queued batches, oldest first.
func (s *Store) Queued(ctx context.Context, sourceID int64) ([]QueuedBatch, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, source_id, name, by_whom, edits, received_ns FROM directory_queue
		WHERE source_id=? ORDER BY id`, sourceID)
	if err != nil {
		return nil, wrapErr(err, "queued batches")
	}
	defer rows.Close()
	var out []QueuedBatch
	for rows.Next() {
		var b QueuedBatch
		var edits string
		var ns int64
		if err := rows.Scan(&b.ID, &b.SourceID, &b.Name, &b.By, &edits, &ns); err != nil {
			return nil, wrapErr(err, "queued batches")
		}
		b.Edits, b.Received = []byte(edits), time.Unix(0, ns).UTC()
		out = append(out, b)
	}
	return out, wrapErr(rows.Err(), "queued batches")
}

// DropQueuedBefore forgets the source's batches queued before t (a full
// snapshot read from t says everything they said) and returns how many.
func (s *Store) DropQueuedBefore(ctx context.Context, sourceID int64, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM directory_queue WHERE source_id=? AND received_ns < ?`, sourceID, t.UnixNano())
	if err != nil {
		return 0, wrapErr(err, "queued batches")
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Clock returns the store's current time (SetClock changes it in tests).
func (s *Store) Clock() time.Time { return s.now() }

// Clock returns the store's current time.
func (t *Tx) Clock() time.Time { return t.s.now() }
