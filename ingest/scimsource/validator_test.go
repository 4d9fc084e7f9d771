package scimsource

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// Checks mirroring the gallery validators (reference/scim.md §4): Okta's
// SCIM 2.0 SPEC test, and scim2-tester's discovery, error and
// attributes/excludedAttributes checks, re-expressed here because neither
// can reach this machine.

func TestDiscovery(t *testing.T) {
	r := MustRig(t)
	status, _, m := r.do("GET", "/ServiceProviderConfig", "")
	if status != 200 || field(m, "patch", "supported") != true || field(m, "bulk", "supported") != false ||
		field(m, "filter", "supported") != true || field(m, "filter", "maxResults") != float64(1000) ||
		field(m, "changePassword", "supported") != false || field(m, "sort", "supported") != false || field(m, "etag", "supported") != false {
		t.Fatalf("ServiceProviderConfig: %d %v", status, m)
	}
	if as, _ := m["authenticationSchemes"].([]any); len(as) == 0 || field(as[0].(map[string]any), "type") != "oauthbearertoken" ||
		field(as[0].(map[string]any), "description") == "" {
		t.Fatalf("authenticationSchemes: %v", m["authenticationSchemes"])
	}
	for _, p := range []string{"/ServiceProviderConfig", "/ResourceTypes", "/Schemas", "/ResourceTypes/User", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"} {
		for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
			status, h, m := r.do(method, p, `{}`)
			if status != 405 || field(m, "status") != "405" || h.Get("Allow") != "GET" {
				t.Errorf("%s %s: %d %v (Allow %q), want 405 with the error schema", method, p, status, m, h.Get("Allow"))
			}
		}
	}
	status, _, m = r.do("GET", "/ResourceTypes", "")
	if status != 200 || m["totalResults"] != float64(2) {
		t.Fatalf("ResourceTypes: %d %v", status, m)
	}
	status, _, m = r.do("GET", "/ResourceTypes/User", "")
	if status != 200 || m["endpoint"] != "/Users" || m["schema"] != "urn:ietf:params:scim:schemas:core:2.0:User" {
		t.Fatalf("ResourceTypes/User: %d %v", status, m)
	}
	status, _, m = r.do("GET", "/Schemas", "")
	if status != 200 || m["totalResults"] != float64(3) {
		t.Fatalf("Schemas: %d %v", status, m)
	}
	for _, urn := range []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:core:2.0:Group",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"} {
		status, _, m = r.do("GET", "/Schemas/"+urn, "")
		if status != 200 || m["id"] != urn || len(m["attributes"].([]any)) == 0 {
			t.Fatalf("Schemas/%s: %d %v", urn, status, m)
		}
	}
	for _, p := range []string{"/Schemas/urn:example:unknown", "/ResourceTypes/Printer", "/Printers", "/Users/a/b"} {
		if status, _, m := r.do("GET", p, ""); status != 404 || field(m, "status") != "404" || m["detail"] == "" {
			t.Errorf("GET %s: %d %v, want 404 with the error schema", p, status, m)
		}
	}
	if status, _, _ := r.do("POST", "/Bulk", `{}`); status != 501 {
		t.Errorf("POST /Bulk: %d, want 501", status)
	}
}

func TestOktaSpecChecks(t *testing.T) {
	r := MustRig(t)
	if s, _, _ := r.do("POST", "/Users", oktaUser1); s != 201 {
		t.Fatalf("create: %d", s)
	}
	// Required: GET /Users?count=1&startIndex=1 with integer paging fields
	// and a first resource with id, name, userName, active, emails.
	status, _, m := r.do("GET", "/Users?count=1&startIndex=1", "")
	if status != 200 || m["totalResults"] != float64(1) || m["itemsPerPage"] != float64(1) || m["startIndex"] != float64(1) {
		t.Fatalf("list: %d %v", status, m)
	}
	u := m["Resources"].([]any)[0].(map[string]any)
	for _, p := range [][]string{{"id"}, {"name", "familyName"}, {"name", "givenName"}, {"userName"}, {"active"}, {"emails"}} {
		if field(u, p...) == nil {
			t.Errorf("the first resource has no %v", p)
		}
	}
	id := u["id"].(string)
	if s, _, m := r.do("GET", "/Users/"+id, ""); s != 200 || m["userName"] != "test.user@okta.local" {
		t.Fatalf("GET by id: %d %v", s, m)
	}
	// A random userName: no result.
	if s, _, m := r.do("GET", `/Users?filter=userName+eq+%22nobody-1b2c3d%40okta.local%22`, ""); s != 200 || m["totalResults"] != float64(0) {
		t.Fatalf("random filter: %d %v", s, m)
	}
	// An unknown id: 404, the error schema, a detail.
	status, _, m = r.do("GET", "/Users/010101", "")
	if status != 404 || field(m, "schemas").([]any)[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || m["status"] != "404" || m["detail"] == "" {
		t.Fatalf("unknown id: %d %v", status, m)
	}
	// A duplicate: 409 uniqueness.
	status, _, m = r.do("POST", "/Users", strings.Replace(oktaUser1, `"test.user@okta.local"`, `"TEST.User@okta.local"`, 1))
	if status != 409 || m["scimType"] != "uniqueness" {
		t.Fatalf("duplicate (case differs): %d %v", status, m)
	}
	// userName is not case-exact: the upper-cased address finds the user.
	status, _, m = r.do("GET", `/Users?filter=userName+eq+%22TEST.USER%40OKTA.LOCAL%22`, "")
	if status != 200 || m["totalResults"] != float64(1) {
		t.Fatalf("case-insensitive userName: %d %v", status, m)
	}
	if s, _, _ := r.do("GET", "/Groups", ""); s != 200 {
		t.Fatalf("GET /Groups: %d", s)
	}
}

func TestAttributesAndExcludedAttributes(t *testing.T) {
	r := MustRig(t)
	_, _, u := r.do("POST", "/Users", oktaUser1)
	r.vars["u"] = u["id"].(string)
	_, _, g := r.do("POST", "/Groups", `{"displayName":"G","members":[{"value":"{{u}}"}]}`)
	r.vars["g"] = g["id"].(string)
	_, _, m := r.do("GET", "/Users/{{u}}?attributes=userName,name.givenName", "")
	if len(m) != 4 || m["userName"] == nil || field(m, "name", "givenName") != "Test" || field(m, "name", "familyName") != nil || m["id"] == nil {
		t.Fatalf("attributes on GET: %v", m)
	}
	_, _, m = r.do("GET", "/Users?attributes=userName&filter=userName+eq+%22test.user%40okta.local%22", "")
	if l := m["Resources"].([]any); len(l) != 1 || len(l[0].(map[string]any)) != 3 {
		t.Fatalf("attributes on a list: %v", m)
	}
	status, _, m := r.do("POST", "/Users/.search", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
 "filter":"userName eq \"test.user@okta.local\"","attributes":["userName"],"startIndex":1,"count":10}`)
	if l, _ := m["Resources"].([]any); status != 200 || len(l) != 1 || len(l[0].(map[string]any)) != 3 {
		t.Fatalf("POST /.search: %d %v", status, m)
	}
	_, _, m = r.do("GET", "/Users/{{u}}?excludedAttributes=emails,name.familyName", "")
	if m["emails"] != nil || field(m, "name", "familyName") != nil || field(m, "name", "givenName") != "Test" || m["userName"] == nil {
		t.Fatalf("excludedAttributes on GET: %v", m)
	}
	_, _, m = r.do("GET", "/Groups/{{g}}", "")
	if ms, _ := m["members"].([]any); len(ms) != 1 {
		t.Fatalf("members: %v", m)
	}
	for _, p := range []string{"/Groups/{{g}}?excludedAttributes=members", "/Groups?excludedAttributes=members", "/Groups?attributes=displayName"} {
		_, _, m = r.do("GET", p, "")
		if l, ok := m["Resources"].([]any); ok {
			m = l[0].(map[string]any)
		}
		if _, ok := m["members"]; ok || m["displayName"] != "G" {
			t.Fatalf("%s: %v", p, m)
		}
	}
	_, _, m = r.do("GET", "/Users/{{u}}", "")
	if gs, _ := m["groups"].([]any); len(gs) != 1 || field(gs[0].(map[string]any), "display") != "G" {
		t.Fatalf("the user's groups: %v", m["groups"])
	}
}

func TestAuthentication(t *testing.T) {
	r := MustRig(t)
	base := r.base("idp")
	for _, c := range []struct {
		name, token, url string
	}{
		{"no token", "", base + "/Users"},
		{"wrong token", "tok-wrong", base + "/Users"},
		{"another source's token", "tok-other", base + "/Users"},
		{"another organisation", "tok-idp", r.hs.URL + "/scim/v2/acme/idp/Users"},
		{"an unknown source", "tok-idp", r.hs.URL + "/scim/v2/default/nobody/Users"},
		{"a source's token at the root", "tok-idp", r.hs.URL + "/scim/v2/"},
	} {
		status, h, m := r.doAs(c.token, "GET", c.url, "")
		if status != 401 || m["status"] != "401" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %v, want 401 with the error schema", c.name, status, m)
		}
	}
	// Each source's token reaches its own resources only.
	if s, _, _ := r.do("POST", "/Users", oktaUser1); s != 201 {
		t.Fatal(s)
	}
	_, _, m := r.doAs("tok-other", "GET", r.base("other")+"/Users", "")
	if m["totalResults"] != float64(0) {
		t.Fatalf("the other source sees %v", m)
	}
	st := r.srv.Stats()
	if s := st["default/idp"]; s.Requests < 4 || s.Errors < 3 || s.LastRequest.IsZero() {
		t.Fatalf("stats %+v", s)
	}
}

func TestBadRequests(t *testing.T) {
	r := MustRig(t)
	_, _, u := r.do("POST", "/Users", oktaUser1)
	r.vars["u"] = u["id"].(string)
	for _, c := range []struct {
		method, path, body string
		status             int
		scimType           string
	}{
		{"POST", "/Users", `{"name":{"givenName":"No"}}`, 400, "invalidValue"},
		{"POST", "/Users", `not json`, 400, "invalidSyntax"},
		{"POST", "/Users", `{"userName":"x@y.example","active":"perhaps"}`, 400, "invalidValue"},
		{"GET", `/Users?filter=userName+co+%22x%22`, "", 400, "invalidFilter"},
		{"GET", `/Users?filter=userName+eq+%22x%22+or+userName+eq+%22y%22`, "", 400, "invalidFilter"},
		{"GET", `/Users?filter=userName+eq`, "", 400, "invalidFilter"},
		{"GET", `/Users?filter=externalId+eq+jyoung`, "", 400, "invalidFilter"},
		{"GET", `/Users?startIndex=one`, "", 400, "invalidValue"},
		{"PATCH", "/Users/{{u}}", `{"Operations":[{"op":"move","path":"active","value":false}]}`, 400, "invalidSyntax"},
		{"PATCH", "/Users/{{u}}", `{"Operations":[{"op":"remove"}]}`, 400, "noTarget"},
		{"PATCH", "/Users/{{u}}", `{"Operations":[{"op":"remove","path":"userName"}]}`, 400, "mutability"},
		{"PATCH", "/Users/{{u}}", `{"Operations":[{"op":"replace","path":"emails[type eq","value":"x"}]}`, 400, "invalidPath"},
		{"PATCH", "/Users/{{u}}", `{"Operations":[]}`, 400, "invalidSyntax"},
		{"PATCH", "/Users/nobody", `{"Operations":[{"op":"replace","path":"active","value":false}]}`, 404, ""},
		{"DELETE", "/Users/nobody", "", 404, ""},
		{"POST", "/Groups", `{"displayName":"G","members":[{"value":"nobody"}]}`, 400, "invalidValue"},
		{"PUT", "/Users", `{}`, 405, ""},
	} {
		status, _, m := r.do(c.method, c.path, c.body)
		if status != c.status || (c.scimType != "" && m["scimType"] != c.scimType) || m["detail"] == "" {
			t.Errorf("%s %s %s: %d %v, want %d %s", c.method, c.path, c.body, status, m, c.status, c.scimType)
		}
	}
	// Nothing of the refused writes reached the store or the audience.
	_, _, m := r.do("GET", "/Users", "")
	if m["totalResults"] != float64(1) {
		t.Fatalf("users after refused writes: %v", m)
	}
	r.wantNoRecipient("x@y.example")
}

// TestUserWithoutAddress: a user whose userName is not an address and who
// has no email is a valid SCIM resource (201, read back as sent) that names
// nobody in the audience: the pipeline reports it, nothing else changes.
func TestUserWithoutAddress(t *testing.T) {
	r := MustRig(t)
	status, _, m := r.do("POST", "/Users", `{"userName":"jdoe","name":{"givenName":"J","familyName":"Doe"}}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, m)
	}
	r.vars["u"] = m["id"].(string)
	if s, _, m := r.do("GET", "/Users/{{u}}", ""); s != 200 || m["userName"] != "jdoe" {
		t.Fatalf("read back: %d %v", s, m)
	}
	// Given an address later, the person joins the audience.
	if s, _, _ := r.do("PATCH", "/Users/{{u}}", `{"Operations":[{"op":"add","path":"emails","value":[{"value":"j.doe@example.org","primary":true}]}]}`); s != 200 {
		t.Fatalf("add an email: %d", s)
	}
	r.wantRecipient("j.doe@example.org", "active")
}

// TestOneBadUserDoesNotKeepOthersOut: 16 concurrent creates, one of a user
// without any address, share batches: the 15 others join the audience.
func TestOneBadUserDoesNotKeepOthersOut(t *testing.T) {
	r := MustRig(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"userName":"w%02d@example.org"}`, i)
			if i == 7 {
				body = `{"userName":"no-address"}`
			}
			if s, _, m := r.do("POST", "/Users", body); s != 201 {
				t.Errorf("create %d: %d %v", i, s, m)
			}
		}()
	}
	wg.Wait()
	for i := range 16 {
		if i != 7 {
			r.wantRecipient(fmt.Sprintf("w%02d@example.org", i), "active")
		}
	}
}
