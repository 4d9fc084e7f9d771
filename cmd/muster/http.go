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
	"muster/sftpserver"
	"muster/store"
)

// newMetrics makes the metrics registry and has the pipeline report every
// decision to it. It runs before any part that ingests, so no drop is
// missed; what it reads at scrape time (the SFTP server's and the WorkOS
// client's counters, the directories' runs) is looked up then, once the
// HTTP server, opened last, serves scrapes.
func (m *Main) newMetrics() {
	m.Metrics = api.NewMetrics(api.MetricsConfig{Store: m.Store, Logger: m.Logger,
		SFTP: func() (sftpserver.Stats, bool) {
			if m.SFTP == nil {
				return sftpserver.Stats{}, false
			}
			return m.SFTP.Stats(), true
		},
		WorkOS: func() (workos.Stats, bool) {
			if m.WorkOS == nil {
				return workos.Stats{}, false
			}
			return m.WorkOS.Stats(), true
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
	if m.Directories == nil {
		return nil
	}
	var out []api.RunStatus
	for _, r := range m.Directories.Runs() {
		st := api.RunStatus{Org: r.Org, Source: r.Source, LastRun: r.LastRun, LastSuccess: r.LastSuccess}
		if r.LastError != "" && (r.LastDecision == "" || r.LastDecision == string(ingest.Rejected)) {
			st.Err = r.LastError
		}
		out = append(out, st)
	}
	return out
}

// syncFunc is how the API pulls a directory on demand: nil without any.
func (m *Main) syncFunc() api.SyncFunc {
	if m.Directories == nil {
		return nil
	}
	return m.Directories.SyncNow
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
		if n := len(m.Files.MissingFolders()); n > 0 {
			// /readyz needs no token: the log names the folders.
			return fmt.Errorf("%d watched folder(s) removed or moved away: make them again (see the log)", n)
		}
		return nil
	}})
	if m.Directories != nil {
		checks = append(checks, api.RunsCheck(m.runStatus))
	}
	orgs := []string{}
	for _, o := range c.Orgs {
		orgs = append(orgs, o.Name)
	}
	if len(orgs) == 0 {
		orgs = append(orgs, "default")
	}
	var sources []api.ConfiguredSource
	for _, s := range c.Sources {
		sources = append(sources, api.ConfiguredSource{Org: s.Org, Name: s.Name, Kind: store.SourceKind(s.Kind)})
	}
	cfg := api.Config{Addr: c.HTTP.Listen, Store: m.Store, Ingester: m.Ingester, Tokens: c.HTTP.tokens(),
		Orgs: orgs, Sources: sources, Metrics: m.Metrics, MetricsAuth: c.HTTP.Metrics == metricsOperator,
		Checks: checks, Sync: m.syncFunc(), Logger: m.Logger, Leadership: m.leadership}
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
	m.HTTP = srv
	m.start("http", srv.Close)
	if host, _, _ := net.SplitHostPort(srv.Addr().String()); !isLoopback(host) && c.HTTP.Metrics == metricsOpen {
		m.Logger.Warn("http: /metrics needs no token and the server is not on loopback: set http.metrics = \"operator\" to require an operator token",
			"addr", srv.Addr().String())
	}
	return nil
}

// newConsole makes the web console the admin HTTP server serves at /: it
// signs people in with the API's tokens (srv's check) and reads each
// configured source as the daemon does.
func (m *Main) newConsole(srv *api.Server) (*console.Console, error) {
	c := m.Config
	var sources []console.Source
	for i := range c.Sources {
		s := &c.Sources[i]
		sc := c.sourceConfig(s)
		sources = append(sources, console.Source{Org: s.Org, Name: s.Name, Kind: sc.Kind, Ingest: sc,
			Decode: s.decodeOptions(), MaxInvalid: console.MaxInvalidShare(sc.WithDefaults().MaxInvalidPercent)})
	}
	return console.New(console.Config{Auth: srv, Store: m.Store, Ingester: m.Ingester, DataDir: c.sharedDir(),
		Sources: sources, Runs: m.runStatus, Sync: m.syncFunc(), Logger: m.Logger})
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
