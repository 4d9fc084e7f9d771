package scim

import (
	"fmt"
	"slices"
	"strings"

	"muster/schema"
)

// Email returns the address muster sends to: the primary email, else the
// work one, else the first; else the userName when it is an address.
func (r *Resource) Email() string {
	list, _ := lookup(r.Attrs, "emails")
	var first, work string
	for _, e := range asList(list) {
		v, _ := lookup(e, "value")
		s, _ := v.(string)
		if s == "" {
			continue
		}
		if p, _ := lookup(e, "primary"); p == true {
			return s
		}
		if t, _ := lookup(e, "type"); work == "" && strings.EqualFold(fmt.Sprint(t), "work") {
			work = s
		}
		if first == "" {
			first = s
		}
	}
	switch {
	case work != "":
		return work
	case first != "":
		return first
	case strings.Contains(r.UserName(), "@"):
		return r.UserName()
	}
	return ""
}

// WorkEmail is the address filters on emails[type eq "work"].value (and
// emails.value) compare with: the work email, else the primary, else the
// first.
func (r *Resource) WorkEmail() string {
	list, _ := lookup(r.Attrs, "emails")
	var primary, first string
	for _, e := range asList(list) {
		v, _ := lookup(e, "value")
		s, _ := v.(string)
		if s == "" {
			continue
		}
		if t, _ := lookup(e, "type"); strings.EqualFold(fmt.Sprint(t), "work") {
			return s
		}
		if p, _ := lookup(e, "primary"); p == true && primary == "" {
			primary = s
		}
		if first == "" {
			first = s
		}
	}
	if primary != "" {
		return primary
	}
	return first
}

func asList(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// sub returns a sub-attribute of a complex attribute (of the enterprise
// extension when urn is set) as a string.
func (r *Resource) sub(urn, attr, sub string) string {
	m := r.Attrs
	if urn != "" {
		m, _ = m[urn].(map[string]any)
	}
	v, _ := lookup(m, attr)
	if sub != "" {
		obj, _ := v.(map[string]any)
		v, _ = lookup(obj, sub)
	}
	s, _ := v.(string)
	return strings.TrimSpace(s)
}

// Record is a SCIM user as muster's pipeline sees it: the email (primary,
// else work, else first, else a userName that is an address), the given
// and family names (else the display name split at its last space), active
// or not, the names of its groups, the SCIM id as the source's id for the
// person, and the optional attributes the allowlist keeps:
//
//	title -> job_title, userType -> employee_type,
//	preferredLanguage -> preferred_language,
//	the primary (else work, else first) address: formatted -> raw_address,
//	  streetAddress, locality -> city, region, postalCode, country,
//	enterprise department -> department_name, division -> division_name,
//	  costCenter -> cost_center_name, manager -> manager_email (the
//	  manager's email, given by managerEmail when manager.value is an id).
//
// managerEmail resolves a manager's SCIM id to their email ("" unknown).
// employeeNumber and organization have no muster attribute and are kept
// only in the SCIM resource.
func (r *Resource) Record(groups []string, attrs schema.AttrSet, managerEmail func(id string) string) schema.Record {
	rec := schema.Record{SourceID: r.ID, FirstName: r.sub("", "name", "givenName"), LastName: r.sub("", "name", "familyName")}
	if rec.FirstName == "" && rec.LastName == "" {
		if name := strings.TrimSpace(r.DisplayName()); name != "" {
			if i := strings.LastIndexByte(name, ' '); i > 0 {
				rec.FirstName, rec.LastName = strings.TrimSpace(name[:i]), name[i+1:]
			} else {
				rec.FirstName = name
			}
		}
	}
	raw := r.Email()
	problem := func(col string, code schema.ProblemCode, sev schema.Severity, msg string) {
		rec.Problems = append(rec.Problems, schema.Problem{Column: col, Code: code, Severity: sev, Message: msg})
	}
	if raw == "" {
		problem("emails", schema.CodeMissingEmail, schema.SeverityError, "SCIM user "+r.ID+" has no email and its userName is not an address")
	} else if email, key, err := schema.NormalizeEmail(raw); err != nil {
		rec.Email = raw
		problem("emails", schema.CodeInvalidEmail, schema.SeverityError, "SCIM user "+r.ID+": "+schema.ErrorMessageOf(err))
	} else {
		rec.Email, rec.Key = email, key
	}
	if !r.Active() {
		rec.Status = schema.StatusInactive
	}
	rec.Groups = cleanGroups(groups)
	if attrs != 0 {
		set := func(a schema.Attr, v string) {
			if attrs.Has(a) && v != "" {
				if len(v) > schema.MaxValueLen {
					problem(a.String(), schema.CodeValueTooLong, schema.SeverityWarning,
						fmt.Sprintf("SCIM user %s: %s is longer than %d bytes; the value is dropped", r.ID, a, schema.MaxValueLen))
					return
				}
				rec.Attrs[a] = v
			}
		}
		set(schema.AttrJobTitle, r.sub("", "title", ""))
		set(schema.AttrEmployeeType, r.sub("", "userType", ""))
		set(schema.AttrPreferredLanguage, r.sub("", "preferredLanguage", ""))
		set(schema.AttrDepartmentName, r.sub(URNEnterprise, "department", ""))
		set(schema.AttrDivisionName, r.sub(URNEnterprise, "division", ""))
		set(schema.AttrCostCenterName, r.sub(URNEnterprise, "costCenter", ""))
		if addr := r.address(); addr != nil {
			for a, k := range map[schema.Attr]string{schema.AttrRawAddress: "formatted", schema.AttrStreetAddress: "streetAddress",
				schema.AttrCity: "locality", schema.AttrRegion: "region", schema.AttrPostalCode: "postalCode", schema.AttrCountry: "country"} {
				v, _ := lookup(addr, k)
				s, _ := v.(string)
				set(a, strings.TrimSpace(s))
			}
		}
		if attrs.Has(schema.AttrManagerEmail) {
			m := r.sub(URNEnterprise, "manager", "value")
			if m != "" && !strings.Contains(m, "@") && managerEmail != nil {
				m = managerEmail(m)
			}
			if m != "" {
				if email, _, err := schema.NormalizeEmail(m); err == nil {
					rec.Attrs[schema.AttrManagerEmail] = email
				} else {
					problem("manager", schema.CodeInvalidManagerEmail, schema.SeverityWarning,
						fmt.Sprintf("SCIM user %s: the manager is not an email address nor a known user; the value is dropped", r.ID))
				}
			}
		}
	}
	return rec
}

func (r *Resource) address() map[string]any {
	list, _ := lookup(r.Attrs, "addresses")
	as := asList(list)
	for _, a := range as {
		if p, _ := lookup(a, "primary"); p == true {
			return a
		}
	}
	for _, a := range as {
		if t, _ := lookup(a, "type"); strings.EqualFold(fmt.Sprint(t), "work") {
			return a
		}
	}
	if len(as) > 0 {
		return as[0]
	}
	return nil
}

// cleanGroups trims group names, drops empty ones and repeats, and sorts.
func cleanGroups(gs []string) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		if g = strings.TrimSpace(g); g != "" && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}
