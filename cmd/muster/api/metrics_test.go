package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"muster/ingest"
	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
	"muster/schema"
	"muster/store"
)

// exposition is a parsed scrape of /metrics.
type exposition map[string]*dto.MetricFamily

// scrape GETs /metrics (with the token, if any) and parses the text format.
func (a *testAPI) scrape(token string) exposition {
	a.t.Helper()
	r := a.do("GET", "/metrics", token, "")
	if r.status != http.StatusOK {
		a.t.Fatalf("GET /metrics: %s", r)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.body))
	if err != nil {
		a.t.Fatalf("parse /metrics: %v\n%s", err, r.body)
	}
	return fams
}

// value returns the value of the sample of name with exactly these label
// values (name=value pairs), and whether it is there. A histogram's value
// is its sample count.
func (e exposition) value(name string, labels ...string) (float64, bool) {
	f := e[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(labels)/2 {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// want checks samples: each is name, value, then label pairs.
func (e exposition) want(t testing.TB, name string, v float64, labels ...string) {
	t.Helper()
	got, ok := e.value(name, labels...)
	if !ok {
		t.Fatalf("%s%v: not exposed", name, labels)
	}
	if got != v {
		t.Fatalf("%s%v = %g, want %g", name, labels, got, v)
	}
}

func (e exposition) absent(t testing.TB, name string, labels ...string) {
	t.Helper()
	if v, ok := e.value(name, labels...); ok {
		t.Fatalf("%s%v = %g, want none", name, labels, v)
	}
}

// TestMetricsFollowDrops ingests drops of every decision and a WorkOS pull
// (from the fake WorkOS, with one 429 answer), approves a held drop through
// the API, and checks what /metrics exposes after each step.
func TestMetricsFollowDrops(t *testing.T) {
	fake := workostest.Start(t, workostest.Options{})
	seed := fake.MustSeed(t, workostest.SeedSpec{Users: 30, Groups: 3, Domain: "acme.example"})
	fake.AddFault(workostest.Fault{Path: "/directory_users", Count: 1, Status: http.StatusTooManyRequests, RetryAfter: "0"})
	client, err := workos.New(workos.Config{BaseURL: fake.URL, APIKey: workos.Secret(fake.APIKey()), DirectoryUsersInterval: -1,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	runs := []RunStatus{{Org: acme, Source: "dir", LastRun: time.Unix(1700000000, 0), LastSuccess: time.Unix(1700000000, 0)}}
	a := MustAPI(t)
	a.metrics.cfg.WorkOS = func() (workos.Stats, bool) { return client.Stats(), true }
	a.metrics.cfg.Runs = func() []RunStatus { return runs }

	m := a.scrape("")
	m.absent(t, "muster_drops_total", "org", acme, "source", "hr", "decision", "applied")
	m.want(t, "muster_workos_requests_total", 0)
	m.want(t, "muster_scheduled_run_failing", 0, "org", acme, "source", "dir")
	m.want(t, "muster_source_last_success_timestamp_seconds", 1700000000, "org", acme, "source", "dir")

	hr := ingest.SourceConfig{Name: "hr", Kind: store.KindCSV}
	a.ingest(acme, hr, "day1.csv", people(100, "a", "acme.example", "staff"))
	m = a.scrape("")
	m.want(t, "muster_drops_total", 1, "org", acme, "source", "hr", "decision", "applied")
	m.want(t, "muster_rows_total", 100, "org", acme, "source", "hr", "change", "added")
	m.want(t, "muster_rows_total", 0, "org", acme, "source", "hr", "change", "removed")
	m.want(t, "muster_ingest_duration_seconds", 1, "org", acme, "source", "hr")
	m.want(t, "muster_held_drops", 0, "org", acme, "source", "hr")
	m.want(t, "muster_source_people", 100, "org", acme, "source", "hr")
	first, ok := m.value("muster_source_last_success_timestamp_seconds", "org", acme, "source", "hr")
	if !ok || time.Since(time.Unix(int64(first), 0)) > time.Hour {
		t.Fatalf("last success of hr: %v %v", first, ok)
	}

	// A truncated file is held; the same file again is a duplicate of it.
	held := a.ingest(acme, hr, "day2.csv", people(60, "a", "acme.example", "staff"))
	a.ingest(acme, hr, "day2-again.csv", people(60, "a", "acme.example", "staff"))
	// Too many invalid rows: rejected.
	bad := people(10, "b", "acme.example")
	bad[3].Problems = []schema.Problem{{Line: 5, Code: "bad_email", Severity: schema.SeverityError, Message: "not an email"}}
	a.ingest(acme, csvSource("other"), "bad.csv", bad)
	m = a.scrape("")
	m.want(t, "muster_drops_total", 1, "org", acme, "source", "hr", "decision", "held")
	m.want(t, "muster_drops_total", 1, "org", acme, "source", "hr", "decision", "duplicate")
	m.want(t, "muster_drops_total", 1, "org", acme, "source", "other", "decision", "rejected")
	m.want(t, "muster_held_drops", 1, "org", acme, "source", "hr")
	m.want(t, "muster_rows_total", 0, "org", acme, "source", "hr", "change", "removed")
	m.want(t, "muster_ingest_duration_seconds", 3, "org", acme, "source", "hr")
	m.absent(t, "muster_rows_total", "org", acme, "source", "other", "change", "invalid")

	// Approving through the API applies the held drop's 40 removals.
	a.mustStatus("POST", fmt.Sprintf("/v1/drops/%d/approve", held.DropID), "acme-admin", "", 200, "")
	m = a.scrape("")
	m.want(t, "muster_held_drops_decided_total", 1, "org", acme, "source", "hr", "decision", "approved")
	m.want(t, "muster_held_drops", 0, "org", acme, "source", "hr")
	m.want(t, "muster_rows_total", 40, "org", acme, "source", "hr", "change", "removed")
	m.want(t, "muster_rows_total", 60, "org", acme, "source", "hr", "change", "unchanged")
	m.want(t, "muster_source_people", 60, "org", acme, "source", "hr")
	m.want(t, "muster_http_requests_total", 1, "route", "POST /v1/drops/{id}/approve", "code", "200")
	last, _ := m.value("muster_source_last_success_timestamp_seconds", "org", acme, "source", "hr")
	if last < first {
		t.Fatalf("last success went back: %v < %v", last, first)
	}

	// A WorkOS pull: the client's counters, and its drop.
	stream, err := client.Pull(context.Background(), seed.Directory.ID, workos.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := a.in.Ingest(context.Background(), ingest.Drop{Org: acme, Source: ingest.SourceConfig{Name: "dir", Kind: store.KindWorkOS},
		Name: "workos pull", Kind: store.DropKindStream, Records: stream}, ingest.Options{By: "workos"})
	if err != nil || rep.Decision != ingest.Applied {
		t.Fatalf("pull: %v %+v", err, rep)
	}
	runs[0].Err = "workos: 500 Internal Server Error"
	m = a.scrape("")
	m.want(t, "muster_workos_requests_total", float64(fake.TotalRequests()))
	m.want(t, "muster_workos_retries_total", 1)
	m.want(t, "muster_workos_rate_limited_total", 1)
	m.want(t, "muster_workos_failures_total", 0)
	m.want(t, "muster_drops_total", 1, "org", acme, "source", "dir", "decision", "applied")
	m.want(t, "muster_rows_total", 30, "org", acme, "source", "dir", "change", "added")
	m.want(t, "muster_scheduled_run_failing", 1, "org", acme, "source", "dir")
	if v, _ := m.value("muster_source_last_success_timestamp_seconds", "org", acme, "source", "dir"); v <= 1700000000 {
		t.Fatalf("last success of dir %v: the applied pull is later than the scheduler's old success", v)
	}
	if fake.TotalRequests() < 5 {
		t.Fatalf("the pull made %d requests", fake.TotalRequests())
	}

	// Bad tokens are counted.
	a.mustStatus("GET", "/v1/sources", "", "", http.StatusUnauthorized, schema.EUnauthorized)
	a.scrape("").want(t, "muster_http_auth_failures_total", 1)
}

func TestMetricsToken(t *testing.T) {
	a := MustAPI(t, func(c *Config) { c.MetricsAuth = true })
	a.mustStatus("GET", "/metrics", "", "", http.StatusUnauthorized, schema.EUnauthorized)
	// Metrics name every organisation: an organisation's own token may not.
	a.mustStatus("GET", "/metrics", "acme-admin", "", http.StatusForbidden, schema.EForbidden)
	if _, ok := a.scrape("ops-viewer")["muster_http_requests_total"]; !ok {
		t.Fatal("no request counter")
	}
	open := MustAPI(t)
	open.scrape("")
}

func TestServerLifecycle(t *testing.T) {
	a := MustAPI(t)
	srv, err := New(Config{Addr: "127.0.0.1:0", Store: a.st, Ingester: a.in})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get("http://" + srv.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("healthz: %d", res.StatusCode)
	}
	// No metrics configured: 404, and no token opens /v1.
	res, err = http.Get("http://" + srv.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("metrics without a registry: %d", res.StatusCode)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + srv.Addr().String() + "/healthz"); err == nil {
		t.Fatal("still serving after Close")
	}
	// A port in use fails at Open.
	busy, err := New(Config{Addr: a.url[len("http://"):], Store: a.st, Ingester: a.in})
	if err != nil {
		t.Fatal(err)
	}
	if err := busy.Open(); err == nil {
		busy.Close()
		t.Fatal("Open on a port in use succeeded")
	}
	for _, bad := range []Config{{Store: a.st}, {Store: a.st, Ingester: a.in, Tokens: []Token{{Name: "x", Org: acme, Role: "root"}}},
		{Store: a.st, Ingester: a.in, Tokens: []Token{{Name: "x", Org: acme, Role: RoleViewer}, {Name: "x", Org: acme, Role: RoleViewer}}}} {
		if _, err := New(bad); schema.ErrorCodeOf(err) != schema.EInvalid {
			t.Fatalf("New(%+v): %v", bad, err)
		}
	}
}

func TestTokenHashes(t *testing.T) {
	secret, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	secret2, _, _ := NewToken()
	if secret == secret2 || len(secret) != len(TokenPrefix)+43 {
		t.Fatalf("tokens %q %q", secret, secret2)
	}
	h, err := ParseTokenHash(hash)
	if err != nil || HashToken(secret) != hash {
		t.Fatalf("hash %q: %v", hash, err)
	}
	if fmt.Sprintf("sha256:%x", h) != hash {
		t.Fatalf("parsed %x from %s", h, hash)
	}
	for _, bad := range []string{"", secret, "sha256:abc", "md5:" + hash[7:], "sha256:" + hash[7:] + "00", "sha256:zz" + hash[9:]} {
		if _, err := ParseTokenHash(bad); schema.ErrorCodeOf(err) != schema.EInvalid {
			t.Errorf("ParseTokenHash(%q): %v", bad, err)
		}
	}
}
