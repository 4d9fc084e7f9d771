package store

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"muster/schema"
)

// NotificationStatus is where a notification's delivery stands.
type NotificationStatus string

// Notification statuses.
const (
	NotifyPending   NotificationStatus = "pending"   // queued, or being retried
	NotifyDelivered NotificationStatus = "delivered" // the target accepted it
	NotifyFailed    NotificationStatus = "failed"    // given up: refused, or retried too long
	NotifyDropped   NotificationStatus = "dropped"   // its target was removed from the config
)

// Notification is one event told (or to be told) to one target.
type Notification struct {
	ID int64 `json:"id"`
	// Org is the organisation's name; "" for an event of the whole server.
	Org     string `json:"org"`
	Target  string `json:"target"`
	Event   string `json:"event"`
	EventID string `json:"event_id"`
	Source  string `json:"source,omitempty"`
	Summary string `json:"summary"`
	// Payload is the event as JSON, as the target is sent it.
	Payload   json.RawMessage    `json:"payload"`
	Status    NotificationStatus `json:"status"`
	Attempts  int                `json:"attempts"`
	LastError string             `json:"last_error,omitempty"`
	CreatedAt string             `json:"created_at"`
	UpdatedAt string             `json:"updated_at"`
}

const notificationCols = `id, org, target, event, event_id, source, summary, payload, status, attempts, last_error, created_at, updated_at`

func scanNotification(r interface{ Scan(...any) error }) (Notification, error) {
	var n Notification
	var payload string
	err := r.Scan(&n.ID, &n.Org, &n.Target, &n.Event, &n.EventID, &n.Source, &n.Summary, &payload, &n.Status,
		&n.Attempts, &n.LastError, &n.CreatedAt, &n.UpdatedAt)
	n.Payload = json.RawMessage(payload)
	return n, err
}

// AddNotification records a notification as pending and sets its ID and
// times.
func (s *Store) AddNotification(ctx context.Context, n *Notification) error {
	now := s.timestamp()
	if len(n.Payload) == 0 {
		n.Payload = json.RawMessage("{}")
	}
	n.Status, n.CreatedAt, n.UpdatedAt = NotifyPending, now, now
	err := s.db.QueryRowContext(ctx, `INSERT INTO notifications (org, target, event, event_id, source, summary, payload,
		status, attempts, last_error, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`,
		n.Org, n.Target, n.Event, n.EventID, n.Source, n.Summary, string(n.Payload), n.Status, n.Attempts, n.LastError,
		now, now).Scan(&n.ID)
	return wrapErr(err, "record notification")
}

// UpdateNotification records a delivery attempt's outcome.
func (s *Store) UpdateNotification(ctx context.Context, id int64, status NotificationStatus, attempts int, lastError string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE notifications SET status=?, attempts=?, last_error=?, updated_at=? WHERE id=?`,
		status, attempts, lastError, s.timestamp(), id)
	if err != nil {
		return wrapErr(err, "update notification %d", id)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return schema.Errorf(schema.ENotFound, "no notification %d", id)
	}
	return nil
}

// NotificationFilter selects notifications.
type NotificationFilter struct {
	// Orgs are the organisations' names to list ("" is the server's own
	// events); nil lists every one.
	Orgs   []string
	Status NotificationStatus
	Target string
	// Before is a cursor: notifications with a smaller ID.
	Before int64
	Limit  int
}

// Notifications lists notifications, newest first; next is the cursor of
// the following page (0 at the end).
func (s *Store) Notifications(ctx context.Context, f NotificationFilter) (out []Notification, next int64, err error) {
	var where []string
	var args []any
	if f.Orgs != nil {
		if len(f.Orgs) == 0 {
			return nil, 0, nil
		}
		where = append(where, "org IN (?"+strings.Repeat(",?", len(f.Orgs)-1)+")")
		for _, o := range f.Orgs {
			args = append(args, o)
		}
	}
	if f.Status != "" {
		where, args = append(where, "status=?"), append(args, f.Status)
	}
	if f.Target != "" {
		where, args = append(where, "target=?"), append(args, f.Target)
	}
	if f.Before > 0 {
		where, args = append(where, "id<?"), append(args, f.Before)
	}
	q := `SELECT ` + notificationCols + ` FROM notifications`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	limit := pageLimit(f.Limit)
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, 0, wrapErr(err, "list notifications")
	}
	defer rows.Close()
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, 0, wrapErr(err, "list notifications")
		}
		out = append(out, n)
	}
	out, next = cutPage(out, limit, func(n Notification) int64 { return n.ID })
	return out, next, wrapErr(rows.Err(), "list notifications")
}

// PendingNotifications returns the notifications still pending that were
// created after since, oldest first: what a restart resumes.
func (s *Store) PendingNotifications(ctx context.Context, since time.Time) ([]Notification, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+notificationCols+` FROM notifications WHERE status=? AND created_at>=?
		ORDER BY id`, NotifyPending, since.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return nil, wrapErr(err, "pending notifications")
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, wrapErr(err, "pending notifications")
		}
		out = append(out, n)
	}
	return out, wrapErr(rows.Err(), "pending notifications")
}

// PruneNotifications deletes notifications created before before, and
// returns how many.
func (s *Store) PruneNotifications(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM notifications WHERE created_at<?`, before.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return 0, wrapErr(err, "prune notifications")
	}
	return res.RowsAffected()
}
