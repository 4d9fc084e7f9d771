package scim

import "strings"

// Schema URNs.
const (
	URNUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	URNGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	URNEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	URNList       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	URNPatch      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	URNError      = "urn:ietf:params:scim:api:messages:2.0:Error"
	URNSPC        = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	URNResType    = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	URNSchema     = "urn:ietf:params:scim:schemas:core:2.0:Schema"
	// urnEntraGroup is the non-standard schema Entra ID puts on groups it
	// creates; accepted and ignored.
	urnEntraGroup = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
)

// Resource types.
const (
	TypeUser  = "User"
	TypeGroup = "Group"
)

// attrDef describes one attribute (RFC 7643 §7), enough to canonicalise
// what an IdP sends and to answer /Schemas.
type attrDef struct {
	Name       string
	Type       string // string, boolean, complex, reference, dateTime, integer
	Multi      bool
	Sub        []attrDef
	Mutability string // readWrite (""), readOnly, writeOnly, immutable
	Returned   string // default (""), always, never, request
	CaseExact  bool
	Uniqueness string // none (""), server
	Required   bool
	Refs       []string
	Desc       string
}

func str(name, desc string) attrDef { return attrDef{Name: name, Type: "string", Desc: desc} }
func boolean(name string) attrDef   { return attrDef{Name: name, Type: "boolean"} }
func ref(name string, to ...string) attrDef {
	return attrDef{Name: name, Type: "reference", Refs: to}
}

// multi is a multi-valued complex attribute of the usual value/display/
// type/primary shape.
func multi(name, desc string, extra ...attrDef) attrDef {
	sub := []attrDef{str("value", ""), str("display", ""), str("type", ""), boolean("primary")}
	return attrDef{Name: name, Type: "complex", Multi: true, Sub: append(sub, extra...), Desc: desc}
}

var userAttrs = []attrDef{
	{Name: "userName", Type: "string", Required: true, Uniqueness: "server", Desc: "unique identifier for the user, often an email address"},
	{Name: "name", Type: "complex", Sub: []attrDef{str("formatted", ""), str("familyName", ""), str("givenName", ""),
		str("middleName", ""), str("honorificPrefix", ""), str("honorificSuffix", "")}},
	str("displayName", ""), str("nickName", ""), ref("profileUrl", "external"), str("title", ""), str("userType", ""),
	str("preferredLanguage", ""), str("locale", ""), str("timezone", ""), boolean("active"),
	{Name: "password", Type: "string", Mutability: "writeOnly", Returned: "never"},
	multi("emails", "email addresses"), multi("phoneNumbers", ""), multi("ims", ""), multi("photos", ""),
	{Name: "addresses", Type: "complex", Multi: true, Sub: []attrDef{str("formatted", ""), str("streetAddress", ""),
		str("locality", ""), str("region", ""), str("postalCode", ""), str("country", ""), str("type", ""), boolean("primary")}},
	{Name: "groups", Type: "complex", Multi: true, Mutability: "readOnly", Sub: []attrDef{str("value", ""),
		ref("$ref", "User", "Group"), str("display", ""), str("type", "")}},
	multi("entitlements", ""), multi("roles", ""), multi("x509Certificates", ""),
}

var enterpriseAttrs = []attrDef{
	str("employeeNumber", ""), str("costCenter", ""), str("organization", ""), str("division", ""), str("department", ""),
	{Name: "manager", Type: "complex", Sub: []attrDef{str("value", ""), ref("$ref", "User"), {Name: "displayName", Type: "string", Mutability: "readOnly"}}},
}

var groupAttrs = []attrDef{
	{Name: "displayName", Type: "string", Required: true},
	{Name: "members", Type: "complex", Multi: true, Sub: []attrDef{str("value", ""), ref("$ref", "User", "Group"),
		str("display", ""), str("type", "")}},
}

// common attributes of every resource (RFC 7643 §3.1).
var externalID = attrDef{Name: "externalId", Type: "string", CaseExact: true}

// knownURN returns the canonical spelling of a schema URN muster knows.
func knownURN(s string) (string, bool) {
	for _, u := range []string{URNUser, URNGroup, URNEnterprise, urnEntraGroup} {
		if strings.EqualFold(s, u) {
			return u, true
		}
	}
	return "", false
}

// defsOf returns the attributes of a schema URN ("" : the core schema of
// the type).
func defsOf(typ, urn string) []attrDef {
	switch {
	case typ == TypeUser && (urn == "" || urn == URNUser):
		return userAttrs
	case typ == TypeUser && urn == URNEnterprise:
		return enterpriseAttrs
	case typ == TypeGroup && (urn == "" || urn == URNGroup):
		return groupAttrs
	}
	return nil
}

func findDef(defs []attrDef, name string) *attrDef {
	for i := range defs {
		if strings.EqualFold(defs[i].Name, name) {
			return &defs[i]
		}
	}
	return nil
}

// discovery documents (RFC 7644 §4), relative locations filled by the server.

func serviceProviderConfig(base string) map[string]any {
	return map[string]any{
		"schemas":          []string{URNSPC},
		"documentationUri": "https://github.com/muster#connect-okta",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": maxCount},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": false},
		"authenticationSchemes": []any{map[string]any{"type": "oauthbearertoken", "name": "Bearer token",
			"description": "The source's token, from muster token new -scim", "primary": true}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": base + "/ServiceProviderConfig"},
	}
}

func resourceType(base, typ string) map[string]any {
	rt := map[string]any{"schemas": []string{URNResType}, "id": typ, "name": typ,
		"meta": map[string]any{"resourceType": "ResourceType", "location": base + "/ResourceTypes/" + typ}}
	if typ == TypeUser {
		rt["endpoint"], rt["description"], rt["schema"] = "/Users", "User Account", URNUser
		rt["schemaExtensions"] = []any{map[string]any{"schema": URNEnterprise, "required": false}}
	} else {
		rt["endpoint"], rt["description"], rt["schema"] = "/Groups", "Group", URNGroup
		rt["schemaExtensions"] = []any{}
	}
	return rt
}

func schemaDoc(base, urn string) map[string]any {
	name, desc, defs := "", "", []attrDef(nil)
	switch urn {
	case URNUser:
		name, desc, defs = "User", "User Account", append([]attrDef{externalID}, userAttrs...)
	case URNEnterprise:
		name, desc, defs = "EnterpriseUser", "Enterprise User", enterpriseAttrs
	case URNGroup:
		name, desc, defs = "Group", "Group", append([]attrDef{externalID}, groupAttrs...)
	}
	return map[string]any{"schemas": []string{URNSchema}, "id": urn, "name": name, "description": desc,
		"attributes": attrDocs(defs), "meta": map[string]any{"resourceType": "Schema", "location": base + "/Schemas/" + urn}}
}

func attrDocs(defs []attrDef) []any {
	out := make([]any, 0, len(defs))
	for _, d := range defs {
		mut, ret, uniq := d.Mutability, d.Returned, d.Uniqueness
		if mut == "" {
			mut = "readWrite"
		}
		if ret == "" {
			ret = "default"
		}
		if uniq == "" {
			uniq = "none"
		}
		a := map[string]any{"name": d.Name, "type": d.Type, "multiValued": d.Multi, "description": d.Desc,
			"required": d.Required, "caseExact": d.CaseExact, "mutability": mut, "returned": ret, "uniqueness": uniq}
		if d.Sub != nil {
			a["subAttributes"] = attrDocs(d.Sub)
		}
		if d.Refs != nil {
			a["referenceTypes"] = d.Refs
		}
		out = append(out, a)
	}
	return out
}
