package store

import (
	"context"
	"database/sql"
	"time"
)

// SourceRun is what a source's runs last did: its pulls, the batches
// pushed to it, and when the scheduler runs it next (its successes are its
// drops). Zero times: never.
type SourceRun struct {
	SourceID    int64
	LastAttempt time.Time
	// LastError is the latest run's failure ("" when it succeeded);
	// Failures counts the runs that failed since the last success.
	LastError string
	Failures  int
	NextRun   time.Time
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// RunStarted records that a run of the source started at.
func (s *Store) RunStarted(ctx context.Context, sourceID int64, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO source_runs(source_id, last_attempt) VALUES(?,?)
		ON CONFLICT(source_id) DO UPDATE SET last_attempt=excluded.last_attempt`, sourceID, formatTime(at))
	return wrapErr(err, "source run")
}

// RunEnded records how a run of the source ended: failed with msg
// (counted with the failures before it), or not (msg "").
func (s *Store) RunEnded(ctx context.Context, sourceID int64, msg string) error {
	var err error
	if msg == "" {
		_, err = s.db.ExecContext(ctx, `INSERT INTO source_runs(source_id) VALUES(?)
			ON CONFLICT(source_id) DO UPDATE SET last_error='', failures=0`, sourceID)
	} else {
		_, err = s.db.ExecContext(ctx, `INSERT INTO source_runs(source_id, last_error, failures) VALUES(?,?,1)
			ON CONFLICT(source_id) DO UPDATE SET last_error=excluded.last_error, failures=source_runs.failures+1`,
			sourceID, msg)
	}
	return wrapErr(err, "source run")
}

// SetNextRun records when the scheduler runs the source next (zero: not
// scheduled).
func (s *Store) SetNextRun(ctx context.Context, sourceID int64, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO source_runs(source_id, next_run) VALUES(?,?)
		ON CONFLICT(source_id) DO UPDATE SET next_run=excluded.next_run`, sourceID, formatTime(at))
	return wrapErr(err, "source run")
}

// SourceRuns returns the runs recorded for the organisation's sources, by
// source id.
func (s *Store) SourceRuns(ctx context.Context, orgID int64) (map[int64]SourceRun, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.source_id, r.last_attempt, r.last_error, r.failures, r.next_run
		FROM source_runs r JOIN sources s ON s.id=r.source_id WHERE s.org_id=?`, orgID)
	if err != nil {
		return nil, wrapErr(err, "source runs")
	}
	defer rows.Close()
	out := map[int64]SourceRun{}
	for rows.Next() {
		var r SourceRun
		var attempt, next string
		if err := rows.Scan(&r.SourceID, &attempt, &r.LastError, &r.Failures, &next); err != nil {
			return nil, wrapErr(err, "source runs")
		}
		r.LastAttempt, r.NextRun = parseTime(attempt), parseTime(next)
		out[r.SourceID] = r
	}
	return out, wrapErr(rows.Err(), "source runs")
}

// DropRun is a source's runs as its drops tell them: when the latest
// arrived, how many were rejected since the latest success, and the
// latest rejected drop's report.
type DropRun struct {
	SourceID   int64
	LastDrop   time.Time
	Rejected   int
	LastReject []byte
}

// DropRuns returns, for each of the organisation's sources with drops,
// what its drops tell of its runs (file sources have no SourceRun).
func (s *Store) DropRuns(ctx context.Context, orgID int64) (map[int64]DropRun, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT s.id,
		(SELECT max(d.received_at) FROM drops d WHERE d.source_id=s.id),
		(SELECT count(*) FROM drops d WHERE d.source_id=s.id AND d.status='rejected' AND d.id > coalesce(
			(SELECT max(g.id) FROM drops g WHERE g.source_id=s.id AND g.status IN ('applied', 'duplicate')), 0)),
		(SELECT d.report FROM drops d WHERE d.source_id=s.id AND d.status='rejected' ORDER BY d.id DESC LIMIT 1)
		FROM sources s WHERE s.org_id=?`, orgID)
	if err != nil {
		return nil, wrapErr(err, "drop runs")
	}
	defer rows.Close()
	out := map[int64]DropRun{}
	for rows.Next() {
		var r DropRun
		var last sql.NullString
		var report sql.NullString
		if err := rows.Scan(&r.SourceID, &last, &r.Rejected, &report); err != nil {
			return nil, wrapErr(err, "drop runs")
		}
		r.LastDrop, r.LastReject = parseTime(last.String), []byte(report.String)
		out[r.SourceID] = r
	}
	return out, wrapErr(rows.Err(), "drop runs")
}

// RunSucceeded records, in the transaction, a run of the source that
// started at at and did not fail (a batch pushed to it).
func (t *Tx) RunSucceeded(sourceID int64, at time.Time) error {
	_, err := t.exec("source run", `INSERT INTO source_runs(source_id, last_attempt) VALUES(?,?)
		ON CONFLICT(source_id) DO UPDATE SET last_attempt=excluded.last_attempt, last_error='', failures=0`,
		sourceID, formatTime(at))
	return err
}
