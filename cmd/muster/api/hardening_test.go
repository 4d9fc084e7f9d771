package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
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

// TestFailedAuthenticationLogged: every refused token is logged with where
// it came from and why, so an operator can see someone guessing, and the
// secret presented (in the header or, refused, in the query string) is
// never written to the log.
func TestFailedAuthenticationLogged(t *testing.T) {
	var logs lockedBuffer
	a := MustAPI(t, func(c *Config) {
		c.MetricsAuth = true
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	guess := "mst_guessed-token-value"
	a.secret["guess"] = guess
	a.mustStatus("GET", "/v1/sources", "guess", "", http.StatusUnauthorized, "unauthorized")
	a.mustStatus("GET", "/v1/sources?access_token="+a.secret["acme-admin"], "", "", http.StatusUnauthorized, "unauthorized")
	a.mustStatus("GET", "/metrics", "guess", "", http.StatusUnauthorized, "unauthorized")
	a.mustStatus("GET", "/v1/sources", "acme-viewer", "", http.StatusOK, "")
	out := logs.String()
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
