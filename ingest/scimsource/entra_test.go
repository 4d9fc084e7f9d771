package scimsource

import (
	"testing"

	"muster/schema"
	"muster/store"
)

// The requests below are Microsoft Entra ID's provisioning service's, as
// its SCIM documentation gives them (reference/scim.md §2), in its default
// dialect (capitalised ops, string booleans, one op per path, member
// removal with a value list) and with the aadOptscim062020 flag (path-less
// value maps with dotted and URN keys, members[value eq "..."] removal).

const entraUser = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
 "externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.example",
 "active":true,"emails":[{"primary":true,"type":"work","value":"Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@contoso.example"}],
 "meta":{"resourceType":"User"},"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},"roles":[],
 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Finance","employeeNumber":"701984","costCenter":"4130",
 "division":"EMEA","manager":{"value":"{{boss}}"}}}`

const entraBoss = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"externalId":"boss-1","userName":"boss@contoso.example",
 "active":true,"emails":[{"primary":true,"type":"work","value":"Boss@Contoso.example"}],"name":{"familyName":"Boss","givenName":"Bo"}}`

const entraGroup = `{"externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"Group1","meta":{"resourceType":"Group"},
 "schemas":["urn:ietf:params:scim:schemas:core:2.0:Group","http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"members":[]}`

const userEmail = "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@contoso.example"

// entraRig is a rig whose organisation keeps the attributes the
// enterprise extension maps to.
func entraRig(t *testing.T) *rig {
	cfg := scimSource("idp")
	for _, a := range []schema.Attr{schema.AttrDepartmentName, schema.AttrCostCenterName, schema.AttrDivisionName, schema.AttrManagerEmail, schema.AttrJobTitle} {
		cfg.Attrs = cfg.Attrs.With(a)
	}
	return MustRig(t, cfg, scimSource("other"))
}

// entraCommon is the start both dialects share: test connection, matching
// queries, create with the enterprise extension, group create.
func entraCommon(t *testing.T) []step {
	return []step{
		{note: "test connection: a random user", method: "GET", path: `/Users?filter=userName+eq+%22non-existent-user-4f0e%22`, status: 200},
		{note: "test connection: a random group", method: "GET", path: `/Groups?excludedAttributes=members&filter=displayName+eq+%22non-existent-group%22`, status: 200},
		{note: "create the manager", method: "POST", path: "/Users", body: entraBoss, status: 201, save: "boss"},
		{note: "match by userName", method: "GET", path: `/Users?filter=userName+eq+%22Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1%40contoso.example%22`, status: 200},
		{note: "create with the enterprise extension", method: "POST", path: "/Users", body: entraUser, status: 201, save: "u1",
			check: func(r *rig, _ map[string]any) {
				r.wantRecipient(userEmail, store.StatusActive)
				rec, _ := r.recipient(userEmail)
				if rec.Attrs[schema.AttrDepartmentName] != "Finance" || rec.Attrs[schema.AttrCostCenterName] != "4130" ||
					rec.Attrs[schema.AttrDivisionName] != "EMEA" || rec.Attrs[schema.AttrManagerEmail] != "Boss@Contoso.example" {
					t.Fatalf("attributes %v", rec.Attrs)
				}
			}},
		{note: "match by externalId", method: "GET", path: `/Users?filter=externalId+eq+%220a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef%22`, status: 200,
			check: wantTotal(t, 1)},
		{note: "match by work email", method: "GET", path: `/Users?filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22test_user_fd0ea19b-0777-472c-9f96-4f70d2226f2e%40contoso.example%22`, status: 200,
			check: wantTotal(t, 1)},
		{note: "match the group by displayName, members excluded", method: "GET", path: `/Groups?excludedAttributes=members&filter=displayName+eq+%22Group1%22`, status: 200,
			check: wantTotal(t, 0)},
		{note: "create the group (ADSCIM schema, no members)", method: "POST", path: "/Groups", body: entraGroup, status: 201, save: "g1"},
		{note: "read the group without its members", method: "GET", path: "/Groups/{{g1}}?excludedAttributes=members", status: 200,
			check: func(r *rig, m map[string]any) {
				if _, ok := m["members"]; ok {
					t.Fatal("members returned despite excludedAttributes=members")
				}
			}},
	}
}

func wantTotal(t *testing.T, n int) func(*rig, map[string]any) {
	return func(_ *rig, m map[string]any) {
		t.Helper()
		if m["totalResults"] != float64(n) {
			t.Fatalf("totalResults %v, want %d", m["totalResults"], n)
		}
	}
}

func TestEntraDefaultDialect(t *testing.T) {
	r := entraRig(t)
	steps := append(entraCommon(t), []step{
		{note: "update: capitalised ops, one per path, a filtered path and an extension URN", method: "PATCH", path: "/Users/{{u1}}", status: 200,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
 {"op":"Replace","path":"displayName","value":"Babs Jensen"},
 {"op":"Replace","path":"name.givenName","value":"Barbara"},
 {"op":"Add","path":"nickName","value":"Babs"},
 {"op":"Replace","path":"emails[type eq \"work\"].value","value":"babs@contoso.example"},
 {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"701985"},
 {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":"Sales"}]}`,
			check: func(r *rig, _ map[string]any) {
				r.wantNoRecipient(userEmail) // the address moved
				r.wantRecipient("babs@contoso.example", store.StatusActive)
				rec, _ := r.recipient("babs@contoso.example")
				if rec.FirstName != "Barbara" || rec.Attrs[schema.AttrDepartmentName] != "Sales" {
					t.Fatalf("recipient %+v", rec)
				}
			}},
		{note: "add a member ($ref null)", method: "PATCH", path: "/Groups/{{g1}}", status: 204,
			body:  `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"{{u1}}"}]}]}`,
			check: func(r *rig, _ map[string]any) { r.wantRecipient("babs@contoso.example", store.StatusActive, "Group1") }},
		{note: "add the manager too", method: "PATCH", path: "/Groups/{{g1}}", status: 204,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"{{boss}}"}]}]}`},
		{note: "remove a member: path members with a value list", method: "PATCH", path: "/Groups/{{g1}}", status: 204,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"value":"{{u1}}"}]}]}`,
			check: func(r *rig, _ map[string]any) {
				r.wantRecipient("babs@contoso.example", store.StatusActive)
				r.wantRecipient("boss@contoso.example", store.StatusActive, "Group1")
			}},
		{note: "disable: a string boolean", method: "PATCH", path: "/Users/{{u1}}", status: 200,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
			check: func(r *rig, m map[string]any) {
				if m["active"] != false {
					t.Fatalf("active %v", m["active"])
				}
				r.wantRecipient("babs@contoso.example", store.StatusOffboarded)
			}},
		{note: "the soft-deleted user still answers", method: "GET", path: "/Users/{{u1}}", status: 200},
		{note: "delete", method: "DELETE", path: "/Users/{{u1}}", status: 204,
			check: func(r *rig, _ map[string]any) { r.wantRecipient("babs@contoso.example", store.StatusOffboarded) }},
		{note: "deleted", method: "GET", path: "/Users/{{u1}}", status: 404},
		{note: "delete the manager, still a member", method: "DELETE", path: "/Users/{{boss}}", status: 204,
			check: func(r *rig, _ map[string]any) { r.wantRecipient("boss@contoso.example", store.StatusOffboarded) }},
		{note: "the group no longer lists them", method: "GET", path: "/Groups/{{g1}}", status: 200},
	}...)
	r.replay("entra-default", steps)
}

func TestEntraFlagDialect(t *testing.T) {
	r := entraRig(t)
	steps := append(entraCommon(t), []step{
		{note: "update: one filtered op and one path-less map with dotted and URN keys", method: "PATCH", path: "/Users/{{u1}}", status: 200,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
 {"op":"replace","path":"emails[type eq \"work\"].value","value":"babs@contoso.example"},
 {"op":"replace","value":{"displayName":"Babs Jensen","name.givenName":"Barbara","name.familyName":"Jensen",
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"701985",
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Sales","title":"Analyst"}}]}`,
			check: func(r *rig, m map[string]any) {
				rec, ok := r.recipient("babs@contoso.example")
				if !ok || rec.FirstName != "Barbara" || rec.LastName != "Jensen" || rec.Attrs[schema.AttrDepartmentName] != "Sales" ||
					rec.Attrs[schema.AttrJobTitle] != "Analyst" {
					t.Fatalf("recipient %+v", rec)
				}
				if field(m, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "employeeNumber") != "701985" {
					t.Fatalf("employeeNumber not kept: %v", m)
				}
			}},
		{note: "replace on a filtered path that matches nothing adds it", method: "PATCH", path: "/Users/{{u1}}", status: 200,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
 {"op":"replace","path":"phoneNumbers[type eq \"mobile\"].value","value":"+44 20 7946 0000"}]}`,
			check: func(r *rig, m map[string]any) {
				ph, _ := m["phoneNumbers"].([]any)
				if len(ph) != 1 || field(ph[0].(map[string]any), "type") != "mobile" {
					t.Fatalf("phoneNumbers %v", m["phoneNumbers"])
				}
			}},
		{note: "add a member", method: "PATCH", path: "/Groups/{{g1}}", status: 204,
			body:  `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"$ref":null,"value":"{{u1}}"}]}]}`,
			check: func(r *rig, _ map[string]any) { r.wantRecipient("babs@contoso.example", store.StatusActive, "Group1") }},
		{note: "remove a member: members[value eq ...]", method: "PATCH", path: "/Groups/{{g1}}", status: 204,
			body:  `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"{{u1}}\"]"}]}`,
			check: func(r *rig, _ map[string]any) { r.wantRecipient("babs@contoso.example", store.StatusActive) }},
		{note: "rename the group", method: "PATCH", path: "/Groups/{{g1}}", status: 204,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Group One"}]}`},
		{note: "disable: a real boolean", method: "PATCH", path: "/Users/{{u1}}", status: 200,
			body:  `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`,
			check: func(r *rig, _ map[string]any) { r.wantRecipient("babs@contoso.example", store.StatusOffboarded) }},
		{note: "delete", method: "DELETE", path: "/Users/{{u1}}", status: 204},
		{note: "deleted", method: "GET", path: "/Users/{{u1}}", status: 404},
	}...)
	r.replay("entra-flag", steps)
}
