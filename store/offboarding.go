package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Offboarding (merge rule 5) is derived from what sources say now: an
// authoritative source that lists a person inactive, or whose tombstone
// says it deleted them, offboards them unless another authoritative source
// lists them active or an admin lifted that source's say.

// Tombstone is a source's deletion of a person, kept as what that source
// says about them until it lists them again.
type Tombstone struct {
	SourceID int64  `json:"source_id"`
	Key      string `json:"key"`
	// Seq and DropID name the drop that deleted them.
	Seq    int64 `json:"seq"`
	DropID int64 `json:"drop_id"`
}

// Say is what the tombstone says, for a Lift: minus its seq.
func (t Tombstone) Say() int64 { return -t.Seq }

// Lift is an admin's lift of one source's offboarding of a person. It
// stands while the source's say is still Say: the content hash of its
// assertion (Assertion.Say), or its tombstone's Say.
type Lift struct {
	Key       string `json:"key"`
	SourceID  int64  `json:"source_id"`
	Say       int64  `json:"say"`
	CreatedAt string `json:"created_at"`
	By        string `json:"by"`
	Reason    string `json:"reason"`
}

// Say is what the assertion says, for a Lift: its content hash.
func (a Assertion) Say() int64 { return int64(a.Hash) }

// PutTombstones records that the source deleted keys in the drop with
// seq and dropID (replacing an older tombstone of the same key).
func (t *Tx) PutTombstones(sourceID, seq, dropID int64, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	args := t.bulkArgs[:0]
	for _, k := range keys {
		args = append(args, k)
	}
	t.bulkArgs = args[:0]
	consts := fmt.Sprintf("%d,%d,%d,%d,", t.org, sourceID, seq, dropID)
	return t.bulkExec("add tombstones", `INSERT INTO tombstones(org_id, source_id, seq, drop_id, key) VALUES`, consts,
		` ON CONFLICT(source_id, key) DO UPDATE SET seq=excluded.seq, drop_id=excluded.drop_id`, 1, args)
}

// DeleteTombstones forgets the source's tombstones of keys.
func (t *Tx) DeleteTombstones(sourceID int64, keys []string) error {
	return t.eachKeyList(keys, func(in string, args []any) error {
		_, err := t.exec("remove tombstones", `DELETE FROM tombstones WHERE source_id=?1 AND key IN (`+in+`)`,
			append([]any{sourceID}, args...)...)
		return err
	})
}

// TombstonesOf returns the organisation's tombstones of keys, by key.
func (t *Tx) TombstonesOf(keys []string) (map[string][]Tombstone, error) {
	out := map[string][]Tombstone{}
	err := t.eachKeyList(keys, func(in string, args []any) error {
		st, err := t.stmt(`SELECT source_id, key, seq, drop_id FROM tombstones WHERE org_id=?1 AND key IN (` + in + `)`)
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(t.ctx, append([]any{t.org}, args...)...)
		if err != nil {
			return wrapErr(err, "tombstones")
		}
		return eachTombstone(rows, func(ts Tombstone) { out[ts.Key] = append(out[ts.Key], ts) })
	})
	return out, err
}

func eachTombstone(rows *sql.Rows, fn func(Tombstone)) error {
	defer rows.Close()
	for rows.Next() {
		var ts Tombstone
		if err := rows.Scan(&ts.SourceID, &ts.Key, &ts.Seq, &ts.DropID); err != nil {
			return wrapErr(err, "tombstones")
		}
		fn(ts)
	}
	return wrapErr(rows.Err(), "tombstones")
}

// SourceTombstones calls fn with the source's tombstones made by drops
// after seq (all of them for 0), in key order.
func (t *Tx) SourceTombstones(sourceID, afterSeq int64, fn func(Tombstone)) error {
	rows, err := t.tx.QueryContext(t.ctx, `SELECT source_id, key, seq, drop_id FROM tombstones
		WHERE org_id=? AND source_id=? AND seq>? ORDER BY key`, t.org, sourceID, afterSeq)
	if err != nil {
		return wrapErr(err, "tombstones")
	}
	return eachTombstone(rows, fn)
}

// SourceTombstones calls fn with the source's tombstones made by drops
// after seq (all of them for 0), in key order.
func (s *Store) SourceTombstones(ctx context.Context, sourceID, afterSeq int64, fn func(Tombstone)) error {
	rows, err := s.db.QueryContext(ctx, `SELECT source_id, key, seq, drop_id FROM tombstones
		WHERE source_id=? AND seq>? ORDER BY key`, sourceID, afterSeq)
	if err != nil {
		return wrapErr(err, "tombstones")
	}
	return eachTombstone(rows, fn)
}

// Tombstones returns the organisation's tombstones of key.
func (s *Store) Tombstones(ctx context.Context, orgID int64, key string) ([]Tombstone, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT source_id, key, seq, drop_id FROM tombstones WHERE org_id=? AND key=?
		ORDER BY source_id`, orgID, key)
	if err != nil {
		return nil, wrapErr(err, "tombstones")
	}
	var out []Tombstone
	err = eachTombstone(rows, func(ts Tombstone) { out = append(out, ts) })
	return out, err
}

const liftCols = `key, source_id, say, created_at, lifted_by, reason`

func eachLift(rows *sql.Rows, fn func(Lift)) error {
	defer rows.Close()
	for rows.Next() {
		var l Lift
		if err := rows.Scan(&l.Key, &l.SourceID, &l.Say, &l.CreatedAt, &l.By, &l.Reason); err != nil {
			return wrapErr(err, "lifts")
		}
		fn(l)
	}
	return wrapErr(rows.Err(), "lifts")
}

// LiftsOf returns the organisation's lifts of keys, by key.
func (t *Tx) LiftsOf(keys []string) (map[string][]Lift, error) {
	out := map[string][]Lift{}
	err := t.eachKeyList(keys, func(in string, args []any) error {
		st, err := t.stmt(`SELECT ` + liftCols + ` FROM lifts WHERE org_id=?1 AND key IN (` + in + `)`)
		if err != nil {
			return err
		}
		rows, err := st.QueryContext(t.ctx, append([]any{t.org}, args...)...)
		if err != nil {
			return wrapErr(err, "lifts")
		}
		return eachLift(rows, func(l Lift) { out[l.Key] = append(out[l.Key], l) })
	})
	return out, err
}

// PutLift records an admin's lift (replacing an older one of the same
// person and source); CreatedAt is set.
func (t *Tx) PutLift(l *Lift) error {
	l.CreatedAt = t.Now()
	_, err := t.exec("lift", `INSERT INTO lifts(org_id, `+liftCols+`) VALUES(?,?,?,?,?,?,?)
		ON CONFLICT(org_id, key, source_id) DO UPDATE SET say=excluded.say, created_at=excluded.created_at,
		lifted_by=excluded.lifted_by, reason=excluded.reason`, t.org, l.Key, l.SourceID, l.Say, l.CreatedAt, l.By, l.Reason)
	return err
}

// Lifts returns the organisation's lifts of key.
func (s *Store) Lifts(ctx context.Context, orgID int64, key string) ([]Lift, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+liftCols+` FROM lifts WHERE org_id=? AND key=? ORDER BY source_id`, orgID, key)
	if err != nil {
		return nil, wrapErr(err, "lifts")
	}
	var out []Lift
	err = eachLift(rows, func(l Lift) { out = append(out, l) })
	return out, err
}

// PendingRebuilds returns the organisations whose recipients must be
// derived again (a migration changed the rules).
func (s *Store) PendingRebuilds(ctx context.Context) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT org_id FROM pending_rebuilds ORDER BY org_id`)
	if err != nil {
		return nil, wrapErr(err, "pending rebuilds")
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, wrapErr(err, "pending rebuilds")
		}
		out = append(out, id)
	}
	return out, wrapErr(rows.Err(), "pending rebuilds")
}

// RebuildDone clears the organisation's pending rebuild.
func (s *Store) RebuildDone(ctx context.Context, orgID int64) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM pending_rebuilds WHERE org_id=?`, orgID)
	return wrapErr(err, "pending rebuild")
}

// RequestRebuild marks the organisation's recipients to be derived again
// when muster next opens the store.
func (s *Store) RequestRebuild(ctx context.Context, orgID int64) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO pending_rebuilds(org_id) VALUES(?) ON CONFLICT(org_id) DO NOTHING`, orgID)
	return wrapErr(err, "request rebuild")
}
