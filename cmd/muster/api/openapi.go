package api

import (
	"net/http"
	"strconv"
	"strings"
)

// openAPI serves GET /v1/openapi.json: the API's OpenAPI 3.1 description.
// It needs no token (it says what the API is, nothing of what it holds).
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, OpenAPI(s.cfg.Build.Version))
}

// param is an OpenAPI parameter.
type param struct {
	name, in, desc string
	typ            string // string, integer, boolean
	required       bool
	enum           []string
}

func (p param) doc() map[string]any {
	schema := map[string]any{"type": p.typ}
	if len(p.enum) > 0 {
		schema["enum"] = p.enum
	}
	return map[string]any{"name": p.name, "in": p.in, "description": p.desc, "required": p.required || p.in == "path", "schema": schema}
}

func query(name, typ, desc string, enum ...string) param {
	return param{name: name, in: "query", typ: typ, desc: desc, enum: enum}
}

func pathParam(name, typ, desc string) param {
	return param{name: name, in: "path", typ: typ, desc: desc, required: true}
}

// operation describes one method of a path.
type operation struct {
	id, summary, role string
	params            []param
	body              string // a schema name, or "" for none
	status            int
	result            string // the answer's schema name
	contentType       string // default application/json
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func (o operation) doc(inOrg bool) map[string]any {
	params := []any{}
	id := o.id
	if inOrg {
		params = append(params, pathParam("org", "string", "the organisation (an operator token may name any; another token only its own)").doc())
		id += "InOrg"
	}
	for _, p := range o.params {
		params = append(params, p.doc())
	}
	status := o.status
	if status == 0 {
		status = http.StatusOK
	}
	ct := o.contentType
	if ct == "" {
		ct = "application/json"
	}
	content := map[string]any{ct: map[string]any{"schema": ref(o.result)}}
	if ct == "text/plain" {
		content = map[string]any{ct: map[string]any{"schema": map[string]any{"type": "string"}}}
	}
	responses := map[string]any{
		strconv.Itoa(status): map[string]any{"description": "success", "content": content},
		"default":            map[string]any{"description": "an error of the vocabulary", "content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}},
	}
	op := map[string]any{"operationId": id, "summary": o.summary, "parameters": params, "responses": responses}
	switch o.role {
	case "":
		op["security"] = []any{}
	case "operator":
		op["description"] = "Needs an operator token (org = \"*\") of role admin."
	case string(RoleViewer):
		op["description"] = "Needs a viewer or admin token."
	default:
		op["description"] = "Needs an admin token."
	}
	if o.body != "" {
		op["requestBody"] = map[string]any{"required": false, "content": map[string]any{"application/json": map[string]any{"schema": ref(o.body)}}}
	}
	return op
}

var pageParams = []param{query("limit", "integer", "page size: default 100, at most 1000")}

// orgOperations are the /v1 resources of an organisation, by path: each is
// served at /v1/PATH and /v1/orgs/{org}/PATH.
func orgOperations() map[string]map[string]operation {
	viewer, admin := string(RoleViewer), string(RoleAdmin)
	src := pathParam("source", "string", "the source's name")
	drop := pathParam("id", "integer", "the drop's id")
	return map[string]map[string]operation{
		"/sources":          {"get": {id: "listSources", summary: "sources: settings, people, held drops, last success, can_sync", role: viewer, result: "Sources"}},
		"/sources/{source}": {"get": {id: "showSource", summary: "one source", role: viewer, params: []param{src}, result: "SourceAnswer"}},
		"/sources/{source}/rollback": {"post": {id: "rollbackSource", summary: "restore the snapshot of an earlier applied drop, as a new drop",
			role: admin, params: []param{src}, body: "RollbackRequest", result: "Report"}},
		"/sources/{source}/sync": {"post": {id: "syncSource", summary: "pull a WorkOS source now, in the background",
			role: admin, params: []param{src}, status: http.StatusAccepted, result: "SyncStarted"}},
		"/drops": {"get": {id: "listDrops", summary: "drops, newest first", role: viewer, result: "Drops", params: append([]param{
			query("source", "string", "only this source's"),
			query("status", "string", "only this status", "received", "applied", "held", "rejected", "duplicate"),
			query("before", "integer", "cursor: the next of the previous page")}, pageParams...)}},
		"/drops/{id}": {"get": {id: "showDrop", summary: "a drop and its whole report", role: viewer, params: []param{drop}, result: "DropAnswer"}},
		"/drops/{id}/changes": {"get": {id: "dropChanges", summary: "what an applied drop changed, or a held drop would change, in key order",
			role: viewer, result: "Changes", params: append([]param{drop, query("after", "string", "cursor: the next of the previous page")}, pageParams...)}},
		"/drops/{id}/approve": {"post": {id: "approveDrop", summary: "apply a held drop's diff as reviewed", role: admin,
			params: []param{drop}, body: "ApproveRequest", result: "Report"}},
		"/drops/{id}/reject": {"post": {id: "rejectDrop", summary: "refuse a held drop", role: admin, params: []param{drop},
			body: "RejectRequest", result: "Report"}},
		"/recipients": {"get": {id: "listRecipients", summary: "recipients in key order", role: viewer, result: "Recipients", params: append([]param{
			query("search", "string", "email or name containing this"),
			query("group", "string", "members of groups of this name (repeatable)"),
			query("source", "string", "with group: only that source's group; alone: people the source lists"),
			query("status", "string", "default active", "active", "offboarded", "inactive", "gone", "all"),
			query("after", "string", "cursor: the next of the previous page")}, pageParams...)}},
		"/recipients/{email}": {"get": {id: "explainRecipient", summary: "each source's say about a recipient, which won, groups, history",
			role: viewer, params: []param{pathParam("email", "string", "the address (any case)")}, result: "Explanation"}},
		"/groups": {"get": {id: "listGroups", summary: "groups with their member counts", role: viewer, result: "Groups"}},
		"/export": {"get": {id: "exportAudience", summary: "an audience (the active members of the groups) as CSV or JSON lines",
			role: viewer, result: "", contentType: "text/plain", params: []param{
				query("group", "string", "a group (repeatable; required)"), query("source", "string", "only groups of this source"),
				query("format", "string", "default csv", "csv", "json")}}},
		"/notifications": {"get": {id: "listNotifications", summary: "what was told to whom, newest first", role: viewer, result: "Notifications",
			params: append([]param{query("target", "string", "only this target's"),
				query("status", "string", "only this status", "pending", "delivered", "failed", "dropped"),
				query("before", "integer", "cursor: the next of the previous page")}, pageParams...)}},
	}
}

// OpenAPI returns the API's OpenAPI 3.1 description.
func OpenAPI(version string) map[string]any {
	paths := map[string]any{}
	add := func(path string, inOrg bool, ops map[string]operation) {
		item := map[string]any{}
		for method, o := range ops {
			item[method] = o.doc(inOrg)
		}
		paths[path] = item
	}
	add("/healthz", false, map[string]operation{"get": {id: "healthz", summary: "200 while the process runs, with its version", result: "Health"}})
	add("/readyz", false, map[string]operation{"get": {id: "readyz", summary: "200 when every readiness check passes, else 503; each check in the body", result: "Ready"}})
	add("/metrics", false, map[string]operation{"get": {id: "metrics", summary: "the Prometheus exposition (an operator token when http.metrics is \"operator\")",
		contentType: "text/plain"}})
	add("/v1/openapi.json", false, map[string]operation{"get": {id: "openapi", summary: "this description", result: "OpenAPI"}})
	add("/v1/orgs", false, map[string]operation{"get": {id: "listOrgs", summary: "the organisations the token may name", role: string(RoleViewer), result: "Orgs"}})
	add("/v1/reload", false, map[string]operation{"post": {id: "reload", summary: "re-read the config file, as SIGHUP does; a bad one is refused and the running one kept",
		role: "operator", result: "ReloadResult"}})
	add("/v1/sftp/bans", false, map[string]operation{"get": {id: "listSFTPBans", summary: "the SFTP bans in force (an organisation's token sees its accounts' bans; an operator every ban)",
		role: string(RoleViewer), result: "Bans"}})
	add("/v1/sftp/bans/{address}", false, map[string]operation{"delete": {id: "liftSFTPBans", summary: "lift the bans of an address (of one account with ?account=)",
		role: string(RoleAdmin), result: "BansLifted", params: []param{pathParam("address", "string", "the client address banned"),
			query("account", "string", "only this account's ban from the address")}}})
	for path, ops := range orgOperations() {
		add("/v1"+path, false, ops)
		add("/v1/orgs/{org}"+path, true, ops)
	}
	obj := func(props map[string]any, required ...string) map[string]any {
		o := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			o["required"] = required
		}
		return o
	}
	str, integer, boolean := map[string]any{"type": "string"}, map[string]any{"type": "integer"}, map[string]any{"type": "boolean"}
	list := func(of any) map[string]any { return map[string]any{"type": "array", "items": of} }
	anyObj := map[string]any{"type": "object"}
	next := map[string]any{"type": "string", "description": "the cursor of the next page; absent on the last"}
	schemas := map[string]any{
		"Error": obj(map[string]any{"error": obj(map[string]any{"code": map[string]any{"type": "string",
			"enum": []string{"invalid", "unauthorized", "forbidden", "not_found", "conflict", "unavailable", "internal"}},
			"message": str, "problems": list(str)}, "code", "message")}, "error"),
		"Health":          obj(map[string]any{"status": str, "version": str, "commit": str, "build_time": str, "go_version": str}, "status", "version"),
		"Ready":           obj(map[string]any{"ready": boolean, "version": str, "checks": list(obj(map[string]any{"name": str, "ok": boolean, "error": str}))}, "ready", "checks"),
		"OpenAPI":         obj(map[string]any{"openapi": str, "info": anyObj, "paths": anyObj}, "openapi", "paths"),
		"Orgs":            obj(map[string]any{"orgs": list(obj(map[string]any{"name": str}))}, "orgs"),
		"ReloadResult":    obj(map[string]any{"changed": list(str), "restart_needed": list(str)}, "changed", "restart_needed"),
		"Source":          obj(map[string]any{"name": str, "kind": str, "mode": str, "priority": integer, "configured": boolean, "can_sync": boolean}),
		"Sources":         obj(map[string]any{"sources": list(ref("Source"))}, "sources"),
		"SourceAnswer":    obj(map[string]any{"source": ref("Source")}, "source"),
		"RollbackRequest": obj(map[string]any{"to": integer, "dry_run": boolean}, "to"),
		"ApproveRequest":  obj(map[string]any{"dry_run": boolean}),
		"RejectRequest":   obj(map[string]any{"reason": str}),
		"SyncStarted":     obj(map[string]any{"status": str, "source": str, "message": str}),
		"Counts": obj(map[string]any{"rows": integer, "added": integer, "updated": integer, "removed": integer, "unchanged": integer,
			"invalid": integer, "suppressed": integer}),
		"Report": obj(map[string]any{"drop_id": integer, "org": str, "source": str, "name": str, "decision": str, "reason": str,
			"counts": ref("Counts"), "problems": list(anyObj)}, "decision"),
		"Drop":         obj(map[string]any{"id": integer, "source": str, "status": str, "name": str, "reason": str, "counts": ref("Counts")}),
		"Drops":        obj(map[string]any{"drops": list(ref("Drop")), "next": next}, "drops"),
		"DropAnswer":   obj(map[string]any{"drop": ref("Drop"), "report": ref("Report")}, "drop"),
		"Changes":      obj(map[string]any{"changes": list(obj(map[string]any{"op": str, "key": str, "line": integer})), "next": next}, "changes"),
		"Recipient":    obj(map[string]any{"email": str, "key": str, "first_name": str, "last_name": str, "status": str}),
		"Recipients":   obj(map[string]any{"recipients": list(ref("Recipient")), "next": next}, "recipients"),
		"Explanation":  obj(map[string]any{"recipient": ref("Recipient"), "groups": list(anyObj), "assertions": list(anyObj), "history": list(anyObj)}),
		"Groups":       obj(map[string]any{"groups": list(obj(map[string]any{"name": str, "source": str, "members": integer}))}, "groups"),
		"Notification": obj(map[string]any{"id": integer, "org": str, "target": str, "event": str, "event_id": str, "source": str, "summary": str, "payload": anyObj, "status": str, "attempts": integer, "last_error": str, "created_at": str, "updated_at": str}),
		"Ban": obj(map[string]any{"address": str, "account": str, "org": str, "reason": str, "failures": integer,
			"since": str, "until": str}),
		"Bans":          obj(map[string]any{"bans": list(ref("Ban"))}, "bans"),
		"BansLifted":    obj(map[string]any{"lifted": list(ref("Ban"))}, "lifted"),
		"Notifications": obj(map[string]any{"notifications": list(ref("Notification")), "next": next}, "notifications"),
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "muster admin API", "version": version,
			"description": strings.Join([]string{"The admin API of muster (README, Admin API). Every /v1 path but this description needs a bearer token;",
				"each /v1 resource of an organisation is served as /v1/PATH (the token's organisation) and /v1/orgs/{org}/PATH.",
				"Refused tokens from one address beyond 10 a minute are answered 429 until the minute ends."}, " ")},
		"servers":    []any{map[string]any{"url": "/"}},
		"security":   []any{map[string]any{"bearer": []any{}}},
		"paths":      paths,
		"components": map[string]any{"schemas": schemas, "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "a token from `muster token new`"}}},
	}
}
