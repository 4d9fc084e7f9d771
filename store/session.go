package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// SignOut records that the console session id was signed out: every
// instance sharing the store refuses it from then on, restarts included.
// until is when the session would have expired anyway; rows past theirs
// are removed meanwhile.
func (s *Store) SignOut(ctx context.Context, id string, until time.Time) error {
	now := s.now().UnixMilli()
	if _, err := s.db.ExecContext(ctx, `DELETE FROM console_signouts WHERE until_ms < ?`, now); err != nil {
		return wrapErr(err, "sign out")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO console_signouts(id, until_ms) VALUES(?, ?)
		ON CONFLICT(id) DO NOTHING`, id, until.UnixMilli())
	return wrapErr(err, "sign out")
}

// SignedOut reports whether the console session id was signed out.
func (s *Store) SignedOut(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM console_signouts WHERE id=?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, wrapErr(err, "read sign-outs")
}
