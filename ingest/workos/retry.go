package workos

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// retryableStatus lists the answers worth another try (§1, "Retries the
// official SDKs perform").
func retryableStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoff returns how long to wait before retry number attempt+1: the
// server's Retry-After when it parses (capped at MaxRetryAfter), otherwise
// BaseDelay·2^attempt plus up to BaseDelay of jitter, capped at MaxDelay.
func (c *Client) backoff(attempt int, res *http.Response) time.Duration {
	if res != nil {
		if d, ok := parseRetryAfter(res.Header.Get("Retry-After"), c.cfg.Now()); ok {
			return min(d, c.cfg.MaxRetryAfter)
		}
	}
	d := c.cfg.BaseDelay << min(attempt, 20)
	if d <= 0 || d > c.cfg.MaxDelay {
		d = c.cfg.MaxDelay
	}
	d += time.Duration(c.cfg.Jitter() * float64(c.cfg.BaseDelay))
	return min(d, c.cfg.MaxDelay)
}

// parseRetryAfter reads Retry-After as delay-seconds or as an HTTP date
// (RFC 9110 §10.2.3). A date in the past means "now".
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(24*time.Hour/time.Second) {
			n = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// pacer spaces requests that share a key (a directory id) by at least
// interval, reading the clock and sleeping through the injected functions.
type pacer struct {
	interval time.Duration
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	mu       sync.Mutex
	next     map[string]time.Time
}

func newPacer(interval time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *pacer {
	return &pacer{interval: interval, now: now, sleep: sleep, next: map[string]time.Time{}}
}

// wait reserves the next slot for key and sleeps until it comes.
func (p *pacer) wait(ctx context.Context, key string) error {
	if p.interval <= 0 {
		return nil
	}
	p.mu.Lock()
	now := p.now()
	slot := p.next[key]
	if slot.Before(now) {
		slot = now
	}
	p.next[key] = slot.Add(p.interval)
	p.mu.Unlock()
	return p.sleep(ctx, slot.Sub(now))
}
