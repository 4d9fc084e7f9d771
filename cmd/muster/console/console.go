// Package console is muster's web console: server-rendered pages for the
// admins who decide (review and approve or reject held drops, explain a
// recipient, upload a spreadsheet, add a person, watch sources), served by
// the admin HTTP server at / beside /v1.
//
// It signs people in with the API's tokens and keeps the API's rules: the
// token is checked by the API's own code (Auth), a viewer reads and an
// admin also decides, and an organisation the token may not see answers
// 404 as one that does not exist. Pages are html/template with embedded
// assets and work without JavaScript; the one script only adds comforts
// (the viewer's time zone at sign-in, confirmation dialogs).
package console

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"muster/cmd/muster/api"
	"muster/ingest"
	"muster/schema"
	"muster/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Auth is the API's token check, which the console reuses rather than
// copies: *api.Server implements it.
type Auth interface {
	Authenticate(secret string) (*api.Token, error)
	TokenNamed(name string) (*api.Token, bool)
	OrgOf(ctx context.Context, t *api.Token, named string) (store.Org, error)
	OrgNames(ctx context.Context, t *api.Token) ([]string, error)
	Refused(r *http.Request, err error)
	// Throttled says the request's address presented too many refused
	// tokens this window (as /v1 counts them) and when it may try again.
	Throttled(r *http.Request) (bool, time.Duration)
}

// Source is a configured source as the daemon reads it: its settings for
// the pipeline and how its files are decoded, so an upload is read and
// judged exactly as a file dropped into its folder would be.
type Source struct {
	Org    string
	Name   string
	Kind   store.SourceKind
	Ingest ingest.SourceConfig
	Decode schema.DecodeOptions
	// MaxInvalid is the share of invalid rows over which a file is refused
	// (schema.Check's maxInvalid).
	MaxInvalid float64
}

// Config configures the console. Auth, Store, Ingester and DataDir are
// required.
type Config struct {
	Auth     Auth
	Store    *store.Store
	Ingester *ingest.Ingester
	// DataDir holds the session key (console.key) and uploads waiting for
	// Apply (console-uploads/).
	DataDir string
	// Sources are the configured sources.
	Sources []Source
	// Health, if set, says each source's sync health; default StoreHealth
	// over the store, the configured sources and Runs.
	Health Health
	// Runs are the scheduler's last runs of directory sources (nil: none).
	Runs func() []api.RunStatus
	// Sync starts a pull of a directory source now (nil: none can be).
	Sync api.SyncFunc
	// File, if set, files an applied upload's file as the folder watcher
	// files a dropped one (ingest.Files.FileUpload: drops/<org>/<source>/
	// archive|rejected|held): filed false leaves the file to the console,
	// which deletes it.
	File func(ctx context.Context, org, source, path, name string, rep *ingest.Report) (filed bool, err error)
	// IdleTimeout ends a session not used for that long (default 30m);
	// MaxAge ends any session (default 12h).
	IdleTimeout, MaxAge time.Duration
	// MaxUpload bounds an uploaded file (default 64 MiB).
	MaxUpload int64
	// SearchWindow and SearchBudget bound a filtered list of recipients:
	// it looks at SearchWindow recipients at a time (default 100,000) until
	// its page is full or SearchBudget is spent (default 120 ms), then
	// answers with what it found and where it stopped.
	SearchWindow int
	SearchBudget time.Duration
	Logger       *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Console serves the web console. It is an http.Handler.
type Console struct {
	cfg     Config
	log     *slog.Logger
	key     []byte
	pages   map[string]*pageTemplate
	mux     *http.ServeMux
	handler http.Handler
	uploads string

	mu      sync.Mutex
	revoked map[string]int64 // signed-out session ids, until they would expire
	cache   *cache

	// live is what a config reload changes: the configured sources, their
	// health and how to sync (SetSources).
	live atomic.Pointer[liveConfig]
	// ownHealth: the health is the StoreHealth New made (not given), so a
	// reload rebuilds it.
	ownHealth bool
}

// liveConfig is the part of the config a reload replaces.
type liveConfig struct {
	sources []Source
	health  Health
	sync    func(ctx context.Context, org, source, by string) error
}

// New checks cfg, reads (or makes) the session key and parses the pages.
func New(cfg Config) (*Console, error) {
	if cfg.Auth == nil || cfg.Store == nil || cfg.Ingester == nil || cfg.DataDir == "" {
		return nil, schema.Errorf(schema.EInvalid, "console: auth, store, ingester and data dir are required")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 12 * time.Hour
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = 64 << 20
	}
	if cfg.SearchWindow <= 0 {
		cfg.SearchWindow = 100_000
	}
	if cfg.SearchBudget <= 0 {
		cfg.SearchBudget = 120 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Console{cfg: cfg, log: cfg.Logger.With("component", "console"), revoked: map[string]int64{},
		uploads: filepath.Join(cfg.DataDir, "console-uploads")}
	if cfg.Health == nil {
		c.cfg.Health = &StoreHealth{Store: cfg.Store, Configured: cfg.Sources, Runs: cfg.Runs, CanSync: cfg.Sync != nil}
		c.ownHealth = true
	}
	c.live.Store(&liveConfig{sources: cfg.Sources, health: c.cfg.Health, sync: cfg.Sync})
	c.cache = newCache(cfg.Store, cfg.Now)
	var err error
	if c.key, err = sessionKey(filepath.Join(cfg.DataDir, keyFile)); err != nil {
		return nil, err
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.routes()
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path, "origin", r.Header.Get("Origin"),
			"remote", r.RemoteAddr)
		c.renderError(w, r, nil, schema.Errorf(schema.EForbidden, "this form was sent from another site: refused"))
	}))
	c.handler = cop.Handler(c.mux)
	return c, nil
}

// SetSources replaces the configured sources and how to sync a directory
// (a config reload): pages from then on use them.
func (c *Console) SetSources(list []Source, sync func(ctx context.Context, org, source, by string) error) {
	l := &liveConfig{sources: list, health: c.live.Load().health, sync: sync}
	if c.ownHealth {
		l.health = &StoreHealth{Store: c.cfg.Store, Configured: list, Runs: c.cfg.Runs, CanSync: sync != nil}
	}
	c.live.Store(l)
}

// sources, health and syncFn are the live config's.
func (c *Console) sources() []Source { return c.live.Load().sources }
func (c *Console) health() Health    { return c.live.Load().health }
func (c *Console) syncFn() func(ctx context.Context, org, source, by string) error {
	return c.live.Load().sync
}

// csp allows nothing but this origin's own script, styles and forms: no
// inline script or style, no frames, no plug-ins.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP serves a console request.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	c.handler.ServeHTTP(w, r)
}

func (c *Console) routes() {
	m := http.NewServeMux()
	c.mux = m
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /signin", c.signinPage)
	m.HandleFunc("POST /signin", c.signin)
	m.HandleFunc("POST /signout", c.signout)
	m.Handle("GET /org", c.session(c.orgPage))
	m.Handle("POST /org", c.session(c.pickOrg))
	view := func(fn handler) http.Handler { return c.page(api.RoleViewer, fn) }
	admin := func(fn handler) http.Handler { return c.page(api.RoleAdmin, fn) }
	m.Handle("GET /{$}", view(c.overview))
	m.Handle("GET /drops", view(c.drops))
	m.Handle("GET /drops/{id}", view(c.drop))
	m.Handle("POST /drops/{id}/approve", admin(c.approve))
	m.Handle("POST /drops/{id}/reject", admin(c.reject))
	m.Handle("GET /recipients", view(c.recipients))
	m.Handle("GET /recipients/{email}", view(c.recipient))
	m.Handle("GET /groups", view(c.groups))
	m.Handle("GET /export", view(c.export))
	m.Handle("GET /upload", view(c.uploadPage))
	m.Handle("POST /upload", admin(c.upload))
	m.Handle("GET /upload/{id}", view(c.uploadPreview))
	m.Handle("POST /upload/{id}/apply", admin(c.uploadApply))
	m.Handle("POST /people", admin(c.addPerson))
	m.Handle("POST /people/remove", admin(c.removePerson))
	m.Handle("GET /sources", view(c.sourcesPage))
	m.Handle("GET /sources/{name}", view(c.source))
	m.Handle("POST /sources/{name}/rollback", admin(c.rollback))
	m.Handle("POST /sources/{name}/sync", admin(c.sync))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, nil, schema.Errorf(schema.ENotFound, "no page %s", r.URL.Path))
	})
}

// keyFile is the session key's file in the shared folder (store.shared_dir,
// by default the data directory), so every instance sharing the store
// signs and reads the same sessions.
const keyFile = "console.key"

// sessionKey reads the 32-byte key that signs session cookies, or makes
// one (readable by muster alone) on first start. Sessions survive a
// restart; deleting the file signs everyone out (at each instance's next
// start). The key is written whole under a temporary name and linked into
// place, so an instance starting at the same moment never reads half of
// it: whoever links first wins, the other reads that one.
func sessionKey(path string) ([]byte, error) {
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			if len(b) != 32 {
				return nil, schema.Errorf(schema.EInvalid, "console: %s holds %d bytes, not a 32-byte key: delete it to make a new one", path, len(b))
			}
			return b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, err
		}
		tmp, err := os.CreateTemp(filepath.Dir(path), ".console.key-*")
		if err != nil {
			return nil, err
		}
		_, err = tmp.Write(randomBytes(32))
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Link(tmp.Name(), path)
		}
		os.Remove(tmp.Name())
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		// Linked, or another instance linked its key first: read it.
	}
}
