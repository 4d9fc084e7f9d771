package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"

	"muster/schema"
	"muster/store/pg"
)

// DropStatus is where a drop stands.
type DropStatus string

// Drop statuses. A drop is recorded as received before it is processed, so
// one that stays received was interrupted (its result was never committed).
const (
	DropReceived  DropStatus = "received"
	DropApplied   DropStatus = "applied"
	DropHeld      DropStatus = "held"
	DropRejected  DropStatus = "rejected"
	DropDuplicate DropStatus = "duplicate"
	// DropSuperseded: a file replaced by its sender before it was taken
	// (an SFTP upload overwritten in the same session); never read.
	DropSuperseded DropStatus = "superseded"
)

// Drop kinds.
const (
	DropKindFile     = "file"     // a file (CSV export)
	DropKindStream   = "stream"   // records from an API (WorkOS)
	DropKindManual   = "manual"   // an admin's edit
	DropKindRollback = "rollback" // a source rolled back to an earlier drop
	DropKindRemoval  = "removal"  // a source removed: all its assertions withdrawn
)

// Drop is one batch from a source, with its outcome.
type Drop struct {
	ID          int64      `json:"id"`
	OrgID       int64      `json:"org_id"`
	SourceID    int64      `json:"source_id"`
	SourceName  string     `json:"source"`
	Kind        string     `json:"kind"`
	Name        string     `json:"name"`
	ContentHash string     `json:"content_hash"`
	Status      DropStatus `json:"status"`
	// BaseSeq is the source's seq the drop's diff was computed against.
	BaseSeq int64 `json:"base_seq"`
	// Seq orders applied drops; 0 until applied.
	Seq        int64           `json:"seq,omitempty"`
	Report     json.RawMessage `json:"report,omitempty"`
	ReceivedAt string          `json:"received_at"`
	DecidedAt  string          `json:"decided_at,omitempty"`
	DecidedBy  string          `json:"decided_by,omitempty"`
}

const dropCols = `d.id, d.org_id, d.source_id, s.name, d.kind, d.name, d.content_hash, d.status, d.base_seq,
	coalesce(d.seq, 0), coalesce(d.report, ''), d.received_at, coalesce(d.decided_at, ''), coalesce(d.decided_by, '')`

func scanDrop(sc scanner) (Drop, error) {
	var d Drop
	var report string
	err := sc.Scan(&d.ID, &d.OrgID, &d.SourceID, &d.SourceName, &d.Kind, &d.Name, &d.ContentHash, &d.Status,
		&d.BaseSeq, &d.Seq, &report, &d.ReceivedAt, &d.DecidedAt, &d.DecidedBy)
	if report != "" {
		d.Report = json.RawMessage(report)
	}
	return d, err
}

// CreateDrop records a drop as received, before anything is computed, and
// sets d.ID, d.Status and d.ReceivedAt.
func (s *Store) CreateDrop(ctx context.Context, d *Drop) error {
	d.Status = DropReceived
	d.ReceivedAt = s.timestamp()
	err := s.db.QueryRowContext(ctx, `INSERT INTO drops(org_id, source_id, kind, name, content_hash, status, base_seq, received_at)
		VALUES(?,?,?,?,?,?,?,?) RETURNING id`, d.OrgID, d.SourceID, d.Kind, d.Name, d.ContentHash, d.Status,
		d.BaseSeq, d.ReceivedAt).Scan(&d.ID)
	return wrapErr(err, "record drop")
}

// Drop returns the organisation's drop with that id.
func (s *Store) Drop(ctx context.Context, orgID, id int64) (Drop, error) {
	d, err := scanDrop(s.db.QueryRowContext(ctx, `SELECT `+dropCols+` FROM drops d JOIN sources s ON s.id=d.source_id
		WHERE d.org_id=? AND d.id=?`, orgID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Drop{}, schema.Errorf(schema.ENotFound, "no drop %d", id)
	}
	return d, wrapErr(err, "drop %d", id)
}

// DropFilter selects drops to list. Before is a cursor: only drops with a
// smaller id (the list is newest first).
type DropFilter struct {
	SourceID int64
	Status   DropStatus
	Before   int64
	Limit    int
}

// Drops lists the organisation's drops, newest first. next is the cursor for
// the following page (0 at the end).
func (s *Store) Drops(ctx context.Context, orgID int64, f DropFilter) (out []Drop, next int64, err error) {
	where := []string{"d.org_id=?"}
	args := []any{orgID}
	if f.SourceID != 0 {
		where, args = append(where, "d.source_id=?"), append(args, f.SourceID)
	}
	if f.Status != "" {
		where, args = append(where, "d.status=?"), append(args, f.Status)
	}
	if f.Before > 0 {
		where, args = append(where, "d.id<?"), append(args, f.Before)
	}
	limit := pageLimit(f.Limit)
	rows, err := s.db.QueryContext(ctx, `SELECT `+dropCols+` FROM drops d JOIN sources s ON s.id=d.source_id
		WHERE `+strings.Join(where, " AND ")+` ORDER BY d.id DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, 0, wrapErr(err, "list drops")
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDrop(rows)
		if err != nil {
			return nil, 0, wrapErr(err, "list drops")
		}
		out = append(out, d)
	}
	out, next = cutPage(out, limit, func(d Drop) int64 { return d.ID })
	return out, next, wrapErr(rows.Err(), "list drops")
}

// cutPage trims a page read with one row more than limit (to learn whether
// another page follows) and returns the cursor of the next page: the key of
// its last row, or the zero value at the end.
func cutPage[T any, K comparable](out []T, limit int, key func(T) K) ([]T, K) {
	var next K
	if len(out) > limit {
		out = out[:limit]
		next = key(out[limit-1])
	}
	return out, next
}

func changeKey(c Change) string { return c.Key }

// pageLimit bounds a page size: default 100, at most 10000.
func pageLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 10000:
		return 10000
	}
	return n
}

// FindDuplicate returns the drop of the source with the same content that
// still stands: the applied drop whose result is the current snapshot, or a
// held drop awaiting a decision.
func (s *Store) FindDuplicate(ctx context.Context, src Source, hash string) (Drop, bool, error) {
	d, err := scanDrop(s.db.QueryRowContext(ctx, `SELECT `+dropCols+` FROM drops d JOIN sources s ON s.id=d.source_id
		WHERE d.source_id=? AND d.content_hash=? AND (d.status='held' OR (d.status='applied' AND d.seq=s.seq))
		ORDER BY d.id DESC LIMIT 1`, src.ID, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return Drop{}, false, nil
	}
	if err != nil {
		return Drop{}, false, wrapErr(err, "find duplicate")
	}
	return d, true, nil
}

// DecideDrop records a drop's outcome when nothing is applied (rejected,
// duplicate) or a held drop's rejection. A drop already decided otherwise
// is a conflict.
func (s *Store) DecideDrop(ctx context.Context, orgID, id int64, status DropStatus, report []byte, by string) error {
	tx, err := s.beginOrg(ctx, orgID)
	if err != nil {
		return wrapErr(err, "decide drop %d", id)
	}
	defer tx.Rollback()
	var cur DropStatus
	err = tx.QueryRowContext(ctx, `SELECT status FROM drops WHERE id=? AND org_id=?`, id, orgID).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return schema.Errorf(schema.ENotFound, "no drop %d", id)
	}
	if err != nil {
		return wrapErr(err, "decide drop %d", id)
	}
	if cur != DropReceived && cur != DropHeld {
		return schema.Errorf(schema.EConflict, "drop %d is already %s", id, cur)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE drops SET status=?, report=?, decided_at=?, decided_by=nullif(?, '')
		WHERE id=?`, status, nullJSON(report), s.timestamp(), by, id); err != nil {
		return wrapErr(err, "decide drop %d", id)
	}
	if cur == DropHeld {
		if _, err := tx.ExecContext(ctx, `DELETE FROM drop_changes WHERE drop_id=?`, id); err != nil {
			return wrapErr(err, "decide drop %d", id)
		}
	}
	return wrapErr(tx.Commit(), "decide drop %d", id)
}

func nullJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// ChangeOp is what a change does to a source's snapshot.
type ChangeOp uint8

// Change operations.
const (
	OpAdd ChangeOp = iota + 1
	OpUpdate
	OpRemove
)

func (o ChangeOp) String() string {
	switch o {
	case OpAdd:
		return "added"
	case OpUpdate:
		return "updated"
	case OpRemove:
		return "removed"
	}
	return "unknown"
}

// Change is one row of a drop's diff. For OpRemove only Key (and Line, when
// the removal was asked for by a delta row) are meaningful.
type Change struct {
	Op ChangeOp
	Assertion
	// Digest is the digest of the file row the change came from (see
	// schema.Decoder.SetKnown), kept in the snapshot index only; 0: none.
	Digest uint64
}

// HoldDrop records a drop as held with its computed diff, to be applied as
// is if approved. each is called once and must call yield for every change.
func (s *Store) HoldDrop(ctx context.Context, id, baseSeq int64, report []byte, each func(yield func(Change) error) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "hold drop %d", id)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO drop_changes(drop_id, n, op, key, line, hash, status, data)
		VALUES(?,?,?,?,?,?,?,?)`)
	if err != nil {
		return wrapErr(err, "hold drop %d", id)
	}
	defer ins.Close()
	n := 0
	if s.d.postgres {
		err = s.copyHeld(ctx, tx, id, each)
	} else {
		err = each(func(c Change) error {
			n++
			_, err := ins.ExecContext(ctx, id, n, c.Op, c.Key, c.Line, int64(c.Hash), c.Status, encodeData(&c.Assertion))
			return wrapErr(err, "hold drop %d", id)
		})
	}
	if err != nil {
		return err
	}
	// Only a drop still received is held: one decided meanwhile by another
	// process (closed as interrupted) keeps that decision.
	res, err := tx.ExecContext(ctx, `UPDATE drops SET status='held', base_seq=?, report=?, decided_at=?
		WHERE id=? AND status='received'`, baseSeq, nullJSON(report), s.timestamp(), id)
	if err != nil {
		return wrapErr(err, "hold drop %d", id)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		if err != nil {
			return wrapErr(err, "hold drop %d", id)
		}
		var cur DropStatus
		if err := tx.QueryRowContext(ctx, `SELECT status FROM drops WHERE id=?`, id).Scan(&cur); err != nil {
			return wrapErr(err, "hold drop %d", id)
		}
		return schema.Errorf(schema.EConflict, "drop %d is already %s (decided by another process meanwhile): not held", id, cur)
	}
	return wrapErr(tx.Commit(), "hold drop %d", id)
}

// copyHeld writes a held drop's changes with COPY, a few thousand a
// statement: PostgreSQL's bulk path (a held diff may be a million rows).
func (s *Store) copyHeld(ctx context.Context, tx *txn, id int64, each func(yield func(Change) error) error) error {
	const page = 4096
	cols := []string{"drop_id", "n", "op", "key", "line", "hash", "status", "data"}
	rows := make([][]any, 0, page)
	n := 0
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		err := pg.CopyFrom(ctx, tx.conn, "drop_changes", cols, len(rows), func(i int) ([]any, error) { return rows[i], nil })
		rows = rows[:0]
		return wrapErr(err, "hold drop %d", id)
	}
	err := each(func(c Change) error {
		n++
		rows = append(rows, []any{id, n, c.Op, c.Key, c.Line, int64(c.Hash), c.Status, encodeData(&c.Assertion)})
		if len(rows) == page {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// HeldChanges calls fn with each change of a held drop, in the order held.
func (s *Store) HeldChanges(ctx context.Context, dropID int64, fn func(Change) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT op, key, line, hash, status, data FROM drop_changes
		WHERE drop_id=? ORDER BY n`, dropID)
	if err != nil {
		return wrapErr(err, "held changes of drop %d", dropID)
	}
	return eachHeldChange(rows, dropID, fn)
}

// HeldChangesPage lists a held drop's changes after the key cursor after,
// at most limit; next is the cursor of the following page ("" at the end).
// A held diff is stored in key order (n follows the key), so the page's
// start is found by a binary search over n, a few primary-key lookups,
// rather than by reading every change before it: paging a held drop of a
// million changes costs the same on its last page as on its first.
func (s *Store) HeldChangesPage(ctx context.Context, dropID int64, after string, limit int) (out []Change, next string, err error) {
	limit = pageLimit(limit)
	lo := int64(0)
	if after != "" {
		// The first n (numbered from 1, without gaps) whose key is past
		// the cursor.
		var hi int64
		if err := s.db.QueryRowContext(ctx, `SELECT coalesce(min(n), 0), coalesce(max(n)+1, 0) FROM drop_changes WHERE drop_id=?`,
			dropID).Scan(&lo, &hi); err != nil {
			return nil, "", wrapErr(err, "held changes of drop %d", dropID)
		}
		for lo < hi {
			mid := lo + (hi-lo)/2
			var key string
			if err := s.db.QueryRowContext(ctx, `SELECT key FROM drop_changes WHERE drop_id=? AND n=?`, dropID, mid).Scan(&key); err != nil {
				return nil, "", wrapErr(err, "held changes of drop %d", dropID)
			}
			if key <= after {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT op, key, line, hash, status, data FROM drop_changes
		WHERE drop_id=? AND n>=? ORDER BY n LIMIT ?`, dropID, lo, limit+1)
	if err != nil {
		return nil, "", wrapErr(err, "held changes of drop %d", dropID)
	}
	err = eachHeldChange(rows, dropID, func(c Change) error {
		out = append(out, c)
		return nil
	})
	out, next = cutPage(out, limit, changeKey)
	return out, next, err
}

func eachHeldChange(rows *sql.Rows, dropID int64, fn func(Change) error) error {
	defer rows.Close()
	for rows.Next() {
		var c Change
		var hash int64
		var data []byte
		if err := rows.Scan(&c.Op, &c.Key, &c.Line, &hash, &c.Status, &data); err != nil {
			return wrapErr(err, "held changes of drop %d", dropID)
		}
		c.Hash = uint64(hash)
		if err := decodeData(&c.Assertion, data); err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return wrapErr(rows.Err(), "held changes of drop %d", dropID)
}

// DropsBySeq returns the organisation's applied drops with those seqs.
func (s *Store) DropsBySeq(ctx context.Context, orgID int64, seqs []int64) (map[int64]Drop, error) {
	out := map[int64]Drop{}
	if len(seqs) == 0 {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+dropCols+` FROM drops d JOIN sources s ON s.id=d.source_id
		WHERE d.org_id=? AND d.seq IN (`+formatIDs(seqs)+`)`, orgID)
	if err != nil {
		return nil, wrapErr(err, "drops")
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDrop(rows)
		if err != nil {
			return nil, wrapErr(err, "drops")
		}
		out[d.Seq] = d
	}
	return out, wrapErr(rows.Err(), "drops")
}

// SetDropHash records a drop's content hash when it is known only after
// reading (a stream's records hash).
func (s *Store) SetDropHash(ctx context.Context, id int64, hash string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE drops SET content_hash=? WHERE id=?`, hash, id)
	return wrapErr(err, "drop %d", id)
}

// AppliedSince lists the organisation's drops applied after seq, in the
// order they were applied, at most limit, each with its report: a reader
// that follows what was applied (the console's audience chart) reads only
// what is new, approvals of older held drops included (they are applied
// with a new seq).
func (s *Store) AppliedSince(ctx context.Context, orgID, afterSeq int64, limit int) ([]Drop, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+dropCols+` FROM drops d JOIN sources s ON s.id=d.source_id
		WHERE d.seq>? AND d.org_id=? AND d.status='applied' ORDER BY d.seq LIMIT ?`, afterSeq, orgID, pageLimit(limit))
	if err != nil {
		return nil, wrapErr(err, "applied drops")
	}
	defer rows.Close()
	var out []Drop
	for rows.Next() {
		d, err := scanDrop(rows)
		if err != nil {
			return nil, wrapErr(err, "applied drops")
		}
		out = append(out, d)
	}
	return out, wrapErr(rows.Err(), "applied drops")
}
