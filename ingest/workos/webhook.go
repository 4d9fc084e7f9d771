package workos

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"muster/schema"
)

// SignatureHeader is the header WorkOS signs webhooks with (§6.1).
const SignatureHeader = "WorkOS-Signature"

// DefaultTolerance is how far a webhook's timestamp may be from now: 180 s,
// as the official SDKs (§6.2).
const DefaultTolerance = 180 * time.Second

// ErrSignature is the cause of every rejected webhook signature.
var ErrSignature = errors.New("invalid webhook signature")

// Sign returns the WorkOS-Signature value for body sent at t:
// "t=<unix ms>, v1=<hex HMAC-SHA256(secret, "<ms>.<body>")>". The fake server
// and tests use it; VerifySignature is its inverse.
func Sign(secret Secret, t time.Time, body []byte) string {
	ms := strconv.FormatInt(t.UnixMilli(), 10)
	return "t=" + ms + ", v1=" + hex.EncodeToString(mac(secret, ms, body))
}

func mac(secret Secret, ms string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret.Reveal()))
	h.Write([]byte(ms))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// VerifySignature checks a WorkOS-Signature header against the raw body
// exactly as received: the t= timestamp (milliseconds) must be within
// tolerance of now, in either direction, and one v1= value must equal the
// HMAC, compared in constant time. The error wraps ErrSignature and says
// which check failed, never the expected value.
func VerifySignature(header string, body []byte, secret Secret, tolerance time.Duration, now time.Time) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return schema.WrapError(schema.EUnauthorized, ErrSignature, "workos webhook: header has no t= or no v1= part")
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return schema.WrapError(schema.EUnauthorized, ErrSignature, "workos webhook: timestamp %q is not a number", ts)
	}
	if d := now.Sub(time.UnixMilli(ms)); d > tolerance || d < -tolerance {
		return schema.WrapError(schema.EUnauthorized, ErrSignature, "workos webhook: timestamp is %s away from now, over the %s tolerance", d.Round(time.Second), tolerance)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return schema.WrapError(schema.EUnauthorized, ErrSignature, "workos webhook: signature does not match")
}

// WebhookOptions configures NewWebhookHandler.
type WebhookOptions struct {
	// Tolerance defaults to DefaultTolerance.
	Tolerance time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
	// MaxBody bounds the body read (default 1 MiB); larger bodies get 413.
	MaxBody int64
	// Logger gets one line per rejected request (never the body or secret).
	Logger *slog.Logger
}

// NewWebhookHandler returns an http.Handler for WorkOS webhooks. It accepts
// only POST, verifies the signature over the raw body before decoding
// anything (401 with {"message":"invalid signature"} when it fails), decodes
// the event (400 when it is not one) and calls fn. fn should be quick (queue
// the event): WorkOS treats a slow answer as a failure. fn's error answers 500
// so WorkOS retries; nil answers 200. Deliveries may repeat and arrive out of
// order: fn de-duplicates by Event.ID.
func NewWebhookHandler(secret Secret, opts WebhookOptions, fn func(context.Context, Event) error) http.Handler {
	if opts.Tolerance <= 0 {
		opts.Tolerance = DefaultTolerance
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSONMessage(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, opts.MaxBody+1))
		if err != nil {
			writeJSONMessage(w, http.StatusBadRequest, "cannot read body")
			return
		}
		if int64(len(body)) > opts.MaxBody {
			writeJSONMessage(w, http.StatusRequestEntityTooLarge, "body too large")
			return
		}
		if err := VerifySignature(r.Header.Get(SignatureHeader), body, secret, opts.Tolerance, opts.Now()); err != nil {
			opts.Logger.Warn("workos webhook rejected", "remote", r.RemoteAddr, "error", err)
			writeJSONMessage(w, http.StatusUnauthorized, "invalid signature")
			return
		}
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.Event == "" {
			opts.Logger.Warn("workos webhook is not an event", "remote", r.RemoteAddr)
			writeJSONMessage(w, http.StatusBadRequest, "body is not a WorkOS event")
			return
		}
		if err := fn(r.Context(), ev); err != nil {
			opts.Logger.Error("workos webhook not handled", "event_id", ev.ID, "event", ev.Event, "error", err)
			writeJSONMessage(w, http.StatusInternalServerError, "event not handled")
			return
		}
		writeJSONMessage(w, http.StatusOK, "ok")
	})
}

func writeJSONMessage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Write(b)
}
