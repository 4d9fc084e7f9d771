package workos

import (
	"encoding/json"
	"strings"
	"time"

	"muster/schema"
)

// ChangeKind is what one dsync.* event asks of the directory's source.
type ChangeKind uint8

const (
	// ChangeIgnore: nothing to do for the audience (dsync.group.created,
	// token events, events of other products, group changes outside a
	// group-limited source's selection).
	ChangeIgnore ChangeKind = iota
	// ChangeUpsert: Record is the person as the directory now describes them.
	// Record.Groups is nil: user events carry no memberships, so the source's
	// groups for the person are kept. Record.Status inactive asks for
	// offboarding (merge rule 5, README: Design): never add, remove from every audience.
	ChangeUpsert
	// ChangeOffboard: the user was deleted from the directory. Offboard the
	// person (Record.SourceID, Record.Key) across all audiences, not just
	// withdraw this source's assertion.
	ChangeOffboard
	// ChangeGroupAdd: add Group to the person's groups in this source. Record
	// is the whole person (the event carries the user), so a person the
	// source did not list yet is upserted with this group.
	ChangeGroupAdd
	// ChangeGroupRemove: remove Group from the person's groups in this source.
	ChangeGroupRemove
	// ChangeGroupRename: the group OldGroup is now called Group; rename it for
	// every person of the source.
	ChangeGroupRename
	// ChangeGroupDelete: the group is gone with its memberships (no
	// user_removed events follow): remove Group from every person of the source.
	ChangeGroupDelete
	// ChangeWithdraw: the directory was deleted (its users and groups are gone
	// and no per-user events follow). Withdraw every assertion of the source;
	// this is not offboarding.
	ChangeWithdraw
	// ChangeResync: the event cannot be applied as a delta (a directory was
	// connected, or a group-limited source's selection changed): run a full
	// pull of the directory.
	ChangeResync
)

var changeKindNames = [...]string{"ignore", "upsert", "offboard", "group_add", "group_remove",
	"group_rename", "group_delete", "withdraw", "resync"}

func (k ChangeKind) String() string {
	if int(k) < len(changeKindNames) {
		return changeKindNames[k]
	}
	return "unknown"
}

// Change is what one event asks for, as the pipeline applies it.
//
// Events are at-least-once and may arrive twice or out of order: EventID
// de-duplicates (webhooks and the Events API share ids), and UpdatedAt (the
// user's or group's updated_at, zero when unknown) lets the consumer ignore
// data older than what it holds. Membership changes do not move a user's
// updated_at, so GroupAdd/GroupRemove must not be judged stale by it.
type Change struct {
	EventID     string
	Event       string
	At          time.Time
	DirectoryID string
	// OrganizationID is WorkOS's organization of the directory, when the
	// payload carries it.
	OrganizationID string
	Kind           ChangeKind
	// Record is the person for Upsert, Offboard, GroupAdd and GroupRemove.
	// It may be invalid (no email): report it like a bad row.
	Record schema.Record
	// IfListed: apply only if the source already lists the person. Set for
	// user events of a group-limited source, which say nothing about
	// membership of the selected groups.
	IfListed bool
	// Group is the group name for group kinds; OldGroup the former name of
	// a renamed group.
	Group, OldGroup string
	UpdatedAt       time.Time
}

// DeltaOptions are the source's settings that shape its deltas: the same
// Groups and Attrs as PullOptions.
type DeltaOptions struct {
	Groups []string
	Attrs  schema.AttrSet
}

// membershipData is the payload of dsync.group.user_added/user_removed.
type membershipData struct {
	DirectoryID string `json:"directory_id"`
	User        User   `json:"user"`
	Group       Group  `json:"group"`
}

// groupData is a group payload with the shallow previous_attributes diff.
type groupData struct {
	Group
	PreviousAttributes map[string]json.RawMessage `json:"previous_attributes"`
}

// MapEvent says what ev asks of its directory's source. Unknown events map to
// ChangeIgnore; a dsync.* event whose data does not decode is a
// schema.EInvalid error (the caller skips it and resyncs).
func MapEvent(ev Event, opts DeltaOptions) (Change, error) {
	ch := Change{EventID: ev.ID, Event: ev.Event, At: ev.CreatedAt.Time}
	limited := len(opts.Groups) > 0
	decode := func(v any) error {
		if err := json.Unmarshal(ev.Data, v); err != nil {
			return schema.WrapError(schema.EInvalid, err, "workos: event %s (%s): bad data", ev.ID, ev.Event)
		}
		return nil
	}
	switch ev.Event {
	case EventDirectoryActivated, EventDirectoryDeleted:
		var d Directory
		if err := decode(&d); err != nil {
			return ch, err
		}
		ch.DirectoryID, ch.OrganizationID = d.ID, d.OrganizationID
		ch.Kind = ChangeResync
		if ev.Event == EventDirectoryDeleted {
			ch.Kind = ChangeWithdraw
		}
	case EventUserCreated, EventUserUpdated, EventUserDeleted:
		var u User
		if err := decode(&u); err != nil {
			return ch, err
		}
		ch.DirectoryID, ch.OrganizationID, ch.UpdatedAt = u.DirectoryID, u.OrganizationID, u.UpdatedAt.Time
		ch.Record = MapUser(&u, nil, opts.Attrs)
		ch.Kind, ch.IfListed = ChangeUpsert, limited
		if ev.Event == EventUserDeleted {
			ch.Kind = ChangeOffboard
		}
	case EventGroupCreated, EventGroupUpdated, EventGroupDeleted:
		var g groupData
		if err := decode(&g); err != nil {
			return ch, err
		}
		ch.DirectoryID, ch.OrganizationID, ch.UpdatedAt = g.DirectoryID, g.OrganizationID, g.UpdatedAt.Time
		ch.Group = groupName(g.Group)
		old := scalar(g.PreviousAttributes["name"])
		switch {
		case limited:
			// Any change to a selected group (a new one matching a selected
			// name included) changes who the source lists: pull again.
			if selected(opts.Groups, g.Group, old) {
				ch.Kind = ChangeResync
			}
		case ev.Event == EventGroupDeleted:
			ch.Kind = ChangeGroupDelete
		case ev.Event == EventGroupUpdated && old != "" && old != ch.Group:
			ch.Kind, ch.OldGroup = ChangeGroupRename, old
		}
	case EventGroupUserAdded, EventGroupUserRemoved:
		var m membershipData
		if err := decode(&m); err != nil {
			return ch, err
		}
		ch.DirectoryID, ch.OrganizationID = m.DirectoryID, m.User.OrganizationID
		if ch.DirectoryID == "" {
			ch.DirectoryID = m.User.DirectoryID
		}
		ch.Group = groupName(m.Group)
		ch.Record = MapUser(&m.User, nil, opts.Attrs)
		switch {
		case limited && selected(opts.Groups, m.Group, ""):
			ch.Kind = ChangeResync
		case limited:
		case ev.Event == EventGroupUserAdded:
			ch.Kind = ChangeGroupAdd
		default:
			ch.Kind = ChangeGroupRemove
		}
	}
	return ch, nil
}

// selected reports whether g (or its former name old) is in a group-limited
// source's selection.
func selected(sel []string, g Group, old string) bool {
	for _, s := range sel {
		s = strings.TrimSpace(s)
		if s == g.ID || strings.EqualFold(s, strings.TrimSpace(g.Name)) || (old != "" && strings.EqualFold(s, old)) {
			return true
		}
	}
	return false
}
