package scim

import (
	"encoding/json"
	"testing"
)

func mustUser(t *testing.T, body string) *Resource {
	t.Helper()
	r, _, err := decodeResource(TypeUser, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustPatch(t *testing.T, r *Resource, body string) error {
	t.Helper()
	ops, err := decodePatch([]byte(body))
	if err != nil {
		return err
	}
	return applyPatch(r, ops)
}

func asJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestPatchSemantics(t *testing.T) {
	const base = `{"userName":"a@x.example","password":"secret","groups":[{"value":"g"}],"unknownAttr":1,
 "name":{"givenName":"A","familyName":"B"},"emails":[{"value":"a@x.example","type":"work","primary":"True"},{"value":"a@home.example","type":"home"}]}`
	for _, c := range []struct {
		name, ops, want string // want: the attribute's JSON after, as "attr=json"
		check           string
	}{
		{"replace a complex attribute keeps the sub-attributes not given",
			`{"Operations":[{"op":"replace","path":"name","value":{"givenName":"Z"}}]}`, `{"familyName":"B","givenName":"Z"}`, "name"},
		{"remove a sub-attribute", `{"Operations":[{"op":"remove","path":"name.familyName"}]}`, `{"givenName":"A"}`, "name"},
		{"remove one element of a multi-valued attribute by filter",
			`{"Operations":[{"op":"remove","path":"emails[type eq \"home\"]"}]}`, `[{"primary":true,"type":"work","value":"a@x.example"}]`, "emails"},
		{"remove elements given as a value",
			`{"Operations":[{"op":"remove","path":"emails","value":[{"value":"a@home.example"}]}]}`, `[{"primary":true,"type":"work","value":"a@x.example"}]`, "emails"},
		{"add to a multi-valued attribute does not repeat a value",
			`{"Operations":[{"op":"add","path":"emails","value":[{"value":"a@home.example","type":"home"},{"value":"n@x.example"}]}]}`,
			`[{"primary":true,"type":"work","value":"a@x.example"},{"type":"home","value":"a@home.example"},{"value":"n@x.example"}]`, "emails"},
		{"replace a sub-attribute of the filtered elements",
			`{"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"w@x.example"}]}`,
			`[{"primary":true,"type":"work","value":"w@x.example"},{"type":"home","value":"a@home.example"}]`, "emails"},
		{"replace on a filter that matches nothing adds the element (Entra)",
			`{"Operations":[{"op":"replace","path":"addresses[type eq \"work\"].locality","value":"Paris"}]}`,
			`[{"locality":"Paris","type":"work"}]`, "addresses"},
		{"path-less map with dotted and URN keys",
			`{"Operations":[{"op":"replace","value":{"name.givenName":"Q","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Ops","urn:example:other:x":"ignored"}}]}`,
			`{"department":"Ops"}`, URNEnterprise},
		{"path-less map with the whole extension",
			`{"Operations":[{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"}}}}]}`,
			`{"manager":{"value":"m1"}}`, URNEnterprise},
		{"string booleans become booleans", `{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`, `false`, "active"},
		{"ops and attribute names in any case", `{"operations":[{"OP":"REPLACE","PATH":"DisplayName","value":"D"}]}`, `"D"`, "displayName"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := mustUser(t, base)
			if _, ok := r.Attrs["password"]; ok {
				t.Fatal("the password is kept")
			}
			if _, ok := r.Attrs["groups"]; ok {
				t.Fatal("read-only groups are kept")
			}
			if _, ok := r.Attrs["unknownAttr"]; ok {
				t.Fatal("an unknown attribute is kept")
			}
			if err := mustPatch(t, r, c.ops); err != nil {
				t.Fatal(err)
			}
			if got := asJSON(r.Attrs[c.check]); got != c.want {
				t.Fatalf("%s = %s, want %s", c.check, got, c.want)
			}
		})
	}
}

func TestPatchGroupMembers(t *testing.T) {
	g := &Resource{Type: TypeGroup, Attrs: map[string]any{"displayName": "G"}, Members: []Member{{Value: "u1"}, {Value: "u2"}}}
	steps := []struct{ ops, want string }{
		{`{"Operations":[{"op":"add","path":"members","value":[{"value":"u3"},{"value":"u1"}]}]}`, "u1 u2 u3"},
		{`{"Operations":[{"op":"remove","path":"members[value eq \"u2\"]"}]}`, "u1 u3"},
		{`{"Operations":[{"op":"Remove","path":"members","value":[{"value":"u1"}]}]}`, "u3"},
		{`{"Operations":[{"op":"replace","path":"members","value":[{"value":"u4"},{"value":"u5"}]}]}`, "u4 u5"},
		{`{"Operations":[{"op":"replace","value":{"id":"g1","displayName":"G2","members":[{"value":"u6"}]}}]}`, "u6"},
		{`{"Operations":[{"op":"remove","path":"members"}]}`, ""},
	}
	for _, s := range steps {
		if err := mustPatch(t, g, s.ops); err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, m := range g.Members {
			got += " " + m.Value
		}
		if len(got) > 0 {
			got = got[1:]
		}
		if got != s.want {
			t.Fatalf("%s: members %q, want %q", s.ops, got, s.want)
		}
	}
	if g.DisplayName() != "G2" {
		t.Fatalf("displayName %q", g.DisplayName())
	}
}
