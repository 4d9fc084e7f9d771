package workos

import (
	"encoding/json"
	"strings"
	"time"
)

// Directory is a WorkOS directory (§4.1). State is normalised by Healthy and
// Deleting because REST says linked/unlinked where events say active/inactive.
type Directory struct {
	Object         string `json:"object"`
	ID             string `json:"id"`
	OrganizationID string `json:"organization_id"`
	ExternalKey    string `json:"external_key"`
	// Type is an open string ("okta scim v2.0", "gsuite directory", "workday"...).
	Type      string    `json:"type"`
	State     string    `json:"state"`
	Name      string    `json:"name"`
	Domain    string    `json:"domain"`
	CreatedAt Timestamp `json:"created_at"`
	UpdatedAt Timestamp `json:"updated_at"`
}

// Healthy reports whether the directory is connected and syncing: "linked" in
// REST, "active" in event payloads.
func (d Directory) Healthy() bool { return d.State == "linked" || d.State == "active" }

// Deleting reports whether WorkOS is deleting the directory.
func (d Directory) Deleting() bool { return d.State == "deleting" }

// User is a directory user (§4.2): one struct for list items, single gets and
// event payloads. Optional and deprecated fields decode to their zero value
// when absent or null.
type User struct {
	Object         string `json:"object"`
	ID             string `json:"id"`
	DirectoryID    string `json:"directory_id"`
	OrganizationID string `json:"organization_id"`
	// IdpID is the provider's id, the most stable key across re-syncs.
	IdpID string `json:"idp_id"`
	// Email is the primary email; null is legal (then see Emails and
	// custom_attributes.emails).
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Name      string `json:"name"`
	// State is "active" or "inactive" ("suspended" before Dec 2023).
	State string `json:"state"`
	// CustomAttributes holds the predefined and custom attributes (§4.4),
	// decoded lazily: any key may appear and any value may be null.
	CustomAttributes map[string]json.RawMessage `json:"custom_attributes"`
	// Emails is deprecated ([] from 2026-04-15); read only as a fallback.
	Emails []UserEmail `json:"emails"`
	// JobTitle is deprecated (null from 2026-04-15); custom_attributes.job_title wins.
	JobTitle string `json:"job_title"`
	// Username is deprecated (null from 2026-04-15).
	Username string `json:"username"`
	// Groups is deprecated and empty for teams created from 2026-05: muster
	// never reads memberships from it.
	Groups    []Group   `json:"groups"`
	CreatedAt Timestamp `json:"created_at"`
	UpdatedAt Timestamp `json:"updated_at"`
}

// UserEmail is one entry of the deprecated emails array, and of
// custom_attributes.emails.
type UserEmail struct {
	Primary bool   `json:"primary"`
	Type    string `json:"type"`
	Value   string `json:"value"`
}

// Group is a directory group (§4.3).
type Group struct {
	Object         string    `json:"object"`
	ID             string    `json:"id"`
	IdpID          string    `json:"idp_id"`
	DirectoryID    string    `json:"directory_id"`
	OrganizationID string    `json:"organization_id"`
	Name           string    `json:"name"`
	CreatedAt      Timestamp `json:"created_at"`
	UpdatedAt      Timestamp `json:"updated_at"`
}

// Timestamp is a WorkOS time as sent (Raw) and as parsed (Time, zero when it
// did not parse). Payloads have carried "2026-01-15T12:00:00.000Z",
// "2021-07-31T05:10:19+0000" and "2023-04-28 20:05:31.093", so parsing is
// lenient and never fails a decode.
type Timestamp struct {
	Raw  string
	Time time.Time
}

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// ParseTimestamp parses s with every layout WorkOS has been seen to use. A
// time without a zone is taken as UTC.
func ParseTimestamp(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range timestampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// UnmarshalJSON accepts a string (parsed leniently), null, or anything else
// (kept raw).
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		*t = Timestamp{Raw: string(b)}
		return nil
	}
	tm, _ := ParseTimestamp(s)
	*t = Timestamp{Raw: s, Time: tm}
	return nil
}

// MarshalJSON writes the timestamp as it was received.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.Raw == "" && t.Time.IsZero() {
		return []byte("null"), nil
	}
	if t.Raw == "" {
		return json.Marshal(t.Time.Format(time.RFC3339Nano))
	}
	return json.Marshal(t.Raw)
}

// listMetadata is the pagination cursor pair of a list response.
type listMetadata struct {
	Before *string `json:"before"`
	After  *string `json:"after"`
}

// listEnvelope is a list response. Responses of 2021-22 used listMetadata, or
// both keys; list_metadata wins when present (§2.2).
type listEnvelope[T any] struct {
	Object       string        `json:"object"`
	Data         []T           `json:"data"`
	ListMetadata *listMetadata `json:"list_metadata"`
	Legacy       *listMetadata `json:"listMetadata"`
}

func (e *listEnvelope[T]) cursors() (before, after string) {
	m := e.ListMetadata
	if m == nil {
		m = e.Legacy
	}
	if m == nil {
		return "", ""
	}
	if m.Before != nil {
		before = *m.Before
	}
	if m.After != nil {
		after = *m.After
	}
	return before, after
}
