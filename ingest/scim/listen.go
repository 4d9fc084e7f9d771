package scim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"muster/schema"
)

// ListenConfig says where the SCIM endpoint listens: host:port (port 0
// picks a free one), and a certificate and key (PEM files) for TLS 1.2 and
// later. Without them it serves plain HTTP, which Listen allows on a
// loopback address only.
type ListenConfig struct {
	Addr              string
	CertFile, KeyFile string
}

// Listener serves a Server over HTTPS (or plain HTTP on loopback).
type Listener struct {
	srv  *http.Server
	ln   net.Listener
	tls  bool
	cert atomic.Pointer[tls.Certificate]
	up   atomic.Bool
	wg   sync.WaitGroup
}

// Listen binds synchronously (a bad address or certificate fails now) and
// serves h in the background.
func Listen(cfg ListenConfig, h http.Handler, log *slog.Logger) (*Listener, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Listener{tls: cfg.CertFile != "" || cfg.KeyFile != ""}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, schema.Errorf(schema.EInvalid, "scim: %q is not host:port", cfg.Addr)
	}
	if !l.tls && !IsLoopback(host) {
		return nil, schema.Errorf(schema.EInvalid, "scim: %s is not a loopback address: give a certificate and key (TLS) to listen there", cfg.Addr)
	}
	if l.tls {
		if err := l.ReloadCertificate(cfg.CertFile, cfg.KeyFile); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("scim: listen: %w", err)
	}
	l.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	if l.tls {
		l.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return l.cert.Load(), nil }}
		ln = tls.NewListener(ln, l.srv.TLSConfig)
	}
	l.ln = ln
	l.up.Store(true)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer l.up.Store(false)
		if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("scim: the listener stopped", "error", err)
		}
	}()
	return l, nil
}

// IsLoopback reports whether host is a loopback address or localhost.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ReloadCertificate reads the certificate and key again (a renewed
// certificate): new connections use it, open ones keep theirs.
func (l *Listener) ReloadCertificate(certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return schema.WrapError(schema.EInvalid, err, "scim: certificate %s and key %s", certFile, keyFile)
	}
	l.cert.Store(&cert)
	return nil
}

// Addr is the address it listens on.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// TLS reports whether it serves HTTPS.
func (l *Listener) TLS() bool { return l.tls }

// Listening reports whether it still serves (readiness).
func (l *Listener) Listening() bool { return l.up.Load() }

// Close stops taking requests and waits (briefly) for those in progress.
func (l *Listener) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := l.srv.Shutdown(ctx)
	l.wg.Wait()
	return err
}
