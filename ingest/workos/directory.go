package workos

import (
	"context"
	"net/url"

	"muster/schema"
)

// DirectoryFilter narrows ListDirectories.
type DirectoryFilter struct {
	OrganizationID string
	// Search matches the directory name.
	Search string
}

// ListDirectories returns every directory the key can see.
func (c *Client) ListDirectories(ctx context.Context, f DirectoryFilter) ([]Directory, error) {
	q := url.Values{}
	if f.OrganizationID != "" {
		q.Set("organization_id", f.OrganizationID)
	}
	if f.Search != "" {
		q.Set("search", f.Search)
	}
	var out []Directory
	err := listAll(ctx, c, "/directories", q, "", func(d *Directory) string { return d.ID },
		func(page []Directory) error {
			out = append(out, page...)
			return nil
		})
	return out, err
}

// GetDirectory returns one directory; an unknown id is a schema.ENotFound error.
func (c *Client) GetDirectory(ctx context.Context, id string) (Directory, error) {
	if id == "" {
		return Directory{}, schema.Errorf(schema.EInvalid, "workos: empty directory id")
	}
	var d Directory
	err := c.get(ctx, "/directories/"+url.PathEscape(id), nil, "", &d)
	return d, err
}

// UserFilter selects the users of ListUsers: those of Directory, or the
// members of Group. With Group set, only group= is sent and Directory (when
// known) only names the directory whose rate limit the requests count against.
type UserFilter struct {
	Directory string
	Group     string
}

// ListUsers hands every page of matching users to fn, in order. Requests are
// paced per directory (Config.DirectoryUsersInterval).
func (c *Client) ListUsers(ctx context.Context, f UserFilter, fn func([]User) error) error {
	q, pace, err := userQuery(f)
	if err != nil {
		return err
	}
	return listAll(ctx, c, "/directory_users", q, pace, userID, fn)
}

func userID(u *User) string { return u.ID }

func userQuery(f UserFilter) (q url.Values, paceKey string, err error) {
	q = url.Values{}
	paceKey = f.Directory
	switch {
	case f.Group != "":
		q.Set("group", f.Group)
		if paceKey == "" {
			paceKey = f.Group
		}
	case f.Directory != "":
		q.Set("directory", f.Directory)
	default:
		return nil, "", schema.Errorf(schema.EInvalid, "workos: list users needs a directory or a group")
	}
	return q, paceKey, nil
}

// GetUser returns one directory user; an unknown id is a schema.ENotFound error.
func (c *Client) GetUser(ctx context.Context, id string) (User, error) {
	if id == "" {
		return User{}, schema.Errorf(schema.EInvalid, "workos: empty directory user id")
	}
	var u User
	err := c.get(ctx, "/directory_users/"+url.PathEscape(id), nil, "", &u)
	return u, err
}

// GroupFilter selects the groups of ListGroups: those of Directory, or the
// groups User belongs to.
type GroupFilter struct {
	Directory string
	User      string
}

// ListGroups hands every page of matching groups to fn, in order.
func (c *Client) ListGroups(ctx context.Context, f GroupFilter, fn func([]Group) error) error {
	q := url.Values{}
	switch {
	case f.User != "":
		q.Set("user", f.User)
	case f.Directory != "":
		q.Set("directory", f.Directory)
	default:
		return schema.Errorf(schema.EInvalid, "workos: list groups needs a directory or a user")
	}
	return listAll(ctx, c, "/directory_groups", q, "", func(g *Group) string { return g.ID }, fn)
}
