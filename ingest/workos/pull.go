package workos

import (
	"context"
	"io"
	"strings"

	"muster/schema"
)

// PullOptions configures a full pull of one directory.
type PullOptions struct {
	// Groups, when not empty, limits the source to the members of these
	// groups, each named by its directory group id or its name (compared
	// case-insensitively), as admins choose in Google Workspace's group sync.
	// The records then carry only these groups. A name or id that matches no
	// group fails the pull: a renamed group must not silently empty the source.
	Groups []string
	// Attrs is the attribute allowlist (merge rule 6, README: Design); the zero set keeps
	// no optional attribute.
	Attrs schema.AttrSet
}

// PullStats describes a pull, for its report.
type PullStats struct {
	// Requests counts HTTP attempts, retries included; Retries the
	// attempts that were tried again.
	Requests, Retries int64
	// Groups is the number of groups of the source (selected ones when limited).
	Groups int
	// MembershipPages counts pages of /directory_users?group=.
	MembershipPages int
	// Users counts users read; Records those yielded (fewer when limited).
	Users, Records int
	// Inactive and Invalid count yielded records that are inactive or carry
	// an error problem.
	Inactive, Invalid int
}

// DirectoryStream is a full snapshot of one directory as a schema.Stream.
//
// The directory, its groups and every membership are read when Pull returns;
// users are then read a page at a time as Next is called, so a directory of
// 100,000 users is never held whole. What is held: the groups, and for every
// member the user id with the indexes of its groups (about 100 bytes per
// member, ~10 MB for 100k), plus the set of user ids read (pagination loop
// guard, ~60 bytes each).
//
// A pull that fails midway makes Next return the error (never io.EOF), which
// by the schema.Stream contract is fatal for the whole source: nothing of a
// pull that did not complete is applied. Next uses the context given to Pull.
type DirectoryStream struct {
	// Directory is the directory as read at the start of the pull; its
	// OrganizationID picks the muster organisation.
	Directory Directory
	// Groups are the groups of the source (the selected ones when limited).
	Groups []Group

	c       *Client
	ctx     context.Context
	opts    PullOptions
	limited bool
	names   []string            // group index -> name
	members map[string][]uint32 // user id -> group indexes
	users   *pager[User]
	buf     []schema.Record
	pos     int
	done    bool
	err     error
	counter requestCounter
	stats   PullStats
}

// Pull starts a full pull of directory id: it reads the directory, its groups
// and their memberships (one /directory_users?group= traversal per group:
// about members/100 requests, instead of one /directory_groups?user= request
// per user), then returns the stream that reads the users. Requests for a
// whole pull: 1 + ceil(groups/100) + Σ ceil(members_g/100) (at least 1 per
// group) + ceil(users/100).
func (c *Client) Pull(ctx context.Context, id string, opts PullOptions) (*DirectoryStream, error) {
	s := &DirectoryStream{c: c, opts: opts, limited: len(opts.Groups) > 0, members: map[string][]uint32{}}
	s.ctx = withCounter(ctx, &s.counter)
	d, err := c.GetDirectory(s.ctx, id)
	if err != nil {
		return nil, err
	}
	if d.Deleting() {
		return nil, schema.Errorf(schema.EConflict, "workos: directory %s is being deleted", id)
	}
	s.Directory = d
	if err := s.readGroups(); err != nil {
		return nil, err
	}
	if err := s.readMembers(); err != nil {
		return nil, err
	}
	q, pace, err := userQuery(UserFilter{Directory: d.ID})
	if err != nil {
		return nil, err
	}
	s.users = newPager(c, "/directory_users", q, pace, userID)
	return s, nil
}

func (s *DirectoryStream) readGroups() error {
	var all []Group
	err := s.c.ListGroups(s.ctx, GroupFilter{Directory: s.Directory.ID}, func(page []Group) error {
		all = append(all, page...)
		return nil
	})
	if err != nil {
		return err
	}
	if !s.limited {
		s.Groups = all
		return nil
	}
	for _, sel := range s.opts.Groups {
		sel = strings.TrimSpace(sel)
		found := false
		for _, g := range all {
			if g.ID == sel || strings.EqualFold(strings.TrimSpace(g.Name), sel) {
				found = true
				if !containsGroup(s.Groups, g.ID) {
					s.Groups = append(s.Groups, g)
				}
			}
		}
		if !found {
			return schema.Errorf(schema.EInvalid, "workos: directory %s has no group %q (selected in the source's groups)", s.Directory.ID, sel)
		}
	}
	return nil
}

func containsGroup(gs []Group, id string) bool {
	for _, g := range gs {
		if g.ID == id {
			return true
		}
	}
	return false
}

func (s *DirectoryStream) readMembers() error {
	s.names = make([]string, len(s.Groups))
	for i, g := range s.Groups {
		s.names[i] = groupName(g)
		q, pace, err := userQuery(UserFilter{Directory: s.Directory.ID, Group: g.ID})
		if err != nil {
			return err
		}
		// Only the ids are kept, so only the ids are decoded.
		err = listAll(s.ctx, s.c, "/directory_users", q, pace, func(m *memberID) string { return m.ID }, func(page []memberID) error {
			s.stats.MembershipPages++
			for _, m := range page {
				s.members[m.ID] = append(s.members[m.ID], uint32(i))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	s.stats.Groups = len(s.Groups)
	return nil
}

// memberID is a directory user as the membership pass reads it.
type memberID struct {
	ID string `json:"id"`
}

func groupName(g Group) string {
	if n := strings.TrimSpace(g.Name); n != "" {
		return n
	}
	return g.ID
}

// Next returns the next record, io.EOF after the last one, or the error
// that stopped the pull (again on every later call).
func (s *DirectoryStream) Next() (schema.Record, error) {
	for s.pos >= len(s.buf) {
		if s.err != nil {
			return schema.Record{}, s.err
		}
		if s.done {
			return schema.Record{}, io.EOF
		}
		if err := s.fill(); err != nil {
			s.err = err
			return schema.Record{}, err
		}
	}
	s.pos++
	return s.buf[s.pos-1], nil
}

func (s *DirectoryStream) fill() error {
	page, more, err := s.users.next(s.ctx)
	if err != nil {
		return err
	}
	s.done = !more
	s.buf, s.pos = s.buf[:0], 0
	names := make([]string, 0, 8) // never nil: a snapshot record with no group has none, not "unknown"
	for i := range page {
		u := &page[i]
		s.stats.Users++
		idx, member := s.members[u.ID]
		if s.limited && !member {
			continue
		}
		names = names[:0]
		for _, gi := range idx {
			names = append(names, s.names[gi])
		}
		r := MapUser(u, names, s.opts.Attrs) // MapUser copies names
		s.stats.Records++
		if r.Status == schema.StatusInactive {
			s.stats.Inactive++
		}
		if !r.Valid() {
			s.stats.Invalid++
		}
		s.buf = append(s.buf, r)
	}
	return nil
}

// Stats returns the pull's figures so far; after io.EOF they are final.
func (s *DirectoryStream) Stats() PullStats {
	st := s.stats
	st.Requests = s.counter.Load()
	return st
}
