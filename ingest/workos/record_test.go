package workos_test

import (
	"encoding/json"
	"strings"
	"testing"

	"muster/ingest/workos"
	"muster/schema"
)

func decodeUser(t *testing.T, s string) workos.User {
	t.Helper()
	var u workos.User
	if err := json.Unmarshal([]byte(s), &u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestMapUserAttributes(t *testing.T) {
	all := schema.AttrSet(0)
	for _, a := range schema.AllAttrs() {
		all = all.With(a)
	}
	for _, tc := range []struct {
		name     string
		user     string
		attr     schema.Attr
		want     string
		warning  schema.ProblemCode
		allowed  schema.AttrSet
		wantNone bool
	}{
		{"start date kept as a date", `{"custom_attributes":{"employment_start_date":"2024-03-04T00:00:00.000Z"}}`,
			schema.AttrEmploymentStartDate, "2024-03-04", "", all, false},
		{"start date that is not one", `{"custom_attributes":{"employment_start_date":"next monday"}}`,
			schema.AttrEmploymentStartDate, "", schema.CodeInvalidDate, all, false},
		{"manager email reduced", `{"custom_attributes":{"manager_email":" Grace <grace@acme.example>"}}`,
			schema.AttrManagerEmail, "grace@acme.example", "", all, false},
		{"manager email that is not one", `{"custom_attributes":{"manager_email":"Grace Hopper"}}`,
			schema.AttrManagerEmail, "", schema.CodeInvalidManagerEmail, all, false},
		{"deprecated job_title as a fallback", `{"job_title":"Engineer","custom_attributes":{"job_title":null}}`,
			schema.AttrJobTitle, "Engineer", "", all, false},
		{"custom job_title wins", `{"job_title":"Old","custom_attributes":{"job_title":"New"}}`,
			schema.AttrJobTitle, "New", "", all, false},
		{"primary address", `{"custom_attributes":{"addresses":[{"locality":"Paris"},{"primary":true,"locality":"Lyon","postal_code":69001}]}}`,
			schema.AttrPostalCode, "69001", "", all, false},
		{"escaped string", `{"custom_attributes":{"department_name":"R\u0026D \"core\""}}`,
			schema.AttrDepartmentName, `R&D "core"`, "", all, false},
		{"value too long", `{"custom_attributes":{"division_name":"` + strings.Repeat("x", schema.MaxValueLen+1) + `"}}`,
			schema.AttrDivisionName, "", schema.CodeValueTooLong, all, false},
		{"not in the allowlist", `{"custom_attributes":{"department_name":"Sales","job_title":"Rep"}}`,
			schema.AttrDepartmentName, "", "", schema.AttrSet(0).With(schema.AttrJobTitle), false},
		{"no allowlist, no attributes", `{"custom_attributes":{"department_name":"Sales","job_title":"Rep"}}`,
			schema.AttrJobTitle, "", "", 0, true},
	} {
		u := decodeUser(t, `{"id":"directory_user_1","email":"a@b.example","state":"active",`+tc.user[1:])
		r := workos.MapUser(&u, nil, tc.allowed)
		if r.Attrs[tc.attr] != tc.want {
			t.Errorf("%s: %s = %q, want %q", tc.name, tc.attr, r.Attrs[tc.attr], tc.want)
		}
		if tc.wantNone && r.Attrs != (schema.Attrs{}) {
			t.Errorf("%s: attrs = %q, want none", tc.name, r.Attrs)
		}
		if !r.Valid() {
			t.Errorf("%s: invalid: %v", tc.name, r.Problems)
		}
		if tc.warning == "" && len(r.Problems) > 0 || tc.warning != "" && (len(r.Problems) != 1 || r.Problems[0].Code != tc.warning || r.Problems[0].Severity != schema.SeverityWarning) {
			t.Errorf("%s: problems = %v, want %q", tc.name, r.Problems, tc.warning)
		}
	}
}

func TestMapUserState(t *testing.T) {
	for state, want := range map[string]schema.Status{"active": schema.StatusActive, "inactive": schema.StatusInactive, "suspended": schema.StatusInactive, "Inactive": schema.StatusInactive} {
		u := decodeUser(t, `{"id":"u","email":"a@b.example","state":"`+state+`"}`)
		if r := workos.MapUser(&u, nil, 0); r.Status != want || !r.Valid() {
			t.Errorf("state %q: %+v", state, r)
		}
	}
	for _, state := range []string{"", "pending", "deleted"} {
		u := decodeUser(t, `{"id":"u","email":"a@b.example","state":"`+state+`"}`)
		if r := workos.MapUser(&u, nil, 0); r.Valid() || r.Problems[0].Code != schema.CodeUnknownStatus {
			t.Errorf("state %q: %+v, want invalid", state, r)
		}
	}
}

// The primary email is taken from email, then the primary entry of
// custom_attributes.emails, then the primary of the deprecated emails;
// an entry not marked primary is a last resort, a work one first.
func TestMapUserPrimaryEmail(t *testing.T) {
	for _, tc := range []struct{ name, user, want string }{
		{"email wins", `"email":"top@acme.example","custom_attributes":{"emails":[{"primary":true,"value":"ca@acme.example"}]}`, "top@acme.example"},
		{"null email, custom primary", `"email":null,"custom_attributes":{"emails":[{"value":"x@acme.example"},{"primary":true,"value":"ca@acme.example"}]}`, "ca@acme.example"},
		{"deprecated primary before a custom entry not marked primary",
			`"custom_attributes":{"emails":[{"type":"home","value":"home@gmail.example"}]},"emails":[{"primary":true,"value":"work@acme.example"}]`, "work@acme.example"},
		{"no primary anywhere: a work entry before others",
			`"custom_attributes":{"emails":[{"type":"home","value":"home@gmail.example"},{"type":"work","value":"work@acme.example"}]}`, "work@acme.example"},
		{"a single entry not marked primary", `"emails":[{"value":"only@acme.example"}]`, "only@acme.example"},
		{"empty values skipped", `"emails":[{"primary":true,"value":null},{"value":"next@acme.example"}]`, "next@acme.example"},
	} {
		u := decodeUser(t, `{"id":"u","state":"active",`+tc.user+`}`)
		if r := workos.MapUser(&u, nil, 0); r.Email != tc.want || !r.Valid() {
			t.Errorf("%s: email %q (%v), want %q", tc.name, r.Email, r.Problems, tc.want)
		}
	}
	u := decodeUser(t, `{"id":"u","state":"active","email":null,"emails":[],"custom_attributes":{"emails":null}}`)
	if r := workos.MapUser(&u, nil, 0); r.Valid() || r.Problems[0].Code != schema.CodeMissingEmail {
		t.Errorf("no email anywhere: %+v", r)
	}
}
