package api

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strings"

	"muster/schema"
	"muster/store"
)

// request is what a /v1 handler is given: the token that asked and the
// organisation the request is about (checked: the token may see it).
type request struct {
	*http.Request
	token *Token
	org   store.Org
}

// handlerFunc handles a /v1 request. It writes the answer and returns nil,
// or returns an error that is answered as JSON.
type handlerFunc func(w http.ResponseWriter, r *request) error

// endpoint is a handler with the role it needs.
type endpoint struct {
	role Role
	fn   handlerFunc
}

// routes registers every path. A /v1 resource is served both as
// /v1/RESOURCE (the token's organisation) and /v1/orgs/{org}/RESOURCE
// (an organisation named: any for an operator token, only its own for
// another). Every route is in the OpenAPI description (openapi.go);
// TestOpenAPIDescribesEveryRoute holds the two together.
func (s *Server) routes() {
	s.public("GET", "/healthz", s.healthz)
	s.public("GET", "/readyz", s.readyz)
	s.public("GET", "/metrics", s.serveMetrics)
	s.public("GET", "/v1/openapi.json", s.openAPI)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s.ui != nil && !strings.HasPrefix(r.URL.Path, "/v1/") && r.URL.Path != "/v1" {
			s.ui.ServeHTTP(w, r)
			return
		}
		s.writeError(w, r, schema.Errorf(schema.ENotFound, "no such path %s", r.URL.Path))
	})
	s.handle("/v1/orgs", false, map[string]endpoint{"GET": {RoleViewer, s.listOrgs}})
	s.handle("/v1/reload", false, map[string]endpoint{"POST": {RoleAdmin, s.reload}})
	s.handle("/v1/sftp/bans", false, map[string]endpoint{"GET": {RoleViewer, s.listBans}})
	s.handle("/v1/sftp/bans/{address}", false, map[string]endpoint{"DELETE": {RoleAdmin, s.liftBans}})
	for path, eps := range s.resources() {
		s.handle("/v1"+path, true, eps)
		s.handle("/v1/orgs/{org}"+path, true, eps)
	}
}

// resources are the /v1 resources of an organisation, by path and method.
func (s *Server) resources() map[string]map[string]endpoint {
	return map[string]map[string]endpoint{
		"/sources":                   {"GET": {RoleViewer, s.listSources}},
		"/sources/{source}":          {"GET": {RoleViewer, s.showSource}},
		"/sources/{source}/rollback": {"POST": {RoleAdmin, s.rollback}},
		"/sources/{source}/sync":     {"POST": {RoleAdmin, s.sync}},
		"/drops":                     {"GET": {RoleViewer, s.listDrops}},
		"/drops/{id}":                {"GET": {RoleViewer, s.showDrop}},
		"/drops/{id}/changes":        {"GET": {RoleViewer, s.dropChanges}},
		"/drops/{id}/approve":        {"POST": {RoleAdmin, s.approve}},
		"/drops/{id}/reject":         {"POST": {RoleAdmin, s.reject}},
		"/recipients":                {"GET": {RoleViewer, s.listRecipients}},
		"/recipients/{email}":        {"GET": {RoleViewer, s.explainRecipient}},
		"/groups":                    {"GET": {RoleViewer, s.listGroups}},
		"/export":                    {"GET": {RoleViewer, s.export}},
		"/notifications":             {"GET": {RoleViewer, s.listNotifications}},
	}
}

// route is a method and path the server answers, for the OpenAPI test.
type route struct {
	Method, Path string
}

// Routes lists every method and path registered (HEAD, which every GET
// answers, aside).
func (s *Server) Routes() []route {
	out := append([]route(nil), s.routeList...)
	sort.Slice(out, func(i, j int) bool {
		return out[i].Path < out[j].Path || out[i].Path == out[j].Path && out[i].Method < out[j].Method
	})
	return out
}

// public registers a path that needs no token (or checks one itself).
func (s *Server) public(method, path string, h http.HandlerFunc) {
	s.mux.HandleFunc(method+" "+path, h)
	s.routeList = append(s.routeList, route{method, path})
	s.methods(path, method)
}

// handle registers a /v1 path's methods, and a JSON 405 for the others.
func (s *Server) handle(path string, inOrg bool, eps map[string]endpoint) {
	allowed := make([]string, 0, len(eps))
	for method, ep := range eps {
		allowed = append(allowed, method)
		s.mux.Handle(method+" "+path, s.v1(ep, inOrg))
		s.routeList = append(s.routeList, route{method, path})
	}
	s.methods(path, allowed...)
}

// methods answers other methods on path with a JSON 405.
func (s *Server) methods(path string, allowed ...string) {
	sort.Strings(allowed)
	if slices.Contains(allowed, "GET") {
		allowed = append(allowed, "HEAD")
	}
	allow := strings.Join(allowed, ", ")
	s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		s.writeError(w, r, httpErrorf(http.StatusMethodNotAllowed, schema.EInvalid, "%s is not allowed here (allowed: %s)", r.Method, allow))
	})
}

// v1 wraps a handler: the token, then its role (before anything is looked
// up, so a refusal says nothing of what exists), then the organisation.
func (s *Server) v1(ep endpoint, inOrg bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := s.authenticate(r)
		if err != nil {
			s.refusedToken(w, r, err)
			return
		}
		if !t.Can(ep.role) {
			s.writeError(w, r, schema.Errorf(schema.EForbidden, "token %s is a %s: this needs an %s token", t.Name, t.Role, ep.role))
			return
		}
		req := &request{Request: r, token: t}
		if inOrg {
			if req.org, err = s.orgOf(r.Context(), t, r.PathValue("org")); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if err := ep.fn(w, req); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// Mount serves h (the web console) for every path that is not the API's,
// a probe or /metrics, on the same listener. Call it before Open.
func (s *Server) Mount(h http.Handler) { s.ui = h }

// OrgOf resolves the organisation a request names ("" for the token's
// own), as /v1 does: one the token may not see is not found.
func (s *Server) OrgOf(ctx context.Context, t *Token, named string) (store.Org, error) {
	return s.orgOf(ctx, t, named)
}

// orgOf resolves the organisation a request names (named, or "" for the
// token's own). An organisation the token may not see is not found, in the
// same words as one that does not exist.
func (s *Server) orgOf(ctx context.Context, t *Token, named string) (store.Org, error) {
	if named != "" && !schema.ValidName(named) {
		// "*" names every organisation in a token's config, never one in
		// a path: a request is about one organisation.
		return store.Org{}, schema.Errorf(schema.EInvalid,
			"%q is not an organisation's name: a request names one organisation, as /v1/orgs/{org}/...", named)
	}
	name := named
	if name == "" {
		if t.Org == AllOrgs {
			return store.Org{}, schema.Errorf(schema.EInvalid,
				"token %s is an operator token for every organisation: name one, as /v1/orgs/{org}/...", t.Name)
		}
		name = t.Org
	}
	if !t.Sees(name) {
		return store.Org{}, schema.Errorf(schema.ENotFound, "no organisation %q", name)
	}
	org, err := s.cfg.Store.LookupOrg(ctx, name)
	if schema.ErrorCodeOf(err) == schema.ENotFound && (t.Org == name || slices.Contains(s.conf().Orgs, name)) {
		// Known, with nothing ingested yet: id 0 matches no row.
		return store.Org{Name: name}, nil
	}
	return org, err
}

// listOrgs lists the organisations the token may name.
func (s *Server) listOrgs(w http.ResponseWriter, r *request) error {
	names, err := s.OrgNames(r.Context(), r.token)
	if err != nil {
		return err
	}
	out := make([]map[string]string, 0, len(names))
	for _, n := range names {
		out = append(out, map[string]string{"name": n})
	}
	writeJSON(w, http.StatusOK, map[string]any{"orgs": out})
	return nil
}

// OrgNames lists the organisations the token may name, by name.
func (s *Server) OrgNames(ctx context.Context, t *Token) ([]string, error) {
	names := []string{}
	if t.Org != AllOrgs {
		names = append(names, t.Org)
	} else {
		orgs, err := s.cfg.Store.Orgs(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range orgs {
			names = append(names, o.Name)
		}
		for _, o := range s.conf().Orgs {
			if !slices.Contains(names, o) {
				names = append(names, o)
			}
		}
		sort.Strings(names)
	}
	return names, nil
}
