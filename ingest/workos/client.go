package workos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"muster/schema"
)

// DefaultBaseURL is WorkOS's production API.
const DefaultBaseURL = "https://api.workos.com"

// Config configures a Client. The zero value of every field but APIKey has a
// sensible default, filled in by New.
type Config struct {
	// BaseURL defaults to DefaultBaseURL; tests point it at workostest.
	BaseURL string
	// APIKey is the bearer key (sk_...). Load it with SecretFromEnv or
	// ReadSecretFile; it is never logged.
	APIKey Secret
	// HTTPClient defaults to a client with a 30 s overall timeout and dial,
	// TLS and response-header timeouts.
	HTTPClient *http.Client
	// UserAgent defaults to "muster-workos/1".
	UserAgent string
	// PageSize is the limit sent with every list request: 1..100, default 100.
	PageSize int
	// Order is sent with every list request: "desc" (default) or "asc".
	Order string
	// MaxRetries bounds retries per request (default 4, so at most 5
	// attempts). A negative value disables retries.
	MaxRetries int
	// BaseDelay is the first backoff delay (default 500 ms); it doubles on
	// each retry, plus up to BaseDelay of jitter, capped at MaxDelay (30 s).
	BaseDelay, MaxDelay time.Duration
	// MaxRetryAfter caps a server's Retry-After (default 60 s).
	MaxRetryAfter time.Duration
	// DirectoryUsersInterval spaces GET /directory_users requests for one
	// directory (default 300 ms: under the documented 4 requests/second per
	// directory, with a margin for the server's window). Negative disables.
	DirectoryUsersInterval time.Duration
	// Sleep waits for d or until ctx is done; tests inject one that returns
	// at once. Defaults to a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now defaults to time.Now; pacing reads it.
	Now func() time.Time
	// Jitter returns a random fraction in [0,1); defaults to math/rand/v2.
	Jitter func() float64
	// OnRequest, if set, is called after every HTTP attempt (metrics).
	OnRequest func(RequestInfo)
	// Logger receives retries at debug level; defaults to discarding.
	Logger *slog.Logger
}

// Client is a WorkOS Directory Sync client. It is safe for concurrent use.
type Client struct {
	base  string
	auth  *authHeader // behind a pointer so %v of a Client prints an address, not the key
	cfg   Config      // with defaults; cfg.APIKey is cleared
	pacer *pacer
	stats counters
	log   *slog.Logger
}

type authHeader struct{ value string }

// New returns a client for cfg. It fails when the key is missing or the base
// URL is not an absolute http(s) URL.
func New(cfg Config) (*Client, error) {
	if cfg.APIKey == "" {
		return nil, schema.Errorf(schema.EInvalid, "workos: no API key")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, schema.Errorf(schema.EInvalid, "workos: base URL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 100
	}
	if cfg.PageSize < 1 || cfg.PageSize > 100 {
		return nil, schema.Errorf(schema.EInvalid, "workos: page size %d is outside 1..100", cfg.PageSize)
	}
	switch cfg.Order {
	case "":
		cfg.Order = "desc"
	case "asc", "desc":
	default:
		return nil, schema.Errorf(schema.EInvalid, "workos: order %q is not asc or desc", cfg.Order)
	}
	setDefaults(&cfg)
	c := &Client{
		base: strings.TrimRight(cfg.BaseURL, "/"),
		auth: &authHeader{"Bearer " + cfg.APIKey.Reveal()},
		log:  cfg.Logger,
	}
	cfg.APIKey = ""
	c.cfg = cfg
	c.pacer = newPacer(cfg.DirectoryUsersInterval, cfg.Now, cfg.Sleep)
	return c, nil
}

func setDefaults(cfg *Config) {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultHTTPClient()
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "muster-workos/1"
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 4
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = 500 * time.Millisecond
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 30 * time.Second
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = 60 * time.Second
	}
	if cfg.DirectoryUsersInterval == 0 {
		cfg.DirectoryUsersInterval = 300 * time.Millisecond
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = rand.Float64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
}

func defaultHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// String describes the client without its key.
func (c *Client) String() string {
	return fmt.Sprintf("workos.Client{base: %s, key: %s}", c.base, redacted)
}

// Format prints String whatever the verb, so %+v and %#v cannot reach the key.
func (c *Client) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

// BaseURL returns the base URL requests go to.
func (c *Client) BaseURL() string { return c.base }

// maxBody bounds what is read of one response: a page of 100 users is about
// 100 KiB, so 32 MiB only stops a runaway.
const maxBody = 32 << 20

// get sends GET path?query, retrying as documented on the package, and
// decodes a 2xx JSON body into out. paceKey, when set, is the directory whose
// /directory_users budget the request uses.
func (c *Client) get(ctx context.Context, path string, q url.Values, paceKey string, out any) error {
	target := c.base + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	for attempt := 0; ; attempt++ {
		if paceKey != "" {
			if err := c.pacer.wait(ctx, paceKey); err != nil {
				return ctxError(path, err)
			}
		}
		start := c.cfg.Now()
		res, body, err := c.once(ctx, target)
		info := RequestInfo{Method: http.MethodGet, Path: path, Attempt: attempt + 1, Err: err}
		if res != nil {
			info.Status = res.StatusCode
			info.RequestID = res.Header.Get("X-Request-Id")
		}
		if ctx.Err() != nil {
			c.record(ctx, info, start)
			return ctxError(path, ctx.Err())
		}
		if err == nil && res.StatusCode/100 == 2 {
			c.record(ctx, info, start)
			if err := json.Unmarshal(body, out); err != nil {
				return schema.WrapError(schema.EUnavailable, err, "workos: GET %s: decode response [request id %s]", path, info.RequestID)
			}
			return nil
		}
		var apiErr *APIError
		if err == nil {
			apiErr = newAPIError(http.MethodGet, path, res, body)
		}
		retry := attempt < c.cfg.MaxRetries && (err != nil || retryableStatus(res.StatusCode))
		var delay time.Duration
		if retry {
			delay = c.backoff(attempt, res)
			info.Retrying, info.Delay = true, delay
		}
		c.record(ctx, info, start)
		if !retry {
			return c.finalError(path, attempt, err, apiErr)
		}
		c.log.Debug("workos request retry", "path", path, "status", info.Status, "attempt", attempt+1,
			"delay", delay, "request_id", info.RequestID, "error", errString(err))
		if err := c.cfg.Sleep(ctx, delay); err != nil {
			return ctxError(path, err)
		}
	}
}

// once sends one attempt and reads the whole body; a body cut short is an
// error like a dropped connection, so it is retried.
func (c *Client) once(ctx context.Context, target string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", c.auth.value)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	res, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody+1))
	if err != nil {
		return res, nil, fmt.Errorf("read body: %w", err)
	}
	if len(body) > maxBody {
		return res, nil, fmt.Errorf("response body over %d bytes", maxBody)
	}
	return res, body, nil
}

func (c *Client) finalError(path string, attempt int, err error, apiErr *APIError) error {
	c.stats.failures.Add(1)
	if apiErr != nil {
		return schema.WrapError(CodeOf(apiErr.Status), apiErr, "workos")
	}
	if errors.Is(err, io.EOF) {
		// net/http reports a connection closed before the answer as io.EOF;
		// a stream of pages must never mistake that for its end (readers
		// test errors.Is(err, io.EOF)), so it is unexpected here.
		err = fmt.Errorf("%s: %w", err.Error(), io.ErrUnexpectedEOF)
	}
	return schema.WrapError(schema.EUnavailable, err, "workos: GET %s failed after %d attempts", path, attempt+1)
}

func ctxError(path string, err error) error {
	return schema.WrapError(schema.EUnavailable, err, "workos: GET %s stopped", path)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
