package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"muster/ingest"
	"muster/store"
)

// lockedBuffer is a log sink the server's goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFailedAuthenticationLogged: a refused token is logged with where it
// came from and why, so an operator can see someone guessing (once per
// address and window: TestRefusedTokensAreThrottledAndLoggedOncePerWindow),
// and the secret presented (in the header or, refused, in the query
// string) is never written to the log.
func TestFailedAuthenticationLogged(t *testing.T) {
	var logs lockedBuffer
	a := MustAPI(t, func(c *Config) {
		c.MetricsAuth = true
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	guess := "mst_guessed-token-value"
	a.secret["guess"] = guess
	var out string
	for i, req := range []func(){
		func() { a.mustStatus("GET", "/v1/sources", "guess", "", http.StatusUnauthorized, "unauthorized") },
		func() {
			a.mustStatus("GET", "/v1/sources?access_token="+a.secret["acme-admin"], "", "", http.StatusUnauthorized, "unauthorized")
		},
		func() { a.mustStatus("GET", "/metrics", "guess", "", http.StatusUnauthorized, "unauthorized") },
	} {
		a.srv.throttle = newThrottle() // each the first of its window
		req()
		if i == 2 {
			a.mustStatus("GET", "/v1/sources", "acme-viewer", "", http.StatusOK, "")
		}
	}
	out = logs.String()
	if n := strings.Count(out, "authentication failed"); n != 3 {
		t.Fatalf("%d failed authentications logged, want 3:\n%s", n, out)
	}
	for _, want := range []string{"remote=127.0.0.1:", "path=/v1/sources", "path=/metrics", "invalid token", "missing token"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{guess, a.secret["acme-admin"], a.secret["acme-viewer"], "access_token"} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, out)
		}
	}
}

// TestLastSuccessIgnoresDuplicatesOfHeldDrops: the same file sent again
// while its first copy is held is recorded as a duplicate, but nothing was
// applied: the source's last success (metric and /v1/sources) must not
// move, or an alert on a stale source stays quiet while nothing gets in.
// A duplicate of the applied state is a success (the source is current).
func TestLastSuccessIgnoresDuplicatesOfHeldDrops(t *testing.T) {
	a := MustAPI(t)
	hr := ingest.SourceConfig{Name: "hr", Kind: store.KindCSV}
	a.ingest(acme, hr, "day1.csv", people(100, "a", "acme.example", "staff"))
	lastSuccess := func() (float64, time.Time) {
		t.Helper()
		v, ok := a.scrape("").value("muster_source_last_success_timestamp_seconds", "org", acme, "source", "hr")
		if !ok {
			t.Fatal("no last success for hr")
		}
		var src struct{ Source sourceView }
		a.mustGet("acme-viewer", "/v1/sources/hr", &src)
		return v, src.Source.LastSuccess
	}
	applied, appliedAt := lastSuccess()
	if rep := a.ingest(acme, hr, "day2.csv", people(60, "a", "acme.example", "staff")); rep.Decision != ingest.Held {
		t.Fatalf("day2: %s", rep.Decision)
	}
	if rep := a.ingest(acme, hr, "day2-again.csv", people(60, "a", "acme.example", "staff")); rep.Decision != ingest.Duplicate {
		t.Fatalf("day2 again: %s", rep.Decision)
	}
	if v, at := lastSuccess(); v != applied || !at.Equal(appliedAt) {
		t.Fatalf("a duplicate of a held drop moved the last success: %v (%v), was %v (%v)", v, at, applied, appliedAt)
	}
	if rep := a.ingest(acme, hr, "day1-again.csv", people(100, "a", "acme.example", "staff")); rep.Decision != ingest.Duplicate {
		t.Fatalf("day1 again: %s", rep.Decision)
	}
	if v, _ := lastSuccess(); v <= applied {
		t.Fatalf("a duplicate of the applied state did not move the last success: %v", v)
	}
}
