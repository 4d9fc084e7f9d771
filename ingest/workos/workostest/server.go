// Package workostest is a faithful fake of the WorkOS Directory Sync and
// Events APIs, built to the blueprint of reference/workos-api.md §10: bearer
// auth, the real 401/404/422 bodies, limit bounds and default order,
// spec-conformant before/after cursors compared by id, the bare Ratelimited
// 429 of /directory_users and the JSON one of the per-key limit, with an
// optional Retry-After, a legacy listMetadata mode, the Events
// API returning oldest-first whatever order says, signed webhooks (and forged
// ones), fault injection, request counting per endpoint, and a Go API (plus
// an HTTP control API under /_fake/) to create, change and delete
// directories, users, groups and memberships, each change emitting the
// dsync.* events WorkOS would.
//
// It does not import the client package, so the two cross-check each other
// (webhook signing in particular is written twice on purpose).
package workostest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultAPIKey is the key the fake accepts unless Options.APIKey says otherwise.
const DefaultAPIKey = "sk_test_fake_key"

// ListMetadataMode chooses the pagination key of list responses (§2.2).
type ListMetadataMode uint8

const (
	// MetadataModern writes list_metadata (today's API).
	MetadataModern ListMetadataMode = iota
	// MetadataBoth writes list_metadata and listMetadata (2021-22).
	MetadataBoth
	// MetadataLegacy writes only listMetadata (2021).
	MetadataLegacy
)

// GroupsMode chooses what the deprecated groups field of users holds (§4.2).
type GroupsMode uint8

const (
	// GroupsEmpty writes "groups": [] (the default for teams created from 2026-05).
	GroupsEmpty GroupsMode = iota
	// GroupsFull writes full group objects.
	GroupsFull
	// GroupsSlim writes {object, id, name} only, as older responses did.
	GroupsSlim
)

// TimeStyle chooses how timestamps are written (§1).
type TimeStyle uint8

const (
	// TimeMillisZ writes 2026-01-15T12:00:00.000Z (the spec).
	TimeMillisZ TimeStyle = iota
	// TimeOffset writes 2021-07-31T05:10:19+0000 (seen in 2021 traffic).
	TimeOffset
	// TimeSpace writes 2023-04-28 20:05:31.093 (docs samples).
	TimeSpace
)

// InactivePolicy says what DeactivateUser does (§4.5).
type InactivePolicy uint8

const (
	// InactiveUpdate keeps the user with state inactive and emits
	// dsync.user.updated (older environments, "custom management flow").
	InactiveUpdate InactivePolicy = iota
	// InactiveDelete deletes the user and emits dsync.user.deleted (the
	// "secure flow" of environments created after 2023-10-19).
	InactiveDelete
)

// Options configure a Server. The zero value is today's API.
type Options struct {
	// APIKey defaults to DefaultAPIKey.
	APIKey string
	// Now is the fake's clock (timestamps, rate limiting, ids); default time.Now.
	Now func() time.Time
	// Seed makes ids reproducible.
	Seed uint64

	ListMetadata ListMetadataMode
	// LegacyCursors makes order=desc paginate like the 2021 API (and today's
	// order=normal): the next page is reached with before (§2.4).
	LegacyCursors bool
	UserGroups    GroupsMode
	// DeprecatedFields fills emails, job_title, username and raw_attributes
	// as before 2026-04-15; otherwise they are blanked ([], null, null, {}).
	DeprecatedFields bool
	// OmitOptional leaves optional keys out instead of writing null.
	OmitOptional bool
	TimeStyle    TimeStyle

	// RateLimit enforces 4 requests/second per directory on GET
	// /directory_users (§7.3), answering 429 with the body Ratelimited.
	RateLimit bool
	// RetryAfter, if set, is sent with every 429 ("1", or an HTTP date).
	RetryAfter string
	// KeyRateLimit, if set, limits every WorkOS endpoint to this many
	// requests per rolling minute for the key (production: 6,000, §7.3),
	// answering 429 {"message":"Too many requests.","code":"rate_limit_exceeded"}
	// (with RetryAfter).
	KeyRateLimit int
	// RatelimitedJSON writes the 429 body as the JSON string "Ratelimited"
	// instead of the bare word.
	RatelimitedJSON bool

	Inactive InactivePolicy
	// EventRetention, if set, hides events older than this from GET /events
	// (production keeps 90 days, §5.1).
	EventRetention time.Duration
	// IgnoreRangeStart ignores range_start and range_end on GET /events, as
	// WorkOS's own emulator does (§9): a client must not rely on them.
	IgnoreRangeStart bool
	// DuplicateWebhooks delivers every subscribed webhook twice.
	DuplicateWebhooks bool
	// Logger, if set, gets one line per request.
	Logger *slog.Logger
}

// Server is the fake. It is an http.Handler; Start serves it on loopback for
// a test. All methods are safe for concurrent use.
type Server struct {
	// URL is set by Start: the base URL to give the client.
	URL string

	opts Options
	mux  *http.ServeMux

	mu      sync.Mutex
	ids     *idGen
	dirs    map[string]*dirState
	dirIDs  []string // sorted
	users   map[string]*User
	groups  map[string]*Group
	members map[string][]string            // group id -> sorted user ids
	ofUser  map[string]map[string]struct{} // user id -> group ids
	events  []storedEvent
	counts  map[string]int
	faults  []*faultState
	limiter map[string][]time.Time
	keyHits []time.Time // KeyRateLimit's window
	hooks   *webhooks
}

type dirState struct {
	d      Directory
	users  []string // sorted ids
	groups []string // sorted ids
}

// New returns a fake with no data.
func New(opts Options) *Server {
	if opts.APIKey == "" {
		opts.APIKey = DefaultAPIKey
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:    opts,
		ids:     newIDGen(opts.Seed),
		dirs:    map[string]*dirState{},
		users:   map[string]*User{},
		groups:  map[string]*Group{},
		members: map[string][]string{},
		ofUser:  map[string]map[string]struct{}{},
		counts:  map[string]int{},
		limiter: map[string][]time.Time{},
	}
	s.hooks = newWebhooks(s)
	s.routes()
	return s
}

// Start serves a new fake on 127.0.0.1 for the test's lifetime and sets URL.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := New(opts)
	ts := httptest.NewServer(s)
	s.URL = ts.URL
	tb.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		s.Close()
	})
	return s
}

// APIKey returns the key the fake accepts.
func (s *Server) APIKey() string { return s.opts.APIKey }

// Close stops webhook delivery.
func (s *Server) Close() { s.hooks.close() }

// ServeHTTP counts the request, applies faults, checks the key and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", requestID())
	_, pattern := s.mux.Handler(r)
	key := countKey(r, pattern)
	s.mu.Lock()
	s.counts[key]++
	f := s.matchFault(r)
	s.mu.Unlock()
	if s.opts.Logger != nil {
		s.opts.Logger.Debug("workos fake request", "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery)
	}
	if f != nil && f.apply(w, r, s.authorized) {
		return
	}
	s.authorized(w, r)
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.opts.APIKey {
		writeJSON(w, http.StatusUnauthorized, messageJSON{Message: "Unauthorized"})
		return
	}
	if s.opts.KeyRateLimit > 0 && !strings.HasPrefix(r.URL.Path, "/_fake/") && !s.allowKey() {
		if s.opts.RetryAfter != "" {
			w.Header().Set("Retry-After", s.opts.RetryAfter)
		}
		writeJSON(w, http.StatusTooManyRequests, messageJSON{Message: "Too many requests.", Code: "rate_limit_exceeded"})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// allowKey implements KeyRateLimit: that many requests per rolling minute.
func (s *Server) allowKey() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	i := 0
	for i < len(s.keyHits) && now.Sub(s.keyHits[i]) >= time.Minute {
		i++
	}
	s.keyHits = s.keyHits[i:]
	if len(s.keyHits) >= s.opts.KeyRateLimit {
		return false
	}
	s.keyHits = append(s.keyHits, now)
	return true
}

// countKey names an endpoint for the request counts: the route pattern, and
// for the two filtered lists the filter used ("GET /directory_users?group").
func countKey(r *http.Request, pattern string) string {
	if pattern == "" {
		pattern = r.Method + " " + r.URL.Path
	}
	q := r.URL.Query()
	switch pattern {
	case "GET /directory_users":
		if q.Get("group") != "" {
			return pattern + "?group"
		}
		return pattern + "?directory"
	case "GET /directory_groups":
		if q.Get("user") != "" {
			return pattern + "?user"
		}
		return pattern + "?directory"
	}
	return pattern
}

// Endpoint names for Count.
const (
	CountDirectories     = "GET /directories"
	CountDirectory       = "GET /directories/{id}"
	CountUsers           = "GET /directory_users?directory"
	CountGroupMembers    = "GET /directory_users?group"
	CountUser            = "GET /directory_users/{id}"
	CountGroups          = "GET /directory_groups?directory"
	CountGroupsOfUser    = "GET /directory_groups?user"
	CountGroup           = "GET /directory_groups/{id}"
	CountEvents          = "GET /events"
	CountDeleteDirectory = "DELETE /directories/{id}"
)

// Count returns how many requests reached the endpoint (a Count* name),
// faulted and refused ones included.
func (s *Server) Count(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[endpoint]
}

// Counts returns a copy of every endpoint's count.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		if !strings.HasPrefix(k, "/_fake") && !strings.Contains(k, " /_fake/") {
			out[k] = v
		}
	}
	return out
}

// TotalRequests counts every WorkOS API request (control API excluded).
func (s *Server) TotalRequests() int {
	n := 0
	for _, v := range s.Counts() {
		n += v
	}
	return n
}

// ResetCounts sets every count to zero.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.counts)
}

func requestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

type fieldErrorJSON struct {
	Field string `json:"field"`
	Code  string `json:"code"`
}

type validationJSON struct {
	Message string           `json:"message"`
	Errors  []fieldErrorJSON `json:"errors"`
}

// validationFailed writes the 422 shape WorkOS uses (§7.1), keys in its order.
func validationFailed(w http.ResponseWriter, fields ...[2]string) {
	v := validationJSON{Message: "Validation failed"}
	for _, f := range fields {
		v.Errors = append(v.Errors, fieldErrorJSON{f[0], f[1]})
	}
	writeJSON(w, http.StatusUnprocessableEntity, v)
}

// messageJSON is an error body {"message", "code"?}.
type messageJSON struct {
	Message  string `json:"message"`
	Code     string `json:"code,omitempty"`
	EntityID string `json:"entity_id,omitempty"`
}
