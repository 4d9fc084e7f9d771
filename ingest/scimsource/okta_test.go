package scimsource

import (
	"testing"

	"muster/store"
)

// The requests below are Okta's, as its SCIM 2.0 reference documents them
// (reference/scim.md §1): test connection, user lookup by userName,
// create (with password and groups:[]), import paging, PUT of the whole
// user, path-less deactivate, group push, membership delta with the
// rename Okta sends with every membership change, full push, rename and
// unlink.

const oktaUser1 = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"test.user@okta.local",
 "name":{"givenName":"Test","familyName":"User"},"emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],
 "displayName":"Test User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"1mz050nq","active":true}`

const oktaUser2 = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada.lovelace@okta.local",
 "name":{"givenName":"Ada","familyName":"Lovelace"},"emails":[{"primary":true,"value":"ada.lovelace@okta.local","type":"work"}],
 "displayName":"Ada Lovelace","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h8","groups":[],"password":"x","active":true}`

const oktaUser3 = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"grace.hopper@okta.local",
 "name":{"givenName":"Grace","familyName":"Hopper"},"emails":[{"primary":true,"value":"grace.hopper@okta.local","type":"work"}],
 "displayName":"Grace Hopper","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h9","groups":[],"password":"x","active":true}`

func TestOktaSequence(t *testing.T) {
	r := MustRig(t)
	steps := []step{
		{note: "test connection: users", method: "GET", path: "/Users?startIndex=1&count=2", status: 200},
		{note: "test connection: groups", method: "GET", path: "/Groups?startIndex=1&count=100", status: 200},
		{note: "does the user exist?", method: "GET", path: "/Users?filter=userName%20eq%20%22test.user%40okta.local%22&startIndex=1&count=100", status: 200,
			check: func(r *rig, m map[string]any) {
				if m["totalResults"] != float64(0) {
					t.Fatalf("totalResults %v, want 0", m["totalResults"])
				}
			}},
		{note: "create", method: "POST", path: "/Users", body: oktaUser1, status: 201, save: "u1",
			check: func(r *rig, m map[string]any) {
				if _, ok := m["password"]; ok {
					t.Fatal("the password is returned")
				}
				r.wantRecipient("test.user@okta.local", store.StatusActive)
			}},
		{note: "create again: taken userName", method: "POST", path: "/Users", body: oktaUser1, status: 409},
		{note: "create a second user", method: "POST", path: "/Users", body: oktaUser2, status: 201, save: "u2"},
		{note: "create a third user", method: "POST", path: "/Users", body: oktaUser3, status: 201, save: "u3"},
		{note: "import, first page", method: "GET", path: "/Users?startIndex=1&count=2", status: 200,
			check: func(r *rig, m map[string]any) {
				if m["totalResults"] != float64(3) || m["itemsPerPage"] != float64(2) || m["startIndex"] != float64(1) {
					t.Fatalf("paging %v %v %v, want 3 2 1", m["totalResults"], m["itemsPerPage"], m["startIndex"])
				}
			}},
		{note: "import, second page", method: "GET", path: "/Users?startIndex=3&count=2", status: 200,
			check: func(r *rig, m map[string]any) {
				if m["itemsPerPage"] != float64(1) || field(m["Resources"].([]any)[0].(map[string]any), "id") != r.vars["u3"] {
					t.Fatalf("second page %v", m)
				}
			}},
		{note: "read", method: "GET", path: "/Users/{{u1}}", status: 200},
		{note: "update profile: PUT the whole user", method: "PUT", path: "/Users/{{u1}}", status: 200,
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"{{u1}}","userName":"test.user@okta.local",
 "name":{"givenName":"Tess","familyName":"User"},"emails":[{"primary":true,"value":"test.user@okta.local","type":"work"}],
 "displayName":"Tess User","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],"active":true}`,
			check: func(r *rig, _ map[string]any) {
				rec, _ := r.recipient("test.user@okta.local")
				if rec.FirstName != "Tess" {
					t.Fatalf("first name %q, want Tess", rec.FirstName)
				}
			}},
		{note: "push group", method: "POST", path: "/Groups", body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","members":[]}`,
			status: 201, save: "g1"},
		{note: "group exists?", method: "GET", path: `/Groups?filter=displayName%20eq%20%22Engineering%22`, status: 200},
		{note: "membership: rename (unchanged) and add two", method: "PATCH", path: "/Groups/{{g1}}", status: 204,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
 {"op":"replace","value":{"id":"{{g1}}","displayName":"Engineering"}},
 {"op":"add","path":"members","value":[{"value":"{{u1}}","display":"test.user@okta.local"},{"value":"{{u2}}","display":"ada.lovelace@okta.local"}]}]}`,
			check: func(r *rig, _ map[string]any) {
				r.wantRecipient("test.user@okta.local", store.StatusActive, "Engineering")
				r.wantRecipient("ada.lovelace@okta.local", store.StatusActive, "Engineering")
			}},
		{note: "membership delta: remove one by filter, add another", method: "PATCH", path: "/Groups/{{g1}}", status: 204,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
 {"op":"replace","value":{"id":"{{g1}}","displayName":"Engineering"}},
 {"op":"remove","path":"members[value eq \"{{u2}}\"]"},
 {"op":"add","path":"members","value":[{"value":"{{u3}}","display":"grace.hopper@okta.local"}]}]}`,
			check: func(r *rig, _ map[string]any) {
				r.wantRecipient("ada.lovelace@okta.local", store.StatusActive)
				r.wantRecipient("grace.hopper@okta.local", store.StatusActive, "Engineering")
			}},
		{note: "read the group", method: "GET", path: "/Groups/{{g1}}", status: 200},
		{note: "membership full push", method: "PATCH", path: "/Groups/{{g1}}", status: 204,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
 {"op":"replace","path":"members","value":[{"value":"{{u1}}"},{"value":"{{u2}}"}]}]}`,
			check: func(r *rig, _ map[string]any) {
				r.wantRecipient("ada.lovelace@okta.local", store.StatusActive, "Engineering")
				r.wantRecipient("grace.hopper@okta.local", store.StatusActive)
			}},
		{note: "deactivate (path-less)", method: "PATCH", path: "/Users/{{u2}}", status: 200,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
			check: func(r *rig, m map[string]any) {
				if m["active"] != false {
					t.Fatalf("active %v after deactivate", m["active"])
				}
				r.wantRecipient("ada.lovelace@okta.local", store.StatusOffboarded)
			}},
		{note: "the deactivated user still answers", method: "GET", path: "/Users/{{u2}}", status: 200},
		{note: "rename the group", method: "PATCH", path: "/Groups/{{g1}}", status: 204,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"id":"{{g1}}","displayName":"Engineering (all)"}}]}`,
			check: func(r *rig, _ map[string]any) {
				r.wantRecipient("test.user@okta.local", store.StatusActive, "Engineering (all)")
			}},
		{note: "reactivate", method: "PATCH", path: "/Users/{{u2}}", status: 200,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":true}}]}`,
			check: func(r *rig, _ map[string]any) {
				r.wantRecipient("ada.lovelace@okta.local", store.StatusActive, "Engineering (all)")
			}},
		{note: "unlink the pushed group", method: "DELETE", path: "/Groups/{{g1}}", status: 204,
			check: func(r *rig, _ map[string]any) {
				r.wantRecipient("test.user@okta.local", store.StatusActive)
				r.wantRecipient("ada.lovelace@okta.local", store.StatusActive)
			}},
		{note: "the group is gone", method: "GET", path: "/Groups/{{g1}}", status: 404},
		{note: "repeat the deactivation twice: harmless", method: "PATCH", path: "/Users/{{u3}}", status: 200,
			body: `{"Operations":[{"op":"replace","value":{"active":false}}]}`},
		{note: "again", method: "PATCH", path: "/Users/{{u3}}", status: 200,
			body: `{"Operations":[{"op":"replace","value":{"active":false}}]}`,
			check: func(r *rig, _ map[string]any) {
				r.wantRecipient("grace.hopper@okta.local", store.StatusOffboarded)
			}},
	}
	r.replay("okta", steps)
}
