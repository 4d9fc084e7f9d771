// Package api is muster's admin HTTP server: health and readiness probes,
// Prometheus metrics, and the JSON API under /v1 that operators and the
// comms tool use to see and steer muster (sources, drops and their reports,
// approving or rejecting held drops, recipients, groups, audience exports).
//
// Only the bearer tokens of the config reach /v1. Each token belongs to one
// organisation and sees nothing of any other: objects of another
// organisation are answered 404, exactly as objects that do not exist.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"muster/ingest"
	"muster/schema"
	"muster/store"
)

// Config configures a Server. Store and Ingester are required.
type Config struct {
	// Addr is host:port to listen on; port 0 picks a free one (see Addr).
	// Default DefaultAddr, loopback only.
	Addr     string
	Store    *store.Store
	Ingester *ingest.Ingester
	// Tokens are the only credentials /v1 accepts.
	Tokens []Token
	// Orgs are the organisations the config names. A token's own
	// organisation, or a configured one for an operator token, is shown
	// empty before anything was ingested into it rather than not found.
	Orgs []string
	// Sources are the configured sources: listed before their first drop,
	// and the only ones a sync may be asked for.
	Sources []ConfiguredSource
	// Metrics, if set, is served on /metrics.
	Metrics *Metrics
	// MetricsAuth makes /metrics ask for an operator token (metrics name
	// every organisation and source). Otherwise /metrics is open, as usual
	// on a loopback or operations port.
	MetricsAuth bool
	// Checks are the readiness checks beyond the store's.
	Checks []Check
	// Leadership, if set, says on /readyz whether this instance leads the
	// instances sharing the store (it does not make it ready or not).
	Leadership func() Leadership
	// Sync starts a pull of a source now (the WorkOS scheduler's). Nil: no
	// source can be synced through the API.
	Sync SyncFunc
	// SFTP lists and lifts the SFTP server's bans. Nil: none runs.
	SFTP SFTPBans
	// MaxBody bounds request bodies. Default 64 KiB.
	MaxBody int64
	Logger  *slog.Logger
	// Build says which muster this is, on /healthz.
	Build Build
	// Reload, if set, re-reads the config: POST /v1/reload.
	Reload ReloadFunc
}

// Build says which muster serves: on /healthz, and as the labels of
// muster_build_info.
type Build struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildTime string `json:"build_time"`
	GoVersion string `json:"go_version"`
}

// DefaultAddr is where the server listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8080"

// ConfiguredSource is a source the config names.
type ConfiguredSource struct {
	Org  string
	Name string
	Kind store.SourceKind
	// Settings, if set, are its settings in the config (a source not in the
	// store yet is shown with them).
	Settings store.SourceConfig
}

// SyncFunc starts a pull of the organisation's source now, in the
// background, recording by as who asked. It returns ENotFound for a source
// it does not schedule, EConflict when a pull of it is already running.
type SyncFunc func(ctx context.Context, org, source, by string) error

// writeTimeout bounds writing a response, so a client that stops reading
// (or reads a byte a minute) does not hold a connection and its handler for
// ever. An export, which may rightly take longer, renews it with every
// chunk it sends: only an export whose client stopped reading ends.
const writeTimeout = time.Minute

// Server is the admin HTTP server.
type Server struct {
	cfg          Config // its Tokens, Orgs, Sources and Sync change with Reload: read them with conf()
	cfgMu        sync.RWMutex
	log          *slog.Logger
	maxBody      int64
	writeTimeout time.Duration
	throttle     *throttle
	mux          *http.ServeMux
	routeList    []route
	ui           http.Handler
	srv          *http.Server
	ln           net.Listener
	wg           sync.WaitGroup
	// groupObjs keeps the JSON of the groups recipient pages name.
	groupObjs groupObjects
}

// New checks cfg and returns a server that is not yet listening.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Ingester == nil {
		return nil, schema.Errorf(schema.EInvalid, "http: a store and an ingester are required")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 64 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "http"), maxBody: cfg.MaxBody,
		writeTimeout: writeTimeout, throttle: newThrottle()}
	if err := checkTokens(cfg.Tokens); err != nil {
		return nil, err
	}
	s.mux = http.NewServeMux()
	s.routes()
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      s.writeTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

func checkTokens(tokens []Token) error {
	names := map[string]bool{}
	for _, t := range tokens {
		if t.Name == "" || names[t.Name] {
			return schema.Errorf(schema.EInvalid, "http: token names must be set and unique (%q)", t.Name)
		}
		names[t.Name] = true
		if t.Role != RoleViewer && t.Role != RoleAdmin {
			return schema.Errorf(schema.EInvalid, "http: token %s: role %q is not viewer or admin", t.Name, t.Role)
		}
		if t.Org == "" {
			return schema.Errorf(schema.EInvalid, "http: token %s: no organisation", t.Name)
		}
	}
	return nil
}

// conf returns the config as it stands (Reload changes it).
func (s *Server) conf() Config {
	s.cfgMu.RLock()
	defer s.cfgMu.RUnlock()
	return s.cfg
}

// Live is what a reload of the config may change while the server runs.
type Live struct {
	Tokens  []Token
	Orgs    []string
	Sources []ConfiguredSource
	Sync    SyncFunc
}

// Reload replaces the tokens, organisations, sources and sync of a running
// server: requests from then on use them (a request in progress keeps
// what it started with).
func (s *Server) Reload(l Live) error {
	if err := checkTokens(l.Tokens); err != nil {
		return err
	}
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	s.cfg.Tokens, s.cfg.Orgs, s.cfg.Sources, s.cfg.Sync = l.Tokens, l.Orgs, l.Sources, l.Sync
	return nil
}

// Open binds the address and starts serving. It returns once the port is
// bound, so a bad address fails at start.
func (s *Server) Open() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.log.Info("listening", "addr", ln.Addr().String(), "tokens", len(s.conf().Tokens))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
	return nil
}

// Addr returns the address the server listens on, once Open has returned.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting, lets requests in progress finish for a few
// seconds, then closes their connections.
func (s *Server) Close() error {
	if s.ln == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	s.wg.Wait()
	return err
}

// ServeHTTP serves one request: common headers, then the routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	sw := &statusWriter{ResponseWriter: w}
	start := time.Now()
	s.mux.ServeHTTP(sw, r)
	if s.cfg.Metrics != nil {
		_, pattern := s.mux.Handler(r)
		s.cfg.Metrics.request(pattern, sw.status(), time.Since(start))
	}
}

// statusWriter remembers the status written, for metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
