package store

import (
	"context"
	"database/sql"
	"time"
)

// Ping checks that the store file can be read: readiness probes call it.
func (s *Store) Ping(ctx context.Context) error {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM orgs LIMIT 1) o`).Scan(&n)
	return wrapErr(err, "ping store")
}

// Orgs lists every organisation by name. Only operator-level callers (an
// operator token, metrics) may use it: nothing else spans organisations.
func (s *Store) Orgs(ctx context.Context) ([]Org, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name FROM orgs ORDER BY name`)
	if err != nil {
		return nil, wrapErr(err, "list organisations")
	}
	defer rows.Close()
	var out []Org
	for rows.Next() {
		var o Org
		if err := rows.Scan(&o.ID, &o.Name); err != nil {
			return nil, wrapErr(err, "list organisations")
		}
		out = append(out, o)
	}
	return out, wrapErr(rows.Err(), "list organisations")
}

// SourceStat is a source's state for operators: how many of its drops wait
// for a decision and when its last drop succeeded.
type SourceStat struct {
	Org    string     `json:"org"`
	Source string     `json:"source"`
	Kind   SourceKind `json:"kind"`
	// Rows is the number of people in its current snapshot.
	Rows int64 `json:"rows"`
	// Held counts its drops held for an admin's decision.
	Held int64 `json:"held"`
	// LastSuccess is when its latest applied drop was decided, or a
	// duplicate of an applied drop (nothing new: the source is current);
	// a duplicate of a held drop applied nothing and does not count. Zero
	// if none.
	LastSuccess time.Time `json:"last_success,omitzero"`
}

// SourceStats returns the state of the organisation's sources that are not
// removed, by name; orgID 0 returns every organisation's (for metrics).
func (s *Store) SourceStats(ctx context.Context, orgID int64) ([]SourceStat, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT o.name, s.name, s.kind, s.rows,
		(SELECT count(*) FROM drops d WHERE d.source_id=s.id AND d.status='held'),
		(SELECT d.decided_at FROM drops d WHERE d.source_id=s.id AND d.status='applied' ORDER BY d.id DESC LIMIT 1),
		(SELECT d.decided_at FROM drops d WHERE d.source_id=s.id AND d.status='duplicate' AND EXISTS (SELECT 1 FROM drops o
		   WHERE o.id=`+s.d.jsonInt("d.report", "duplicate_of")+` AND o.source_id=s.id AND o.status='applied')
		 ORDER BY d.id DESC LIMIT 1)
		FROM sources s JOIN orgs o ON o.id=s.org_id
		WHERE s.removed_at IS NULL AND (?1=0 OR s.org_id=?1) ORDER BY o.name, s.name`, orgID)
	if err != nil {
		return nil, wrapErr(err, "source stats")
	}
	defer rows.Close()
	var out []SourceStat
	for rows.Next() {
		var st SourceStat
		var applied, dup sql.NullString
		if err := rows.Scan(&st.Org, &st.Source, &st.Kind, &st.Rows, &st.Held, &applied, &dup); err != nil {
			return nil, wrapErr(err, "source stats")
		}
		// A held drop approved after a copy of it came again is applied
		// later than that duplicate was decided: the later one wins.
		for _, at := range []sql.NullString{applied, dup} {
			if t, err := time.Parse(time.RFC3339Nano, at.String); at.Valid && err == nil && t.After(st.LastSuccess) {
				st.LastSuccess = t
			}
		}
		out = append(out, st)
	}
	return out, wrapErr(rows.Err(), "source stats")
}
