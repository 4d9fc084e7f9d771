package workos_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"muster/ingest/workos"
	"muster/ingest/workos/workostest"
	"muster/schema"
)

// clock is a fake clock shared by the client and the fake server: Sleep
// advances it instead of waiting, and records every wait.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newClock() *clock { return &clock{t: time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.sleeps = append(c.sleeps, d)
		c.t = c.t.Add(d)
	}
	return nil
}

func (c *clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// mustClient returns a client of srv with the fake clock, a fixed jitter of
// one half and no pacing unless cfg says otherwise.
func mustClient(tb testing.TB, srv *workostest.Server, clk *clock, mod func(*workos.Config)) *workos.Client {
	tb.Helper()
	cfg := workos.Config{
		BaseURL:                srv.URL,
		APIKey:                 workos.Secret(srv.APIKey()),
		Sleep:                  clk.Sleep,
		Now:                    clk.Now,
		Jitter:                 func() float64 { return 0.5 },
		DirectoryUsersInterval: -1,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := workos.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// drain reads a stream to its end.
func drain(tb testing.TB, s schema.Stream) []schema.Record {
	tb.Helper()
	var out []schema.Record
	for {
		r, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			tb.Fatalf("stream after %d records: %v", len(out), err)
		}
		out = append(out, r)
	}
}

func allUsers(tb testing.TB, c *workos.Client, f workos.UserFilter) []workos.User {
	tb.Helper()
	var out []workos.User
	if err := c.ListUsers(context.Background(), f, func(p []workos.User) error {
		out = append(out, p...)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}
