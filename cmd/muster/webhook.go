package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"muster/ingest/workos"
)

// webhookServer is the HTTP endpoint WorkOS posts events to. The handler
// (workos.NewWebhookHandler) checks WorkOS-Signature over the raw body (401
// when it fails) and hands the event to apply (workossync.Sync.WebhookEvent,
// which applies it at once through the same path as the events poll).
type webhookServer struct {
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

// openWebhook listens on addr (synchronously: a bad address fails the
// start) and serves the endpoint at path.
func openWebhook(addr, path string, secret workos.Secret, tolerance time.Duration,
	apply func(context.Context, workos.Event) error, log *slog.Logger) (*webhookServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(path, workos.NewWebhookHandler(secret, workos.WebhookOptions{Tolerance: tolerance, Logger: log}, apply))
	w := &webhookServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		if err := w.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("webhook endpoint stopped", "error", err)
		}
	}()
	return w, nil
}

// Addr is the address the endpoint listens on.
func (w *webhookServer) Addr() net.Addr { return w.ln.Addr() }

// Close stops taking requests and waits (briefly) for those in progress.
func (w *webhookServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := w.srv.Shutdown(ctx)
	w.wg.Wait()
	return err
}
