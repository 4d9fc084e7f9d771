package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"muster/schema"
)

// RecipientStatus says whether a person is in the audience and, if not, why.
type RecipientStatus string

// Recipient statuses.
const (
	// StatusActive: in the audience.
	StatusActive RecipientStatus = "active"
	// StatusOffboarded: an authoritative source offboarded them (merge rule
	// 5); not in any group until lifted.
	StatusOffboarded RecipientStatus = "offboarded"
	// StatusInactive: the sources that list them all say they are inactive.
	StatusInactive RecipientStatus = "inactive"
	// StatusGone: no source lists them any more. The row stays for history.
	StatusGone RecipientStatus = "gone"
)

// Recipient is a merged person of an organisation's audience.
type Recipient struct {
	OrgID     int64           `json:"-"`
	Key       string          `json:"key"`
	Email     string          `json:"email"`
	FirstName string          `json:"first_name"`
	LastName  string          `json:"last_name"`
	Attrs     schema.Attrs    `json:"-"`
	Status    RecipientStatus `json:"status"`
	// GroupIDs are the ids of the groups they belong to, ascending.
	GroupIDs   []int64 `json:"-"`
	CreatedSeq int64   `json:"created_seq"`
	UpdatedSeq int64   `json:"updated_seq"`
}

const recipientCols = `org_id, key, email, first_name, last_name, attrs, status, group_ids, created_seq, updated_seq`

func scanRecipient(sc scanner) (Recipient, error) {
	var r Recipient
	var attrs sql.NullString
	var gids string
	err := sc.Scan(&r.OrgID, &r.Key, &r.Email, &r.FirstName, &r.LastName, &attrs, &r.Status, &gids,
		&r.CreatedSeq, &r.UpdatedSeq)
	r.Attrs = decodeAttrs(attrs)
	r.GroupIDs = parseIDs(gids)
	return r, err
}

// groupList formats group ids as stored: ",3,17," (empty for none).
func groupList(ids []int64) string {
	if len(ids) == 0 {
		return ""
	}
	return "," + formatIDs(ids) + ","
}

func formatIDs(ids []int64) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	return b.String()
}

func parseIDs(s string) []int64 {
	if s == "" {
		return nil
	}
	parts := strings.Split(strings.Trim(s, ","), ",")
	out := make([]int64, 0, len(parts))
	for _, p := range parts {
		if id, err := strconv.ParseInt(p, 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out
}

// Recipient returns the organisation's recipient with that key (a
// normalised email), or ENotFound.
func (s *Store) Recipient(ctx context.Context, orgID int64, key string) (Recipient, error) {
	r, err := scanRecipient(s.db.QueryRowContext(ctx, `SELECT `+recipientCols+` FROM recipients WHERE org_id=? AND key=?`, orgID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Recipient{}, schema.Errorf(schema.ENotFound, "no recipient %q", key)
	}
	return r, wrapErr(err, "recipient %q", key)
}

// RecipientFilter selects recipients to list. After is a cursor: only keys
// after it (the list is in key order).
type RecipientFilter struct {
	// Status filters by status; empty lists every status.
	Status RecipientStatus
	// GroupIDs keeps members of any of these groups.
	GroupIDs []int64
	// Search keeps recipients whose email or name contains it (any case).
	Search string
	After  string
	Limit  int
}

// Recipients lists the organisation's recipients in key order. next is the
// cursor for the following page ("" at the end).
func (s *Store) Recipients(ctx context.Context, orgID int64, f RecipientFilter) (out []Recipient, next string, err error) {
	limit := pageLimit(f.Limit)
	err = s.EachRecipient(ctx, orgID, f, limit+1, func(r Recipient) error {
		out = append(out, r)
		return nil
	})
	out, next = cutPage(out, limit, func(r Recipient) string { return r.Key })
	return out, next, err
}

// EachRecipient calls fn with the recipients matching f, in key order, at
// most limit of them (0: all): exports stream through it.
func (s *Store) EachRecipient(ctx context.Context, orgID int64, f RecipientFilter, limit int, fn func(Recipient) error) error {
	where := []string{"r.org_id=?"}
	args := []any{orgID}
	if f.Status != "" {
		where, args = append(where, "r.status=?"), append(args, f.Status)
	}
	if f.After != "" {
		where, args = append(where, "r.key>?"), append(args, f.After)
	}
	if f.Search != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(schema.Fold(f.Search)) + "%"
		where = append(where, `(r.key LIKE ? ESCAPE '\' OR muster_fold(r.email) LIKE ? ESCAPE '\' OR muster_fold(r.first_name || ' ' || r.last_name) LIKE ? ESCAPE '\')`)
		args = append(args, like, like, like)
	}
	if len(f.GroupIDs) > 0 {
		var or []string
		for _, id := range f.GroupIDs {
			or, args = append(or, "instr(r.group_ids, ?) > 0"), append(args, ","+strconv.FormatInt(id, 10)+",")
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	q := `SELECT ` + prefixed("r.", recipientCols) + ` FROM recipients r WHERE ` + strings.Join(where, " AND ") + ` ORDER BY r.key`
	if limit > 0 {
		q += ` LIMIT ` + strconv.Itoa(limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return wrapErr(err, "list recipients")
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecipient(rows)
		if err != nil {
			return wrapErr(err, "list recipients")
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return wrapErr(rows.Err(), "list recipients")
}

// prefixed qualifies a plain comma-separated column list with an alias.
func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// RecipientCounts counts the organisation's recipients by status.
func (s *Store) RecipientCounts(ctx context.Context, orgID int64) (map[RecipientStatus]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, count(*) FROM recipients WHERE org_id=? GROUP BY status`, orgID)
	if err != nil {
		return nil, wrapErr(err, "count recipients")
	}
	defer rows.Close()
	out := map[RecipientStatus]int64{}
	for rows.Next() {
		var st RecipientStatus
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, wrapErr(err, "count recipients")
		}
		out[st] = n
	}
	return out, wrapErr(rows.Err(), "count recipients")
}
