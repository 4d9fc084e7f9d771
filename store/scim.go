package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"muster/schema"
)

// SCIMResource is a SCIM user or group as stored (migration 0004).
type SCIMResource struct {
	Type string
	ID   string
	// Name is the folded userName or displayName; Email the folded work
	// email ("" none).
	Name, ExternalID, Email string
	// Data is the resource's attributes as JSON.
	Data              []byte
	Created, Modified time.Time
	Version           int64
}

// SCIMQuery selects a page of a source's resources of one type: the
// and-ed equalities Conds, in id order.
type SCIMQuery struct {
	Type          string
	Conds         []SCIMCond
	Offset, Limit int
}

// SCIMCond is `column = value`; Column is one of id, name, external_id,
// email (name and email values must be folded by the caller).
type SCIMCond struct {
	Column, Value string
}

// SCIMMember is one membership.
type SCIMMember struct{ Group, User string }

// SCIMWrites are the resource writes of one batch of SCIM requests.
type SCIMWrites struct {
	Put    []SCIMResource
	Delete []SCIMResource // Type and ID
	// AddMembers and RemoveMembers change memberships; deleting a user or
	// a group removes its memberships too.
	AddMembers, RemoveMembers []SCIMMember
	// Moved are users of Put whose userName changed: their old names are
	// set aside first, so two users swapping names in one batch do not
	// meet in the unique index.
	Moved []string
}

// Empty reports whether there is nothing to write.
func (w *SCIMWrites) Empty() bool {
	return len(w.Put)+len(w.Delete)+len(w.AddMembers)+len(w.RemoveMembers) == 0
}

const scimCols = `type, id, name, external_id, email, data, created, modified, version`

func scanSCIM(sc interface{ Scan(...any) error }) (SCIMResource, error) {
	var r SCIMResource
	var data, created, modified string
	err := sc.Scan(&r.Type, &r.ID, &r.Name, &r.ExternalID, &r.Email, &data, &created, &modified, &r.Version)
	r.Data = []byte(data)
	r.Created, _ = time.Parse(time.RFC3339Nano, created)
	r.Modified, _ = time.Parse(time.RFC3339Nano, modified)
	return r, err
}

// SCIMGet returns one resource of the source, or ENotFound.
func (s *Store) SCIMGet(ctx context.Context, sourceID int64, typ, id string) (SCIMResource, error) {
	r, err := scanSCIM(s.db.QueryRowContext(ctx, `SELECT `+scimCols+` FROM scim_resources
		WHERE source_id=? AND type=? AND id=?`, sourceID, typ, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, schema.Errorf(schema.ENotFound, "no %s %q", typ, id)
	}
	return r, wrapErr(err, "scim %s %s", typ, id)
}

// SCIMGetMany returns the resources of the source with those ids (missing
// ones are left out), by id.
func (s *Store) SCIMGetMany(ctx context.Context, sourceID int64, typ string, ids []string) (map[string]SCIMResource, error) {
	out := make(map[string]SCIMResource, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := []any{sourceID, typ}
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT `+scimCols+` FROM scim_resources WHERE source_id=? AND type=? AND id IN (`+
			placeholders(n)+`)`, args...)
		if err != nil {
			return nil, wrapErr(err, "scim resources")
		}
		for rows.Next() {
			r, err := scanSCIM(rows)
			if err != nil {
				rows.Close()
				return nil, wrapErr(err, "scim resources")
			}
			out[r.ID] = r
		}
		if err := rows.Close(); err != nil {
			return nil, wrapErr(err, "scim resources")
		}
		ids = ids[n:]
	}
	return out, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

var scimColumns = map[string]bool{"id": true, "name": true, "external_id": true, "email": true}

// SCIMFind returns a page of the source's resources matching q, in id
// order, and how many match in all.
func (s *Store) SCIMFind(ctx context.Context, sourceID int64, q SCIMQuery) ([]SCIMResource, int, error) {
	where := `source_id=? AND type=?`
	args := []any{sourceID, q.Type}
	for _, c := range q.Conds {
		if !scimColumns[c.Column] {
			return nil, 0, schema.Errorf(schema.EInvalid, "scim: no column %q to filter on", c.Column)
		}
		where += ` AND ` + c.Column + `=?`
		args = append(args, c.Value)
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM scim_resources WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, wrapErr(err, "scim find")
	}
	out := []SCIMResource{}
	if q.Limit <= 0 || q.Offset >= total {
		return out, total, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+scimCols+` FROM scim_resources WHERE `+where+
		` ORDER BY id LIMIT ? OFFSET ?`, append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, 0, wrapErr(err, "scim find")
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanSCIM(rows)
		if err != nil {
			return nil, 0, wrapErr(err, "scim find")
		}
		out = append(out, r)
	}
	return out, total, wrapErr(rows.Err(), "scim find")
}

// SCIMUserByName returns the id of the source's user with that folded
// userName.
func (s *Store) SCIMUserByName(ctx context.Context, sourceID int64, name string) (string, bool, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM scim_resources WHERE source_id=? AND type='User' AND name=?`,
		sourceID, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return id, err == nil, wrapErr(err, "scim user name")
}

// SCIMUserNames returns the ids of the source's users holding any of the
// folded userNames, by name.
func (s *Store) SCIMUserNames(ctx context.Context, sourceID int64, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	pairs, err := s.scimPairs(ctx, `SELECT name, id FROM scim_resources WHERE source_id=? AND type='User' AND name IN (%s)`, sourceID, names)
	for n, ids := range pairs {
		out[n] = ids[0]
	}
	return out, err
}

// SCIMMembers returns the members (user ids) of each of the groups.
func (s *Store) SCIMMembers(ctx context.Context, sourceID int64, groups []string) (map[string][]string, error) {
	return s.scimPairs(ctx, `SELECT group_id, user_id FROM scim_members WHERE source_id=? AND group_id IN (%s) ORDER BY group_id, user_id`,
		sourceID, groups)
}

// SCIMGroupsOf returns the groups (ids) each of the users is a member of.
func (s *Store) SCIMGroupsOf(ctx context.Context, sourceID int64, users []string) (map[string][]string, error) {
	return s.scimPairs(ctx, `SELECT user_id, group_id FROM scim_members WHERE source_id=? AND user_id IN (%s) ORDER BY user_id, group_id`,
		sourceID, users)
}

func (s *Store) scimPairs(ctx context.Context, q string, sourceID int64, ids []string) (map[string][]string, error) {
	out := make(map[string][]string, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 500)
		args := []any{sourceID}
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		rows, err := s.db.QueryContext(ctx, strings.Replace(q, "%s", placeholders(n), 1), args...)
		if err != nil {
			return nil, wrapErr(err, "scim members")
		}
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				rows.Close()
				return nil, wrapErr(err, "scim members")
			}
			out[a] = append(out[a], b)
		}
		if err := rows.Close(); err != nil {
			return nil, wrapErr(err, "scim members")
		}
		ids = ids[n:]
	}
	return out, nil
}

// SCIMResources calls fn with every resource of the source of that type,
// in id order (a reconciliation reads them all).
func (s *Store) SCIMResources(ctx context.Context, sourceID int64, typ string, fn func(SCIMResource) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+scimCols+` FROM scim_resources WHERE source_id=? AND type=? ORDER BY id`, sourceID, typ)
	if err != nil {
		return wrapErr(err, "scim resources")
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanSCIM(rows)
		if err != nil {
			return wrapErr(err, "scim resources")
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return wrapErr(rows.Err(), "scim resources")
}

// SCIMWrite writes a batch's resources in a transaction of its own (when
// no drop is applied with them).
func (s *Store) SCIMWrite(ctx context.Context, orgID, sourceID int64, w SCIMWrites) error {
	tx, err := s.Begin(ctx, orgID)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := tx.SCIMWrite(sourceID, w); err != nil {
		return err
	}
	return tx.Commit()
}

// SCIMWrite writes a batch's resources in the transaction.
func (t *Tx) SCIMWrite(sourceID int64, w SCIMWrites) error {
	for _, r := range w.Delete {
		if _, err := t.exec("scim delete", `DELETE FROM scim_resources WHERE source_id=? AND type=? AND id=?`, sourceID, r.Type, r.ID); err != nil {
			return err
		}
		col := "user_id"
		if r.Type == "Group" {
			col = "group_id"
		}
		if _, err := t.exec("scim delete", `DELETE FROM scim_members WHERE source_id=? AND `+col+`=?`, sourceID, r.ID); err != nil {
			return err
		}
	}
	for _, id := range w.Moved {
		if _, err := t.exec("scim rename", `UPDATE scim_resources SET name=? WHERE source_id=? AND type='User' AND id=?`,
			"\x01"+id, sourceID, id); err != nil {
			return err
		}
	}
	for _, r := range w.Put {
		if _, err := t.exec("scim put", `INSERT INTO scim_resources(source_id, `+scimCols+`) VALUES(?,?,?,?,?,?,?,?,?,?)
			ON CONFLICT(source_id, type, id) DO UPDATE SET name=excluded.name, external_id=excluded.external_id,
			email=excluded.email, data=excluded.data, modified=excluded.modified, version=excluded.version`,
			sourceID, r.Type, r.ID, r.Name, r.ExternalID, r.Email, string(r.Data),
			r.Created.UTC().Format(time.RFC3339Nano), r.Modified.UTC().Format(time.RFC3339Nano), r.Version); err != nil {
			return err
		}
	}
	for _, m := range w.RemoveMembers {
		if _, err := t.exec("scim members", `DELETE FROM scim_members WHERE source_id=? AND group_id=? AND user_id=?`,
			sourceID, m.Group, m.User); err != nil {
			return err
		}
	}
	for _, m := range w.AddMembers {
		if _, err := t.exec("scim members", `INSERT INTO scim_members(source_id, group_id, user_id) VALUES(?,?,?)
			ON CONFLICT DO NOTHING`, sourceID, m.Group, m.User); err != nil {
			return err
		}
	}
	return nil
}

// SCIMStats is what a scim source's requests did.
type SCIMStats struct {
	Requests    int64     `json:"requests"`
	Errors      int64     `json:"errors"`
	LastRequest time.Time `json:"last_request,omitzero"`
	LastStatus  int       `json:"last_status,omitempty"`
	// LastError is the latest failed request's status and detail.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// AddSCIMStats adds d's counts to the source's and takes its latest
// request and error when they are newer.
func (s *Store) AddSCIMStats(ctx context.Context, sourceID int64, d SCIMStats) error {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO scim_stats(source_id, requests, errors, last_request, last_status, last_error, last_error_at)
		VALUES(?,?,?,?,?,?,?) ON CONFLICT(source_id) DO UPDATE SET requests=scim_stats.requests+excluded.requests,
		errors=scim_stats.errors+excluded.errors,
		last_status=CASE WHEN excluded.last_request > scim_stats.last_request THEN excluded.last_status ELSE scim_stats.last_status END,
		last_request=CASE WHEN excluded.last_request > scim_stats.last_request THEN excluded.last_request ELSE scim_stats.last_request END,
		last_error=CASE WHEN excluded.last_error_at > scim_stats.last_error_at THEN excluded.last_error ELSE scim_stats.last_error END,
		last_error_at=CASE WHEN excluded.last_error_at > scim_stats.last_error_at THEN excluded.last_error_at ELSE scim_stats.last_error_at END`,
		sourceID, d.Requests, d.Errors, ts(d.LastRequest), d.LastStatus, d.LastError, ts(d.LastErrorAt))
	return wrapErr(err, "scim stats")
}

// SCIMStatsByOrg returns the organisation's scim sources' statistics, by
// source name.
func (s *Store) SCIMStatsByOrg(ctx context.Context, orgID int64) (map[string]SCIMStats, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT s.name, t.requests, t.errors, t.last_request, t.last_status, t.last_error, t.last_error_at
		FROM scim_stats t JOIN sources s ON s.id = t.source_id WHERE s.org_id=?`, orgID)
	if err != nil {
		return nil, wrapErr(err, "scim stats")
	}
	defer rows.Close()
	out := map[string]SCIMStats{}
	for rows.Next() {
		var name, last, lastErrAt string
		var st SCIMStats
		if err := rows.Scan(&name, &st.Requests, &st.Errors, &last, &st.LastStatus, &st.LastError, &lastErrAt); err != nil {
			return nil, wrapErr(err, "scim stats")
		}
		st.LastRequest, _ = time.Parse(time.RFC3339Nano, last)
		st.LastErrorAt, _ = time.Parse(time.RFC3339Nano, lastErrAt)
		out[name] = st
	}
	return out, wrapErr(rows.Err(), "scim stats")
}
