package workostest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Signature returns the WorkOS-Signature header value for body sent at:
// "t=<unix ms>, v1=<hex HMAC-SHA256(secret, "<ms>.<body>")>" (§6.1). It is
// written independently of the client's verifier on purpose.
func Signature(secret string, at time.Time, body []byte) string {
	ms := strconv.FormatInt(at.UnixMilli(), 10)
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ms + "."))
	h.Write(body)
	return "t=" + ms + ", v1=" + hex.EncodeToString(h.Sum(nil))
}

// Forgery says how Deliver spoils a webhook, to test that receivers refuse it.
type Forgery uint8

const (
	// Genuine is a correctly signed webhook.
	Genuine Forgery = iota
	// ForgeWrongSecret signs with another secret.
	ForgeWrongSecret
	// ForgeStaleTimestamp signs correctly, ten minutes in the past.
	ForgeStaleTimestamp
	// ForgeTamperedBody signs the event, then changes one byte of the body.
	ForgeTamperedBody
	// ForgeNoSignature sends no WorkOS-Signature header.
	ForgeNoSignature
)

// Delivery is one webhook POST.
type Delivery struct {
	URL    string
	Secret string
	// EventID picks an event of the log; "" means the newest. Body, if set,
	// is sent instead.
	EventID string
	Body    []byte
	// At is the signature's time; zero means the fake's clock.
	At    time.Time
	Forge Forgery
}

// WebhookRequest builds the POST WorkOS would send (or a forged one).
func (s *Server) WebhookRequest(ctx context.Context, d Delivery) (*http.Request, error) {
	body := d.Body
	if body == nil {
		s.mu.Lock()
		for i := len(s.events) - 1; i >= 0; i-- {
			if d.EventID == "" || s.events[i].id == d.EventID {
				body = bytes.Clone(s.events[i].body)
				break
			}
		}
		s.mu.Unlock()
		if body == nil {
			return nil, ErrNotFound{"event", d.EventID}
		}
	}
	at, secret := d.At, d.Secret
	if at.IsZero() {
		at = s.now()
	}
	switch d.Forge {
	case ForgeWrongSecret:
		secret += "-forged"
	case ForgeStaleTimestamp:
		at = at.Add(-10 * time.Minute)
	}
	sig := Signature(secret, at, body)
	if d.Forge == ForgeTamperedBody {
		body = bytes.Clone(body)
		body[len(body)/2] ^= 0x01
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "WorkOS Webhooks (workostest)")
	if d.Forge != ForgeNoSignature {
		req.Header.Set("WorkOS-Signature", sig)
	}
	return req, nil
}

// Deliver POSTs one webhook and returns the receiver's status.
func (s *Server) Deliver(ctx context.Context, d Delivery) (int, error) {
	req, err := s.WebhookRequest(ctx, d)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// Subscribe sends every event emitted from now on to url, signed with
// secret, from a background goroutine (stopped by Close): non-2xx answers
// are retried 5 times with a short backoff. Options.DuplicateWebhooks sends
// each twice.
func (s *Server) Subscribe(url, secret string) {
	s.hooks.subscribe(endpoint{url, secret})
}

// WebhookStats returns how many subscribed deliveries succeeded and failed
// (after their retries).
func (s *Server) WebhookStats() (delivered, failed int) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return s.hooks.delivered, s.hooks.failed
}

type endpoint struct{ url, secret string }

type webhooks struct {
	s         *Server
	mu        sync.Mutex
	endpoints []endpoint
	queue     []storedEvent
	wake      chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	started   bool
	delivered int
	failed    int
}

func newWebhooks(s *Server) *webhooks {
	ctx, cancel := context.WithCancel(context.Background())
	return &webhooks{s: s, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
}

func (h *webhooks) subscribe(e endpoint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.endpoints = append(h.endpoints, e)
	if !h.started && h.ctx.Err() == nil {
		h.started = true
		h.wg.Add(1)
		go h.run()
	}
}

// enqueue is called with the server's lock held; it never blocks.
func (h *webhooks) enqueue(ev storedEvent) {
	h.mu.Lock()
	if len(h.endpoints) > 0 {
		h.queue = append(h.queue, ev)
	}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *webhooks) close() {
	h.cancel()
	h.wg.Wait()
}

func (h *webhooks) run() {
	defer h.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-h.wake:
		}
		for {
			h.mu.Lock()
			if len(h.queue) == 0 {
				h.mu.Unlock()
				break
			}
			ev := h.queue[0]
			h.queue = h.queue[1:]
			eps := append([]endpoint(nil), h.endpoints...)
			h.mu.Unlock()
			for _, e := range eps {
				times := 1
				if h.s.opts.DuplicateWebhooks {
					times = 2
				}
				for range times {
					ok := h.post(e, ev)
					h.mu.Lock()
					if ok {
						h.delivered++
					} else {
						h.failed++
					}
					h.mu.Unlock()
				}
			}
		}
	}
}

func (h *webhooks) post(e endpoint, ev storedEvent) bool {
	delay := 50 * time.Millisecond
	for attempt := 0; attempt < 6; attempt++ {
		status, err := h.s.Deliver(h.ctx, Delivery{URL: e.url, Secret: e.secret, Body: ev.body})
		if err == nil && status/100 == 2 {
			return true
		}
		if h.ctx.Err() != nil {
			return false
		}
		t := time.NewTimer(delay)
		select {
		case <-h.ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		delay *= 2
	}
	return false
}

// String describes a delivery without its secret.
func (d Delivery) String() string {
	return fmt.Sprintf("webhook to %s (event %q, forge %d)", d.URL, d.EventID, d.Forge)
}
