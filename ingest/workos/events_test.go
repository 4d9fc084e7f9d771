package workos_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
	"muster/schema"
)

func pollAll(t *testing.T, c *workos.Client, after string, limit int) ([]workos.Event, string) {
	t.Helper()
	var got []workos.Event
	cursor, err := c.PollEvents(context.Background(), workos.EventQuery{After: after, Limit: limit}, func(ev workos.Event) error {
		got = append(got, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, cursor
}

func names(evs []workos.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Event
	}
	return out
}

// TestEventsOrderAndCursor: events come oldest-first whatever order is asked,
// the cursor is the id of the last event processed, and a poll from it
// returns only newer events.
func TestEventsOrderAndCursor(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{})
	d := srv.CreateDirectory(workostest.DirectorySpec{})
	g, _ := srv.CreateGroup(d.ID, "Engineering")
	u, _ := srv.CreateUser(d.ID, workostest.UserSpec{Email: "ada@acme.example"})
	srv.AddMember(g.ID, u.ID)
	srv.DeactivateUser(u.ID)
	c := mustClient(t, srv, newClock(), nil)

	got, cursor := pollAll(t, c, "", 2)
	want := []string{"dsync.activated", "dsync.group.created", "dsync.user.created", "dsync.group.user_added", "dsync.user.updated"}
	if !slices.Equal(names(got), want) {
		t.Fatalf("events = %v, want %v", names(got), want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID <= got[i-1].ID {
			t.Fatalf("events not oldest-first: %s after %s", got[i].ID, got[i-1].ID)
		}
	}
	if cursor != got[len(got)-1].ID {
		t.Errorf("cursor = %s, want the last event id %s", cursor, got[len(got)-1].ID)
	}
	// 5 events in pages of 2: 3 requests (the last page is short).
	if n := srv.Count(workostest.CountEvents); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}

	srv.RemoveMember(g.ID, u.ID)
	srv.DeleteUser(u.ID)
	more, cursor2 := pollAll(t, c, cursor, 0)
	if !slices.Equal(names(more), []string{"dsync.group.user_removed", "dsync.user.deleted"}) {
		t.Fatalf("new events = %v", names(more))
	}
	none, cursor3 := pollAll(t, c, cursor2, 0)
	if len(none) != 0 || cursor3 != cursor2 {
		t.Fatalf("poll at the end = %v, cursor %s (want none, %s)", names(none), cursor3, cursor2)
	}
	// A handler error stops the poll and returns the cursor before it.
	boom := errors.New("boom")
	n := 0
	c2, err := c.PollEvents(context.Background(), workos.EventQuery{}, func(workos.Event) error {
		if n++; n == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || c2 != got[1].ID {
		t.Errorf("poll stopped at %s with %v, want %s and boom", c2, err, got[1].ID)
	}
}

func mapAll(t *testing.T, evs []workos.Event, opts workos.DeltaOptions) []workos.Change {
	t.Helper()
	out := make([]workos.Change, len(evs))
	for i, ev := range evs {
		ch, err := workos.MapEvent(ev, opts)
		if err != nil {
			t.Fatalf("%s: %v", ev.Event, err)
		}
		if ch.EventID != ev.ID {
			t.Fatalf("change of %s has event id %q", ev.ID, ch.EventID)
		}
		out[i] = ch
	}
	return out
}

// TestMapEvents maps the events the fake emits for every kind of change.
func TestMapEvents(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{})
	d := srv.CreateDirectory(workostest.DirectorySpec{})
	eng, _ := srv.CreateGroup(d.ID, "Engineering")
	ops, _ := srv.CreateGroup(d.ID, "Ops")
	u, _ := srv.CreateUser(d.ID, workostest.UserSpec{Email: "Ada@Acme.example", FirstName: "Ada",
		CustomAttributes: map[string]any{"job_title": "CTO", "department_name": "R&D"}})
	srv.AddMember(eng.ID, u.ID)
	srv.RemoveMember(eng.ID, u.ID)
	srv.DeactivateUser(u.ID)
	srv.RenameGroup(ops.ID, "Operations")
	srv.DeleteGroup(eng.ID)
	srv.DeleteUser(u.ID)
	srv.DeleteDirectory(d.ID)
	c := mustClient(t, srv, newClock(), nil)
	evs, _ := pollAll(t, c, "", 0)

	type want struct {
		kind      workos.ChangeKind
		group     string
		old       string
		status    schema.Status
		hasPerson bool
	}
	wants := []want{
		{kind: workos.ChangeResync},                       // activated
		{kind: workos.ChangeIgnore, group: "Engineering"}, // group created
		{kind: workos.ChangeIgnore, group: "Ops"},         // group created
		{kind: workos.ChangeUpsert, hasPerson: true},      // user created
		{kind: workos.ChangeGroupAdd, group: "Engineering", hasPerson: true},
		{kind: workos.ChangeGroupRemove, group: "Engineering", hasPerson: true},
		{kind: workos.ChangeUpsert, status: schema.StatusInactive, hasPerson: true}, // deactivated
		{kind: workos.ChangeGroupRename, group: "Operations", old: "Ops"},
		{kind: workos.ChangeGroupDelete, group: "Engineering"},
		{kind: workos.ChangeOffboard, status: schema.StatusInactive, hasPerson: true},
		{kind: workos.ChangeWithdraw},
	}
	changes := mapAll(t, evs, workos.DeltaOptions{Attrs: schema.AttrSet(0).With(schema.AttrJobTitle)})
	if len(changes) != len(wants) {
		t.Fatalf("%d changes for %v", len(changes), names(evs))
	}
	for i, w := range wants {
		ch := changes[i]
		if ch.Kind != w.kind || ch.Group != w.group || ch.OldGroup != w.old || ch.DirectoryID != d.ID || ch.IfListed {
			t.Errorf("%s: change = %+v, want %+v", evs[i].Event, ch, w)
		}
		if w.hasPerson {
			r := ch.Record
			if r.SourceID != u.ID || r.Key != "ada@acme.example" || r.Email != "Ada@Acme.example" || r.Status != w.status || r.Groups != nil {
				t.Errorf("%s: record = %+v", evs[i].Event, r)
			}
			if r.Attrs[schema.AttrJobTitle] != "CTO" || r.Attrs[schema.AttrDepartmentName] != "" {
				t.Errorf("%s: attrs = %q (allowlist: job_title only)", evs[i].Event, r.Attrs)
			}
		}
	}

	// A group-limited source: user events apply only to listed people,
	// changes touching a selected group resync, other groups are ignored.
	limited := mapAll(t, evs, workos.DeltaOptions{Groups: []string{"ops"}})
	kinds := make([]workos.ChangeKind, len(limited))
	for i, ch := range limited {
		kinds[i] = ch.Kind
		if (ch.Kind == workos.ChangeUpsert || ch.Kind == workos.ChangeOffboard) && !ch.IfListed {
			t.Errorf("%s: limited user change without IfListed", evs[i].Event)
		}
	}
	wantKinds := []workos.ChangeKind{workos.ChangeResync, workos.ChangeIgnore, workos.ChangeResync, workos.ChangeUpsert,
		workos.ChangeIgnore, workos.ChangeIgnore, workos.ChangeUpsert, workos.ChangeResync, workos.ChangeIgnore,
		workos.ChangeOffboard, workos.ChangeWithdraw}
	if !slices.Equal(kinds, wantKinds) {
		t.Errorf("limited kinds = %v, want %v", kinds, wantKinds)
	}
}

func TestMapEventEdgeCases(t *testing.T) {
	ch, err := workos.MapEvent(workos.Event{ID: "event_1", Event: "connection.activated", Data: json.RawMessage(`{}`)}, workos.DeltaOptions{})
	if err != nil || ch.Kind != workos.ChangeIgnore {
		t.Errorf("unknown event: %+v, %v", ch, err)
	}
	_, err = workos.MapEvent(workos.Event{ID: "event_2", Event: workos.EventUserUpdated, Data: json.RawMessage(`[1]`)}, workos.DeltaOptions{})
	if schema.ErrorCodeOf(err) != schema.EInvalid {
		t.Errorf("bad data: err = %v", err)
	}
	// A legacy state and an email only in the deprecated emails array.
	ch, err = workos.MapEvent(workos.Event{ID: "event_3", Event: workos.EventUserUpdated, Data: json.RawMessage(
		`{"id":"directory_user_1","directory_id":"directory_1","state":"suspended","email":null,
		  "emails":[{"primary":true,"value":"old@acme.example"}],"custom_attributes":{}}`)}, workos.DeltaOptions{})
	if err != nil || ch.Kind != workos.ChangeUpsert || ch.Record.Status != schema.StatusInactive || ch.Record.Email != "old@acme.example" {
		t.Errorf("legacy user: %+v, %v", ch, err)
	}
}
