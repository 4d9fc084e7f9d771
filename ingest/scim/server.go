// Package scim is muster's SCIM 2.0 service provider (RFC 7643, 7644) as
// Okta, Microsoft Entra ID and other IdPs use it: discovery, Users and
// Groups with filters, paging, attributes, PUT and PATCH in every dialect
// those IdPs send. It speaks the protocol only: each configured source has a
// base URL /scim/v2/<org>/<source> and a bearer token, and a Backend keeps
// the resources and turns writes into the pipeline's edits
// (ingest/scimsource). It imports nothing of muster but schema.
package scim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Source is one SCIM source: its organisation, name and the SHA-256 of its
// bearer token.
type Source struct {
	Org, Name string
	TokenHash [sha256.Size]byte
}

// Key is "org/name".
func (s Source) Key() string { return s.Org + "/" + s.Name }

// Ref names a source to the backend.
type Ref struct{ Org, Name string }

// Key is "org/name".
func (r Ref) Key() string { return r.Org + "/" + r.Name }

// Backend keeps each source's resources. Its errors carry muster's codes
// (schema.ENotFound: 404, EConflict: 409 uniqueness, EInvalid: 400) or are
// *Error.
type Backend interface {
	// Get returns a resource; a group's Members only when members is set.
	Get(ctx context.Context, src Ref, typ, id string, members bool) (*Resource, error)
	// List returns a page of resources matching q, in a stable order, and
	// how many match in all.
	List(ctx context.Context, src Ref, q Query) ([]*Resource, int, error)
	// Write applies a write and returns the resource as it now is (nil
	// after a delete), once it is committed.
	Write(ctx context.Context, src Ref, w Write) (*Resource, error)
}

// Query is a list request: the and-ed equality conditions of its filter,
// the page, and whether a group's members are returned.
type Query struct {
	Type  string
	Conds []Cond
	// Offset is startIndex-1; Limit is count.
	Offset, Limit int
	Members       bool
}

// Cond is one `field eq value` condition. Fields: id, userName (compared
// ignoring case), externalId, email (the work email, ignoring case) for
// users; id, displayName (ignoring case), externalId for groups.
type Cond struct {
	Field, Value string
}

// Write is one write request.
type Write struct {
	Type string
	// ID is the resource written ("" for a create).
	ID string
	// New is the resource a create makes (its ID is the backend's to give).
	New *Resource
	// Change turns a copy of the current resource (a group with all its
	// members) into the new one: the body of a PUT, the operations of a
	// PATCH. Nil for a create or a delete.
	Change func(cur *Resource) error
	Delete bool
}

// RequestInfo describes one request, for metrics.
type RequestInfo struct {
	// Org and Source are empty when the request named no configured source.
	Org, Source string
	Method      string
	// Resource is Users, Groups, ServiceProviderConfig, ResourceTypes,
	// Schemas, or "other".
	Resource string
	Status   int
	Duration time.Duration
}

// Stats is what a source's requests did, for operators.
type Stats struct {
	Requests    int64     `json:"requests"`
	Errors      int64     `json:"errors"`
	LastRequest time.Time `json:"last_request,omitzero"`
	LastStatus  int       `json:"last_status,omitempty"`
	// LastError is the latest error's status and detail (never a body or
	// a token).
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

// Server serves every configured source under /scim/v2/. It is an
// http.Handler; Listener serves it over TLS.
type Server struct {
	backend Backend
	log     *slog.Logger
	// Observe, if set before serving, is told of every request.
	Observe func(RequestInfo)

	sources atomic.Pointer[map[string]Source]
	mu      sync.Mutex
	stats   map[string]*Stats
	prefix  string // request ids: random per process, then a counter
	seq     atomic.Uint64

	refusals throttle
}

// throttle lets one event a second through and counts the others.
type throttle struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether an event at now may be logged, and how many were
// not since the last one that was.
func (t *throttle) allow(now time.Time) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.last) < time.Second {
		t.suppressed++
		return 0, false
	}
	n := t.suppressed
	t.last, t.suppressed = now, 0
	return n, true
}

// maxBody bounds a request body (a PUT of a group lists every member).
const maxBody = 16 << 20

// maxCount caps a page; defaultCount is a page when count is not given.
const (
	maxCount     = 1000
	defaultCount = 100
)

// NewServer returns a server over a backend, serving the given sources.
func NewServer(b Backend, sources []Source, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var p [4]byte
	_, _ = rand.Read(p[:])
	s := &Server{backend: b, log: log, stats: map[string]*Stats{}, prefix: hex.EncodeToString(p[:])}
	s.SetSources(sources)
	return s
}

// SetSources replaces the sources and their tokens at once: requests
// already authenticated finish, the next ones see the new set (a config
// reload).
func (s *Server) SetSources(list []Source) {
	m := make(map[string]Source, len(list))
	for _, src := range list {
		m[src.Key()] = src
	}
	s.sources.Store(&m)
	s.mu.Lock()
	for k := range m {
		if s.stats[k] == nil {
			s.stats[k] = &Stats{}
		}
	}
	s.mu.Unlock()
}

// Stats returns each configured source's request statistics, by "org/name".
func (s *Server) Stats() map[string]Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Stats, len(s.stats))
	for k, v := range s.stats {
		out[k] = *v
	}
	return out
}

// req is one request being served.
type req struct {
	*http.Request
	w      http.ResponseWriter
	src    Ref
	base   string
	status int
	detail string
}

// ServeHTTP routes /scim/v2/<org>/<source>/<endpoint>.
func (s *Server) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	start := time.Now()
	id := s.prefix + "-" + strconv.FormatUint(s.seq.Add(1), 10)
	w.Header().Set("X-Request-Id", id)
	r := &req{Request: hr, w: w}
	info := RequestInfo{Method: hr.Method, Resource: "other"}
	rest, ok := strings.CutPrefix(hr.URL.Path, "/scim/v2/")
	parts := strings.Split(rest, "/")
	var known *Source
	if ok && len(parts) >= 2 {
		if src, found := (*s.sources.Load())[parts[0]+"/"+parts[1]]; found {
			known = &src
		}
	}
	if known != nil && len(parts) >= 3 {
		info.Resource = resourceName(parts[2])
	}
	switch {
	case known == nil:
		// An unknown organisation or source is refused like a wrong token:
		// the answer says nothing of what exists.
		s.fail(r, &Error{Status: 401, Detail: "unknown source or invalid token"})
	case !authorized(hr, known.TokenHash):
		s.fail(r, &Error{Status: 401, Detail: "unknown source or invalid token"})
	default:
		info.Org, info.Source = known.Org, known.Name
		r.src = Ref{Org: known.Org, Name: known.Name}
		scheme := "http"
		if hr.TLS != nil {
			scheme = "https"
		}
		r.base = scheme + "://" + hr.Host + "/scim/v2/" + parts[0] + "/" + parts[1]
		if err := s.route(r, parts[2:]); err != nil {
			e := errorOf(err)
			if e.Status >= 500 {
				s.log.Error("scim: request failed", "id", id, "source", known.Key(), "method", hr.Method, "path", hr.URL.Path, "error", err)
			}
			s.fail(r, e)
		}
	}
	info.Status, info.Duration = r.status, time.Since(start)
	if known != nil {
		s.count(known.Key(), r, start)
	}
	if s.Observe != nil {
		s.Observe(info)
	}
	attrs := []any{"id", id, "remote", hr.RemoteAddr, "method", hr.Method, "path", hr.URL.Path, "status", r.status,
		"ms", info.Duration.Milliseconds()}
	if hr.URL.Query().Has("filter") {
		attrs = append(attrs, "filter", true)
	}
	if r.detail != "" {
		attrs = append(attrs, "error", r.detail)
	}
	if r.status == 401 {
		// As for the admin API: who tried and why, never what was presented;
		// at most one line a second, the endpoint faces the internet.
		if n, ok := s.refusals.allow(time.Now()); ok {
			s.log.Warn("scim: authentication failed", append(attrs, "refused_since_last_line", n)...)
		}
	} else {
		s.log.Debug("scim request", attrs...)
	}
}

func (s *Server) count(key string, r *req, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats[key]
	if st == nil {
		st = &Stats{}
		s.stats[key] = st
	}
	st.Requests++
	st.LastRequest, st.LastStatus = at.UTC(), r.status
	if r.status >= 400 {
		st.Errors++
		st.LastError, st.LastErrorTime = strconv.Itoa(r.status)+" "+r.detail, at.UTC()
	}
}

func resourceName(seg string) string {
	for _, n := range []string{"Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas"} {
		if strings.EqualFold(seg, n) {
			return n
		}
	}
	return "other"
}

// authorized checks "Authorization: Bearer <token>" against the source's
// hash in constant time.
func authorized(r *http.Request, want [sha256.Size]byte) bool {
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return false
	}
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

func (s *Server) route(r *req, segs []string) error {
	if len(segs) == 0 || segs[0] == "" {
		return &Error{Status: 404, Detail: "no endpoint: the base URL is followed by /Users, /Groups, /ServiceProviderConfig, /ResourceTypes or /Schemas"}
	}
	if len(segs) > 2 {
		return &Error{Status: 404, Detail: "no such endpoint"}
	}
	id := ""
	if len(segs) == 2 {
		id = segs[1]
	}
	switch resourceName(segs[0]) {
	case "ServiceProviderConfig", "ResourceTypes", "Schemas":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.w.Header().Set("Allow", "GET")
			return &Error{Status: 405, Detail: segs[0] + " is read-only: only GET"}
		}
		return s.discovery(r, resourceName(segs[0]), id)
	case "Users":
		return s.resource(r, TypeUser, id)
	case "Groups":
		return s.resource(r, TypeGroup, id)
	}
	if strings.EqualFold(segs[0], "Bulk") || strings.EqualFold(segs[0], "Me") {
		return &Error{Status: 501, Detail: "/" + segs[0] + " is not supported"}
	}
	return &Error{Status: 404, Detail: "no such endpoint"}
}

func (s *Server) discovery(r *req, what, id string) error {
	switch what {
	case "ServiceProviderConfig":
		if id != "" {
			return &Error{Status: 404, Detail: "no such endpoint"}
		}
		s.write(r, 200, serviceProviderConfig(r.base))
	case "ResourceTypes":
		all := []any{resourceType(r.base, TypeUser), resourceType(r.base, TypeGroup)}
		switch {
		case id == "":
			s.write(r, 200, listResponse(all, len(all), 1))
		case strings.EqualFold(id, TypeUser):
			s.write(r, 200, all[0])
		case strings.EqualFold(id, TypeGroup):
			s.write(r, 200, all[1])
		default:
			return &Error{Status: 404, Detail: "no resource type " + strconv.Quote(id)}
		}
	case "Schemas":
		urns := []string{URNUser, URNEnterprise, URNGroup}
		if id == "" {
			all := make([]any, len(urns))
			for i, u := range urns {
				all[i] = schemaDoc(r.base, u)
			}
			s.write(r, 200, listResponse(all, len(all), 1))
			return nil
		}
		u, ok := knownURN(id)
		if !ok || u == urnEntraGroup {
			return &Error{Status: 404, Detail: "no schema " + strconv.Quote(id)}
		}
		s.write(r, 200, schemaDoc(r.base, u))
	}
	return nil
}

func listResponse(items []any, total, start int) map[string]any {
	return map[string]any{"schemas": []string{URNList}, "totalResults": total, "itemsPerPage": len(items),
		"startIndex": start, "Resources": items}
}

func (s *Server) resource(r *req, typ, id string) error {
	ctx := r.Context()
	q := r.URL.Query()
	proj, err := parseProjection(q.Get("attributes"), q.Get("excludedAttributes"))
	if err != nil {
		return err
	}
	switch {
	case r.Method == http.MethodGet && id == "":
		return s.list(r, typ, q)
	case r.Method == http.MethodPost && id == ".search":
		return s.search(r, typ)
	case r.Method == http.MethodGet:
		res, err := s.backend.Get(ctx, r.src, typ, id, typ == TypeGroup && proj.wants("members"))
		if err != nil {
			return err
		}
		r.w.Header().Set("ETag", res.ETag())
		s.write(r, 200, proj.apply(render(res, r.base)))
		return nil
	case r.Method == http.MethodPost && id == "":
		body, err := s.body(r)
		if err != nil {
			return err
		}
		res, _, err := decodeResource(typ, body)
		if err != nil {
			return err
		}
		if err := required(res); err != nil {
			return err
		}
		if res.Members == nil && typ == TypeGroup {
			res.Members = []Member{}
		}
		out, err := s.backend.Write(ctx, r.src, Write{Type: typ, New: res})
		if err != nil {
			return err
		}
		r.w.Header().Set("Location", r.base+"/"+plural(typ)+"/"+out.ID)
		r.w.Header().Set("ETag", out.ETag())
		s.write(r, 201, proj.apply(render(out, r.base)))
		return nil
	case r.Method == http.MethodPut && id != "":
		body, err := s.body(r)
		if err != nil {
			return err
		}
		res, hasMembers, err := decodeResource(typ, body)
		if err != nil {
			return err
		}
		if err := required(res); err != nil {
			return err
		}
		out, err := s.backend.Write(ctx, r.src, Write{Type: typ, ID: id, Change: func(cur *Resource) error {
			cur.Attrs = res.Attrs
			if hasMembers {
				cur.Members = res.Members
			}
			return nil
		}})
		if err != nil {
			return err
		}
		r.w.Header().Set("ETag", out.ETag())
		s.write(r, 200, proj.apply(render(out, r.base)))
		return nil
	case r.Method == http.MethodPatch && id != "":
		body, err := s.body(r)
		if err != nil {
			return err
		}
		ops, err := decodePatch(body)
		if err != nil {
			return err
		}
		out, err := s.backend.Write(ctx, r.src, Write{Type: typ, ID: id, Change: func(cur *Resource) error {
			if err := applyPatch(cur, ops); err != nil {
				return err
			}
			return required(cur)
		}})
		if err != nil {
			return err
		}
		r.w.Header().Set("ETag", out.ETag())
		if typ == TypeGroup && !q.Has("attributes") {
			// Entra ID: a group PATCH answers 204, not every member.
			s.write(r, 204, nil)
			return nil
		}
		s.write(r, 200, proj.apply(render(out, r.base)))
		return nil
	case r.Method == http.MethodDelete && id != "":
		if _, err := s.backend.Write(ctx, r.src, Write{Type: typ, ID: id, Delete: true}); err != nil {
			return err
		}
		s.write(r, 204, nil)
		return nil
	}
	if id == "" {
		r.w.Header().Set("Allow", "GET, POST")
	} else {
		r.w.Header().Set("Allow", "GET, PUT, PATCH, DELETE")
	}
	return &Error{Status: 405, Detail: r.Method + " is not allowed here"}
}

func plural(typ string) string {
	if typ == TypeGroup {
		return "Groups"
	}
	return "Users"
}

// required checks what a resource cannot be without.
func required(r *Resource) error {
	if r.Type == TypeUser && strings.TrimSpace(r.UserName()) == "" {
		return invalidValue("userName is required")
	}
	if r.Type == TypeGroup && strings.TrimSpace(r.DisplayName()) == "" {
		return invalidValue("displayName is required")
	}
	return nil
}

func (s *Server) list(r *req, typ string, q url.Values) error {
	proj, err := parseProjection(q.Get("attributes"), q.Get("excludedAttributes"))
	if err != nil {
		return err
	}
	start, err := intParam(q.Get("startIndex"), 1)
	if err != nil {
		return err
	}
	count, err := intParam(q.Get("count"), defaultCount)
	if err != nil {
		return err
	}
	start, count = max(start, 1), min(max(count, 0), maxCount)
	query := Query{Type: typ, Offset: start - 1, Limit: count, Members: typ == TypeGroup && proj.wants("members")}
	if f := q.Get("filter"); f != "" {
		x, err := ParseFilter(f)
		if err != nil {
			return &Error{Status: 400, Type: "invalidFilter", Detail: err.Error()}
		}
		if query.Conds, err = conditions(typ, x); err != nil {
			return err
		}
	}
	page, total, err := s.backend.List(r.Context(), r.src, query)
	if err != nil {
		return err
	}
	items := make([]any, len(page))
	for i, res := range page {
		items[i] = proj.apply(render(res, r.base))
	}
	s.write(r, 200, listResponse(items, total, start))
	return nil
}

// search is POST /Users/.search (RFC 7644 §3.4.3): a list whose query is
// in the body.
func (s *Server) search(r *req, typ string) error {
	body, err := s.body(r)
	if err != nil {
		return err
	}
	var sr struct {
		Filter             string   `json:"filter"`
		StartIndex         *int     `json:"startIndex"`
		Count              *int     `json:"count"`
		Attributes         []string `json:"attributes"`
		ExcludedAttributes []string `json:"excludedAttributes"`
	}
	if err := json.Unmarshal(body, &sr); err != nil {
		return &Error{Status: 400, Type: "invalidSyntax", Detail: "the body is not a SearchRequest"}
	}
	q := url.Values{}
	q.Set("filter", sr.Filter)
	q.Set("attributes", strings.Join(sr.Attributes, ","))
	q.Set("excludedAttributes", strings.Join(sr.ExcludedAttributes, ","))
	if sr.StartIndex != nil {
		q.Set("startIndex", strconv.Itoa(*sr.StartIndex))
	}
	if sr.Count != nil {
		q.Set("count", strconv.Itoa(*sr.Count))
	}
	return s.list(r, typ, q)
}

func intParam(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, &Error{Status: 400, Type: "invalidValue", Detail: strconv.Quote(s) + " is not an integer"}
	}
	return n, nil
}

// conditions turns a filter into and-ed equalities on the fields muster
// indexes, which are those IdPs match on; anything else is refused with
// invalidFilter rather than answered wrongly.
func conditions(typ string, x Expr) ([]Cond, error) {
	switch x := x.(type) {
	case Logic:
		if x.Op == "and" {
			l, err := conditions(typ, x.Left)
			if err != nil {
				return nil, err
			}
			r, err := conditions(typ, x.Right)
			return append(l, r...), err
		}
	case Compare:
		v, ok := x.Value.(string)
		if x.Op == "eq" && ok && (x.Path.URN == "" || x.Path.URN == URNUser || x.Path.URN == URNGroup) {
			if f := filterField(typ, x.Path); f != "" {
				return []Cond{{Field: f, Value: v}}, nil
			}
		}
	}
	fields := `userName, externalId, id, emails[type eq "work"].value`
	if typ == TypeGroup {
		fields = "displayName, externalId, id"
	}
	return nil, &Error{Status: 400, Type: "invalidFilter",
		Detail: "muster filters " + plural(typ) + " with eq on " + fields + ", joined by and"}
}

func filterField(typ string, p Path) string {
	attr := strings.ToLower(p.Attr)
	switch {
	case attr == "id" && p.Sub == "" && p.Filter == nil:
		return "id"
	case attr == "externalid" && p.Sub == "" && p.Filter == nil:
		return "externalId"
	case typ == TypeUser && attr == "username" && p.Sub == "" && p.Filter == nil:
		return "userName"
	case typ == TypeGroup && attr == "displayname" && p.Sub == "" && p.Filter == nil:
		return "displayName"
	case typ == TypeUser && attr == "emails" && (p.Sub == "" || strings.EqualFold(p.Sub, "value")):
		if p.Filter == nil || isWorkFilter(p.Filter) {
			return "email"
		}
	}
	return ""
}

func isWorkFilter(x Expr) bool {
	c, ok := x.(Compare)
	v, _ := c.Value.(string)
	return ok && c.Op == "eq" && strings.EqualFold(c.Path.Attr, "type") && strings.EqualFold(v, "work")
}

func (s *Server) body(r *req) ([]byte, error) {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if ct != "" && !strings.Contains(ct, "json") {
		return nil, &Error{Status: 415, Detail: "the body must be application/scim+json or application/json"}
	}
	b, err := io.ReadAll(http.MaxBytesReader(r.w, r.Body, maxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, &Error{Status: 413, Detail: "the body is larger than " + strconv.Itoa(maxBody>>20) + " MiB"}
		}
		return nil, &Error{Status: 400, Type: "invalidSyntax", Detail: "the body could not be read"}
	}
	return b, nil
}

func (s *Server) write(r *req, status int, v any) {
	r.status = status
	h := r.w.Header()
	if v == nil {
		r.w.WriteHeader(status)
		return
	}
	h.Set("Content-Type", "application/scim+json")
	b, err := json.Marshal(v)
	if err != nil {
		r.status = 500
		r.w.WriteHeader(500)
		return
	}
	r.w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = r.w.Write(b)
	}
}

func (s *Server) fail(r *req, e *Error) {
	if e.Status == 401 {
		r.w.Header().Set("WWW-Authenticate", `Bearer realm="muster"`)
	}
	body := map[string]any{"schemas": []string{URNError}, "status": strconv.Itoa(e.Status), "detail": e.Detail}
	if e.Type != "" {
		body["scimType"] = e.Type
	}
	s.write(r, e.Status, body)
	r.detail = e.Detail
}

func asError(err error, target **Error) bool { return errors.As(err, target) }
