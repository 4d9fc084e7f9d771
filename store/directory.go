package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"muster/schema"
)

// AppliedEvent is a directory event (WorkOS Events API or webhook) that was
// applied: its id, what it was about and when it was created.
type AppliedEvent struct {
	ID string
	// Object names what the event is about ("user:<id>", "member:<user>:<group>",
	// "group:<id>", "directory:<id>").
	Object  string
	Created time.Time
}

// EventsApplied returns which of ids are recorded as applied.
func (s *Store) EventsApplied(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for len(ids) > 0 {
		n := min(len(ids), 500)
		chunk := ids[:n]
		ids = ids[n:]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, `SELECT event_id FROM directory_events WHERE event_id IN (?`+
			strings.Repeat(",?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, wrapErr(err, "applied events")
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, wrapErr(err, "applied events")
			}
			out[id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, wrapErr(err, "applied events")
		}
	}
	return out, nil
}

// NewerEvent reports whether an event about object newer than the event id
// created at was applied: created later, or at the same time with a greater
// id (event ids sort in the order they were made). An event arriving late
// must not undo it.
func (s *Store) NewerEvent(ctx context.Context, object string, at time.Time, id string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM directory_events WHERE object=?1 AND
		(created_ns>?2 OR (created_ns=?2 AND event_id>?3)) LIMIT 1`, object, at.UnixNano(), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, wrapErr(err, "newer event about %s", object)
}

const recordEventSQL = `INSERT INTO directory_events(event_id, object, created_ns, applied_ns)
	VALUES(?,?,?,?) ON CONFLICT(event_id) DO NOTHING`

// RecordEvents records events as applied, in one transaction; ids already
// recorded are left as they were.
func (s *Store) RecordEvents(ctx context.Context, evs []AppliedEvent) error {
	if len(evs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr(err, "record events")
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, recordEventSQL)
	if err != nil {
		return wrapErr(err, "record events")
	}
	defer st.Close()
	now := s.now().UnixNano()
	for _, ev := range evs {
		if _, err := st.ExecContext(ctx, ev.ID, ev.Object, ev.Created.UnixNano(), now); err != nil {
			return wrapErr(err, "record event %s", ev.ID)
		}
	}
	return wrapErr(tx.Commit(), "record events")
}

// RecordEvents records events as applied within the transaction, so they
// commit with the change they made (a delta drop of directory events).
func (t *Tx) RecordEvents(evs []AppliedEvent) error {
	now := t.s.now().UnixNano()
	for _, ev := range evs {
		if _, err := t.exec("record event "+ev.ID, recordEventSQL, ev.ID, ev.Object, ev.Created.UnixNano(), now); err != nil {
			return err
		}
	}
	return nil
}

// PruneEvents forgets events applied before t and returns how many.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM directory_events WHERE applied_ns<?`, before.UnixNano())
	if err != nil {
		return 0, wrapErr(err, "prune events")
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Cursor is where an event feed was read up to.
type Cursor struct {
	Name string
	// EventID is the id of the last event processed; "" before any.
	EventID string
	// Since is, while EventID is "", the time from which to read.
	Since   time.Time
	Updated time.Time
	// read is the event id the cursor was read at: saving it is a
	// compare-and-swap from there (see SetCursor).
	read string
}

// ErrCursorMoved is SetCursor's error when another process (another
// muster instance polling the same feed) moved the cursor since it was
// read: what this one read is not saved, and a transaction saving it
// rolls back.
var ErrCursorMoved = schema.Errorf(schema.EConflict, "the events cursor was moved by another process since it was read")

// Cursor returns the cursor with that name; found is false when none was
// saved yet.
func (s *Store) Cursor(ctx context.Context, name string) (c Cursor, found bool, err error) {
	var since, updated int64
	err = s.db.QueryRowContext(ctx, `SELECT event_id, since_ns, updated_ns FROM directory_cursors WHERE name=?`, name).
		Scan(&c.EventID, &since, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Cursor{Name: name}, false, nil
	}
	if err != nil {
		return Cursor{Name: name}, false, wrapErr(err, "cursor %s", name)
	}
	c.Name, c.Since, c.Updated = name, time.Unix(0, since).UTC(), time.Unix(0, updated).UTC()
	c.read = c.EventID
	return c, true, nil
}

// setCursorSQL saves a cursor only from where it was read (?5), or where
// it already is: two pollers (two instances, one of them a leader that
// has not yet noticed it lost its lease) cannot both move it.
const setCursorSQL = `INSERT INTO directory_cursors(name, event_id, since_ns, updated_ns) VALUES(?1,?2,?3,?4)
	ON CONFLICT(name) DO UPDATE SET event_id=excluded.event_id, since_ns=excluded.since_ns, updated_ns=excluded.updated_ns
	WHERE directory_cursors.event_id IN (?5, excluded.event_id)`

func cursorArgs(c Cursor, now time.Time) []any {
	var since int64
	if !c.Since.IsZero() {
		since = c.Since.UnixNano()
	}
	return []any{c.Name, c.EventID, since, now.UnixNano(), c.read}
}

func cursorSaved(res sql.Result, err error, name string) error {
	if err != nil {
		return wrapErr(err, "save cursor %s", name)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return ErrCursorMoved
	}
	return nil
}

// SetCursor saves a cursor (Updated is set to now) read by Cursor, or
// new: ErrCursorMoved if the stored one moved elsewhere since. Once saved,
// c is where the next save swaps from.
func (s *Store) SetCursor(ctx context.Context, c *Cursor) error {
	res, err := s.db.ExecContext(ctx, setCursorSQL, cursorArgs(*c, s.now())...)
	if err = cursorSaved(res, err, c.Name); err == nil {
		c.read = c.EventID
	}
	return err
}

// SetCursor saves a cursor within the transaction, so it moves past the
// events of a delta only if the delta commits (ErrCursorMoved as
// Store.SetCursor: the caller rolls back).
func (t *Tx) SetCursor(c Cursor) error {
	res, err := t.exec("save cursor "+c.Name, setCursorSQL, cursorArgs(c, t.s.now())...)
	return cursorSaved(res, err, c.Name)
}

// SnapshotUIDs calls fn with the source id (a directory user id) and key
// of every row of the source's current snapshot that has one. Only the id
// is decoded from each row's data.
func (s *Store) SnapshotUIDs(ctx context.Context, sourceID int64, fn func(uid, key string)) error {
	rows, err := s.db.QueryContext(ctx, `SELECT key, data FROM snapshot WHERE source_id=?`, sourceID)
	if err != nil {
		return wrapErr(err, "read snapshot")
	}
	defer rows.Close()
	var key string
	var data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&key, &data); err != nil {
			return wrapErr(err, "read snapshot")
		}
		b, ok := data, true
		for range 3 { // email, first and last name come first (encodeData)
			if _, b, ok = readStr(b); !ok {
				break
			}
		}
		uid := ""
		if ok {
			uid, _, ok = readStr(b)
		}
		if !ok {
			return schema.Errorf(schema.EInternal, "snapshot row %q: corrupt data", key)
		}
		if uid != "" {
			fn(uid, key)
		}
	}
	return wrapErr(rows.Err(), "read snapshot")
}
