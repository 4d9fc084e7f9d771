package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ClaimFile claims the file name (its path relative to the folder every
// instance shares) for this process, until release is called or the
// process dies: ok is false when another process holds it. With a lane
// (a source's "org/name"), the claim also waits for, then holds, the
// lane's lock: files of one source go through one at a time whichever
// instance took them, as they do within one (a drop is diffed against
// the snapshot its apply must find). It is how
// several instances share the drops' folders: whichever took a file into
// the pipeline holds its claim until the file is filed away, and a file
// left in a spool by an instance that died is taken again by another.
//
// On PostgreSQL the claim is a row lock (SELECT ... FOR UPDATE SKIP
// LOCKED) held by a transaction on a connection of its own: it works
// behind any pooler and ends with the connection. On SQLite there is one
// instance per store (serve.lock), which has its files to itself: every
// claim succeeds.
func (s *Store) ClaimFile(ctx context.Context, name, lane string) (release func(), ok bool, err error) {
	if !s.d.postgres {
		return func() {}, true, nil
	}
	// The row is committed first, so a second claimer finds it without
	// waiting on an insert in progress.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO file_claims(name, claimed_ms) VALUES(?, `+s.d.nowMillis+`)
		ON CONFLICT(name) DO NOTHING`, name); err != nil {
		return nil, false, wrapErr(err, "claim %s", name)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, wrapErr(err, "claim %s", name)
	}
	var got string
	err = tx.QueryRowContext(ctx, `SELECT name FROM file_claims WHERE name=? FOR UPDATE SKIP LOCKED`, name).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		tx.Rollback()
		return nil, false, nil
	}
	if err != nil {
		tx.Rollback()
		return nil, false, wrapErr(err, "claim %s", name)
	}
	if lane != "" {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?::int, hashtext(?))`, int32(lockNSSource), lane); err != nil {
			tx.Rollback()
			return nil, false, wrapErr(err, "claim %s: lock %s", name, lane)
		}
	}
	release = func() {
		// Done with the file: the row goes with the lock. If this fails,
		// the row stays unlocked and the next claim of the name gets it.
		_, _ = tx.ExecContext(context.WithoutCancel(ctx), `DELETE FROM file_claims WHERE name=?`, name)
		_ = tx.Commit()
	}
	return release, true, nil
}

// PruneFileClaims deletes the claims no process holds that were made
// more than olderThan ago (by the database's clock): the rows an instance
// that died while it held them left behind (its lock ended with its
// connection). A held claim is locked and skipped, however old; a claim
// is unlocked only for the moment between its row's insert and its lock,
// so olderThan of minutes never takes one being made. It returns how many
// it deleted. SQLite keeps no claims: 0.
func (s *Store) PruneFileClaims(ctx context.Context, olderThan time.Duration) (int64, error) {
	if !s.d.postgres {
		return 0, nil
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM file_claims WHERE name IN (SELECT name FROM file_claims
		WHERE claimed_ms < `+s.d.nowMillis+` - ? FOR UPDATE SKIP LOCKED)`, olderThan.Milliseconds())
	if err != nil {
		return 0, wrapErr(err, "prune file claims")
	}
	return res.RowsAffected()
}
