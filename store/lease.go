package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// A lease is the right to run, for a while, what must run on one muster
// instance at a time: the scheduler (directory pulls, the events poll,
// reconciliation, retention). Whoever holds it renews it before it lapses;
// once it lapses, any instance may take it. Times come from the database's
// clock, so instances whose clocks disagree still agree. The same SQL runs
// on SQLite (one instance: it always gets it) and on PostgreSQL.
//
// A lease is an optimisation, not a guarantee: two instances may each
// believe they hold it for a moment (one that has not yet noticed it lost
// it). Correctness never depends on it: drops are applied under the
// organisation's lock with their base checked, and cursors move by
// compare-and-swap.

// Lease is a lease as stored.
type Lease struct {
	Name   string `json:"name"`
	Holder string `json:"holder"`
	// Term grows at every change of holder.
	Term     int64     `json:"term"`
	Acquired time.Time `json:"acquired"`
	Renewed  time.Time `json:"renewed"`
	Expires  time.Time `json:"expires"`
	// Seen is the database's clock when the lease was read.
	Seen time.Time `json:"seen"`
}

func (s *Store) leaseCols() string {
	return `holder, term, acquired_ms, renewed_ms, expires_ms, ` + s.d.nowMillis
}

func scanLease(name string, sc scanner) (Lease, error) {
	l := Lease{Name: name}
	var acq, ren, exp, seen int64
	err := sc.Scan(&l.Holder, &l.Term, &acq, &ren, &exp, &seen)
	l.Acquired, l.Renewed, l.Expires = time.UnixMilli(acq).UTC(), time.UnixMilli(ren).UTC(), time.UnixMilli(exp).UTC()
	l.Seen = time.UnixMilli(seen).UTC()
	return l, err
}

// Age is how long ago, as of when it was read, the lease was last
// renewed: past its length, nobody holds it.
func (l Lease) Age() time.Duration { return l.Seen.Sub(l.Renewed) }

// TryLease takes the lease name for holder, or renews it, for ttl: it
// succeeds when holder holds it already or it has lapsed. held says
// whether holder holds it now; l is the lease as it stands either way
// (zero when nobody ever held it).
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (l Lease, held bool, err error) {
	now := s.d.nowMillis
	q := `INSERT INTO leases(name, holder, term, acquired_ms, renewed_ms, expires_ms)
		VALUES(?1, ?2, 1, ` + now + `, ` + now + `, ` + now + ` + ?3)
		ON CONFLICT(name) DO UPDATE SET
			term = CASE WHEN leases.holder = excluded.holder THEN leases.term ELSE leases.term + 1 END,
			acquired_ms = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_ms ELSE excluded.acquired_ms END,
			holder = excluded.holder, renewed_ms = excluded.renewed_ms, expires_ms = excluded.expires_ms
		WHERE leases.holder = excluded.holder OR leases.expires_ms <= excluded.renewed_ms
		RETURNING ` + s.leaseCols()
	l, err = scanLease(name, s.db.QueryRowContext(ctx, q, name, holder, ttl.Milliseconds()))
	if err == nil {
		return l, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Lease{}, false, wrapErr(err, "lease %s", name)
	}
	l, _, err = s.LeaseOf(ctx, name)
	return l, false, err
}

// LeaseOf returns the lease name as it stands; found is false when nobody
// ever held it.
func (s *Store) LeaseOf(ctx context.Context, name string) (l Lease, found bool, err error) {
	l, err = scanLease(name, s.db.QueryRowContext(ctx, `SELECT `+s.leaseCols()+` FROM leases WHERE name=?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Lease{Name: name}, false, nil
	}
	return l, err == nil, wrapErr(err, "lease %s", name)
}

// ReleaseLease gives the lease up if holder holds it, so another instance
// takes it at once rather than when it lapses.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE leases SET expires_ms = `+s.d.nowMillis+` WHERE name=? AND holder=?`, name, holder)
	return wrapErr(err, "release lease %s", name)
}

// DBTime returns the database's clock (the one leases are measured by).
func (s *Store) DBTime(ctx context.Context) (time.Time, error) {
	var ms int64
	err := s.db.QueryRowContext(ctx, `SELECT `+s.d.nowMillis).Scan(&ms)
	return time.UnixMilli(ms).UTC(), wrapErr(err, "database time")
}
