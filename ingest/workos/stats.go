package workos

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
)

// RequestInfo describes one HTTP attempt, for Config.OnRequest: enough for a
// later metrics exporter (requests by path and status, retries, 429s,
// latency) without this package importing one.
type RequestInfo struct {
	Method string
	// Path is the endpoint without query ("/directory_users").
	Path string
	// Status is 0 when no answer came (network error).
	Status    int
	RequestID string
	// Attempt counts from 1 for each logical request.
	Attempt  int
	Duration time.Duration
	Err      error
	// Retrying is true when another attempt follows after Delay.
	Retrying bool
	Delay    time.Duration
}

// RateLimited reports a 429 answer.
func (r RequestInfo) RateLimited() bool { return r.Status == http.StatusTooManyRequests }

// Stats are the client's counters since New.
type Stats struct {
	// Requests counts HTTP attempts sent, retries included.
	Requests int64
	// Retries counts attempts that were followed by another.
	Retries int64
	// RateLimited counts 429 answers.
	RateLimited int64
	// Failures counts logical requests that returned an error.
	Failures int64
}

type counters struct {
	requests, retries, rateLimited, failures atomic.Int64
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{
		Requests:    c.stats.requests.Load(),
		Retries:     c.stats.retries.Load(),
		RateLimited: c.stats.rateLimited.Load(),
		Failures:    c.stats.failures.Load(),
	}
}

func (c *Client) record(ctx context.Context, info RequestInfo, start time.Time) {
	info.Duration = c.cfg.Now().Sub(start)
	c.stats.requests.Add(1)
	if info.Retrying {
		c.stats.retries.Add(1)
	}
	if info.RateLimited() {
		c.stats.rateLimited.Add(1)
	}
	if n, ok := ctx.Value(counterKey{}).(*requestCounter); ok {
		n.add(info.Retrying)
	}
	if c.cfg.OnRequest != nil {
		c.cfg.OnRequest(info)
	}
}

// requestCounter counts the attempts made under one context, so a pull can
// report its own request count while other pulls share the client. A
// counter made under another counts into it too.
type requestCounter struct {
	atomic.Int64
	retries atomic.Int64
	parent  *requestCounter
}

func (n *requestCounter) add(retrying bool) {
	for ; n != nil; n = n.parent {
		n.Add(1)
		if retrying {
			n.retries.Add(1)
		}
	}
}

type counterKey struct{}

func withCounter(ctx context.Context, n *requestCounter) context.Context {
	n.parent, _ = ctx.Value(counterKey{}).(*requestCounter)
	return context.WithValue(ctx, counterKey{}, n)
}

// CountRequests returns a context under which every HTTP attempt is
// counted, and a function reading the counts: attempts (retries included)
// and those that were retried. A caller learns how many requests a pull
// made even when it failed before its stream existed.
func CountRequests(ctx context.Context) (context.Context, func() (requests, retries int64)) {
	n := &requestCounter{}
	return withCounter(ctx, n), func() (int64, int64) { return n.Load(), n.retries.Load() }
}
