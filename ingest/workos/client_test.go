package workos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
	"muster/schema"
)

func TestListUsersFollowsPages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  workostest.Options
		order string
		size  int
	}{
		{"desc pages of 100", workostest.Options{}, "desc", 100},
		{"asc pages of 7", workostest.Options{}, "asc", 7},
		{"legacy listMetadata only", workostest.Options{ListMetadata: workostest.MetadataLegacy}, "desc", 100},
		{"both metadata keys", workostest.Options{ListMetadata: workostest.MetadataBoth}, "desc", 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := workostest.Start(t, tc.opts)
			seed := srv.MustSeed(t, workostest.SeedSpec{Users: 1050})
			c := mustClient(t, srv, newClock(), func(cfg *workos.Config) { cfg.Order, cfg.PageSize = tc.order, tc.size })
			got := allUsers(t, c, workos.UserFilter{Directory: seed.Directory.ID})
			ids := make([]string, len(got))
			for i, u := range got {
				ids[i] = u.ID
			}
			want := slices.Clone(seed.UserIDs)
			if tc.order == "desc" {
				slices.Reverse(want)
			}
			if !slices.Equal(ids, want) {
				t.Fatalf("read %d users, want the %d seeded in %s order", len(ids), len(want), tc.order)
			}
			pages := (1050 + tc.size - 1) / tc.size
			if n := srv.Count(workostest.CountUsers); n != pages {
				t.Errorf("requests = %d, want %d pages", n, pages)
			}
		})
	}
}

func TestLegacyCursorSemanticsRefused(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{LegacyCursors: true})
	seed := srv.MustSeed(t, workostest.SeedSpec{Users: 250})
	c := mustClient(t, srv, newClock(), nil)
	err := c.ListUsers(context.Background(), workos.UserFilter{Directory: seed.Directory.ID}, func([]workos.User) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "legacy pagination") {
		t.Fatalf("err = %v, want a legacy pagination error rather than a partial list", err)
	}
}

func apiError(t *testing.T, err error) *workos.APIError {
	t.Helper()
	var ae *workos.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an *APIError", err)
	}
	return ae
}

func TestUnauthorized(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{})
	c := mustClient(t, srv, newClock(), func(cfg *workos.Config) { cfg.APIKey = "sk_test_wrong" })
	_, err := c.ListDirectories(context.Background(), workos.DirectoryFilter{})
	if schema.ErrorCodeOf(err) != schema.EUnauthorized {
		t.Fatalf("code = %s (%v), want unauthorized", schema.ErrorCodeOf(err), err)
	}
	ae := apiError(t, err)
	if ae.Status != 401 || ae.Message != "Unauthorized" || ae.RequestID == "" || ae.Body != `{"message":"Unauthorized"}` {
		t.Errorf("APIError = %+v", ae)
	}
	if n := srv.Count(workostest.CountDirectories); n != 1 {
		t.Errorf("401 was sent %d times, want once (no retry)", n)
	}
	if strings.Contains(err.Error(), "sk_test_wrong") {
		t.Errorf("error leaks the key: %v", err)
	}
}

func TestNotFoundIsNotRetried(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{})
	c := mustClient(t, srv, newClock(), nil)
	_, err := c.GetDirectory(context.Background(), "directory_nope")
	ae := apiError(t, err)
	if schema.ErrorCodeOf(err) != schema.ENotFound || ae.Code != "entity_not_found" || ae.Message != "Directory not found: 'directory_nope'." {
		t.Fatalf("err = %v (%+v)", err, ae)
	}
	if n := srv.Count(workostest.CountDirectory); n != 1 {
		t.Errorf("sent %d times, want 1", n)
	}
}

func TestRateLimitedRetries(t *testing.T) {
	clk := newClock()
	date := clk.Now().Add(30 * time.Second).Format(http.TimeFormat)
	for _, tc := range []struct {
		name       string
		retryAfter string
		body       string
		want       []time.Duration
	}{
		{"Retry-After seconds", "7", "Ratelimited", []time.Duration{7 * time.Second, 7 * time.Second}},
		// The second 429 comes 30 s later by the clock: the date has passed.
		{"Retry-After date", date, `"Ratelimited"`, []time.Duration{30 * time.Second}},
		{"Retry-After over the cap", "3600", "Ratelimited", []time.Duration{time.Minute, time.Minute}},
		// No Retry-After: 500 ms · 2^n plus half of 500 ms of jitter.
		{"no Retry-After", "", `{"message":"Too many requests.","code":"rate_limit_exceeded"}`,
			[]time.Duration{750 * time.Millisecond, 1250 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			srv := workostest.Start(t, workostest.Options{Now: clk.Now})
			seed := srv.MustSeed(t, workostest.SeedSpec{Users: 30})
			srv.AddFault(workostest.Fault{Path: "/directory_users", Status: 429, Body: tc.body, RetryAfter: tc.retryAfter, Count: 2})
			c := mustClient(t, srv, clk, nil)
			if got := allUsers(t, c, workos.UserFilter{Directory: seed.Directory.ID}); len(got) != 30 {
				t.Fatalf("read %d users, want 30", len(got))
			}
			if got := clk.Sleeps(); !slices.Equal(got, tc.want) {
				t.Errorf("waits = %v, want %v", got, tc.want)
			}
			if st := c.Stats(); st.RateLimited != 2 || st.Retries != 2 || st.Requests != 3 || st.Failures != 0 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestRetriesAreBounded(t *testing.T) {
	clk := newClock()
	srv := workostest.Start(t, workostest.Options{})
	seed := srv.MustSeed(t, workostest.SeedSpec{Users: 3})
	srv.AddFault(workostest.Fault{Path: "/directory_users", Status: 429, Body: "Ratelimited", ContentType: "application/json"})
	var infos []workos.RequestInfo
	c := mustClient(t, srv, clk, func(cfg *workos.Config) { cfg.OnRequest = func(i workos.RequestInfo) { infos = append(infos, i) } })
	err := c.ListUsers(context.Background(), workos.UserFilter{Directory: seed.Directory.ID}, func([]workos.User) error { return nil })
	ae := apiError(t, err)
	if schema.ErrorCodeOf(err) != schema.EUnavailable || ae.Status != 429 || ae.Message != "Ratelimited" {
		t.Fatalf("err = %v (%+v)", err, ae)
	}
	if n := srv.Count(workostest.CountUsers); n != 5 {
		t.Errorf("attempts = %d, want 5 (1 + MaxRetries 4)", n)
	}
	want := []time.Duration{750 * time.Millisecond, 1250 * time.Millisecond, 2250 * time.Millisecond, 4250 * time.Millisecond}
	if got := clk.Sleeps(); !slices.Equal(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	if len(infos) != 5 || !infos[0].Retrying || infos[4].Retrying || !infos[4].RateLimited() || infos[4].Attempt != 5 {
		t.Errorf("OnRequest saw %+v", infos)
	}
}

func TestServerErrorsThenSuccess(t *testing.T) {
	for _, status := range []int{500, 502, 503, 504} {
		clk := newClock()
		srv := workostest.Start(t, workostest.Options{})
		seed := srv.MustSeed(t, workostest.SeedSpec{Users: 250, Groups: 3})
		// The second page fails twice with an HTML body, then answers.
		srv.AddFault(workostest.Fault{Path: "/directory_users", Query: "after=", Status: status, Count: 2})
		c := mustClient(t, srv, clk, nil)
		if got := allUsers(t, c, workos.UserFilter{Directory: seed.Directory.ID}); len(got) != 250 {
			t.Fatalf("%d: read %d users, want 250", status, len(got))
		}
		if n := srv.Count(workostest.CountUsers); n != 5 {
			t.Errorf("%d: requests = %d, want 3 pages + 2 retries", status, n)
		}
		if st := c.Stats(); st.Retries != 2 {
			t.Errorf("%d: stats = %+v", status, st)
		}
	}
}

func TestDroppedConnections(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault workostest.Fault
	}{
		{"body cut mid-page", workostest.Fault{Path: "/directory_users", Query: "after=", Skip: 1, Count: 1, Truncate: true}},
		{"connection closed before answering", workostest.Fault{Path: "/directory_users", Query: "after=", Count: 1, Drop: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := workostest.Start(t, workostest.Options{})
			seed := srv.MustSeed(t, workostest.SeedSpec{Users: 420})
			srv.AddFault(tc.fault)
			c := mustClient(t, srv, newClock(), nil)
			got := allUsers(t, c, workos.UserFilter{Directory: seed.Directory.ID})
			if len(got) != 420 {
				t.Fatalf("read %d users, want 420", len(got))
			}
			seen := map[string]bool{}
			for _, u := range got {
				if seen[u.ID] {
					t.Fatalf("user %s read twice", u.ID)
				}
				seen[u.ID] = true
			}
			if hits := srv.FaultHits(); hits[0] != 1 {
				t.Errorf("fault hit %d times, want 1", hits[0])
			}
		})
	}
}

func TestCancellationStopsRetries(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{})
	seed := srv.MustSeed(t, workostest.SeedSpec{Users: 3})
	srv.AddFault(workostest.Fault{Path: "/directory_users", Status: 503})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The real timer-based sleep, with a backoff of an hour: only the
	// cancellation can end the wait.
	c, err := workos.New(workos.Config{BaseURL: srv.URL, APIKey: workos.Secret(srv.APIKey()), BaseDelay: time.Hour,
		OnRequest: func(workos.RequestInfo) { cancel() }})
	if err != nil {
		t.Fatal(err)
	}
	err = c.ListUsers(ctx, workos.UserFilter{Directory: seed.Directory.ID}, func([]workos.User) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := srv.Count(workostest.CountUsers); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestPacingAvoidsRateLimit(t *testing.T) {
	for _, paced := range []bool{true, false} {
		clk := newClock()
		srv := workostest.Start(t, workostest.Options{Now: clk.Now, RateLimit: true, RetryAfter: "1"})
		seed := srv.MustSeed(t, workostest.SeedSpec{Users: 1000, Groups: 20})
		c := mustClient(t, srv, clk, func(cfg *workos.Config) {
			cfg.DirectoryUsersInterval = 0 // the default, 300 ms
			if !paced {
				cfg.DirectoryUsersInterval = -1
			}
		})
		s, err := c.Pull(context.Background(), seed.Directory.ID, workos.PullOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if recs := drain(t, s); len(recs) != 1000 {
			t.Fatalf("paced=%v: %d records, want 1000", paced, len(recs))
		}
		st := c.Stats()
		if paced && st.RateLimited != 0 {
			t.Errorf("paced pull was rate limited %d times", st.RateLimited)
		}
		if !paced && st.RateLimited == 0 {
			t.Errorf("unpaced pull was never rate limited: the fake's limiter is not working")
		}
	}
}

func TestNoKeyInOutput(t *testing.T) {
	const key = "sk_test_very_secret_123"
	c, err := workos.New(workos.Config{BaseURL: "http://127.0.0.1:1", APIKey: key, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := workos.Config{APIKey: key}
	_, reqErr := c.GetDirectory(context.Background(), "directory_x")
	if reqErr == nil {
		t.Fatal("request to a closed port succeeded")
	}
	for _, s := range []string{
		fmtAll(c), fmtAll(cfg), fmtAll(&cfg), fmtAll(workos.Secret(key)), reqErr.Error(), jsonOf(t, struct{ Key workos.Secret }{key}), slogOf(cfg),
	} {
		if strings.Contains(s, key) || strings.Contains(s, "very_secret") {
			t.Errorf("key leaked in %q", s)
		}
	}
	if workos.Secret(key).Reveal() != key {
		t.Error("Reveal lost the key")
	}
}

func fmtAll(v any) string {
	return fmt.Sprintf("%v %+v %#v %s %q", v, v, v, v, v)
}

func jsonOf(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func slogOf(v any) string {
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "config", v, "key", v.(workos.Config).APIKey)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "config", v, "key", v.(workos.Config).APIKey)
	return buf.String()
}

// TestSlowAnswerIsRetried: an answer slower than the HTTP client's timeout
// counts as a network error and is retried; the slow handler is cut short
// when the client gives up, so the test does not wait for it.
func TestSlowAnswerIsRetried(t *testing.T) {
	srv := workostest.Start(t, workostest.Options{})
	seed := srv.MustSeed(t, workostest.SeedSpec{Users: 5})
	srv.AddFault(workostest.Fault{Path: "/directory_users", Latency: time.Hour, Count: 1})
	c := mustClient(t, srv, newClock(), func(cfg *workos.Config) { cfg.HTTPClient = &http.Client{Timeout: 200 * time.Millisecond} })
	if got := allUsers(t, c, workos.UserFilter{Directory: seed.Directory.ID}); len(got) != 5 {
		t.Fatalf("read %d users", len(got))
	}
	if st := c.Stats(); st.Retries != 1 || st.Requests != 2 {
		t.Errorf("stats = %+v, want one retry", st)
	}
}
