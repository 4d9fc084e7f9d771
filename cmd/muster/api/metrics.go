package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"muster/ingest"
	"muster/ingest/workos"
	"muster/schema"
	"muster/sftpserver"
	"muster/store"
)

// MetricsConfig says where Metrics reads what it does not count itself.
// Every func is called at scrape time and may be nil.
type MetricsConfig struct {
	// Store gives held drops and each source's last success.
	Store *store.Store
	// SFTP returns the SFTP server's counters; false when none runs.
	SFTP func() (sftpserver.Stats, bool)
	// WorkOS returns the WorkOS client's counters; false when none runs.
	WorkOS func() (workos.Stats, bool)
	// Runs returns the scheduled sources' last runs (the scheduler's).
	Runs func() []RunStatus
	// Lanes returns the file sources' queues (the drops in progress).
	Lanes  func() []ingest.LaneStatus
	Logger *slog.Logger
	// Build labels muster_build_info.
	Build Build
}

// Metrics is muster's Prometheus registry: counters of drops as the
// pipeline decides them (Observe), and at scrape time the store's held
// drops and last successes, the SFTP server's and WorkOS clients' counters.
// It is the only user of the Prometheus client: the parts it reads expose
// plain counters.
type Metrics struct {
	cfg      MetricsConfig
	reg      *prometheus.Registry
	drops    *prometheus.CounterVec
	reviews  *prometheus.CounterVec
	rows     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	requests *prometheus.CounterVec
	authFail prometheus.Counter
	throttle prometheus.Counter
	notified *prometheus.CounterVec
	scim     scimMetrics
	handler  http.Handler
}

const ns = "muster"

// NewMetrics returns the registry, with Go runtime and process metrics.
func NewMetrics(cfg MetricsConfig) *Metrics {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{cfg: cfg, reg: prometheus.NewRegistry()}
	m.drops = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "drops_total",
		Help: "Drops recorded, by source and decision (applied, held, rejected, duplicate); rollbacks and removals are applied drops."},
		[]string{"org", "source", "decision"})
	m.reviews = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "held_drops_decided_total",
		Help: "Held drops an admin decided, by decision (approved, rejected)."},
		[]string{"org", "source", "decision"})
	m.rows = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rows_total",
		Help: "Rows of applied drops by kind of change (added, updated, removed, unchanged, invalid, suppressed)."},
		[]string{"org", "source", "change"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "ingest_duration_seconds",
		Help:    "Time to take a drop through the pipeline, from read to recorded decision.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 12)}, []string{"org", "source"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "http_requests_total",
		Help: "Admin HTTP requests, by route and status code."}, []string{"route", "code"})
	m.authFail = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "http_auth_failures_total",
		Help: "Admin API requests refused for a missing or invalid token."})
	m.throttle = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "http_throttled_requests_total",
		Help: "Admin API requests answered 429: their address presented too many refused tokens."})
	m.notified = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "notifications_total",
		Help: "Notifications that reached an end, by target, event and outcome (delivered, failed, dropped)."},
		[]string{"target", "event", "outcome"})
	build := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
		Help:        "Always 1: which muster runs, in its labels.",
		ConstLabels: prometheus.Labels{"version": cfg.Build.Version, "commit": cfg.Build.Commit, "goversion": cfg.Build.GoVersion}})
	build.Set(1)
	m.reg.MustRegister(build, m.throttle, m.notified, m.drops, m.reviews, m.rows, m.duration, m.requests, m.authFail, scrapeCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.scim = newSCIMMetrics(m.reg)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError,
		ErrorLog: slog.NewLogLogger(cfg.Logger.With("component", "metrics").Handler(), slog.LevelWarn)})
	return m
}

// Handler serves the exposition.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Registry is the registry, for tests and for other collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Observe counts an operation's outcome; set it as ingest.Ingester.Observe.
func (m *Metrics) Observe(o ingest.Outcome) {
	rep := o.Report
	org, src := rep.Org, rep.Source
	if org == "" {
		org = schema.DefaultOrg
	}
	applied := false
	switch o.Op {
	case ingest.OpIngest:
		m.drops.WithLabelValues(org, src, string(rep.Decision)).Inc()
		m.duration.WithLabelValues(org, src).Observe(o.Duration.Seconds())
		applied = rep.Decision == ingest.Applied
	case ingest.OpRollback, ingest.OpRemove:
		m.drops.WithLabelValues(org, src, string(ingest.Applied)).Inc()
		applied = true
	case ingest.OpApprove:
		m.reviews.WithLabelValues(org, src, "approved").Inc()
		applied = true
	case ingest.OpReject:
		m.reviews.WithLabelValues(org, src, "rejected").Inc()
	}
	if !applied {
		return
	}
	c := rep.Counts
	for change, n := range map[string]int64{"added": c.Added, "updated": c.Updated, "removed": c.Removed,
		"unchanged": c.Unchanged, "invalid": c.Invalid, "suppressed": c.Suppressed} {
		m.rows.WithLabelValues(org, src, change).Add(float64(n))
	}
}

// request counts an admin HTTP request. route is the pattern matched.
func (m *Metrics) request(route string, code int, _ time.Duration) {
	if m == nil {
		return
	}
	if route == "" || route == "/" {
		route = "other"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
}

// Notification counts a notification's end; set it as notify.Config.OnResult.
func (m *Metrics) Notification(target, event, outcome string) {
	if m != nil {
		m.notified.WithLabelValues(target, event, outcome).Inc()
	}
}

func (m *Metrics) throttled() {
	if m != nil {
		m.throttle.Inc()
	}
}

func (m *Metrics) authFailed() {
	if m != nil {
		m.authFail.Inc()
	}
}

// Descriptions of what scrapeCollector reads at scrape time.
var (
	descHeld = prometheus.NewDesc(ns+"_held_drops", "Drops held for an admin's decision, by source.",
		[]string{"org", "source"}, nil)
	descLastSuccess = prometheus.NewDesc(ns+"_source_last_success_timestamp_seconds",
		"When the source's last successful run ended: its latest applied (or unchanged, duplicate) drop, or the scheduler's last successful pull.",
		[]string{"org", "source"}, nil)
	descPeople = prometheus.NewDesc(ns+"_source_people", "People in the source's current snapshot.",
		[]string{"org", "source"}, nil)
	descRunFailing = prometheus.NewDesc(ns+"_scheduled_run_failing", "1 while the source's last scheduled run failed.",
		[]string{"org", "source"}, nil)
	descSFTPConns      = prometheus.NewDesc(ns+"_sftp_connections_total", "SFTP connections accepted.", nil, nil)
	descSFTPActive     = prometheus.NewDesc(ns+"_sftp_connections_active", "SFTP connections open now.", nil, nil)
	descSFTPRefused    = prometheus.NewDesc(ns+"_sftp_connections_refused_total", "SFTP connections turned away (bans, limits).", nil, nil)
	descSFTPAuthFail   = prometheus.NewDesc(ns+"_sftp_auth_failures_total", "Failed SFTP password or public key attempts.", nil, nil)
	descSFTPBans       = prometheus.NewDesc(ns+"_sftp_bans_total", "Addresses banned for failing to log in.", nil, nil)
	descSFTPBytes      = prometheus.NewDesc(ns+"_sftp_received_bytes_total", "File bytes written by SFTP clients.", nil, nil)
	descSFTPUploads    = prometheus.NewDesc(ns+"_sftp_uploads_total", "SFTP uploads committed, by outcome.", []string{"outcome"}, nil)
	descWorkOSRequests = prometheus.NewDesc(ns+"_workos_requests_total", "WorkOS API requests sent, retries included.", nil, nil)
	descWorkOSRetries  = prometheus.NewDesc(ns+"_workos_retries_total", "WorkOS API attempts followed by a retry.", nil, nil)
	descWorkOSLimited  = prometheus.NewDesc(ns+"_workos_rate_limited_total", "WorkOS API answers 429 Too Many Requests.", nil, nil)
	descWorkOSFailures = prometheus.NewDesc(ns+"_workos_failures_total", "WorkOS API requests that failed after retries.", nil, nil)
	descRecipients     = prometheus.NewDesc(ns+"_recipients", "Recipients of the organisation's audience store, by status (active ones receive).",
		[]string{"org", "status"}, nil)
	descStoreScrapeFail = prometheus.NewDesc(ns+"_store_scrape_errors", "1 when the store could not be read for this scrape.", nil, nil)
	descQueueFailing    = prometheus.NewDesc(ns+"_drop_queue_failing_seconds",
		"How long the drop in progress in the source's queue has been failing (0 when none is): the source's later drops wait behind it.",
		[]string{"org", "source"}, nil)
)

// scrapeCollector reads the store, the SFTP server and the WorkOS clients
// at scrape time, so nothing is counted twice or goes stale.
type scrapeCollector struct{ m *Metrics }

func (c scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHeld, descLastSuccess, descPeople, descRunFailing, descSFTPConns, descSFTPActive,
		descSFTPRefused, descSFTPAuthFail, descSFTPBans, descSFTPBytes, descSFTPUploads, descWorkOSRequests, descWorkOSRetries,
		descWorkOSLimited, descWorkOSFailures, descStoreScrapeFail, descRecipients, descQueueFailing} {
		ch <- d
	}
}

func (c scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	cfg := c.m.cfg
	c.collectStore(ch)
	if cfg.SFTP != nil {
		if st, ok := cfg.SFTP(); ok {
			counter := func(d *prometheus.Desc, v int64, labels ...string) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
			}
			counter(descSFTPConns, st.Connections)
			ch <- prometheus.MustNewConstMetric(descSFTPActive, prometheus.GaugeValue, float64(st.ActiveConnections))
			counter(descSFTPRefused, st.Refused)
			counter(descSFTPAuthFail, st.AuthFailures)
			counter(descSFTPBans, st.Bans)
			counter(descSFTPBytes, st.BytesReceived)
			counter(descSFTPUploads, st.Uploads, "committed")
			counter(descSFTPUploads, st.SupersededUploads, "superseded")
			counter(descSFTPUploads, st.TempUploads, "temporary")
			counter(descSFTPUploads, st.AbortedUploads, "aborted")
			counter(descSFTPUploads, st.RefusedUploads, "refused")
		}
	}
	if cfg.Lanes != nil {
		for _, l := range cfg.Lanes() {
			failing := 0.0
			if !l.FailingSince.IsZero() {
				failing = time.Since(l.FailingSince).Seconds()
			}
			ch <- prometheus.MustNewConstMetric(descQueueFailing, prometheus.GaugeValue, failing, l.Org, l.Source)
		}
	}
	if cfg.WorkOS != nil {
		if w, ok := cfg.WorkOS(); ok {
			for d, v := range map[*prometheus.Desc]int64{descWorkOSRequests: w.Requests, descWorkOSRetries: w.Retries,
				descWorkOSLimited: w.RateLimited, descWorkOSFailures: w.Failures} {
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
			}
		}
	}
}

// collectStore reads held drops, people and last successes per source,
// joined with the scheduler's runs.
func (c scrapeCollector) collectStore(ch chan<- prometheus.Metric) {
	cfg := c.m.cfg
	type key struct{ org, source string }
	last := map[key]time.Time{}
	if cfg.Store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		stats, err := cfg.Store.SourceStats(ctx, 0)
		if err == nil {
			err = c.collectRecipients(ctx, ch)
		}
		cancel()
		failed := 0.0
		if err != nil {
			failed = 1
			cfg.Logger.Warn("metrics: read the store", "err", err)
		}
		ch <- prometheus.MustNewConstMetric(descStoreScrapeFail, prometheus.GaugeValue, failed)
		for _, st := range stats {
			ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(st.Held), st.Org, st.Source)
			ch <- prometheus.MustNewConstMetric(descPeople, prometheus.GaugeValue, float64(st.Rows), st.Org, st.Source)
			if !st.LastSuccess.IsZero() {
				last[key{st.Org, st.Source}] = st.LastSuccess
			}
		}
	}
	if cfg.Runs != nil {
		for _, r := range cfg.Runs() {
			k := key{r.Org, r.Source}
			if r.LastSuccess.After(last[k]) {
				last[k] = r.LastSuccess
			}
			failing := 0.0
			if r.Err != "" {
				failing = 1
			}
			ch <- prometheus.MustNewConstMetric(descRunFailing, prometheus.GaugeValue, failing, r.Org, r.Source)
		}
	}
	for k, t := range last {
		ch <- prometheus.MustNewConstMetric(descLastSuccess, prometheus.GaugeValue, float64(t.UnixNano())/1e9, k.org, k.source)
	}
}

// recipientStatuses are the statuses muster_recipients counts, each
// exposed (0 when none) so a series never vanishes.
var recipientStatuses = []store.RecipientStatus{store.StatusActive, store.StatusInactive, store.StatusOffboarded, store.StatusGone}

// collectRecipients counts every organisation's recipients by status.
func (c scrapeCollector) collectRecipients(ctx context.Context, ch chan<- prometheus.Metric) error {
	st := c.m.cfg.Store
	orgs, err := st.Orgs(ctx)
	if err != nil {
		return err
	}
	for _, o := range orgs {
		counts, err := st.RecipientCounts(ctx, o.ID)
		if err != nil {
			return err
		}
		for _, s := range recipientStatuses {
			ch <- prometheus.MustNewConstMetric(descRecipients, prometheus.GaugeValue, float64(counts[s]), o.Name, string(s))
		}
	}
	return nil
}

// serveMetrics serves /metrics: open, or with MetricsAuth only to an
// operator token (the exposition names every organisation and source).
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Metrics == nil {
		s.writeError(w, r, schema.Errorf(schema.ENotFound, "metrics are not enabled"))
		return
	}
	if s.cfg.MetricsAuth {
		t, err := s.authenticate(r)
		if err != nil {
			s.refusedToken(w, r, err)
			return
		}
		if t.Org != AllOrgs {
			s.writeError(w, r, schema.Errorf(schema.EForbidden,
				"metrics name every organisation: they need an operator token (org = %q)", AllOrgs))
			return
		}
	}
	s.cfg.Metrics.Handler().ServeHTTP(w, r)
}
