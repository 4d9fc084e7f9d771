package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"muster/schema"
	"muster/store"
)

// Refused tokens from one address are answered 401 up to ThrottleLimit a
// window, then 429 with Retry-After until the window ends; a valid token
// from the address is still served. The log has one line for the first
// refusal of a window and one when the address is throttled, not one per
// request; the next window's first line says how many were refused in the
// throttled one. The secret presented is never logged.
func TestRefusedTokensAreThrottledAndLoggedOncePerWindow(t *testing.T) {
	var logs lockedBuffer
	a := MustAPI(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a.srv.throttle.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	guess := "mst_guessed-token-value"
	a.secret["guess"] = guess
	for i := 1; i <= ThrottleLimit; i++ {
		a.mustStatus("GET", "/v1/sources", "guess", "", http.StatusUnauthorized, schema.EUnauthorized)
	}
	for i := 0; i < 500; i++ {
		r := a.mustStatus("GET", "/v1/drops", "guess", "", http.StatusTooManyRequests, schema.EUnauthorized)
		if i == 0 && (r.header.Get("Retry-After") != "60" || !strings.Contains(r.errorMessage(), "too many refused tokens")) {
			t.Fatalf("429: Retry-After %q, %s", r.header.Get("Retry-After"), r.body)
		}
	}
	a.mustStatus("GET", "/v1/sources", "acme-viewer", "", http.StatusOK, "")
	a.mustStatus("GET", "/metrics", "", "", http.StatusOK, "") // needs no token: not throttled
	out := logs.String()
	if n := strings.Count(out, "msg=\"authentication failed\""); n != 1 {
		t.Fatalf("%d lines of refusals, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "authentication failed repeatedly"); n != 1 || !strings.Contains(out, "refused=10") {
		t.Fatalf("%d throttle lines, want 1:\n%s", n, out)
	}
	if strings.Contains(out, guess) {
		t.Fatal("the log holds the secret presented")
	}
	advance(30 * time.Second)
	r := a.mustStatus("GET", "/v1/drops", "guess", "", http.StatusTooManyRequests, schema.EUnauthorized)
	if r.header.Get("Retry-After") != "30" {
		t.Fatalf("Retry-After %q half way through the window", r.header.Get("Retry-After"))
	}
	advance(31 * time.Second)
	a.mustStatus("GET", "/v1/drops", "guess", "", http.StatusUnauthorized, schema.EUnauthorized)
	out = logs.String()
	if n := strings.Count(out, "msg=\"authentication failed\""); n != 2 || !strings.Contains(out, "refused_last_window=10") {
		t.Fatalf("the next window's first line:\n%s", out)
	}
	a.scrape("").want(t, "muster_http_throttled_requests_total", 501)
	// Another address is not throttled by this one.
	if blocked, _ := a.srv.throttle.blocked("192.0.2.1"); blocked {
		t.Fatal("an address that refused nothing is throttled")
	}
}

// "*" names every organisation in a token's config, never one in a path:
// /v1/orgs/*/... is refused, for every token and every resource.
func TestOrgStarIsRefusedInPaths(t *testing.T) {
	s := mustSeeded(t)
	for _, path := range []string{"/v1/orgs/*/drops", "/v1/orgs/%2A/drops", "/v1/orgs/*/recipients", "/v1/orgs/*/export?group=staff"} {
		for _, tok := range []string{"ops", "ops-viewer", "acme-admin"} {
			r := s.mustStatus("GET", path, tok, "", http.StatusBadRequest, schema.EInvalid)
			if !strings.Contains(r.errorMessage(), "one organisation") {
				t.Errorf("%s as %s: %s", path, tok, r.body)
			}
		}
	}
	s.mustStatus("POST", fmt.Sprintf("/v1/orgs/*/drops/%d/approve", s.held), "ops", "", http.StatusBadRequest, schema.EInvalid)
	var d struct{ Drop store.Drop }
	s.mustGet("acme-viewer", fmt.Sprintf("/v1/drops/%d", s.held), &d)
	if d.Drop.Status != store.DropHeld {
		t.Fatalf("the held drop was decided through /v1/orgs/*: %s", d.Drop.Status)
	}
}

// The export neutralises every value a spreadsheet could run as a formula
// or split into one: starting with = + - @, a tab, a CR, ; or ,.
func TestExportNeutralisesEveryFormulaStart(t *testing.T) {
	a := MustAPI(t)
	starts := []string{"=", "+", "-", "@", "\t", "\r", ";", ","}
	var recs []schema.Record
	for i, c := range starts {
		email := fmt.Sprintf("p%d@acme.example", i)
		recs = append(recs, schema.Record{Line: i + 2, Email: email, Key: email, FirstName: c + "cmd|' /C calc'!A0",
			LastName: "Safe", Groups: []string{"staff"}})
	}
	a.ingest(acme, csvSource("hr"), "people.csv", recs)
	r := a.mustStatus("GET", "/v1/export?group=staff", "acme-viewer", "", 200, "")
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil || len(rows) != len(starts)+1 {
		t.Fatalf("%v: %q", err, r.body)
	}
	for _, row := range rows[1:] {
		if !strings.HasPrefix(row[1], "'") || row[2] != "Safe" {
			t.Errorf("row %q: the first name is not neutralised", row)
		}
	}
}

// /healthz and /readyz say which muster answers; muster_build_info too.
func TestVersionOnHealthAndMetrics(t *testing.T) {
	b := Build{Version: "1.2.3", Commit: "abc123", BuildTime: "2026-01-01T00:00:00Z", GoVersion: "go1.26"}
	a := MustAPI(t, func(c *Config) { c.Build = b })
	var h Build
	a.mustGet("", "/healthz", &h)
	if h != b {
		t.Fatalf("/healthz: %+v", h)
	}
	var ready struct{ Version string }
	a.mustGet("", "/readyz", &ready)
	if ready.Version != "1.2.3" {
		t.Fatalf("/readyz version %q", ready.Version)
	}
	m := NewMetrics(MetricsConfig{Build: b})
	c := MustAPI(t, func(c *Config) { c.Metrics = m })
	c.scrape("").want(t, "muster_build_info", 1, "commit", "abc123", "goversion", "go1.26", "version", "1.2.3")
}

// GET /v1/notifications lists the organisation's notifications; an
// operator sees the server's own events (SFTP bans) with them; nothing of
// another organisation shows.
func TestNotificationsEndpoint(t *testing.T) {
	a := MustAPI(t)
	ctx := context.Background()
	for _, n := range []store.Notification{
		{Org: acme, Target: "ops-slack", Event: "drop.held", EventID: "evt_1", Source: "hr", Summary: "acme held"},
		{Org: globex, Target: "ops-slack", Event: "drop.rejected", EventID: "evt_2", Source: "dir", Summary: "globex rejected"},
		{Org: "", Target: "ops-slack", Event: "sftp.banned", EventID: "evt_3", Summary: "banned 192.0.2.1"},
	} {
		if err := a.st.AddNotification(ctx, &n); err != nil {
			t.Fatal(err)
		}
	}
	list := func(token, path string) []string {
		var p struct{ Notifications []store.Notification }
		a.mustGet(token, path, &p)
		var out []string
		for _, n := range p.Notifications {
			out = append(out, n.Summary)
		}
		return out
	}
	if got := list("acme-viewer", "/v1/notifications"); strings.Join(got, ",") != "acme held" {
		t.Fatalf("acme sees %q", got)
	}
	if got := list("ops-viewer", "/v1/orgs/acme/notifications"); strings.Join(got, ",") != "banned 192.0.2.1,acme held" {
		t.Fatalf("an operator sees %q", got)
	}
	if got := list("globex-viewer", "/v1/notifications?status=pending"); strings.Join(got, ",") != "globex rejected" {
		t.Fatalf("globex sees %q", got)
	}
	a.mustStatus("GET", "/v1/notifications?status=lost", "acme-viewer", "", http.StatusBadRequest, schema.EInvalid)
	a.mustStatus("GET", "/v1/orgs/globex/notifications", "acme-viewer", "", http.StatusNotFound, schema.ENotFound)
}

// problemsErr is a refused config as the reload returns it.
type problemsErr struct{ lines []string }

func (p problemsErr) Error() string          { return strings.Join(p.lines, "\n") }
func (p problemsErr) ProblemLines() []string { return p.lines }
func (p problemsErr) Unwrap() error          { return schema.Errorf(schema.EInvalid, "%s", p.Error()) }

// POST /v1/reload needs an operator token of role admin; a refused config
// is a 400 listing its problems.
func TestReloadEndpoint(t *testing.T) {
	var calls []string
	var fail error
	a := MustAPI(t, func(c *Config) {
		c.Reload = func(_ context.Context, by string) (ReloadResult, error) {
			calls = append(calls, by)
			return ReloadResult{Changed: []string{"http token x added"}}, fail
		}
	})
	a.mustStatus("POST", "/v1/reload", "acme-admin", "", http.StatusForbidden, schema.EForbidden)
	a.mustStatus("POST", "/v1/reload", "ops-viewer", "", http.StatusForbidden, schema.EForbidden)
	a.mustStatus("GET", "/v1/reload", "ops", "", http.StatusMethodNotAllowed, schema.EInvalid)
	a.mustStatus("POST", "/v1/reload", "", "", http.StatusUnauthorized, schema.EUnauthorized)
	var res ReloadResult
	mustJSON(t, a.mustStatus("POST", "/v1/reload", "ops", "", http.StatusOK, ""), &res)
	if strings.Join(res.Changed, ",") != "http token x added" || res.Restart == nil || strings.Join(calls, ",") != "api:ops" {
		t.Fatalf("%+v, calls %v", res, calls)
	}
	fail = problemsErr{[]string{"sftp.accounts[0].keys[0]: not a key", "http.tokens[1].hash: not a token hash"}}
	r := a.mustStatus("POST", "/v1/reload", "ops", "", http.StatusBadRequest, schema.EInvalid)
	var body errorBody
	mustJSON(t, r, &body)
	if len(body.Error.Problems) != 2 || body.Error.Problems[1] != "http.tokens[1].hash: not a token hash" {
		t.Fatalf("%s", r.body)
	}
	b := MustAPI(t)
	b.mustStatus("POST", "/v1/reload", "ops", "", http.StatusServiceUnavailable, schema.EUnavailable)
}

// The OpenAPI 3.1 description lists every route the server answers, and
// the server answers every route it lists, with the same methods; every
// $ref in it resolves and every operation id is unique.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	a := MustAPI(t)
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	r := a.mustStatus("GET", "/v1/openapi.json", "", "", http.StatusOK, "")
	mustJSON(t, r, &doc)
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	var documented, served []string
	ids := map[string]bool{}
	for path, item := range doc.Paths {
		for method, op := range item {
			documented = append(documented, strings.ToUpper(method)+" "+path)
			var o struct {
				OperationID string `json:"operationId"`
			}
			json.Unmarshal(op, &o)
			if o.OperationID == "" || ids[o.OperationID] {
				t.Errorf("%s %s: operation id %q missing or repeated", method, path, o.OperationID)
			}
			ids[o.OperationID] = true
		}
	}
	for _, rt := range a.srv.Routes() {
		served = append(served, rt.Method+" "+rt.Path)
	}
	sort.Strings(documented)
	sort.Strings(served)
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("documented but not served: %s", d)
		}
	}
	for _, s := range served {
		if !slices.Contains(documented, s) {
			t.Errorf("served but not documented: %s", s)
		}
	}
	if len(served) < 30 {
		t.Fatalf("only %d routes: %v", len(served), served)
	}
	// Every documented path answers something other than "no such path"
	// (a 404 from the catch-all).
	for _, d := range documented {
		method, path, _ := strings.Cut(d, " ")
		path = strings.NewReplacer("{org}", acme, "{source}", "hr", "{id}", "1", "{email}", "x@acme.example").Replace(path)
		r := a.do(method, path, "ops", "")
		if r.status == http.StatusNotFound && strings.Contains(r.errorMessage(), "no such path") {
			t.Errorf("%s: %s", d, r)
		}
	}
	refs := bytes.Count(r.body, []byte(`"$ref"`))
	for _, m := range refRE(r.body) {
		if _, ok := doc.Components.Schemas[m]; !ok {
			t.Errorf("$ref to a missing schema %q", m)
		}
	}
	if refs == 0 {
		t.Fatal("no $ref at all")
	}
}

// refRE returns the schema names referenced in b.
func refRE(b []byte) []string {
	var out []string
	const p = `"#/components/schemas/`
	for {
		i := bytes.Index(b, []byte(p))
		if i < 0 {
			return out
		}
		b = b[i+len(p):]
		j := bytes.IndexByte(b, '"')
		out = append(out, string(b[:j]))
	}
}
