package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"muster/ingest"
	"muster/ingest/directory"
	"muster/ingest/workos"
	"muster/ingest/workossync"
	"muster/schema"
	"muster/store"
)

// directories builds the directory engine over in with the WorkOS sources
// of the config registered (its producer reads the API key). Nothing runs
// until it is scheduled (openDirectories) or a source is pulled.
func (c *Config) directories(e *env, in *ingest.Ingester, log *slog.Logger, onRequest func(workos.RequestInfo)) (*directory.Engine, *workossync.Sync, error) {
	eng := directory.New(in, log)
	eng.Orgs = c.orgNames()
	client, err := c.workosClient(e, onRequest)
	if err != nil {
		return nil, nil, err
	}
	claimed := map[string]string{}
	for _, o := range c.Orgs {
		if o.WorkOSOrganizationID != "" {
			claimed[o.WorkOSOrganizationID] = o.Name
		}
	}
	var specs []workossync.SourceSpec
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Kind != string(store.KindWorkOS) {
			continue
		}
		specs = append(specs, workossync.SourceSpec{Org: s.Org, Config: c.sourceConfig(s), DirectoryID: s.DirectoryID,
			Groups: s.Groups, OrganizationID: c.expectedOrganization(s)})
	}
	sync, err := workossync.New(client, eng, log, claimed, specs)
	if err != nil {
		return nil, nil, err
	}
	return eng, sync, nil
}

// openDirectories starts the WorkOS directory sources (scheduler, events
// poll, reconciliation) and the webhook endpoint, when configured. They
// stop before the drop queues and the store (Close runs in reverse order),
// the endpoint first so no event arrives for a stopped scheduler. The
// scheduler is replaced by a reload that changes the directories
// (restartDirectories); the endpoint asks the one in force.
func (m *Main) openDirectories() error {
	c := m.Config
	m.start("workos", func() error {
		if s := m.sched(); s != nil {
			return s.Close()
		}
		return nil
	})
	if !c.needsWorkOS() {
		return nil
	}
	if err := m.startDirectories(c); err != nil {
		return err
	}
	if c.WorkOS.Webhook.Listen == "" {
		return nil
	}
	log := m.Logger.With("component", "workos")
	w, err := openWebhook(c.WorkOS.Webhook.Listen, c.WorkOS.Webhook.Path, m.prep.webhookSecret, time.Duration(c.WorkOS.Webhook.Tolerance),
		m.webhookEvent, log.With("part", "webhook"))
	if err != nil {
		return err
	}
	m.Webhook = w
	m.start("webhook", w.Close)
	log.Info("webhook endpoint listening", "addr", w.Addr().String(), "path", c.WorkOS.Webhook.Path)
	return nil
}

// startDirectories builds the engine of c's directory sources, wired to
// the drops' pruning and the notifications, and schedules it.
func (m *Main) startDirectories(c *Config) error {
	log := m.Logger.With("component", "workos")
	eng, sync, err := c.directories(m.env, m.Ingester, log, m.OnWorkOSRequest)
	if err != nil {
		return err
	}
	eng.Prune = func(now time.Time) int { return m.drops().Prune(now) }
	eng.OnRun, eng.OnDrift = m.notifyRun, m.notifyDrift
	sched := &scheduler{engine: eng, sync: sync, conf: c, log: log, leader: m.isLeader}
	if err := sched.Open(); err != nil {
		sched.Close()
		return err
	}
	m.mu.Lock()
	m.Directories, m.WorkOSSync, m.WorkOS, m.scheduler = eng, sync, sync.Client, sched
	m.mu.Unlock()
	return nil
}

// restartDirectories stops the directories' scheduler (a pull in progress
// is abandoned, nothing of it applied) and starts c's, which pulls each
// directory once, as at start.
func (m *Main) restartDirectories(c *Config) error {
	if s := m.sched(); s != nil {
		s.Close()
	}
	m.mu.Lock()
	m.Directories, m.WorkOSSync, m.WorkOS, m.scheduler = nil, nil, nil, nil
	m.mu.Unlock()
	if !c.needsWorkOS() {
		return nil
	}
	return m.startDirectories(c)
}

// sched is the directories' scheduler in force, nil without any.
func (m *Main) sched() *scheduler {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.scheduler
}

// webhookEvent hands a webhook's event to the WorkOS producer in force.
func (m *Main) webhookEvent(ctx context.Context, ev workos.Event) error {
	m.mu.RLock()
	sync := m.WorkOSSync
	m.mu.RUnlock()
	if sync == nil {
		return schema.Errorf(schema.EUnavailable, "no directory source is configured now")
	}
	return sync.WebhookEvent(ctx, ev)
}

// printDirectories tells the operator which directories are pulled and
// where the webhook endpoint listens.
func (m *Main) printDirectories(w io.Writer) {
	c := m.Config
	for _, s := range c.Sources {
		if s.Kind != "workos" {
			continue
		}
		spec := s.Schedule
		if spec == "" {
			spec = c.WorkOS.Schedule
		}
		fmt.Fprintf(w, "  directory    %s -> source %s, pulled %s\n", s.DirectoryID, s.Name, spec)
	}
	if m.Webhook != nil {
		fmt.Fprintf(w, "  webhook      http://%s%s\n", m.Webhook.Addr(), c.WorkOS.Webhook.Path)
	}
}

// orgNames lists the organisations of the config.
func (c *Config) orgNames() []string {
	var out []string
	for _, o := range c.Orgs {
		out = append(out, o.Name)
	}
	for _, s := range c.Sources {
		if !slices.Contains(out, s.Org) {
			out = append(out, s.Org)
		}
	}
	if len(out) == 0 {
		out = append(out, schema.DefaultOrg)
	}
	return out
}

// configuredSources lists the config's sources with their settings.
func (c *Config) configuredSources() []ingest.ConfiguredSource {
	var out []ingest.ConfiguredSource
	for i := range c.Sources {
		s := &c.Sources[i]
		out = append(out, ingest.ConfiguredSource{Org: s.Org, Config: c.sourceConfig(s)})
	}
	return out
}
