package store

import (
	"context"
	"database/sql"
)

// Suppression offboards a person of an organisation (merge rule 5): while
// it stands (not lifted) they are in no group, whatever sources say.
type Suppression struct {
	ID         int64  `json:"id"`
	Key        string `json:"key"`
	Reason     string `json:"reason"`
	SourceID   int64  `json:"source_id,omitempty"`
	SourceName string `json:"source,omitempty"`
	DropID     int64  `json:"drop_id,omitempty"`
	CreatedAt  string `json:"created_at"`
	LiftedAt   string `json:"lifted_at,omitempty"`
	LiftedBy   string `json:"lifted_by,omitempty"`
	LiftReason string `json:"lift_reason,omitempty"`
}

const suppressionCols = `p.id, p.key, p.reason, coalesce(p.source_id, 0), coalesce(s.name, ''), coalesce(p.drop_id, 0),
	p.created_at, coalesce(p.lifted_at, ''), coalesce(p.lifted_by, ''), coalesce(p.lift_reason, '')`

func scanSuppression(sc scanner) (Suppression, error) {
	var p Suppression
	err := sc.Scan(&p.ID, &p.Key, &p.Reason, &p.SourceID, &p.SourceName, &p.DropID, &p.CreatedAt, &p.LiftedAt,
		&p.LiftedBy, &p.LiftReason)
	return p, err
}

// Suppressions returns every suppression of key in the organisation, lifted
// ones included, newest first.
func (s *Store) Suppressions(ctx context.Context, orgID int64, key string) ([]Suppression, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+suppressionCols+` FROM suppressions p
		LEFT JOIN sources s ON s.id=p.source_id WHERE p.org_id=? AND p.key=? ORDER BY p.id DESC`, orgID, key)
	if err != nil {
		return nil, wrapErr(err, "suppressions of %q", key)
	}
	return collectSuppressions(rows)
}

func collectSuppressions(rows *sql.Rows) ([]Suppression, error) {
	defer rows.Close()
	var out []Suppression
	for rows.Next() {
		p, err := scanSuppression(rows)
		if err != nil {
			return nil, wrapErr(err, "suppressions")
		}
		out = append(out, p)
	}
	return out, wrapErr(rows.Err(), "suppressions")
}
