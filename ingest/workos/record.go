package workos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"muster/schema"
)

// MapUser turns a directory user into a record of its directory source:
//
//   - Email and Key from the primary email: `email`, else the primary of
//     custom_attributes.emails, else the primary of the deprecated emails;
//   - FirstName, LastName (split from `name` when both are missing);
//   - Status from state: active, or inactive for "inactive" and the old
//     "suspended" (the pipeline offboards, merge rule 5 (README: Design)); any other state
//     makes the record invalid rather than guessing either way;
//   - Groups: the names given, trimmed, de-duplicated and sorted (nil stays
//     nil: "not known", for event deltas);
//   - Attrs from custom_attributes, only those in attrs (merge rule 6);
//   - SourceID: the directory user id.
//
// A missing or invalid email gives a record with an error Problem: reported,
// never applied. Attribute values are held to the rules of CSV sources
// (cleanAttrs): a bad one is dropped with a warning.
func MapUser(u *User, groups []string, attrs schema.AttrSet) schema.Record {
	r := schema.Record{SourceID: u.ID, FirstName: strings.TrimSpace(u.FirstName), LastName: strings.TrimSpace(u.LastName)}
	if r.FirstName == "" && r.LastName == "" {
		if name := strings.TrimSpace(u.Name); name != "" {
			if i := strings.LastIndexByte(name, ' '); i > 0 {
				r.FirstName, r.LastName = strings.TrimSpace(name[:i]), name[i+1:]
			} else {
				r.FirstName = name
			}
		}
	}
	raw := primaryEmail(u)
	if raw == "" {
		r.Problems = append(r.Problems, problem("email", schema.CodeMissingEmail, schema.SeverityError, "directory user "+u.ID+" has no primary email"))
	} else if email, key, err := schema.NormalizeEmail(raw); err != nil {
		r.Email = raw
		r.Problems = append(r.Problems, problem("email", schema.CodeInvalidEmail, schema.SeverityError, "directory user "+u.ID+": "+schema.ErrorMessageOf(err)))
	} else {
		r.Email, r.Key = email, key
	}
	switch strings.ToLower(strings.TrimSpace(u.State)) {
	case "active":
	case "inactive", "suspended":
		r.Status = schema.StatusInactive
	default:
		r.Problems = append(r.Problems, problem("state", schema.CodeUnknownStatus, schema.SeverityError, "directory user "+u.ID+" has unknown state "+quote(u.State)))
	}
	if groups != nil {
		r.Groups = cleanGroups(groups)
	}
	if attrs != 0 {
		r.Attrs = userAttrs(u, attrs)
		cleanAttrs(&r)
	}
	for _, v := range []*string{&r.FirstName, &r.LastName} {
		if len(*v) > schema.MaxValueLen {
			r.Problems = append(r.Problems, problem("name", schema.CodeValueTooLong, schema.SeverityError,
				fmt.Sprintf("directory user %s: a name is longer than %d bytes", u.ID, schema.MaxValueLen)))
			break
		}
	}
	return r
}

// cleanAttrs holds attribute values to the rules CSV sources follow: a date
// is kept as YYYY-MM-DD, a manager email must be an address, and no value
// is longer than schema.MaxValueLen. A value that breaks them is dropped
// with a warning.
func cleanAttrs(r *schema.Record) {
	drop := func(a schema.Attr, code schema.ProblemCode, why string) {
		r.Problems = append(r.Problems, problem(a.String(), code, schema.SeverityWarning,
			fmt.Sprintf("directory user %s: %s %s; the value is dropped", r.SourceID, a, why)))
		r.Attrs[a] = ""
	}
	if v := r.Attrs[schema.AttrEmploymentStartDate]; v != "" {
		if _, err := time.Parse("2006-01-02", v[:min(len(v), 10)]); err != nil || (len(v) > 10 && v[10] != 'T' && v[10] != ' ') {
			drop(schema.AttrEmploymentStartDate, schema.CodeInvalidDate, "is not a date")
		} else {
			r.Attrs[schema.AttrEmploymentStartDate] = v[:10]
		}
	}
	if v := r.Attrs[schema.AttrManagerEmail]; v != "" {
		if email, _, err := schema.NormalizeEmail(v); err != nil {
			drop(schema.AttrManagerEmail, schema.CodeInvalidManagerEmail, "is not an email address")
		} else {
			r.Attrs[schema.AttrManagerEmail] = email
		}
	}
	for i, v := range r.Attrs {
		if len(v) > schema.MaxValueLen {
			drop(schema.Attr(i), schema.CodeValueTooLong, fmt.Sprintf("is longer than %d bytes", schema.MaxValueLen))
		}
	}
}

func problem(column string, code schema.ProblemCode, sev schema.Severity, msg string) schema.Problem {
	return schema.Problem{Column: column, Code: code, Severity: sev, Message: msg}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func cleanGroups(groups []string) []string {
	out := make([]string, 0, len(groups))
	for _, g := range groups {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// primaryEmail picks the address to reach the user at (§4.2, §10):
// email, else the primary entry of custom_attributes.emails, else the
// primary of the deprecated emails. Only when no list marks one primary is
// an unmarked entry taken, a "work" one first: a home address must not win
// over a primary one merely by coming first.
func primaryEmail(u *User) string {
	if s := strings.TrimSpace(u.Email); s != "" {
		return s
	}
	var ca []UserEmail
	if raw, ok := u.CustomAttributes["emails"]; ok {
		json.Unmarshal(raw, &ca) // a value of another shape is as good as none
	}
	caPrimary, caOther := pickEmail(ca)
	oldPrimary, oldOther := pickEmail(u.Emails)
	for _, s := range []string{caPrimary, oldPrimary, caOther, oldOther} {
		if s != "" {
			return s
		}
	}
	return ""
}

// pickEmail returns the list's primary address and, as a fallback, its
// first work address or else its first address.
func pickEmail(list []UserEmail) (primary, other string) {
	first := ""
	for _, e := range list {
		v := strings.TrimSpace(e.Value)
		switch {
		case v == "":
		case e.Primary:
			if primary == "" {
				primary = v
			}
		case strings.EqualFold(strings.TrimSpace(e.Type), "work"):
			if other == "" {
				other = v
			}
		case first == "":
			first = v
		}
	}
	if other == "" {
		other = first
	}
	return primary, other
}

// attrKeys names the custom_attributes read for each optional attribute, in
// order of preference (§4.4; cost_center is the provider table's name).
var attrKeys = [schema.NumAttrs][]string{
	schema.AttrJobTitle:            {"job_title"},
	schema.AttrDepartmentName:      {"department_name"},
	schema.AttrManagerEmail:        {"manager_email"},
	schema.AttrEmploymentStartDate: {"employment_start_date"},
	schema.AttrDivisionName:        {"division_name"},
	schema.AttrCostCenterName:      {"cost_center_name", "cost_center"},
	schema.AttrEmployeeType:        {"employee_type"},
	schema.AttrPreferredLanguage:   {"preferred_language"},
	schema.AttrRawAddress:          {"raw_address"},
	schema.AttrStreetAddress:       {"street_address"},
	schema.AttrCity:                {"city", "locality"},
	schema.AttrRegion:              {"region"},
	schema.AttrPostalCode:          {"postal_code"},
	schema.AttrCountry:             {"country"},
}

var addressAttrs = schema.AttrSet(0).With(schema.AttrRawAddress).With(schema.AttrStreetAddress).With(schema.AttrCity).
	With(schema.AttrRegion).With(schema.AttrPostalCode).With(schema.AttrCountry)

// address is one entry of custom_attributes.addresses.
type address struct {
	Primary       bool            `json:"primary"`
	RawAddress    json.RawMessage `json:"raw_address"`
	StreetAddress json.RawMessage `json:"street_address"`
	Locality      json.RawMessage `json:"locality"`
	Region        json.RawMessage `json:"region"`
	PostalCode    json.RawMessage `json:"postal_code"`
	Country       json.RawMessage `json:"country"`
}

// userAttrs reads the attributes in allowed; the others are never read.
func userAttrs(u *User, allowed schema.AttrSet) schema.Attrs {
	var a schema.Attrs
	for i, keys := range attrKeys {
		if !allowed.Has(schema.Attr(i)) {
			continue
		}
		for _, k := range keys {
			if v := scalar(u.CustomAttributes[k]); v != "" {
				a[i] = v
				break
			}
		}
	}
	if a[schema.AttrJobTitle] == "" && allowed.Has(schema.AttrJobTitle) {
		a[schema.AttrJobTitle] = strings.TrimSpace(u.JobTitle)
	}
	if allowed&addressAttrs == 0 {
		return a
	}
	if raw, ok := u.CustomAttributes["addresses"]; ok {
		var list []address
		if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
			ad := list[0]
			for _, x := range list {
				if x.Primary {
					ad = x
					break
				}
			}
			for attr, v := range map[schema.Attr]json.RawMessage{
				schema.AttrRawAddress: ad.RawAddress, schema.AttrStreetAddress: ad.StreetAddress,
				schema.AttrCity: ad.Locality, schema.AttrRegion: ad.Region,
				schema.AttrPostalCode: ad.PostalCode, schema.AttrCountry: ad.Country,
			} {
				if s := scalar(v); s != "" && a[attr] == "" && allowed.Has(attr) {
					a[attr] = s
				}
			}
		}
	}
	return a
}

// scalar renders a JSON string, number or boolean as text; null, objects and
// arrays give "".
func scalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
			return strings.TrimSpace(string(raw[1 : len(raw)-1]))
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return strings.TrimSpace(s)
	case '{', '[', 'n':
		return ""
	}
	return string(raw)
}
