// Package schema is muster's domain: the canonical Record that every source
// is turned into, its attributes, the Problems found while reading a source,
// and the small error vocabulary shared by every package. It imports nothing
// of the project; everything else imports it.
package schema

import (
	"encoding/json"
	"fmt"
	"strings"
)

// DefaultOrg is the organisation used when a config names none.
const DefaultOrg = "default"

// Status says whether a person is active or has left.
type Status uint8

const (
	// StatusActive is the zero value: a row without a status column is active.
	StatusActive Status = iota
	// StatusInactive marks someone terminated, suspended or otherwise gone.
	StatusInactive
)

func (s Status) String() string {
	if s == StatusInactive {
		return "inactive"
	}
	return "active"
}

// MarshalText writes the status as "active" or "inactive".
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads "active" or "inactive".
func (s *Status) UnmarshalText(b []byte) error {
	switch string(b) {
	case "active", "":
		*s = StatusActive
	case "inactive":
		*s = StatusInactive
	default:
		return Errorf(EInvalid, "unknown status %q", b)
	}
	return nil
}

// Action says what a record of a delta source asks for. Full snapshots only
// carry upserts: what they do not list is removed.
type Action uint8

const (
	// ActionUpsert adds or updates the person (the zero value).
	ActionUpsert Action = iota
	// ActionRemove withdraws the source's assertion about the person.
	ActionRemove
)

func (a Action) String() string {
	if a == ActionRemove {
		return "remove"
	}
	return "upsert"
}

// MarshalText writes the action as "upsert" or "remove".
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads "upsert" or "remove".
func (a *Action) UnmarshalText(b []byte) error {
	switch string(b) {
	case "upsert", "":
		*a = ActionUpsert
	case "remove":
		*a = ActionRemove
	default:
		return Errorf(EInvalid, "unknown action %q", b)
	}
	return nil
}

// Attr names one of the optional attributes. They are kept only when the
// config enables them (merge rule 6, README: Design).
type Attr uint8

// The optional attributes, in the order WorkOS documents them.
const (
	AttrJobTitle Attr = iota
	AttrDepartmentName
	AttrManagerEmail
	AttrEmploymentStartDate
	AttrDivisionName
	AttrCostCenterName
	AttrEmployeeType
	AttrPreferredLanguage
	AttrRawAddress
	AttrStreetAddress
	AttrCity
	AttrRegion
	AttrPostalCode
	AttrCountry
	// NumAttrs is the number of optional attributes.
	NumAttrs
)

var attrNames = [NumAttrs]string{
	"job_title", "department_name", "manager_email", "employment_start_date",
	"division_name", "cost_center_name", "employee_type", "preferred_language",
	"raw_address", "street_address", "city", "region", "postal_code", "country",
}

// String returns the attribute's canonical snake_case name.
func (a Attr) String() string {
	if a < NumAttrs {
		return attrNames[a]
	}
	return fmt.Sprintf("attr(%d)", uint8(a))
}

// ParseAttr returns the attribute with the given canonical name.
func ParseAttr(name string) (Attr, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	for i, n := range attrNames {
		if n == name {
			return Attr(i), true
		}
	}
	return 0, false
}

// AllAttrs lists every optional attribute in order.
func AllAttrs() []Attr {
	out := make([]Attr, NumAttrs)
	for i := range out {
		out[i] = Attr(i)
	}
	return out
}

// Attrs holds the optional attribute values of a record, indexed by Attr.
// An empty string means the source did not give a value.
type Attrs [NumAttrs]string

// MarshalJSON writes the attributes that have a value as an object keyed by
// attribute name.
func (a Attrs) MarshalJSON() ([]byte, error) {
	m := make(map[string]string, NumAttrs)
	for i, v := range a {
		if v != "" {
			m[Attr(i).String()] = v
		}
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads what MarshalJSON writes; unknown names are an error.
func (a *Attrs) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*a = Attrs{}
	for k, v := range m {
		at, ok := ParseAttr(k)
		if !ok {
			return Errorf(EInvalid, "unknown attribute %q", k)
		}
		a[at] = v
	}
	return nil
}

// AttrSet is a set of optional attributes: the allowlist of merge rule 6.
type AttrSet uint32

// Has reports whether a is in the set.
func (s AttrSet) Has(a Attr) bool { return s&(1<<a) != 0 }

// With returns the set with a added.
func (s AttrSet) With(a Attr) AttrSet { return s | 1<<a }

// Filter returns attrs with every value not in the set cleared.
func (s AttrSet) Filter(attrs Attrs) Attrs {
	for i := range attrs {
		if !s.Has(Attr(i)) {
			attrs[i] = ""
		}
	}
	return attrs
}

// Record is the canonical row every source is turned into: a CSV line, a
// WorkOS directory user, or a person added by hand.
type Record struct {
	// Line is the 1-based line of the file where the row starts; 0 when the
	// record did not come from a file.
	Line int `json:"line,omitempty"`
	// Email is the address as written (trimmed, display name removed): the
	// one muster sends to.
	Email string `json:"email"`
	// Key is the normalised address that identifies the recipient within an
	// organisation (merge rule 1). Empty when the email is missing or invalid.
	Key       string `json:"key"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	// Groups are named within the record's source, trimmed and de-duplicated.
	Groups []string `json:"groups,omitempty"`
	Status Status   `json:"status"`
	// SourceID is the source's own id for the person (employee id, directory
	// user id), when it has one.
	SourceID string `json:"source_id,omitempty"`
	Attrs    Attrs  `json:"attrs"`
	// Action is what a delta record asks for; full snapshots only upsert.
	Action Action `json:"action"`
	// Problems found in this row. A record with a problem of severity
	// SeverityError is invalid: it is reported and never applied, but if its
	// Key is known it still protects that person from removal.
	Problems []Problem `json:"problems,omitempty"`
	// Lazy is set on a record whose values a lazy decoder left unread
	// (Decoder.SetLazy): only Line, Email, Key and Digest are; a RowReader
	// reads the rest. Digest is the digest of a row read whole without any
	// problem, or left lazy (0 otherwise, or when nobody asked for
	// digests). Known is free for the caller: the pipeline sets it to 1 +
	// the position of a row it knows by its digest.
	Lazy   *RawRow `json:"-"`
	Digest uint64  `json:"-"`
	Known  int     `json:"-"`
}

// Valid reports whether the record has no error-severity problem.
func (r *Record) Valid() bool {
	for i := range r.Problems {
		if r.Problems[i].Severity == SeverityError {
			return false
		}
	}
	return true
}
