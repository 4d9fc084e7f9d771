package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"time"

	"muster/ingest"
	"muster/ingest/directory"
	"muster/ingest/workos"
	"muster/ingest/workossync"
	"muster/schema"
	"muster/store"
)

// directories builds a directory engine over in with the WorkOS sources
// of the config registered (its producer reads the API key), for the
// commands that pull one source once. Nothing runs until a source is
// pulled.
func (c *Config) directories(e *env, in *ingest.Ingester, log *slog.Logger, onRequest func(workos.RequestInfo)) (*directory.Engine, *workossync.Sync, error) {
	eng := directory.New(in, log)
	eng.Orgs = c.orgNames()
	sync, err := c.workosSync(context.Background(), e, eng, log, onRequest)
	if err != nil {
		return nil, nil, err
	}
	return eng, sync, nil
}

// workosSync makes the WorkOS producer of c's workos sources over eng: it
// registers them, updates those registered already and removes eng's
// WorkOS sources c no longer has (workossync.New).
func (c *Config) workosSync(ctx context.Context, e *env, eng *directory.Engine, log *slog.Logger, onRequest func(workos.RequestInfo)) (*workossync.Sync, error) {
	client, err := c.workosClient(e, onRequest)
	if err != nil {
		return nil, err
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
	return workossync.New(ctx, client, eng, log, claimed, specs)
}

// openDirectories starts the daemon's one directory engine, which holds
// the WorkOS and SCIM sources for its whole life (a reload adds, updates
// and removes sources in it), the WorkOS producer and the scheduler
// (pulls, events poll, reconciliation), and the webhook endpoint, when
// configured. They stop before the drop queues and the store (Close runs
// in reverse order): the endpoint first so no event arrives for a stopped
// scheduler, the scheduler, then the engine. A reload replaces the
// producer and the scheduler (restartDirectories); the endpoint asks the
// producer in force.
func (m *Main) openDirectories() error {
	c := m.Config
	log := m.Logger.With("component", "directories")
	eng := directory.New(m.Ingester, log)
	eng.Orgs = c.orgNames()
	eng.Prune = func(now time.Time) int { return m.drops().Prune(now) }
	eng.OnRun, eng.OnDrift = m.notifyRun, m.notifyDrift
	// Batches queued behind a held drop apply once it is decided: at once
	// when decided in this process, else within settleEvery (on the
	// leader: one instance settles when several share a database).
	eng.Leading = m.isLeader
	eng.Start(settleEvery)
	m.mu.Lock()
	m.Directories = eng
	m.mu.Unlock()
	m.start("directories", eng.Close)
	m.start("scheduler", func() error {
		if s := m.sched(); s != nil {
			s.Close()
		}
		return nil
	})
	if err := m.startDirectories(nil, c, false, nil); err != nil {
		return err
	}
	if c.WorkOS.Webhook.Listen == "" {
		return nil
	}
	wlog := m.Logger.With("component", "workos")
	w, err := openWebhook(c.WorkOS.Webhook.Listen, c.WorkOS.Webhook.Path, m.prep.webhookSecret, time.Duration(c.WorkOS.Webhook.Tolerance),
		m.webhookEvent, wlog.With("part", "webhook"))
	if err != nil {
		return err
	}
	m.Webhook = w
	m.start("webhook", w.Close)
	wlog.Info("webhook endpoint listening", "addr", w.Addr().String(), "path", c.WorkOS.Webhook.Path)
	return nil
}

// startDirectories makes the engine's WorkOS sources c's (its producer
// registers, updates and removes them) and schedules c's jobs. old is the
// config c replaces (nil at start: every directory is pulled once when
// this instance leads); after a reload the directories pulled at once are
// those new or changed in c and those whose scheduled pull the reload
// stopped (again).
func (m *Main) startDirectories(old, c *Config, pullAll bool, again []*directory.Source) error {
	log := m.Logger.With("component", "workos")
	eng := m.dirs()
	var sync *workossync.Sync
	if c.needsWorkOS() {
		var err error
		if sync, err = c.workosSync(eng.Context(), m.env, eng, log, m.OnWorkOSRequest); err != nil {
			return err
		}
	} else {
		for _, s := range eng.Sources() {
			if s.Kind() == store.KindWorkOS {
				eng.Remove(s.Org(), s.Name())
			}
		}
	}
	sched := &scheduler{engine: eng, sync: sync, conf: c, log: log, leader: m.isLeader}
	if old != nil {
		sched.pullFirst = append(pullsAfterReload(old, c, pullAll, eng), again...)
		sched.wasLeading = m.isLeader()
	}
	if err := sched.Open(); err != nil {
		sched.Close()
		return err
	}
	m.mu.Lock()
	m.WorkOSSync, m.scheduler = sync, sched
	m.WorkOS = nil
	if sync != nil {
		m.WorkOS = sync.Client
	}
	m.mu.Unlock()
	return nil
}

// restartDirectories applies a reloaded config to the directories: the
// scheduler stops (a scheduled pull or reconciliation in progress stops,
// nothing of it applied), the engine's sources become c's (the engine
// and its SCIM sources keep running), and c's scheduler starts.
func (m *Main) restartDirectories(old, c *Config, pullAll bool) error {
	var again []*directory.Source
	if s := m.sched(); s != nil {
		again = s.Close()
	}
	m.mu.Lock()
	m.scheduler = nil
	m.mu.Unlock()
	m.dirs().SetOrgs(c.orgNames())
	return m.startDirectories(old, c, pullAll, again)
}

// pullsAfterReload lists the engine's WorkOS sources that a reload from
// old to c must pull at once: new ones, and those whose directory or
// settings changed (all of them when all, or [attributes] changed).
func pullsAfterReload(old, c *Config, all bool, eng *directory.Engine) []*directory.Source {
	before := sourcesByKey(old.Sources)
	all = all || !reflect.DeepEqual(old.Attributes, c.Attributes)
	var out []*directory.Source
	for _, s := range c.Sources {
		if s.Kind != string(store.KindWorkOS) {
			continue
		}
		if prev, ok := before[s.Org+"/"+s.Name]; ok && !all && reflect.DeepEqual(prev, s) {
			continue
		}
		if src, err := eng.Source(s.Org, s.Name); err == nil {
			out = append(out, src)
		}
	}
	return out
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
