package workos

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"muster/schema"
)

// The dsync.* event names (§5.3). There is no dsync.deactivated and no
// dsync.updated.
const (
	EventDirectoryActivated = "dsync.activated"
	EventDirectoryDeleted   = "dsync.deleted"
	EventUserCreated        = "dsync.user.created"
	EventUserUpdated        = "dsync.user.updated"
	EventUserDeleted        = "dsync.user.deleted"
	EventGroupCreated       = "dsync.group.created"
	EventGroupUpdated       = "dsync.group.updated"
	EventGroupDeleted       = "dsync.group.deleted"
	EventGroupUserAdded     = "dsync.group.user_added"
	EventGroupUserRemoved   = "dsync.group.user_removed"
)

// DsyncEvents lists the event names muster asks the Events API for: every one
// that can change an audience.
var DsyncEvents = []string{
	EventDirectoryActivated, EventDirectoryDeleted,
	EventUserCreated, EventUserUpdated, EventUserDeleted,
	EventGroupCreated, EventGroupUpdated, EventGroupDeleted,
	EventGroupUserAdded, EventGroupUserRemoved,
}

// Event is one event of the Events API or of a webhook; both channels share
// ids, so Event.ID de-duplicates across them.
type Event struct {
	Object    string          `json:"object"`
	ID        string          `json:"id"`
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	CreatedAt Timestamp       `json:"created_at"`
	Context   json.RawMessage `json:"context,omitempty"`
}

// EventQuery asks GET /events for one page.
type EventQuery struct {
	// Events is required; it defaults to DsyncEvents.
	Events []string
	// After is the id of the last event processed (not list_metadata.after,
	// which is null at the end of the list).
	After          string
	Limit          int
	OrganizationID string
	RangeStart     time.Time
	RangeEnd       time.Time
}

// EventPage is one page of events, oldest first.
type EventPage struct {
	Events []Event
	// More reports that list_metadata.after was set: another page follows.
	More bool
}

// ListEvents reads one page of events. The live API returns oldest-first
// whatever order says (workos-node #1610), so the client asks for asc and
// relies on neither.
func (c *Client) ListEvents(ctx context.Context, eq EventQuery) (EventPage, error) {
	q := url.Values{}
	names := eq.Events
	if len(names) == 0 {
		names = DsyncEvents
	}
	for _, n := range names {
		q.Add("events", n) // the repeated form three SDKs send (§1)
	}
	limit := eq.Limit
	if limit == 0 {
		limit = c.cfg.PageSize
	}
	if limit < 1 || limit > 100 {
		return EventPage{}, schema.Errorf(schema.EInvalid, "workos: events limit %d is outside 1..100", limit)
	}
	q.Set("limit", strconv.Itoa(limit))
	q.Set("order", "asc")
	if eq.After != "" {
		q.Set("after", eq.After)
	}
	if eq.OrganizationID != "" {
		q.Set("organization_id", eq.OrganizationID)
	}
	if !eq.RangeStart.IsZero() {
		q.Set("range_start", eq.RangeStart.UTC().Format(time.RFC3339Nano))
	}
	if !eq.RangeEnd.IsZero() {
		q.Set("range_end", eq.RangeEnd.UTC().Format(time.RFC3339Nano))
	}
	var env listEnvelope[Event]
	if err := c.get(ctx, "/events", q, "", &env); err != nil {
		return EventPage{}, err
	}
	_, after := env.cursors()
	return EventPage{Events: env.Data, More: after != ""}, nil
}

// PollEvents reads every event after the cursor after, oldest first, handing
// each to fn, and returns the id of the last event fn accepted: the cursor to
// persist. It stops at the first error of fn (returning the cursor before that
// event) and at the end of the list. Events may repeat (at-least-once);
// callers de-duplicate by Event.ID.
func (c *Client) PollEvents(ctx context.Context, eq EventQuery, fn func(Event) error) (string, error) {
	cursor := eq.After
	limit := eq.Limit
	if limit == 0 {
		limit = c.cfg.PageSize
	}
	for {
		eq.After, eq.Limit = cursor, limit
		prev := cursor
		page, err := c.ListEvents(ctx, eq)
		if err != nil {
			return cursor, err
		}
		for _, ev := range page.Events {
			if ev.ID == "" {
				return cursor, schema.Errorf(schema.EUnavailable, "workos: GET /events: an event has no id")
			}
			if err := fn(ev); err != nil {
				return cursor, err
			}
			cursor = ev.ID
		}
		if len(page.Events) > 0 && cursor == prev {
			return cursor, schema.Errorf(schema.EUnavailable, "workos: GET /events: the page after %s ends at the same event: pagination loop", prev)
		}
		// after is null at the end; a full page without it is checked once
		// more rather than trusted, since the cursor is ours anyway.
		if len(page.Events) == 0 || (!page.More && len(page.Events) < limit) {
			return cursor, nil
		}
	}
}
