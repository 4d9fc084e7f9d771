package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"muster/cmd/muster/api"
	"muster/cmd/muster/console"
	"muster/ingest"
	"muster/ingest/workos"
	"muster/schema"
	"muster/sftpserver"
	"muster/store"
)

// newMetrics makes the metrics registry and has the pipeline report every
// decision to it. It runs before any part that ingests, so no drop is
// missed; what it reads at scrape time (the SFTP server's and the WorkOS
// client's counters, the directories' runs) is looked up then, once the
// HTTP server, opened last, serves scrapes.
func (m *Main) newMetrics() {
	m.Metrics = api.NewMetrics(api.MetricsConfig{Store: m.Store, Logger: m.Logger, Build: apiBuild(),
		SFTP: func() (sftpserver.Stats, bool) {
			if m.SFTP == nil {
				return sftpserver.Stats{}, false
			}
			return m.SFTP.Stats(), true
		},
		WorkOS: func() (workos.Stats, bool) {
			m.mu.RLock()
			client := m.WorkOS
			m.mu.RUnlock()
			if client == nil {
				return workos.Stats{}, false
			}
			return client.Stats(), true
		},
		Runs: m.runStatus,
		Lanes: func() []ingest.LaneStatus {
			if m.Files == nil {
				return nil
			}
			return m.Files.Lanes()
		},
	})
	m.Ingester.Observe = m.Metrics.Observe
	m.Metrics.WatchLeadership(m.leadership)
}

// runStatus is the directories' last runs for readiness and metrics. A
// pull that failed, or whose drop was rejected, is failing; a held one is
// not (it waits for an admin, who may need this very API to approve it,
// and muster_held_drops shows it).
func (m *Main) runStatus() []api.RunStatus {
	d := m.dirs()
	if d == nil {
		return nil
	}
	var out []api.RunStatus
	for _, r := range d.Runs() {
		st := api.RunStatus{Org: r.Org, Source: r.Source, LastRun: r.LastRun, LastSuccess: r.LastSuccess}
		if r.LastError != "" && (r.LastDecision == "" || r.LastDecision == string(ingest.Rejected)) {
			st.Err = r.LastError
		}
		out = append(out, st)
	}
	return out
}

// syncFunc is how the API pulls a directory on demand: nil without a
// WorkOS directory in the config in force.
func (m *Main) syncFunc() api.SyncFunc {
	if m.dirs() == nil || !m.conf().needsWorkOS() {
		return nil
	}
	return func(ctx context.Context, org, source, by string) error {
		d := m.dirs()
		if d == nil {
			return schema.Errorf(schema.ENotFound, "no workos source %q in the config", source)
		}
		return d.SyncNow(ctx, org, source, by)
	}
}

// openHTTP starts the admin HTTP server when the config asks for it. It
// opens last, so /readyz never answers before everything listens.
func (m *Main) openHTTP() error {
	c := m.Config
	if !c.HTTP.enabled {
		return nil
	}
	var checks []api.Check
	if m.Store.Path() != "" {
		storeFile, err := storeFileCheck(m.Store.Path())
		if err != nil {
			return err
		}
		checks = append(checks, storeFile)
	}
	if m.SFTP != nil {
		checks = append(checks, api.Check{Name: "sftp", Check: func(context.Context) error {
			if !m.SFTP.Listening() {
				return errors.New("the SFTP server is not listening")
			}
			return nil
		}})
	}
	if m.SCIMListener != nil {
		checks = append(checks, api.Check{Name: "scim", Check: func(context.Context) error {
			if !m.SCIMListener.Listening() {
				return errors.New("the SCIM endpoint is not listening")
			}
			return nil
		}})
	}
	checks = append(checks, api.Check{Name: "drops", Check: func(context.Context) error {
		return stuckQueues(m.Files.Lanes(), time.Now())
	}})
	checks = append(checks, api.Check{Name: "watch", Check: func(context.Context) error {
		if n := len(m.drops().MissingFolders()); n > 0 {
			// /readyz needs no token: the log names the folders.
			return fmt.Errorf("%d watched folder(s) removed or moved away: make them again (see the log)", n)
		}
		return nil
	}})
	// Without directories it passes; a reload may add some.
	checks = append(checks, api.RunsCheck(m.runStatus))
	live := m.apiLive(c)
	var reload api.ReloadFunc
	if !c.zero() {
		reload = m.Reload
	}
	cfg := api.Config{Addr: c.HTTP.Listen, Store: m.Store, Ingester: m.Ingester, Tokens: live.Tokens,
		Orgs: live.Orgs, Sources: live.Sources, Metrics: m.Metrics, MetricsAuth: c.HTTP.Metrics == metricsOperator,
		Checks: checks, Sync: live.Sync, Logger: m.Logger, Build: apiBuild(), Reload: reload,
		Leadership: m.leadership}
	if m.SFTP != nil {
		cfg.SFTP = m.SFTP
	}
	srv, err := api.New(cfg)
	if err != nil {
		return err
	}
	con, err := m.newConsole(srv)
	if err != nil {
		return err
	}
	srv.Mount(con)
	if err := srv.Open(); err != nil {
		return err
	}
	m.HTTP, m.Console = srv, con
	m.start("http", srv.Close)
	if host, _, _ := net.SplitHostPort(srv.Addr().String()); !isLoopback(host) && c.HTTP.Metrics == metricsOpen {
		m.Logger.Warn("http: /metrics needs no token and the server is not on loopback: set http.metrics = \"operator\" to require an operator token",
			"addr", srv.Addr().String())
	}
	return nil
}

// apiLive is what the API is told of c: tokens, organisations, sources,
// and how to sync a directory.
func (m *Main) apiLive(c *Config) api.Live {
	orgs := []string{}
	for _, o := range c.Orgs {
		orgs = append(orgs, o.Name)
	}
	if len(orgs) == 0 {
		orgs = append(orgs, "default")
	}
	var sources []api.ConfiguredSource
	for i := range c.Sources {
		s := &c.Sources[i]
		sources = append(sources, api.ConfiguredSource{Org: s.Org, Name: s.Name, Kind: store.SourceKind(s.Kind), Settings: c.sourceConfig(s)})
	}
	return api.Live{Tokens: c.HTTP.tokens(), Orgs: orgs, Sources: sources, Sync: m.syncFunc()}
}

// newConsole makes the web console the admin HTTP server serves at /: it
// signs people in with the API's tokens (srv's check) and reads each
// configured source as the daemon does.
func (m *Main) newConsole(srv *api.Server) (*console.Console, error) {
	c := m.Config
	return console.New(console.Config{Auth: srv, Store: m.Store, Ingester: m.Ingester, DataDir: c.sharedDir(),
		Sources: consoleSources(c), Runs: m.runStatus, Sync: m.syncFunc(), Logger: m.Logger,
		Health: consoleHealth{m}, File: m.fileUpload})
}

// fileUpload files a console upload's file as the drop queues in force
// file a dropped one (not filed without file sources).
func (m *Main) fileUpload(ctx context.Context, org, source, path, name string, rep *ingest.Report) (bool, error) {
	f := m.drops()
	if f == nil {
		return false, nil
	}
	return f.FileUpload(ctx, org, source, path, name, rep)
}

// consoleHealth gives the console the sources' health (ingest.SourceHealth)
// of the config in force (a reload may change the sources).
type consoleHealth struct{ m *Main }

func (h consoleHealth) Sources(ctx context.Context, org store.Org) ([]console.SourceHealth, error) {
	hs, err := h.m.Ingester.SourcesHealth(ctx, org.Name, h.m.conf().configuredSources())
	if err != nil {
		return nil, err
	}
	out := make([]console.SourceHealth, 0, len(hs))
	for _, s := range hs {
		out = append(out, console.SourceHealth{Name: s.Name, Kind: s.Kind, Configured: s.Configured, State: s.State,
			LastAttempt: s.LastAttempt, LastSuccess: s.LastSuccess, LastError: s.LastError, NextRun: s.NextRun,
			People: s.People, Held: s.HeldDrops, CanSync: h.m.syncFunc() != nil && s.Configured && s.Kind == store.KindWorkOS && s.RemovedAt == ""})
	}
	return out, nil
}

// consoleSources are c's sources as the console reads them (uploads are
// read and judged as their folders' files).
func consoleSources(c *Config) []console.Source {
	var sources []console.Source
	for i := range c.Sources {
		s := &c.Sources[i]
		sc := c.sourceConfig(s)
		sources = append(sources, console.Source{Org: s.Org, Name: s.Name, Kind: sc.Kind, Ingest: sc,
			Decode: s.decodeOptions(), MaxInvalid: console.MaxInvalidShare(sc.WithDefaults().MaxInvalidPercent)})
	}
	return sources
}

// storeFileCheck is the readiness check "the store file is still the one
// open": SQLite goes on reading and writing a file deleted, moved or
// replaced under it, so the store's own check passes while everything
// written from then on is lost at the next start.
func storeFileCheck(path string) (api.Check, error) {
	opened, err := os.Stat(path)
	if err != nil {
		return api.Check{}, fmt.Errorf("http: readiness: %w", err)
	}
	return api.Check{Name: "store_file", Check: func(context.Context) error {
		now, err := os.Stat(path)
		if err != nil || !os.SameFile(opened, now) {
			// /readyz needs no token: the path is the data dir's, not told.
			return errors.New("the store file was removed or replaced under muster: what it writes from now on is lost when it stops (put the file back, then restart muster)")
		}
		return nil
	}}, nil
}

// apiBuild is the build info as the API and metrics show it.
func apiBuild() api.Build {
	b := buildInfo()
	commit := b.Commit
	if b.Modified {
		commit += "+dirty"
	}
	return api.Build{Version: b.Version, Commit: commit, BuildTime: b.BuildTime, GoVersion: b.GoVersion}
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// printHTTP tells the operator where the admin API is.
func (m *Main) printHTTP(w io.Writer) {
	if m.HTTP == nil {
		return
	}
	host, port, _ := net.SplitHostPort(m.HTTP.Addr().String())
	fmt.Fprintf(w, "  http         http://%s/ (/healthz, /readyz, /metrics, /v1 with %d token(s))\n",
		net.JoinHostPort(hostForClients(host), port), len(m.Config.HTTP.Tokens))
}

// stuckFor is how long a source's queue may be failing on one drop before
// readiness says so.
const stuckFor = time.Minute

// stuckQueues is the readiness check "no source's queue has been failing
// on a drop for over a minute": such a queue holds back every later drop
// of its source. /readyz needs no token, so sources are counted, not named
// (the log names them).
func stuckQueues(lanes []ingest.LaneStatus, now time.Time) error {
	stuck := 0
	for _, l := range lanes {
		if !l.FailingSince.IsZero() && now.Sub(l.FailingSince) > stuckFor {
			stuck++
		}
	}
	if stuck > 0 {
		return fmt.Errorf("the drops of %d source(s) have been failing for over a minute and later drops wait behind them (see the log and muster_drop_queue_failing_seconds)", stuck)
	}
	return nil
}
