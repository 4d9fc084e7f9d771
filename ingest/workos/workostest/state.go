package workostest

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
)

// Directory is a fake directory. State is the REST state: linked,
// unlinked, validating, invalid_credentials or deleting.
type Directory struct {
	ID             string    `json:"id"`
	OrganizationID string    `json:"organization_id"`
	ExternalKey    string    `json:"external_key"`
	Type           string    `json:"type"`
	State          string    `json:"state"`
	Name           string    `json:"name"`
	Domain         string    `json:"domain,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// User is a fake directory user. Empty strings are written as null (or
// omitted, with Options.OmitOptional).
type User struct {
	ID             string `json:"id"`
	DirectoryID    string `json:"directory_id"`
	OrganizationID string `json:"organization_id"`
	IdpID          string `json:"idp_id"`
	Email          string `json:"email"`
	FirstName      string `json:"first_name"`
	LastName       string `json:"last_name"`
	Name           string `json:"name,omitempty"`
	// State is "active" or "inactive".
	State            string         `json:"state"`
	CustomAttributes map[string]any `json:"custom_attributes"`
	CreatedAt        time.Time      `json:"created_at"`
	UpdatedAt        time.Time      `json:"updated_at"`
}

// Group is a fake directory group.
type Group struct {
	ID             string    `json:"id"`
	IdpID          string    `json:"idp_id"`
	DirectoryID    string    `json:"directory_id"`
	OrganizationID string    `json:"organization_id"`
	Name           string    `json:"name"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// ErrNotFound is returned by the Go API for an unknown id.
type ErrNotFound struct{ Kind, ID string }

func (e ErrNotFound) Error() string { return fmt.Sprintf("workostest: no %s %q", e.Kind, e.ID) }

// DirectorySpec describes a directory to create. Empty fields get defaults:
// a new organization id, "okta scim v2.0", state linked.
type DirectorySpec struct {
	Name           string `json:"name"`
	OrganizationID string `json:"organization_id"`
	Type           string `json:"type"`
	State          string `json:"state"`
	Domain         string `json:"domain"`
}

// CreateDirectory adds a directory; a linked one emits dsync.activated.
func (s *Server) CreateDirectory(spec DirectorySpec) Directory {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	d := Directory{ID: s.ids.next("directory", now), OrganizationID: spec.OrganizationID, Type: spec.Type,
		State: spec.State, Name: spec.Name, Domain: spec.Domain, CreatedAt: now, UpdatedAt: now}
	if d.OrganizationID == "" {
		d.OrganizationID = s.ids.next("org", now)
	}
	if d.Type == "" {
		d.Type = "okta scim v2.0"
	}
	if d.State == "" {
		d.State = "linked"
	}
	if d.Name == "" {
		d.Name = "Directory " + d.ID[len(d.ID)-6:]
	}
	d.ExternalKey = strings.ToLower(d.ID[len(d.ID)-10:])
	s.dirs[d.ID] = &dirState{d: d}
	s.dirIDs = insertSorted(s.dirIDs, d.ID)
	if d.State == "linked" {
		s.emit("dsync.activated", d.OrganizationID, s.renderDirectoryEvent(d, true))
	}
	return d
}

// SetDirectoryState changes a directory's state; becoming linked emits
// dsync.activated.
func (s *Server) SetDirectoryState(id, state string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds, ok := s.dirs[id]
	if !ok {
		return ErrNotFound{"directory", id}
	}
	was := ds.d.State
	ds.d.State, ds.d.UpdatedAt = state, s.now()
	if state == "linked" && was != "linked" {
		s.emit("dsync.activated", ds.d.OrganizationID, s.renderDirectoryEvent(ds.d, true))
	}
	return nil
}

// DeleteDirectory deletes a directory with its users, groups and
// memberships, emitting a single dsync.deleted and no per-user or per-group
// events (§3.3).
func (s *Server) DeleteDirectory(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds, ok := s.dirs[id]
	if !ok {
		return ErrNotFound{"directory", id}
	}
	for _, uid := range ds.users {
		delete(s.users, uid)
		delete(s.ofUser, uid)
	}
	for _, gid := range ds.groups {
		delete(s.groups, gid)
		delete(s.members, gid)
	}
	delete(s.dirs, id)
	s.dirIDs = removeSorted(s.dirIDs, id)
	s.emit("dsync.deleted", ds.d.OrganizationID, s.renderDirectoryEvent(ds.d, false))
	return nil
}

// UserSpec describes a user to create. State defaults to active, IdpID to
// a generated one.
type UserSpec struct {
	IdpID            string         `json:"idp_id"`
	Email            string         `json:"email"`
	FirstName        string         `json:"first_name"`
	LastName         string         `json:"last_name"`
	Name             string         `json:"name"`
	State            string         `json:"state"`
	CustomAttributes map[string]any `json:"custom_attributes"`
}

// CreateUser adds a user to a directory and emits dsync.user.created.
func (s *Server) CreateUser(dirID string, spec UserSpec) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createUser(dirID, spec, true)
}

func (s *Server) createUser(dirID string, spec UserSpec, emit bool) (User, error) {
	ds, ok := s.dirs[dirID]
	if !ok {
		return User{}, ErrNotFound{"directory", dirID}
	}
	now := s.now()
	u := &User{ID: s.ids.next("directory_user", now), DirectoryID: dirID, OrganizationID: ds.d.OrganizationID,
		IdpID: spec.IdpID, Email: spec.Email, FirstName: spec.FirstName, LastName: spec.LastName, Name: spec.Name,
		State: spec.State, CustomAttributes: maps.Clone(spec.CustomAttributes), CreatedAt: now, UpdatedAt: now}
	if u.State == "" {
		u.State = "active"
	}
	if u.IdpID == "" {
		u.IdpID = "00u" + strings.ToLower(u.ID[len(u.ID)-12:])
	}
	if u.CustomAttributes == nil {
		u.CustomAttributes = map[string]any{}
	}
	s.users[u.ID] = u
	ds.users = insertSorted(ds.users, u.ID)
	if emit {
		s.emit("dsync.user.created", u.OrganizationID, s.renderUser(u, false, nil))
	}
	return *u, nil
}

// UpdateUser changes a user through fn (ids and timestamps are kept) and
// emits dsync.user.updated with a shallow previous_attributes diff of the
// root fields and of custom_attributes. A change that changes nothing emits
// nothing.
func (s *Server) UpdateUser(id string, fn func(*User)) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, ErrNotFound{"user", id}
	}
	old := *u
	old.CustomAttributes = maps.Clone(u.CustomAttributes)
	next := old
	next.CustomAttributes = maps.Clone(u.CustomAttributes)
	fn(&next)
	next.ID, next.DirectoryID, next.OrganizationID, next.CreatedAt = old.ID, old.DirectoryID, old.OrganizationID, old.CreatedAt
	if next.CustomAttributes == nil {
		next.CustomAttributes = map[string]any{}
	}
	prev := previousAttributes(&old, &next)
	if len(prev) == 0 {
		return *u, nil
	}
	next.UpdatedAt = s.now()
	*u = next
	s.emit("dsync.user.updated", u.OrganizationID, s.renderUser(u, false, prev))
	return *u, nil
}

// previousAttributes is the shallow diff WorkOS sends: the former value of
// every changed root field, and of every changed custom attribute (null for a
// new one).
func previousAttributes(old, next *User) map[string]any {
	prev := map[string]any{}
	for _, f := range [][3]string{
		{"email", old.Email, next.Email}, {"first_name", old.FirstName, next.FirstName},
		{"last_name", old.LastName, next.LastName}, {"name", old.Name, next.Name},
		{"state", old.State, next.State}, {"idp_id", old.IdpID, next.IdpID},
	} {
		if f[1] != f[2] {
			prev[f[0]] = nullable(f[1])
		}
	}
	ca := map[string]any{}
	for k, v := range next.CustomAttributes {
		if ov, ok := old.CustomAttributes[k]; !ok || !reflect.DeepEqual(ov, v) {
			ca[k] = ov
		}
	}
	for k, ov := range old.CustomAttributes {
		if _, ok := next.CustomAttributes[k]; !ok {
			ca[k] = ov
		}
	}
	if len(ca) > 0 {
		prev["custom_attributes"] = ca
	}
	return prev
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// DeactivateUser makes a user inactive as the IdP's deprovisioning would:
// dsync.user.updated with state inactive, or, under InactiveDelete, a
// deletion with dsync.user.deleted.
func (s *Server) DeactivateUser(id string) error {
	if s.opts.Inactive == InactiveDelete {
		return s.DeleteUser(id)
	}
	_, err := s.UpdateUser(id, func(u *User) { u.State = "inactive" })
	return err
}

// DeleteUser hard-deletes a user, emitting dsync.user.deleted. Its
// memberships go with it, without user_removed events.
func (s *Server) DeleteUser(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return ErrNotFound{"user", id}
	}
	for gid := range s.ofUser[id] {
		s.members[gid] = removeSorted(s.members[gid], id)
	}
	delete(s.ofUser, id)
	delete(s.users, id)
	ds := s.dirs[u.DirectoryID]
	ds.users = removeSorted(ds.users, id)
	s.emit("dsync.user.deleted", u.OrganizationID, s.renderUser(u, false, nil))
	return nil
}

// CreateGroup adds a group to a directory and emits dsync.group.created.
func (s *Server) CreateGroup(dirID, name string) (Group, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createGroup(dirID, name, true)
}

func (s *Server) createGroup(dirID, name string, emit bool) (Group, error) {
	ds, ok := s.dirs[dirID]
	if !ok {
		return Group{}, ErrNotFound{"directory", dirID}
	}
	now := s.now()
	g := &Group{ID: s.ids.next("directory_group", now), DirectoryID: dirID, OrganizationID: ds.d.OrganizationID,
		Name: name, CreatedAt: now, UpdatedAt: now}
	g.IdpID = "00g" + strings.ToLower(g.ID[len(g.ID)-12:])
	s.groups[g.ID] = g
	ds.groups = insertSorted(ds.groups, g.ID)
	if emit {
		s.emit("dsync.group.created", g.OrganizationID, s.renderGroup(g))
	}
	return *g, nil
}

// RenameGroup renames a group, emitting dsync.group.updated with
// previous_attributes {"name": old}.
func (s *Server) RenameGroup(id, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[id]
	if !ok {
		return ErrNotFound{"group", id}
	}
	if g.Name == name {
		return nil
	}
	old := g.Name
	g.Name, g.UpdatedAt = name, s.now()
	s.emit("dsync.group.updated", g.OrganizationID, groupUpdated{s.renderGroup(g), map[string]any{"name": old}})
	return nil
}

// DeleteGroup deletes a group and its memberships, emitting
// dsync.group.deleted and no user_removed events (§5.3).
func (s *Server) DeleteGroup(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[id]
	if !ok {
		return ErrNotFound{"group", id}
	}
	for _, uid := range s.members[id] {
		delete(s.ofUser[uid], id)
	}
	delete(s.members, id)
	delete(s.groups, id)
	ds := s.dirs[g.DirectoryID]
	ds.groups = removeSorted(ds.groups, id)
	s.emit("dsync.group.deleted", g.OrganizationID, s.renderGroup(g))
	return nil
}

// AddMember puts a user in a group, emitting dsync.group.user_added. The
// user's updated_at does not move (the documented known issue).
func (s *Server) AddMember(groupID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addMember(groupID, userID, true)
}

func (s *Server) addMember(groupID, userID string, emit bool) error {
	g, u, err := s.pair(groupID, userID)
	if err != nil {
		return err
	}
	if _, in := s.ofUser[userID][groupID]; in {
		return nil
	}
	s.members[groupID] = insertSorted(s.members[groupID], userID)
	if s.ofUser[userID] == nil {
		s.ofUser[userID] = map[string]struct{}{}
	}
	s.ofUser[userID][groupID] = struct{}{}
	if emit {
		s.emit("dsync.group.user_added", g.OrganizationID, s.renderMembership(g, u))
	}
	return nil
}

// RemoveMember takes a user out of a group, emitting dsync.group.user_removed.
func (s *Server) RemoveMember(groupID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, u, err := s.pair(groupID, userID)
	if err != nil {
		return err
	}
	if _, in := s.ofUser[userID][groupID]; !in {
		return nil
	}
	s.members[groupID] = removeSorted(s.members[groupID], userID)
	delete(s.ofUser[userID], groupID)
	s.emit("dsync.group.user_removed", g.OrganizationID, s.renderMembership(g, u))
	return nil
}

func (s *Server) pair(groupID, userID string) (*Group, *User, error) {
	g, ok := s.groups[groupID]
	if !ok {
		return nil, nil, ErrNotFound{"group", groupID}
	}
	u, ok := s.users[userID]
	if !ok {
		return nil, nil, ErrNotFound{"user", userID}
	}
	if u.DirectoryID != g.DirectoryID {
		return nil, nil, fmt.Errorf("workostest: user %s and group %s are in different directories", userID, groupID)
	}
	return g, u, nil
}

// Users returns a directory's users in id order.
func (s *Server) Users(dirID string) []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds, ok := s.dirs[dirID]
	if !ok {
		return nil
	}
	out := make([]User, len(ds.users))
	for i, id := range ds.users {
		out[i] = *s.users[id]
	}
	return out
}

// Groups returns a directory's groups in id order.
func (s *Server) Groups(dirID string) []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds, ok := s.dirs[dirID]
	if !ok {
		return nil
	}
	out := make([]Group, len(ds.groups))
	for i, id := range ds.groups {
		out[i] = *s.groups[id]
	}
	return out
}

// Members returns the ids of a group's members in id order.
func (s *Server) Members(groupID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.members[groupID])
}

// GroupsOf returns the ids of the groups a user belongs to, sorted.
func (s *Server) GroupsOf(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.ofUser[userID]))
}

func (s *Server) now() time.Time { return s.opts.Now() }

func insertSorted(list []string, id string) []string {
	i := sort.SearchStrings(list, id)
	if i < len(list) && list[i] == id {
		return list
	}
	return slices.Insert(list, i, id)
}

func removeSorted(list []string, id string) []string {
	i := sort.SearchStrings(list, id)
	if i < len(list) && list[i] == id {
		return slices.Delete(list, i, i+1)
	}
	return list
}
