package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// The notifications log: rows added pending, updated by attempts, listed
// newest first by organisation, target and status with a cursor, the
// pending ones found for a restart, old ones pruned. On both backends.
func TestNotificationsLog(t *testing.T) {
	ctx := context.Background()
	s := openTarget(t, testTarget(t))
	var ids []int64
	for i, org := range []string{"acme", "acme", "globex", ""} {
		n := Notification{Org: org, Target: "ops", Event: "drop.held", EventID: "evt_" + string(rune('a'+i)), Source: "hr",
			Summary: "held", Payload: json.RawMessage(`{"id":"evt"}`)}
		if i == 1 {
			n.Target = "mail"
		}
		if err := s.AddNotification(ctx, &n); err != nil {
			t.Fatal(err)
		}
		if n.ID == 0 || n.Status != NotifyPending || n.CreatedAt == "" {
			t.Fatalf("added %+v", n)
		}
		ids = append(ids, n.ID)
	}
	if err := s.UpdateNotification(ctx, ids[0], NotifyDelivered, 2, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateNotification(ctx, ids[2], NotifyFailed, 5, "refused: 400"); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateNotification(ctx, 99999, NotifyFailed, 1, ""); err == nil {
		t.Fatal("updating a notification that does not exist")
	}
	list, next, err := s.Notifications(ctx, NotificationFilter{Orgs: []string{"acme", ""}, Limit: 2})
	if err != nil || len(list) != 2 || list[0].ID != ids[3] || list[1].ID != ids[1] || next != ids[1] {
		t.Fatalf("first page: %+v next %d %v", list, next, err)
	}
	list, next, err = s.Notifications(ctx, NotificationFilter{Orgs: []string{"acme", ""}, Limit: 2, Before: next})
	if err != nil || len(list) != 1 || list[0].ID != ids[0] || list[0].Status != NotifyDelivered || list[0].Attempts != 2 || next != 0 {
		t.Fatalf("second page: %+v next %d %v", list, next, err)
	}
	if string(list[0].Payload) != `{"id":"evt"}` {
		t.Fatalf("payload %s", list[0].Payload)
	}
	if list, _, _ := s.Notifications(ctx, NotificationFilter{Status: NotifyFailed}); len(list) != 1 || list[0].LastError != "refused: 400" {
		t.Fatalf("failed: %+v", list)
	}
	if list, _, _ := s.Notifications(ctx, NotificationFilter{Target: "mail"}); len(list) != 1 || list[0].ID != ids[1] {
		t.Fatalf("mail: %+v", list)
	}
	if list, _, _ := s.Notifications(ctx, NotificationFilter{Orgs: []string{}}); len(list) != 0 {
		t.Fatalf("no organisation: %+v", list)
	}
	pending, err := s.PendingNotifications(ctx, time.Time{})
	if err != nil || len(pending) != 2 || pending[0].ID != ids[1] || pending[1].ID != ids[3] {
		t.Fatalf("pending: %+v %v", pending, err)
	}
	if n, err := s.PruneNotifications(ctx, time.Now().Add(time.Hour)); err != nil || n != 4 {
		t.Fatalf("pruned %d: %v", n, err)
	}
}
