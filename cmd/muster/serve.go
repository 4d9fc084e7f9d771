package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"muster/cmd/muster/api"
	"muster/cmd/muster/console"
	"muster/cmd/muster/notify"
	"muster/ingest"
	"muster/ingest/directory"
	"muster/ingest/leader"
	"muster/ingest/scim"
	"muster/ingest/scimsource"
	"muster/ingest/workos"
	"muster/ingest/workossync"
	"muster/sftpserver"
	"muster/store"
)

func cmdServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "serve", "")
	cfgPath := fs.String("config", e.getenv("MUSTER_CONFIG"), "config file (TOML); env MUSTER_CONFIG; none: the built-in zero config")
	dataDir := fs.String("data", "", "data directory, overriding the config's data_dir (default: $MUSTER_DATA, else ./muster-data)")
	sftpAddr := fs.String("sftp", "", "SFTP listen address host:port, overriding sftp.listen (port 0: any free port)")
	httpAddr := fs.String("http", "", "admin HTTP listen address host:port, overriding http.listen and turning the server on (port 0: any free port)")
	asJSON := fs.Bool("json", false, "print the start banner as one JSON object (logs stay on stderr)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("serve takes no arguments")
	}
	c, err := loadConfig(e, *cfgPath, *dataDir)
	if err != nil {
		return err
	}
	// The flags win over the file, at start and at every reload.
	flags := func(c *Config) {
		if *sftpAddr != "" {
			c.SFTP.Listen = *sftpAddr
		}
		if *httpAddr != "" {
			c.HTTP.Listen, c.HTTP.enabled = *httpAddr, true
		}
	}
	flags(c)
	m := NewMain(c, e)
	m.flags, m.dataFlag = flags, *dataDir
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	m.printStarted(*asJSON)
	b := buildInfo()
	m.Logger.Info("started", "version", b.Version, "commit", b.Commit, "go", b.GoVersion, "pid", os.Getpid(),
		"config", cmp.Or(c.path, "built-in zero config"), "data_dir", c.DataDir)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-e.reload:
			// Reload logs what it did, or why it refused the file.
			_, _ = m.Reload(ctx, "SIGHUP")
		}
	}
	m.Logger.Info("stopping: finishing or setting aside the drops in progress (a second signal exits at once)")
	if err := m.Close(); err != nil {
		return err
	}
	m.Logger.Info("stopped")
	return nil
}

// Main is the daemon: the config, and the parts it runs. Run opens them in
// order and returns once all of them listen; Close stops them in reverse
// order under a deadline. A new part (the WorkOS scheduler, the webhook
// endpoint, the HTTP API) is a field here and one m.start call in Run.
type Main struct {
	Config *Config
	Logger *slog.Logger

	Store    *store.Store
	Ingester *ingest.Ingester
	// Leader follows the scheduler's lease: the scheduled work runs only
	// while this instance holds it (several instances on one PostgreSQL).
	Leader  *leader.Elector
	SFTP    *sftpserver.Server // nil without SFTP accounts
	Files   *ingest.Files
	Metrics *api.Metrics
	HTTP    *api.Server // nil unless [http] or -http
	// Console is the web console the HTTP server serves at /.
	Console *console.Console

	// Directories is the daemon's one directory engine, holding the WorkOS
	// and SCIM sources for its whole life (a reload changes its sources,
	// never the engine): Runs() says each source's last runs.
	// WorkOSSync is its WorkOS producer, WorkOS the client, whose Stats()
	// count requests; OnWorkOSRequest, if set before Run, is called after
	// every WorkOS HTTP attempt (metrics). Webhook is the endpoint WorkOS
	// posts events to (nil unless configured).
	Directories     *directory.Engine
	WorkOSSync      *workossync.Sync
	WorkOS          *workos.Client
	OnWorkOSRequest func(workos.RequestInfo)
	Webhook         *webhookServer
	// Notifier tells the [[notify]] targets what needs a person;
	// NotifyRetryMin, if set before Run, is its first retry's wait (tests).
	Notifier       *notify.Notifier
	NotifyRetryMin time.Duration

	// SCIM is the SCIM endpoint (nil without a scim source), served by
	// SCIMListener; SCIMBackend applies its writes through the pipeline.
	SCIM         *scim.Server
	SCIMListener *scim.Listener
	SCIMBackend  *scimsource.Backend

	// UploadKey is the private key generated for the built-in account, if
	// any; KnownHosts the file pinning the SFTP server's host keys.
	UploadKey  string
	KnownHosts string

	env   *env
	prep  *prepared
	parts []part // opened, in order

	// mu guards Config, Files, WorkOSSync, WorkOS and the scheduler, which
	// a reload replaces while the parts' goroutines read them (conf,
	// drops, sched), and Directories, set once at start (dirs).
	mu        sync.RWMutex
	scheduler *scheduler // the directories' jobs
	reloadMu  sync.Mutex // one reload at a time
	swap      queueSwap  // uploads handed over while a reload replaces Files
	level     *slog.LevelVar
	// flags re-applies serve's -sftp and -http to a reloaded config;
	// dataFlag is -data.
	flags    func(*Config)
	dataFlag string
}

// part is something Close must stop.
type part struct {
	name  string
	close func() error
}

// NewMain returns a daemon for c that is not yet running.
func NewMain(c *Config, e *env) *Main {
	level := new(slog.LevelVar)
	level.Set(logLevels[c.LogLevel])
	return &Main{Config: c, Logger: newLogger(e, c, level), env: e, level: level, flags: func(*Config) {}}
}

// newLogger sets up slog once, as the config says; a reload may change
// its level.
func newLogger(e *env, c *Config, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// start records a part opened, so Close stops it.
func (m *Main) start(name string, closeFn func() error) {
	m.parts = append(m.parts, part{name, closeFn})
}

// Run opens the store, the file sources' watcher and queues, and the SFTP
// server, and returns once everything listens. On error, the caller calls
// Close to stop what was opened.
func (m *Main) Run(ctx context.Context) error {
	c := m.Config
	// Everything `muster config check` checks, before anything is made or
	// bound: a config it passes is one serve starts with.
	prep, err := c.prepare(m.env)
	if err != nil {
		return configFileError(c.path, err)
	}
	m.prep = prep
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	release, err := lockDataDir(c.DataDir)
	if err != nil {
		return err
	}
	m.start("lock", release)
	st, err := c.openStoreWith(ctx, m.env, store.Options{Reserve: true})
	if err != nil {
		return err
	}
	if st.ReserveReleased() {
		m.Logger.Warn("the disk holding the store is full: its reserve was removed so the store could open; free some space (the reserve is kept again at the next start)",
			"store", st.String(), "reserve_bytes", store.ReserveSize)
	} else if err := st.ReserveErr(); err != nil {
		m.Logger.Warn("the disk holding the store is nearly full: "+err.Error(), "store", st.String())
	}
	if st.Backend() != "sqlite" {
		m.Logger.Info("store", "backend", st.Backend(), "url", st.String())
	}
	m.Store = st
	m.start("store", st.Close)
	if err := m.openLeader(); err != nil {
		return err
	}
	m.Ingester = ingest.New(st)
	m.Ingester.TempDir = c.DataDir
	m.Ingester.Hook = crashHook(m.env)
	plog := m.Logger.With("component", "pipeline")
	m.Ingester.Progress = func(p ingest.Progress) {
		plog.Debug("drop progress", "phase", p.Phase, "done", p.Done, "total", p.Total)
	}
	m.prepareStore(ctx)
	m.newMetrics()
	if err := m.openNotifier(); err != nil {
		return err
	}
	if m.UploadKey, err = ensureUploadKey(c); err != nil {
		return fmt.Errorf("generate the upload key: %w", err)
	}
	accounts := prep.accounts
	if m.UploadKey != "" {
		// Generated just now, or on an earlier start: read it as any key file.
		var errs ConfigError
		if accounts = c.prepareAccounts(m.env, &errs); errs.err() != nil {
			return errs.err()
		}
	}
	if len(accounts) > 0 {
		m.SFTP, err = sftpserver.New(sftpserver.Config{Addr: c.SFTP.Listen, Dir: filepath.Join(c.sharedDir(), "sftp"),
			Accounts: accounts, Logger: m.Logger, OnUpload: m.announce, MinFreeSpace: int64(c.SFTP.MinFreeSpace),
			Settle: time.Duration(c.SFTP.Settle), Limits: c.SFTP.limits(), OnBan: m.notifyBan})
		if err != nil {
			return err
		}
	}
	if m.Files, err = m.newFiles(c); err != nil {
		return err
	}
	// A held drop approved or rejected through this process (the HTTP API)
	// is filed away at once; one decided by another process (`muster drops`)
	// at the next check of the held folders.
	metrics := m.Ingester.Observe
	m.Ingester.Observe = func(o ingest.Outcome) {
		if metrics != nil {
			metrics(o)
		}
		m.drops().Observe(o)
		m.notifyOutcome(o)
		if e := m.dirs(); e != nil {
			e.Observe(o) // batches queued behind a decided held drop apply
		}
	}
	// The queues run before the SFTP server listens, so no upload is
	// announced to nobody; the start scan finds what arrived while down.
	if err := m.Files.Open(); err != nil {
		return err
	}
	m.start("drops", func() error { return m.drops().Close() })
	if m.SFTP != nil {
		if err := m.SFTP.Open(); err != nil {
			return err
		}
		m.start("sftp", m.SFTP.Close)
		// A convenience for clients on this machine: a full disk must not
		// keep the daemon from starting (uploads are refused meanwhile).
		if err := m.writeKnownHosts(); err != nil {
			m.Logger.Warn("could not write the known_hosts file for local clients; the daemon runs without it",
				"file", filepath.Join(c.DataDir, "known_hosts"), "err", err)
		}
	}
	for _, s := range c.Sources {
		if s.Kind == "manual" {
			m.Logger.Info("manual source: fed by `muster recipients add`, not by serve", "source", s.Org+"/"+s.Name)
		}
	}
	if err := m.openDirectories(); err != nil {
		return err
	}
	if err := m.openSCIM(); err != nil {
		return err
	}
	if err := m.openHTTP(); err != nil {
		return err
	}
	if err := m.writeState(); err != nil {
		m.Logger.Warn("could not write serve.json (the daemon's pid and addresses); the daemon runs without it",
			"file", m.statePath(), "err", err)
		return nil
	}
	m.start("state", func() error { return os.Remove(m.statePath()) })
	return nil
}

// prepareStore derives the recipients again once when a migration changed
// the merge rules, and records every configured organisation and source:
// from the first start every command answers about them (empty, never
// synced), and a source's settings changed in the config apply now. Both
// are written when needed only; when that fails (a full disk) it is said,
// and done at the next start, or by each source's first drop.
func (m *Main) prepareStore(ctx context.Context) {
	reps, err := m.Ingester.Upgrade(ctx)
	if err != nil {
		m.Logger.Warn("could not derive the recipients again under the current merge rules; tried again at the next start", "error", err)
	}
	for _, r := range reps {
		m.Logger.Info("recipients derived again under the current merge rules (store upgraded)", "org", r.Org,
			"checked", r.Checked, "differed", r.Differed, "sample", r.Sample)
	}
	if err := m.Ingester.EnsureSources(ctx, m.Config.orgNames(), m.Config.configuredSources()); err != nil {
		m.Logger.Warn("could not record the configured sources; each is recorded with its first drop", "error", err)
	}
}

// newFiles returns the drop queues of c, with every file source's
// folders; Open starts them.
func (m *Main) newFiles(c *Config) (*ingest.Files, error) {
	f := m.files(c)
	// Uploads the SFTP server has yet to hand over, or handed over while
	// a reload replaces these queues, are not the start scan's to take.
	f.Pending = func(path string) bool {
		return m.SFTP != nil && m.SFTP.Pending(path) || m.swap.waits(path)
	}
	return f, m.fileSources(c, f)
}

// files returns the drop queues as the config says (their sources are
// added by fileSources).
func (m *Main) files(c *Config) *ingest.Files {
	reports := time.Duration(c.Retention.Reports)
	if reports == 0 {
		reports = -1 // for ever; Files reads 0 as "as the archive"
	}
	return &ingest.Files{Ingester: m.Ingester, Dir: filepath.Join(c.sharedDir(), "drops"),
		Debounce: time.Duration(c.Watch.Debounce), RetryMax: time.Duration(c.Watch.RetryMax),
		Grace: time.Duration(c.Watch.Grace), Retention: time.Duration(c.Retention.Archive),
		ReportRetention: reports, Logger: m.Logger.With("component", "drops"), Leader: m.isLeader,
		Shared: c.Store.postgres()}
}

// announce hands an SFTP upload to its source's queue (or has a
// superseded one recorded); the upload's log line follows once its drop is
// decided, naming it.
func (m *Main) announce(u sftpserver.Upload) {
	a := ingest.Arrival{Org: u.Org, Source: u.Source, Path: u.Path, Name: u.Name,
		ContentHash: "sha256:" + u.SHA256,
		Done: func(rep *ingest.Report) {
			if rep == nil {
				u.Taken(0, "")
				return
			}
			u.Taken(rep.DropID, string(rep.Decision))
		}}
	if u.Superseded {
		a.Superseded = cmp.Or(u.Reason, "replaced by its sender before it was taken")
	}
	m.swap.take(m.drops, a, func() { u.Taken(0, "") })
}

// fileSources gives the drop queues every folder source's folder and every
// SFTP account's inbox, with the account's reports folder for write-back.
func (m *Main) fileSources(c *Config, files *ingest.Files) error {
	for i := range c.Sources {
		s := &c.Sources[i]
		fs := ingest.FileSource{Org: s.Org, Config: c.sourceConfig(s), Decode: s.decodeOptions()}
		switch s.Kind {
		case "folder":
			fs.Folders = append(fs.Folders, ingest.Folder{Path: s.Folder})
		case "sftp":
			for _, a := range c.SFTP.Accounts {
				if a.Org != s.Org || a.Source != s.Name {
					continue
				}
				inbox, err := m.SFTP.InboxDir(a.Name)
				if err != nil {
					return err
				}
				reports, err := m.SFTP.ReportsDir(a.Name)
				if err != nil {
					return err
				}
				name := a.Name
				fs.Folders = append(fs.Folders, ingest.Folder{Path: inbox, ReportsDir: reports, Announced: true,
					Reports: func(file string, data []byte) error {
						return m.SFTP.WriteReport(name, file, data)
					}})
				files.ReportDirs = append(files.ReportDirs, reports)
			}
			if len(fs.Folders) == 0 {
				m.Logger.Warn("sftp source has no account feeding it", "source", s.Org+"/"+s.Name)
			}
		default:
			continue
		}
		files.Sources = append(files.Sources, fs)
	}
	return nil
}

// conf is the config in force (a reload replaces it).
func (m *Main) conf() *Config {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.Config
}

// drops is the drop queues in force (a reload of file sources replaces
// them).
func (m *Main) drops() *ingest.Files {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.Files
}

// dirs is the daemon's directory engine (nil before Run opens it).
func (m *Main) dirs() *directory.Engine {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.Directories
}

// closeTimeout bounds Close beyond the drops' grace period.
const closeTimeout = 15 * time.Second

// Close stops the parts in reverse order (SFTP first, so no new upload
// arrives; then the drop queues, which finish or set aside the drop in
// progress; the store last), under a deadline. It may be called after a
// failed Run, and more than once.
func (m *Main) Close() error {
	deadline := time.Duration(m.conf().Watch.Grace) + closeTimeout
	done := make(chan error, 1)
	parts := m.parts
	m.parts = nil
	go func() {
		var errs []error
		for i := len(parts) - 1; i >= 0; i-- {
			if err := parts[i].close(); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("stop %s: %w", parts[i].name, err))
			}
		}
		done <- errors.Join(errs...)
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(deadline):
		return fmt.Errorf("stop: parts still running after %s", deadline)
	}
}

// hostForClients is the address clients on this machine use for a listen
// address: a wildcard listen is reached on the loopback.
func hostForClients(host string) string {
	if host == "" || host == "0.0.0.0" || host == "::" {
		return "127.0.0.1"
	}
	return host
}

// shown is a path as the operator should type it: relative to the working
// directory when under it.
func shown(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return abs
}
