package schema

import "strings"

// Field names: what a column of a file can mean. The optional attributes
// use their Attr names (job_title, department_name...).
const (
	FieldEmail     = "email"
	FieldFirstName = "first_name"
	FieldLastName  = "last_name"
	// FieldFullName is a "First Last" or "Last, First" column, split into
	// first and last name when the file has no first or last name column.
	FieldFullName = "full_name"
	// FieldGroups holds group names separated by ";" or "|".
	FieldGroups = "groups"
	// FieldStatus holds a status word (Active, Terminated...) or a
	// true/false flag such as "Terminated" or "Is Active".
	FieldStatus = "status"
	// FieldSourceID is the source's own id: employee number, worker id...
	FieldSourceID = "source_id"
	// FieldAction makes a file a delta: add/update rows upsert, remove/
	// delete/terminate rows withdraw the person.
	FieldAction = "action"
	// FieldIgnore in a per-source column setting ignores the column.
	FieldIgnore = "ignore"
)

// field is a column's meaning, as a small integer for the decoder's tables.
type field uint8

const (
	fNone field = iota
	fEmail
	fFirstName
	fLastName
	fFullName
	fGroups
	fStatus
	fSourceID
	fAction
	// fStatus2 is a second status column of another kind than the one read
	// as fStatus (a "Terminated" flag beside a "Worker Status" word): a row
	// is inactive when either says so. It is never named in settings.
	fStatus2
	fAttr     // fAttr + Attr(i) for the optional attributes
	numFields = fAttr + field(NumAttrs)
)

var coreFieldNames = [fAttr]string{
	fNone: FieldIgnore, fEmail: FieldEmail, fFirstName: FieldFirstName,
	fLastName: FieldLastName, fFullName: FieldFullName, fGroups: FieldGroups,
	fStatus: FieldStatus, fSourceID: FieldSourceID, fAction: FieldAction,
	fStatus2: FieldStatus,
}

func (f field) String() string {
	if f < fAttr {
		return coreFieldNames[f]
	}
	return Attr(f - fAttr).String()
}

func (f field) attr() (Attr, bool) {
	if f >= fAttr && f < numFields {
		return Attr(f - fAttr), true
	}
	return 0, false
}

// parseField reads a field name as a per-source setting writes it.
func parseField(name string) (field, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	switch name {
	case "", "-", FieldIgnore:
		return fNone, true
	}
	for f := fEmail; f < fAttr; f++ {
		if coreFieldNames[f] == name {
			return f, true
		}
	}
	if a, ok := ParseAttr(name); ok {
		return fAttr + field(a), true
	}
	return 0, false
}

// FieldNames lists every field a column can be mapped to, for per-source
// settings and their error messages.
func FieldNames() []string {
	out := make([]string, 0, numFields)
	for f := fEmail; f < numFields; f++ {
		out = append(out, f.String())
	}
	return out
}

// IsField reports whether name is a field a column can be mapped to (or
// "ignore").
func IsField(name string) bool {
	_, ok := parseField(name)
	return ok
}
