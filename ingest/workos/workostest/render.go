package workostest

import (
	"encoding/json"
	"time"
)

// jsonNull is written for an optional key whose value is null.
var jsonNull = json.RawMessage("null")

func (s *Server) ts(t time.Time) string {
	t = t.UTC()
	switch s.opts.TimeStyle {
	case TimeOffset:
		return t.Format("2006-01-02T15:04:05-0700")
	case TimeSpace:
		return t.Format("2006-01-02 15:04:05.000")
	}
	return t.Format("2006-01-02T15:04:05.000Z")
}

// opt writes an optional value: the string, or null, or (OmitOptional)
// nothing.
func (s *Server) opt(v string) any {
	if v != "" {
		return v
	}
	if s.opts.OmitOptional {
		return nil
	}
	return jsonNull
}

type directoryJSON struct {
	Object         string `json:"object"`
	ID             string `json:"id"`
	OrganizationID string `json:"organization_id"`
	ExternalKey    string `json:"external_key"`
	Type           string `json:"type"`
	State          string `json:"state"`
	Name           string `json:"name"`
	Domain         any    `json:"domain,omitempty"`
	CreatedAt      string `json:"created_at"`
	UpdatedAt      string `json:"updated_at"`
}

func (s *Server) renderDirectory(d Directory) directoryJSON {
	return directoryJSON{Object: "directory", ID: d.ID, OrganizationID: d.OrganizationID, ExternalKey: d.ExternalKey,
		Type: d.Type, State: d.State, Name: d.Name, Domain: s.opt(d.Domain), CreatedAt: s.ts(d.CreatedAt), UpdatedAt: s.ts(d.UpdatedAt)}
}

type directoryEventJSON struct {
	Object         string       `json:"object"`
	ID             string       `json:"id"`
	OrganizationID string       `json:"organization_id"`
	Type           string       `json:"type"`
	State          string       `json:"state"`
	Name           string       `json:"name"`
	ExternalKey    string       `json:"external_key,omitempty"`
	Domains        []domainJSON `json:"domains,omitempty"`
	CreatedAt      string       `json:"created_at"`
	UpdatedAt      string       `json:"updated_at"`
}

type domainJSON struct {
	Object string `json:"object"`
	ID     string `json:"id"`
	Domain string `json:"domain"`
}

// renderDirectoryEvent writes the directory as events carry it: with the
// event state names (active/inactive for linked/unlinked, §4.1); activated
// events add external_key and domains.
func (s *Server) renderDirectoryEvent(d Directory, activated bool) directoryEventJSON {
	state := d.State
	switch state {
	case "linked":
		state = "active"
	case "unlinked":
		state = "inactive"
	}
	out := directoryEventJSON{Object: "directory", ID: d.ID, OrganizationID: d.OrganizationID, Type: d.Type,
		State: state, Name: d.Name, CreatedAt: s.ts(d.CreatedAt), UpdatedAt: s.ts(d.UpdatedAt)}
	if activated {
		out.ExternalKey = d.ExternalKey
		out.Domains = []domainJSON{}
		if d.Domain != "" {
			out.Domains = append(out.Domains, domainJSON{"organization_domain", "org_domain_" + d.ID[len("directory_"):], d.Domain})
		}
	}
	return out
}

type groupJSON struct {
	Object         string         `json:"object"`
	ID             string         `json:"id"`
	IdpID          string         `json:"idp_id"`
	DirectoryID    string         `json:"directory_id"`
	OrganizationID string         `json:"organization_id"`
	Name           string         `json:"name"`
	RawAttributes  map[string]any `json:"raw_attributes"`
	CreatedAt      string         `json:"created_at"`
	UpdatedAt      string         `json:"updated_at"`
}

type slimGroupJSON struct {
	Object string `json:"object"`
	ID     string `json:"id"`
	Name   string `json:"name"`
}

func (s *Server) renderGroup(g *Group) groupJSON {
	raw := map[string]any{}
	if s.opts.DeprecatedFields {
		raw["id"] = g.IdpID
		raw["displayName"] = g.Name
	}
	return groupJSON{Object: "directory_group", ID: g.ID, IdpID: g.IdpID, DirectoryID: g.DirectoryID,
		OrganizationID: g.OrganizationID, Name: g.Name, RawAttributes: raw, CreatedAt: s.ts(g.CreatedAt), UpdatedAt: s.ts(g.UpdatedAt)}
}

type groupUpdated struct {
	groupJSON
	PreviousAttributes map[string]any `json:"previous_attributes"`
}

type userJSON struct {
	Object           string         `json:"object"`
	ID               string         `json:"id"`
	DirectoryID      string         `json:"directory_id"`
	OrganizationID   string         `json:"organization_id"`
	IdpID            string         `json:"idp_id"`
	Email            any            `json:"email"`
	FirstName        any            `json:"first_name,omitempty"`
	LastName         any            `json:"last_name,omitempty"`
	Name             any            `json:"name,omitempty"`
	Emails           any            `json:"emails,omitempty"`
	JobTitle         any            `json:"job_title,omitempty"`
	Username         any            `json:"username,omitempty"`
	State            string         `json:"state"`
	RawAttributes    map[string]any `json:"raw_attributes"`
	CustomAttributes map[string]any `json:"custom_attributes"`
	Role             any            `json:"role,omitempty"`
	Groups           any            `json:"groups,omitempty"`
	CreatedAt        string         `json:"created_at"`
	UpdatedAt        string         `json:"updated_at"`
	// PreviousAttributes is set in dsync.user.updated payloads only.
	PreviousAttributes map[string]any `json:"previous_attributes,omitempty"`
}

// renderUser writes a user as REST (withGroups: DirectoryUserWithGroups) or
// as an event payload (DirectoryUser, no groups), honouring the
// serialization switches.
func (s *Server) renderUser(u *User, withGroups bool, prev map[string]any) userJSON {
	out := userJSON{Object: "directory_user", ID: u.ID, DirectoryID: u.DirectoryID, OrganizationID: u.OrganizationID,
		IdpID: u.IdpID, Email: nullOr(u.Email), FirstName: s.opt(u.FirstName), LastName: s.opt(u.LastName),
		Name: s.opt(u.Name), State: u.State, RawAttributes: map[string]any{}, CustomAttributes: u.CustomAttributes,
		Role: map[string]string{"slug": "member"}, CreatedAt: s.ts(u.CreatedAt), UpdatedAt: s.ts(u.UpdatedAt),
		PreviousAttributes: prev}
	if s.opts.DeprecatedFields {
		if u.Email != "" {
			out.Emails = []map[string]any{{"primary": true, "type": "work", "value": u.Email}}
		} else {
			out.Emails = []any{}
		}
		title, _ := u.CustomAttributes["job_title"].(string)
		out.JobTitle, out.Username = s.opt(title), s.opt(u.Email)
		out.RawAttributes = map[string]any{"id": u.IdpID, "active": u.State == "active"}
	} else if !s.opts.OmitOptional {
		out.Emails, out.JobTitle, out.Username = []any{}, jsonNull, jsonNull
	}
	if withGroups {
		out.Groups = s.renderUserGroups(u.ID)
	}
	return out
}

func nullOr(v string) any {
	if v == "" {
		return jsonNull
	}
	return v
}

func (s *Server) renderUserGroups(userID string) any {
	switch s.opts.UserGroups {
	case GroupsFull:
		out := []groupJSON{}
		for gid := range s.ofUser[userID] {
			out = append(out, s.renderGroup(s.groups[gid]))
		}
		return out
	case GroupsSlim:
		out := []slimGroupJSON{}
		for gid := range s.ofUser[userID] {
			out = append(out, slimGroupJSON{"directory_group", gid, s.groups[gid].Name})
		}
		return out
	}
	return []any{}
}

type membershipJSON struct {
	DirectoryID string    `json:"directory_id"`
	User        userJSON  `json:"user"`
	Group       groupJSON `json:"group"`
}

func (s *Server) renderMembership(g *Group, u *User) membershipJSON {
	return membershipJSON{DirectoryID: g.DirectoryID, User: s.renderUser(u, false, nil), Group: s.renderGroup(g)}
}

// storedEvent is one entry of the event log, its JSON body rendered once so
// that the Events API and every webhook delivery send the same bytes.
type storedEvent struct {
	id    string
	name  string
	org   string
	at    time.Time
	body  []byte // compact JSON of the whole event object
	dirID string
}

type eventJSON struct {
	Object    string         `json:"object"`
	ID        string         `json:"id"`
	Event     string         `json:"event"`
	Data      any            `json:"data"`
	CreatedAt string         `json:"created_at"`
	Context   map[string]any `json:"context"`
}

// emit appends an event to the log and queues it for subscribed webhooks.
// The caller holds s.mu.
func (s *Server) emit(name, org string, data any) {
	now := s.now()
	id := s.ids.next("event", now)
	body, err := json.Marshal(eventJSON{Object: "event", ID: id, Event: name, Data: data, CreatedAt: s.ts(now), Context: map[string]any{}})
	if err != nil {
		panic("workostest: render event: " + err.Error()) // only our own types are rendered
	}
	ev := storedEvent{id: id, name: name, org: org, at: now, body: body}
	s.events = append(s.events, ev)
	s.hooks.enqueue(ev)
}
