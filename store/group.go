package store

import (
	"context"
	"slices"
)

// Group is a group named within its source (merge rule 4).
type Group struct {
	ID         int64  `json:"id"`
	SourceID   int64  `json:"source_id"`
	SourceName string `json:"source"`
	Name       string `json:"name"`
	// Members counts recipients in the group (only active ones are members).
	Members int64 `json:"members"`
}

// Groups lists the organisation's groups by name then source.
func (s *Store) Groups(ctx context.Context, orgID int64) ([]Group, error) {
	counts, err := s.memberCounts(ctx, orgID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT g.id, g.source_id, s.name, g.name
		FROM groups g JOIN sources s ON s.id=g.source_id WHERE g.org_id=? ORDER BY g.name, s.name`, orgID)
	if err != nil {
		return nil, wrapErr(err, "list groups")
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		var g Group
		if err := rows.Scan(&g.ID, &g.SourceID, &g.SourceName, &g.Name); err != nil {
			return nil, wrapErr(err, "list groups")
		}
		g.Members = counts[g.ID]
		out = append(out, g)
	}
	return out, wrapErr(rows.Err(), "list groups")
}

// GroupsByID returns the named groups of the organisation, by id. ids may
// repeat (the groups of a page of recipients). Groups seen before come
// from a cache (see Store.groups).
func (s *Store) GroupsByID(ctx context.Context, orgID int64, ids []int64) (map[int64]Group, error) {
	out := map[int64]Group{}
	var missing []int64
	s.groupsMu.RLock()
	for _, id := range ids {
		if _, done := out[id]; done {
			continue
		}
		if g, ok := s.groups[id]; ok && g.orgID == orgID {
			out[id] = g.Group
		} else {
			missing = append(missing, id)
		}
	}
	s.groupsMu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	missing = slices.Compact(slices.Sorted(slices.Values(missing)))
	rows, err := s.db.QueryContext(ctx, `SELECT g.id, g.source_id, s.name, g.name FROM groups g
		JOIN sources s ON s.id=g.source_id WHERE g.org_id=? AND g.id IN (`+formatIDs(missing)+`)`, orgID)
	if err != nil {
		return nil, wrapErr(err, "groups")
	}
	defer rows.Close()
	var found []Group
	for rows.Next() {
		var g Group
		if err := rows.Scan(&g.ID, &g.SourceID, &g.SourceName, &g.Name); err != nil {
			return nil, wrapErr(err, "groups")
		}
		out[g.ID] = g
		found = append(found, g)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(err, "groups")
	}
	s.groupsMu.Lock()
	if s.groups == nil {
		s.groups = map[int64]cachedGroup{}
	}
	for _, g := range found {
		s.groups[g.ID] = cachedGroup{Group: g, orgID: orgID}
	}
	s.groupsMu.Unlock()
	return out, nil
}

type cachedGroup struct {
	Group
	orgID int64
}

// FindGroups returns the ids of the organisation's groups with that name
// (any case), in any source or, when sourceName is set, in that one.
func (s *Store) FindGroups(ctx context.Context, orgID int64, name, sourceName string) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT g.id FROM groups g JOIN sources s ON s.id=g.source_id
		WHERE g.org_id=? AND lower(g.name)=? AND (?='' OR s.name=?)`, orgID, lowerASCII(name), sourceName, sourceName)
	if err != nil {
		return nil, wrapErr(err, "find group %q", name)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, wrapErr(err, "find group %q", name)
		}
		out = append(out, id)
	}
	return out, wrapErr(rows.Err(), "find group %q", name)
}

// lowerASCII lowers ASCII letters only, as lower() does on both databases
// here (SQLite's, and PostgreSQL's on a COLLATE "C" column): the same
// match as SQLite's NOCASE.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// memberCounts counts each group's members in one scan of the recipients.
func (s *Store) memberCounts(ctx context.Context, orgID int64) (map[int64]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT group_ids FROM recipients WHERE org_id=? AND group_ids<>''`, orgID)
	if err != nil {
		return nil, wrapErr(err, "count members")
	}
	defer rows.Close()
	out := map[int64]int64{}
	var list string
	for rows.Next() {
		if err := rows.Scan(&list); err != nil {
			return nil, wrapErr(err, "count members")
		}
		for _, id := range parseIDs(list) {
			out[id]++
		}
	}
	return out, wrapErr(rows.Err(), "count members")
}
